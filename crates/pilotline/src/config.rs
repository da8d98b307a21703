//! Configuration: a TOML file, overridden by `PILOTLINE_*` environment variables.

use anyhow::{Context, Result};
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// Pilotline's configuration. Every field can be overridden by an environment variable
/// named in its doc comment; every command honours them.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Database: `sqlite://FILE` (embedded default) or `postgres://…`.
    /// Env: `PILOTLINE_DATABASE_URL`.
    pub database_url: String,
    /// Address the HTTP API listens on, `HOST:PORT` (port 0 picks a free port).
    /// Env: `PILOTLINE_LISTEN`.
    pub listen: String,
    /// Maximum pooled database connections. Env: `PILOTLINE_MAX_CONNECTIONS`.
    pub max_connections: u32,
    /// Seconds between Q-time checks. Env: `PILOTLINE_QTIME_CHECK_INTERVAL_S`.
    pub qtime_check_interval_s: u64,
    /// Log filter (`info`, `pilotline=debug,info`, …). Env: `PILOTLINE_LOG`.
    pub log: String,
    /// Equipment profile directory; when set, `serve` also runs the collector.
    /// Env: `PILOTLINE_EQUIPMENT_PROFILES`.
    pub equipment_profiles: Option<String>,
    /// Directory of the collector's spool (samples kept while the database is unreachable).
    /// Env: `PILOTLINE_SPOOL_DIR`.
    pub spool_dir: String,
    /// Broker URL (`mqtt://host:port`) that replaces the one in every MQTT device's profile.
    /// Env: `PILOTLINE_MQTT_BROKER`.
    pub mqtt_broker: Option<String>,
    /// MQTT client id of the collector, also its Sparkplug host id; keep it stable so the broker
    /// keeps the session across restarts. Env: `PILOTLINE_MQTT_CLIENT_ID`.
    pub mqtt_client_id: String,
    /// Shared-subscription group for the MQTT JSON topics: collectors of one group split the
    /// stream, each message going to one of them. Give every collector its own stable
    /// `mqtt_client_id`. Unset (the default): the collector takes every message. Env:
    /// `PILOTLINE_MQTT_SHARE_GROUP`.
    pub mqtt_share_group: Option<String>,
    /// Test data drop folder: STDF files put there are imported, then moved to `imported/` or
    /// `rejected/`. Env: `PILOTLINE_STDF_DROP_DIR`.
    pub stdf_drop_dir: Option<String>,
    /// Record an external lot for a dropped file whose lot is unknown (else it is rejected).
    /// Env: `PILOTLINE_STDF_DROP_CREATE_LOTS` (`true`/`false`).
    pub stdf_drop_create_lots: bool,
    /// Where uploaded files are kept, by their SHA-256 (default: beside the SQLite file, or
    /// `pilotline-blobs`). Env: `PILOTLINE_BLOB_DIR`.
    pub blob_dir: Option<String>,
    /// Uploads that may stream in at once; one more answers 429. Env:
    /// `PILOTLINE_MAX_CONCURRENT_UPLOADS`.
    pub max_concurrent_uploads: usize,
    /// Days raw samples are kept. Env: `PILOTLINE_RETENTION_RAW_DAYS`.
    pub retention_raw_days: u32,
    /// Days raw samples taken while a lot ran on the tool (its process data) are kept. Env:
    /// `PILOTLINE_RETENTION_LOT_RAW_DAYS`.
    pub retention_lot_raw_days: u32,
    /// Days 1-minute rollups are kept. Env: `PILOTLINE_RETENTION_MINUTE_DAYS`.
    pub retention_minute_days: u32,
    /// Days 1-hour rollups are kept. Env: `PILOTLINE_RETENTION_HOUR_DAYS`.
    pub retention_hour_days: u32,
    /// What `serve` runs: any of `api` (the HTTP API and web interface), `collector` (the
    /// tools of the equipment profiles) and `jobs` (the singleton jobs, under leases), or
    /// `all`. Env: `PILOTLINE_ROLES` (comma-separated); `serve --role` overrides it.
    pub roles: Vec<String>,
    /// Seconds a singleton job's or a Modbus tool's lease lasts unless renewed: a dead
    /// replica's jobs and tools are taken over within this plus a third of it. Env:
    /// `PILOTLINE_LEASE_S`.
    pub lease_s: u64,
    /// Address of a listener of its own for `/metrics` and `/healthz` (e.g. `0.0.0.0:9464`),
    /// beside the API's. Env: `PILOTLINE_METRICS_LISTEN`.
    pub metrics_listen: Option<String>,
    /// Log lines as `text` (for people) or `json` (one object a line, for a log shipper).
    /// Env: `PILOTLINE_LOG_FORMAT`.
    pub log_format: String,
}

/// The parts of `pilotline serve`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Roles {
    /// The HTTP API and the web interface.
    pub api: bool,
    /// The collector (when equipment profiles are configured).
    pub collector: bool,
    /// The singleton jobs: Q-time monitor, drop folder, rollups, retention, key expiry.
    pub jobs: bool,
}

impl Roles {
    /// Every part.
    pub const ALL: Roles = Roles {
        api: true,
        collector: true,
        jobs: true,
    };

    /// The roles named in `names` (`api`, `collector`, `jobs`, `all`); an empty list is all.
    pub fn parse<S: AsRef<str>>(names: &[S]) -> Result<Roles> {
        if names.is_empty() {
            return Ok(Roles::ALL);
        }
        let mut r = Roles::default();
        for n in names {
            match n.as_ref().trim() {
                "api" => r.api = true,
                "collector" => r.collector = true,
                "jobs" => r.jobs = true,
                "all" => r = Roles::ALL,
                other => anyhow::bail!(
                    "unknown role {other:?}: the roles are api, collector, jobs and all"
                ),
            }
        }
        Ok(r)
    }
}

impl Config {
    /// The telemetry retention the configuration asks for.
    pub fn retention(&self) -> pilotline_app::RetentionPolicy {
        let days = |d: u32| chrono::Duration::days(i64::from(d));
        pilotline_app::RetentionPolicy {
            raw: days(self.retention_raw_days),
            lot_raw: days(self.retention_lot_raw_days),
            minute: days(self.retention_minute_days),
            hour: days(self.retention_hour_days),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            database_url: "sqlite://pilotline.db".into(),
            listen: "127.0.0.1:8080".into(),
            max_connections: 8,
            qtime_check_interval_s: 30,
            log: "info".into(),
            equipment_profiles: None,
            spool_dir: "pilotline-spool".into(),
            mqtt_broker: None,
            mqtt_client_id: "pilotline-collector".into(),
            mqtt_share_group: None,
            stdf_drop_dir: None,
            stdf_drop_create_lots: false,
            blob_dir: None,
            max_concurrent_uploads: pilotline_app::MAX_CONCURRENT_UPLOADS,
            retention_raw_days: 30,
            retention_lot_raw_days: 730,
            retention_minute_days: 365,
            retention_hour_days: 3650,
            roles: Vec::new(),
            lease_s: 15,
            metrics_listen: None,
            log_format: "text".into(),
        }
    }
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field(
                "database_url",
                &pilotline_app::redact_url(&self.database_url),
            )
            .field("listen", &self.listen)
            .field("max_connections", &self.max_connections)
            .field("qtime_check_interval_s", &self.qtime_check_interval_s)
            .field("log", &self.log)
            .field("equipment_profiles", &self.equipment_profiles)
            .field("spool_dir", &self.spool_dir)
            .field(
                "mqtt_broker",
                &self.mqtt_broker.as_deref().map(pilotline_app::redact_url),
            )
            .field("mqtt_client_id", &self.mqtt_client_id)
            .field("mqtt_share_group", &self.mqtt_share_group)
            .field("stdf_drop_dir", &self.stdf_drop_dir)
            .field("stdf_drop_create_lots", &self.stdf_drop_create_lots)
            .field("blob_dir", &self.blob_dir)
            .field("max_concurrent_uploads", &self.max_concurrent_uploads)
            .field("retention_raw_days", &self.retention_raw_days)
            .field("retention_lot_raw_days", &self.retention_lot_raw_days)
            .field("retention_minute_days", &self.retention_minute_days)
            .field("retention_hour_days", &self.retention_hour_days)
            .field("roles", &self.roles)
            .field("lease_s", &self.lease_s)
            .field("metrics_listen", &self.metrics_listen)
            .field("log_format", &self.log_format)
            .finish()
    }
}

/// Where the configuration file is looked for when none is named.
pub const DEFAULT_CONFIG_FILE: &str = "pilotline.toml";

impl Config {
    /// Loads `file` (or `pilotline.toml` when present), then applies environment overrides.
    pub fn load(file: Option<&Path>) -> Result<Config> {
        let mut config = match file {
            Some(path) => Self::from_file(path)?,
            None if Path::new(DEFAULT_CONFIG_FILE).exists() => {
                Self::from_file(&PathBuf::from(DEFAULT_CONFIG_FILE))?
            }
            None => Config::default(),
        };
        config.apply_env(|k| std::env::var(k).ok())?;
        config.check()?;
        Ok(config)
    }

    /// Refuses settings no command could use, naming the setting.
    fn check(&self) -> Result<()> {
        if let Some(group) = &self.mqtt_share_group
            && !pilotline_collector::mqtt::valid_share_group(group)
        {
            anyhow::bail!(
                "mqtt_share_group {group:?}: a shared-subscription group is a non-empty name \
                 without '/', '+' or '#'"
            );
        }
        Ok(())
    }

    fn from_file(path: &Path) -> Result<Config> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read config file {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("invalid config file {}", path.display()))
    }

    /// Applies `PILOTLINE_*` overrides read through `var`.
    pub fn apply_env(&mut self, var: impl Fn(&str) -> Option<String>) -> Result<()> {
        if let Some(v) = var("PILOTLINE_DATABASE_URL") {
            self.database_url = v;
        }
        if let Some(v) = var("PILOTLINE_LISTEN") {
            self.listen = v;
        }
        if let Some(v) = var("PILOTLINE_MAX_CONNECTIONS") {
            self.max_connections = v
                .parse()
                .context("PILOTLINE_MAX_CONNECTIONS must be a whole number")?;
        }
        if let Some(v) = var("PILOTLINE_QTIME_CHECK_INTERVAL_S") {
            self.qtime_check_interval_s = v
                .parse()
                .context("PILOTLINE_QTIME_CHECK_INTERVAL_S must be a whole number")?;
        }
        if let Some(v) = var("PILOTLINE_LOG") {
            self.log = v;
        }
        // An empty value unsets an optional path or URL (it never names the current directory).
        let optional = |v: String| (!v.trim().is_empty()).then_some(v);
        if let Some(v) = var("PILOTLINE_EQUIPMENT_PROFILES") {
            self.equipment_profiles = optional(v);
        }
        if let Some(v) = var("PILOTLINE_SPOOL_DIR") {
            self.spool_dir = v;
        }
        if let Some(v) = var("PILOTLINE_MQTT_BROKER") {
            self.mqtt_broker = optional(v);
        }
        if let Some(v) = var("PILOTLINE_MQTT_CLIENT_ID") {
            self.mqtt_client_id = v;
        }
        if let Some(v) = var("PILOTLINE_MQTT_SHARE_GROUP") {
            self.mqtt_share_group = optional(v);
        }
        if let Some(v) = var("PILOTLINE_STDF_DROP_DIR") {
            self.stdf_drop_dir = optional(v);
        }
        if let Some(v) = var("PILOTLINE_BLOB_DIR") {
            self.blob_dir = optional(v);
        }
        if let Some(v) = var("PILOTLINE_MAX_CONCURRENT_UPLOADS") {
            self.max_concurrent_uploads = v
                .parse()
                .context("PILOTLINE_MAX_CONCURRENT_UPLOADS must be a whole number")?;
        }
        for (key, field) in [
            ("PILOTLINE_RETENTION_RAW_DAYS", &mut self.retention_raw_days),
            (
                "PILOTLINE_RETENTION_LOT_RAW_DAYS",
                &mut self.retention_lot_raw_days,
            ),
            (
                "PILOTLINE_RETENTION_MINUTE_DAYS",
                &mut self.retention_minute_days,
            ),
            (
                "PILOTLINE_RETENTION_HOUR_DAYS",
                &mut self.retention_hour_days,
            ),
        ] {
            if let Some(v) = var(key) {
                *field = v
                    .parse()
                    .with_context(|| format!("{key} must be a whole number of days"))?;
            }
        }
        if let Some(v) = var("PILOTLINE_ROLES") {
            self.roles = v
                .split(',')
                .map(str::trim)
                .filter(|r| !r.is_empty())
                .map(String::from)
                .collect();
        }
        if let Some(v) = var("PILOTLINE_LEASE_S") {
            self.lease_s = v
                .parse()
                .context("PILOTLINE_LEASE_S must be a whole number of seconds")?;
        }
        if let Some(v) = var("PILOTLINE_METRICS_LISTEN") {
            self.metrics_listen = optional(v);
        }
        if let Some(v) = var("PILOTLINE_LOG_FORMAT") {
            self.log_format = v;
        }
        if let Some(v) = var("PILOTLINE_STDF_DROP_CREATE_LOTS") {
            self.stdf_drop_create_lots = v
                .parse()
                .context("PILOTLINE_STDF_DROP_CREATE_LOTS must be true or false")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_overrides_the_file() {
        let mut c: Config =
            toml::from_str("database_url = 'sqlite://a.db'\nlisten = '0.0.0.0:1'").unwrap();
        c.apply_env(|k| (k == "PILOTLINE_LISTEN").then(|| "127.0.0.1:9".to_string()))
            .unwrap();
        assert_eq!(c.database_url, "sqlite://a.db");
        assert_eq!(c.listen, "127.0.0.1:9");
        assert!(
            c.apply_env(|k| (k == "PILOTLINE_MAX_CONNECTIONS").then(|| "x".into()))
                .is_err()
        );
    }

    #[test]
    fn a_share_group_with_a_topic_separator_is_refused() {
        let mut c = Config::default();
        c.apply_env(|k| (k == "PILOTLINE_MQTT_SHARE_GROUP").then(|| "collectors".into()))
            .unwrap();
        assert_eq!(c.mqtt_share_group.as_deref(), Some("collectors"));
        assert!(c.check().is_ok());
        for bad in ["a/b", "a+", "#"] {
            c.mqtt_share_group = Some(bad.into());
            let e = c.check().unwrap_err().to_string();
            assert!(e.contains("mqtt_share_group"), "{e}");
        }
    }

    #[test]
    fn an_empty_optional_setting_unsets_it() {
        let mut c: Config = toml::from_str("equipment_profiles = 'equipment-profiles'").unwrap();
        c.apply_env(|k| (k == "PILOTLINE_EQUIPMENT_PROFILES").then(String::new))
            .unwrap();
        assert_eq!(c.equipment_profiles, None);
        c.apply_env(|k| (k == "PILOTLINE_STDF_DROP_DIR").then(|| " ".to_string()))
            .unwrap();
        assert_eq!(c.stdf_drop_dir, None);
    }

    #[test]
    fn roles_parse_and_refuse_unknown_names() {
        assert_eq!(Roles::parse::<&str>(&[]).unwrap(), Roles::ALL);
        let r = Roles::parse(&["collector", "jobs"]).unwrap();
        assert!(!r.api && r.collector && r.jobs);
        assert_eq!(Roles::parse(&["api", "all"]).unwrap(), Roles::ALL);
        assert!(Roles::parse(&["apis"]).is_err());
        let mut c = Config::default();
        c.apply_env(|k| (k == "PILOTLINE_ROLES").then(|| "api, jobs".to_string()))
            .unwrap();
        assert_eq!(c.roles, ["api", "jobs"]);
    }

    #[test]
    fn unknown_keys_are_refused_and_secrets_redacted() {
        assert!(toml::from_str::<Config>("databse_url = 'x'").is_err());
        let c = Config {
            database_url: "postgres://u:hunter2@h/db".into(),
            ..Config::default()
        };
        let shown = format!("{c:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        let c = Config {
            database_url: "postgres://u@h/db?password=hunter2".into(),
            ..Config::default()
        };
        let shown = format!("{c:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
    }
}
