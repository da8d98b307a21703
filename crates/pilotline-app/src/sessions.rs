//! Signing in to the web interface: passwords hashed with argon2id, sessions kept in the store
//! by the hash of their cookie value, idle and absolute timeouts, and a throttle on failed
//! sign-ins. The cookie itself is the front end's business; what a session may do is the same
//! [`Actor`] an API token resolves to, so every rule applies to both alike.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use chrono::{DateTime, Duration, Utc};
use pilotline_domain::{Actor, Code, Role};

use crate::{App, AppError};

/// The shortest password accepted.
pub const MIN_PASSWORD: usize = 10;

/// How long sessions last and how failed sign-ins are throttled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionPolicy {
    /// A session not used for this long ends.
    pub idle: Duration,
    /// A session ends this long after sign-in, used or not.
    pub absolute: Duration,
    /// Failed sign-ins in a row that lock the user's sign-ins…
    pub max_failures: i64,
    /// …for this long.
    pub lockout: Duration,
    /// A session's last use is written at most this often (a page view within it is not a
    /// write); the idle timeout is exact to within this.
    pub touch_every: Duration,
}

impl Default for SessionPolicy {
    fn default() -> Self {
        Self {
            idle: Duration::minutes(30),
            absolute: Duration::hours(12),
            max_failures: 5,
            lockout: Duration::minutes(15),
            touch_every: Duration::seconds(60),
        }
    }
}

/// A successful sign-in.
#[derive(Debug, Clone)]
pub struct SignedIn {
    /// The session's secret, for the cookie; stored nowhere.
    pub secret: String,
    /// Who signed in.
    pub actor: Actor,
}

/// Whether a request is a person's use of the session (which keeps it alive) or a page's own
/// polling for live values (which must not).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Use {
    /// A page view or a form: the idle timeout starts again.
    Activity,
    /// A poll: the session is checked, not extended.
    Poll,
}

/// A hash every unknown user name is verified against, so a wrong name costs the same time as a
/// wrong password and sign-in timing does not tell which names exist.
fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash_password("decoy password, never used").unwrap_or_default())
}

fn hash_password(password: &str) -> Result<String, AppError> {
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AppError::Internal(format!("password hashing failed: {e}")))
}

/// The PHC string of a new password, refused when it is too short.
async fn new_phc(password: &str) -> Result<String, AppError> {
    if password.chars().count() < MIN_PASSWORD {
        return Err(Code::PasswordTooShort
            .refusal()
            .with("min", MIN_PASSWORD)
            .into());
    }
    let password = password.to_string();
    blocking(move || hash_password(&password)).await?
}

fn verify_password(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|h| {
        argon2::Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

/// Runs the (deliberately slow) hash work off the async threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, AppError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| AppError::Internal(format!("password task failed: {e}")))
}

fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    rand_bytes(&mut bytes);
    hex_encode(&bytes)
}

pub(crate) fn rand_bytes(buf: &mut [u8]) {
    use argon2::password_hash::rand_core::RngCore;
    argon2::password_hash::rand_core::OsRng.fill_bytes(buf);
}

fn hex_encode(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl App {
    /// The same application with sessions lasting and sign-ins throttled as `policy` says.
    pub fn with_session_policy(mut self, policy: SessionPolicy) -> Self {
        self.sessions = policy;
        self
    }

    /// How sessions last.
    pub fn session_policy(&self) -> SessionPolicy {
        self.sessions
    }

    /// Creates (or updates) user `name` with `role` and `tenant` and sets its password (the
    /// CLI, which acts for the machine's administrator). The user's sessions end.
    pub async fn set_password(
        &self,
        name: &str,
        role: Role,
        tenant: Option<&str>,
        password: &str,
    ) -> Result<(), AppError> {
        let phc = new_phc(password).await?;
        Ok(self
            .store
            .set_password(name, role, tenant, &phc, pilotline_store::now())
            .await?)
    }

    /// Creates (or updates) a person of tenant `tenant` who signs in with `password`: by its
    /// tenant admin or a platform admin, with a tenant role only, and a name nobody outside the
    /// tenant has (`user_name_taken`). The person's sessions end.
    pub async fn set_tenant_password(
        &self,
        tenant: &str,
        name: &str,
        role: Role,
        password: &str,
        actor: &Actor,
    ) -> Result<(), AppError> {
        self.may_manage_people(tenant, actor).await?;
        let phc = new_phc(password).await?;
        Ok(self
            .store
            .set_tenant_password(tenant, name, role, &phc, pilotline_store::now())
            .await?)
    }

    /// Signs `name` in with `password`: a new session, or `sign_in_failed` (whichever of the
    /// two was wrong) or `sign_in_throttled` after too many failures in a row.
    pub async fn sign_in(&self, name: &str, password: &str) -> Result<SignedIn, AppError> {
        let at = pilotline_store::now();
        let record = self.store.password_record(name).await?;
        if let Some(until) = record.as_ref().and_then(|r| r.locked_until)
            && until > at
        {
            return Err(Code::SignInThrottled
                .refusal()
                .with("user", name)
                .with("until", until.format("%Y-%m-%d %H:%M:%S UTC"))
                .into());
        }
        let phc = record.as_ref().map(|r| r.phc.clone());
        let given = password.to_string();
        let good = blocking(move || {
            // The decoy is hashed here too (once), off the async threads.
            match &phc {
                Some(phc) => verify_password(&given, phc),
                None => verify_password(&given, decoy_hash()),
            }
        })
        .await?;
        let Some(record) = record else {
            return Err(Code::SignInFailed.into());
        };
        if !good {
            let lock = (record.failures + 1 >= self.sessions.max_failures)
                .then(|| at + self.sessions.lockout);
            self.store.record_sign_in_failure(name, lock).await?;
            if lock.is_some() {
                tracing::warn!(user = name, "sign-ins locked after repeated failures");
            }
            return Err(Code::SignInFailed.into());
        }
        let secret = new_secret();
        self.store
            .start_session(name, &pilotline_store::hash_token(&secret), at)
            .await?;
        Ok(SignedIn {
            secret,
            actor: record.actor,
        })
    }

    /// The actor of the session whose cookie carries `secret`, asked on every request (so a
    /// disabled user or a changed role applies on the next one); `session_invalid` when it
    /// ended, timed out or its user may no longer act. `Use::Activity` keeps it alive.
    pub async fn session_actor(&self, secret: &str, usage: Use) -> Result<Actor, AppError> {
        let at = pilotline_store::now();
        let hash = pilotline_store::hash_token(secret);
        let (actor, seen) = self
            .store
            .session(&hash, at - self.sessions.absolute, at - self.sessions.idle)
            .await?
            .ok_or(Code::SessionInvalid)?;
        if usage == Use::Activity && at - seen >= self.sessions.touch_every {
            self.store.touch_session(&hash, at).await?;
        }
        Ok(actor)
    }

    /// Ends the session of `secret`; with `everywhere`, every session of its user.
    pub async fn sign_out(&self, secret: &str, everywhere: bool) -> Result<u64, AppError> {
        Ok(self
            .store
            .end_session(&pilotline_store::hash_token(secret), everywhere)
            .await?)
    }

    /// Deletes the sessions that timed out (a periodic job); returns how many.
    pub async fn expire_sessions(&self) -> Result<u64, AppError> {
        let at: DateTime<Utc> = pilotline_store::now();
        Ok(self
            .store
            .expire_sessions(at - self.sessions.absolute, at - self.sessions.idle)
            .await?)
    }
}
