//! PostgreSQL connections, pooled without a round trip on their return.
//!
//! sqlx's own pool pings every connection it takes back, in a task of its own: a round trip
//! and a task wake-up per request on top of the request's own statements. This pool
//! (deadpool's) lends and takes back in memory. A connection is pinged only
//!
//! - when it is lent after sitting idle for a second (a restart or a failover may have closed
//!   it; a connection the server has dropped is replaced then), and
//! - when it comes back with a statement queued and not yet sent — a transaction abandoned
//!   half-way (its request was cancelled) queues its `ROLLBACK` — so the rollback goes out at
//!   once and its row locks are not held while the connection sits idle.
//!
//! A connection whose work failed for want of the database (an I/O error, the server shutting
//! down) is closed instead of lent again: see [`PgConn::discard_after`].

use deadpool::managed::{self, Metrics, Object, PoolError, RecycleError, RecycleResult};
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{ConnectOptions, Connection};
use std::ops::{Deref, DerefMut};
use std::time::Duration;

use crate::StoreError;

/// How long a pooled connection may sit idle before it is pinged on lending.
const PING_AFTER_IDLE: Duration = Duration::from_secs(1);

/// Opens connections and checks them before they are lent.
#[derive(Debug)]
pub(crate) struct Manager {
    options: PgConnectOptions,
}

impl managed::Manager for Manager {
    type Type = PgConnection;
    type Error = sqlx::Error;

    async fn create(&self) -> Result<PgConnection, sqlx::Error> {
        self.options.connect().await
    }

    async fn recycle(
        &self,
        conn: &mut PgConnection,
        metrics: &Metrics,
    ) -> RecycleResult<sqlx::Error> {
        // `last_used` is when it was last lent: an older one may have been closed by the
        // server since. A queued statement (a rollback whose flush was missed) goes out now.
        if metrics.last_used() >= PING_AFTER_IDLE || conn.should_flush() {
            conn.ping().await.map_err(RecycleError::Backend)?;
        }
        Ok(())
    }
}

/// A pool of PostgreSQL connections. Cheap to clone; clones share the connections.
#[derive(Clone)]
pub(crate) struct PgPool {
    pool: managed::Pool<Manager>,
}

impl std::fmt::Debug for PgPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.pool.status();
        f.debug_struct("PgPool")
            .field("size", &s.size)
            .field("available", &s.available)
            .field("max_size", &s.max_size)
            .finish()
    }
}

impl PgPool {
    /// A pool of at most `max` connections to `options`; waiting for a connection (or for one
    /// to open) longer than `timeout` fails with [`sqlx::Error::PoolTimedOut`]. One connection
    /// is opened at once, so an unreachable server or a refused login is reported here.
    pub(crate) async fn connect(
        options: PgConnectOptions,
        max: u32,
        timeout: Duration,
    ) -> Result<PgPool, StoreError> {
        let pool = managed::Pool::builder(Manager { options })
            .max_size(max.max(1) as usize)
            // The most recently returned first: under light load one warm connection serves
            // every request and is never pinged.
            .queue_mode(managed::QueueMode::Lifo)
            .wait_timeout(Some(timeout))
            .create_timeout(Some(timeout))
            .recycle_timeout(Some(timeout))
            .runtime(deadpool::Runtime::Tokio1)
            .build()
            .map_err(|e| StoreError::Config(format!("PostgreSQL pool: {e}")))?;
        let pool = PgPool { pool };
        drop(pool.acquire().await?);
        Ok(pool)
    }

    /// Lends a connection, waiting for one to be returned when all are lent.
    pub(crate) async fn acquire(&self) -> Result<PgConn, sqlx::Error> {
        match self.pool.get().await {
            Ok(conn) => Ok(PgConn(Some(conn))),
            Err(PoolError::Backend(e)) => Err(e),
            Err(PoolError::Timeout(_)) => Err(sqlx::Error::PoolTimedOut),
            Err(PoolError::Closed) => Err(sqlx::Error::PoolClosed),
            Err(e) => Err(sqlx::Error::Protocol(format!("PostgreSQL pool: {e}"))),
        }
    }

    /// How many connections are open, and how many of those are idle.
    pub(crate) fn status(&self) -> (u32, usize) {
        let s = self.pool.status();
        (s.size as u32, s.available)
    }

    /// Closes the pool: idle connections are closed now (saying goodbye to the server), lent
    /// ones are dropped when they come back.
    pub(crate) async fn close(&self) {
        let idle = self.pool.retain(|_, _| false).removed;
        self.pool.close();
        for conn in idle {
            let _ = conn.close().await;
        }
    }
}

/// A lent connection; dropping it returns it to the pool.
pub(crate) struct PgConn(Option<Object<Manager>>);

impl PgConn {
    /// Closes the connection instead of returning it when `result` is a failure that may have
    /// left it unusable (the database unreachable or shutting down, the protocol out of step).
    /// A refusal or a constraint violation leaves it as good as before.
    pub(crate) fn discard_after<T, E: Failure>(&mut self, result: &Result<T, E>) {
        if result
            .as_ref()
            .err()
            .is_some_and(Failure::may_break_connection)
        {
            self.discard();
        }
    }

    /// Closes the connection instead of returning it to the pool.
    pub(crate) fn discard(&mut self) {
        if let Some(conn) = self.0.take() {
            drop(Object::take(conn));
        }
    }
}

impl Deref for PgConn {
    type Target = PgConnection;
    fn deref(&self) -> &PgConnection {
        self.0.as_ref().expect("a lent connection")
    }
}

impl DerefMut for PgConn {
    fn deref_mut(&mut self) -> &mut PgConnection {
        self.0.as_mut().expect("a lent connection")
    }
}

impl Drop for PgConn {
    fn drop(&mut self) {
        let Some(mut conn) = self.0.take() else {
            return;
        };
        if !conn.should_flush() {
            return; // back to the pool as it is
        }
        // A statement is queued (an abandoned transaction's rollback): send it now, and return
        // the connection once the server has answered (or close it if that fails).
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                if conn.ping().await.is_err() {
                    drop(Object::take(conn));
                }
            });
        }
        // Outside a runtime the connection goes back as it is and is flushed when next lent.
    }
}

/// An error that may say the connection it came from is unusable.
pub(crate) trait Failure {
    /// Whether the connection may be broken: an I/O or protocol failure, the server
    /// unreachable, a connection exception (SQLSTATE class 08) or the server shutting down or
    /// restarting (class 57).
    fn may_break_connection(&self) -> bool;
}

impl Failure for sqlx::Error {
    fn may_break_connection(&self) -> bool {
        match self {
            sqlx::Error::Database(db) => db
                .code()
                .is_some_and(|c| c.starts_with("08") || c.starts_with("57")),
            sqlx::Error::Io(_)
            | sqlx::Error::Protocol(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed => true,
            _ => false,
        }
    }
}

impl Failure for StoreError {
    fn may_break_connection(&self) -> bool {
        match self {
            StoreError::Database(e) => {
                e.is_unavailable()
                    || e.code()
                        .is_none_or(|c| c.starts_with("08") || c.starts_with("57"))
            }
            _ => false,
        }
    }
}
