//! The command line.

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use pilotline_app::{App, Outcome, WriteOp};
use pilotline_domain::{Actor, Role, RouteSpec};
use std::path::PathBuf;
use std::process::ExitCode;

use crate::config::Config;

/// Pilotline: the manufacturing execution system of the MEMS pilot line.
#[derive(Debug, Parser)]
#[command(name = "pilotline", version, about, long_about = None)]
pub struct Cli {
    /// Configuration file (default: ./pilotline.toml when present). `PILOTLINE_*` environment
    /// variables override it.
    #[arg(long, global = true, env = "PILOTLINE_CONFIG")]
    pub config: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run Pilotline: migrations, then the HTTP API and web interface, the collector (when
    /// equipment profiles are configured) and the singleton jobs (Q-time monitor, drop folder,
    /// rollups, retention), each job under a lease so several replicas run it once.
    Serve {
        /// The parts to run: `api`, `collector`, `jobs` or `all` (repeat or comma-separate;
        /// default: the configured `roles`, else all).
        #[arg(long, value_delimiter = ',')]
        role: Vec<String>,
    },
    /// Run the collector alone: poll the tools of the equipment profiles and store their data.
    Collect {
        /// Equipment profile directory (default: the configured one, else `equipment-profiles`).
        #[arg(long)]
        profiles: Option<PathBuf>,
    },
    /// Apply pending database migrations and exit.
    Migrate,
    /// Write a consistent copy of the SQLite store to FILE while Pilotline keeps serving,
    /// then check the copy's integrity. (PostgreSQL: use pg_dump; see the README.)
    Backup {
        /// The copy to write (must not exist).
        file: PathBuf,
    },
    /// Put a backup in place as the configured SQLite store: its integrity is checked, the
    /// file is copied in atomically and migrations are applied. Stop Pilotline first.
    Restore {
        /// The backup to restore.
        file: PathBuf,
        /// Replace an existing store (it is kept beside, renamed `….before-restore-<time>`).
        #[arg(long)]
        replace: bool,
    },
    /// Move the line to PostgreSQL: copy every row of the configured SQLite store into a new,
    /// empty PostgreSQL database (migrated first), in one transaction, then print the rows
    /// per table. Stop Pilotline first; afterwards point `database_url` at the new database.
    CopyStore {
        /// The PostgreSQL database to fill (`postgres://user@host/db`; it must hold no data).
        #[arg(long)]
        to: String,
    },
    /// Manage routes.
    Route {
        /// Route command.
        #[command(subcommand)]
        command: RouteCommand,
    },
    /// Import test data.
    Import {
        /// What to import.
        #[command(subcommand)]
        command: ImportCommand,
    },
    /// Manage API tokens.
    Token {
        /// Token command.
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Manage the people who sign in to the web interface.
    User {
        /// User command.
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Manage tenants (the start-ups and other customer organisations).
    Tenant {
        /// Tenant command.
        #[command(subcommand)]
        command: TenantCommand,
    },
    /// The line's configuration for MPW shuttles (stepper field, wafer, test structures).
    Line {
        /// Line command.
        #[command(subcommand)]
        command: LineCommand,
    },
    /// An engineer's routine steps with MPW shuttles.
    Shuttle {
        /// Shuttle command.
        #[command(subcommand)]
        command: ShuttleCommand,
    },
    /// Check equipment profiles: prints every error with file, line and field; exits 1 on any.
    Validate {
        /// Profile file or directory.
        #[arg(default_value = "equipment-profiles")]
        path: PathBuf,
    },
    /// Start a ready-to-explore instance on a fresh SQLite file: the example route, tools and
    /// lots already moved. Prints the URL and an admin token.
    Demo {
        /// Address to listen on.
        #[arg(long, env = "PILOTLINE_LISTEN", default_value = "127.0.0.1:8080")]
        listen: String,
        /// Directory for the demo database (default: a new temporary directory).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Equipment profiles to simulate and collect (default: `equipment-profiles` here, or
        /// the source tree's).
        #[arg(long)]
        profiles: Option<PathBuf>,
        /// Port of the embedded MQTT broker the simulated tools publish to (0: any free port).
        #[arg(long, default_value_t = crate::demo::MQTT_PORT)]
        mqtt_port: u16,
        /// Do not start the simulated tools, the embedded broker and the collector.
        #[arg(long)]
        no_tools: bool,
    },
    /// Serve every tool of the equipment profiles as a simulated tool: Modbus servers on the
    /// profiles' ports, MQTT JSON publishers and Sparkplug B edge nodes. Runs until interrupted.
    Simulate {
        /// Profile directory.
        #[arg(default_value = "equipment-profiles")]
        path: PathBuf,
        /// Broker URL for the MQTT tools, instead of each profile's own.
        #[arg(long, env = "PILOTLINE_MQTT_BROKER")]
        mqtt_broker: Option<String>,
    },
}

/// Route commands.
#[derive(Debug, Subcommand)]
pub enum RouteCommand {
    /// Import route files (TOML). Changed content stores a new version; unchanged is a no-op.
    Import {
        /// Route files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// User recorded as the author.
        #[arg(long, env = "USER", default_value = "cli")]
        user: String,
    },
}

/// Import commands.
#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// Import STDF V4 files (plain or gzipped, told apart by content) from wafer probe or final
    /// test. Each file is stored whole, with every part result, or not at all; the same file
    /// imported again is not counted twice. Prints each lot's yields.
    Stdf {
        /// STDF files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// The MES lot the files belong to, when their own lot id differs.
        #[arg(long)]
        lot: Option<String>,
        /// Record lots Pilotline does not know as external lots (data from outside the line).
        #[arg(long)]
        create_lots: bool,
        /// User recorded as the importer.
        #[arg(long, env = "USER", default_value = "cli")]
        user: String,
    },
}

/// User commands.
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create (or update) a user who signs in to the web interface with a password, read from
    /// the first line of stdin (so it is never in the shell's history or the process list).
    /// The user's sessions end.
    Create {
        /// User name.
        #[arg(long)]
        name: String,
        /// Role: admin, engineer, operator, manager, customer or tenant_admin.
        #[arg(long)]
        role: Role,
        /// Tenant (customers and tenant admins).
        #[arg(long)]
        tenant: Option<String>,
    },
}

/// Token commands.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token for a user (creating or updating the user). The token is printed alone
    /// on the last line.
    Create {
        /// User name.
        #[arg(long)]
        user: String,
        /// Role: admin, engineer, operator, manager or customer.
        #[arg(long)]
        role: Role,
        /// Tenant (customers only).
        #[arg(long)]
        tenant: Option<String>,
        /// The token stops working after this many days.
        #[arg(long)]
        expires_in_days: Option<u32>,
    },
    /// Revoke tokens: one (given in clear, or by the id `token list` shows) or every token of
    /// a user. It stops working on the very next request.
    Revoke {
        /// The token, in clear.
        #[arg(conflicts_with_all = ["id", "user"], required_unless_present_any = ["id", "user"])]
        token: Option<String>,
        /// The token's id.
        #[arg(long, conflicts_with = "user")]
        id: Option<i64>,
        /// Every token of this user.
        #[arg(long)]
        user: Option<String>,
    },
    /// List tokens (ids and first characters, never the secret), newest first.
    List {
        /// Only this user's.
        #[arg(long)]
        user: Option<String>,
    },
    /// Disable a user (every token refused from the next request), or enable it again.
    DisableUser {
        /// User name.
        user: String,
        /// Enable the user again.
        #[arg(long)]
        enable: bool,
    },
}

/// Tenant commands.
#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Create a tenant (customers, products and lots can then name it).
    Create {
        /// Tenant id (letters, digits, '-' or '_').
        id: String,
        /// Name shown to people.
        #[arg(long)]
        name: String,
    },
    /// List the tenants.
    List,
    /// Suspend, close or reactivate a tenant: its people are refused, or let in again, from
    /// their next request on.
    Status {
        /// Tenant id.
        id: String,
        /// active, suspended or closed.
        status: String,
    },
}

/// Line configuration commands.
#[derive(Debug, Subcommand)]
pub enum LineCommand {
    /// Set the line's configuration from a JSON file (as `PUT /api/v1/line` takes it).
    Set {
        /// The JSON file.
        file: PathBuf,
    },
    /// Print the line's configuration as JSON.
    Show,
}

/// Shuttle commands.
#[derive(Debug, Subcommand)]
pub enum ShuttleCommand {
    /// Create a shuttle from a JSON file (as `POST /api/v1/shuttles` takes it); it is planned.
    Create {
        /// The JSON file.
        file: PathBuf,
    },
    /// List the shuttles by fab start, with status, capacity left and lot.
    List,
    /// Open a planned shuttle for booking.
    Open {
        /// Shuttle id.
        id: String,
    },
    /// Close booking and place the designs: prints dies per design per wafer.
    Close {
        /// Shuttle id.
        id: String,
    },
    /// Approve the layout's area packing.
    Approve {
        /// Shuttle id.
        id: String,
    },
    /// Start the shuttle: its MPW lot goes on the route; prints the lot id.
    Start {
        /// Shuttle id.
        id: String,
    },
    /// Mark an in-fab shuttle delivered.
    Deliver {
        /// Shuttle id.
        id: String,
    },
    /// Cancel a shuttle.
    Cancel {
        /// Shuttle id.
        id: String,
    },
}

/// The SQLite URL of the file at `path`.
pub(crate) fn sqlite_url(path: &std::path::Path) -> Result<String> {
    let p = path
        .to_str()
        .with_context(|| format!("{} is not a UTF-8 path", path.display()))?;
    Ok(format!("sqlite://{p}"))
}

/// Reads a JSON file into `T`, naming the file and the place of a fault.
pub(crate) fn read_json<T: serde::de::DeserializeOwned>(path: &std::path::Path) -> Result<T> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not valid", path.display()))
}

/// The machine administrator the CLI acts for.
fn cli_admin() -> pilotline_domain::Actor {
    pilotline_domain::Actor {
        user: "cli".to_string(),
        role: Role::Admin,
        tenant: None,
    }
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    if let Command::Validate { path } = &cli.command {
        return validate(path);
    }
    let config = Config::load(cli.config.as_deref())?;
    init_tracing(&config.log, &config.log_format)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        match cli.command {
            Command::Serve { role } => {
                let roles = if role.is_empty() {
                    crate::config::Roles::parse(&config.roles)?
                } else {
                    crate::config::Roles::parse(&role)?
                };
                crate::serve::serve(&config, roles).await
            }
            Command::Collect { profiles } => {
                let dir = profiles
                    .or(config.equipment_profiles.clone().map(PathBuf::from))
                    .unwrap_or_else(|| PathBuf::from("equipment-profiles"));
                // The tools' own retention decides which late samples are still taken.
                let store = crate::collect::with_profile_retention(
                    open_migrated(&config).await?,
                    &dir,
                    config.retention(),
                )?;
                let (stop_tx, stop) = tokio::sync::watch::channel(false);
                let options = crate::collect::Options::from_config(&config, dir);
                let collector = crate::collect::start(store.clone(), &options, stop)?;
                crate::serve::shutdown_signal().await;
                let _ = stop_tx.send(true);
                let _ = collector.await;
                store.close().await;
                Ok(())
            }
            Command::Backup { file } => {
                let app = open(&config).await?;
                let admin = cli_admin();
                let bytes = app.backup(&file, &admin).await?;
                app.close().await;
                let copy = App::open(&sqlite_url(&file)?, &Default::default()).await?;
                let verdict = copy.integrity_check(&admin).await?;
                copy.close().await;
                anyhow::ensure!(
                    verdict == "ok",
                    "the backup {} fails its integrity check: {verdict}",
                    file.display()
                );
                println!("backup {}: {bytes} bytes, integrity ok", file.display());
                Ok(())
            }
            Command::Restore { file, replace } => {
                crate::restore::run(&config, &file, replace, &cli_admin()).await
            }
            Command::CopyStore { to } => {
                anyhow::ensure!(
                    to.starts_with("postgres://") || to.starts_with("postgresql://"),
                    "--to names a PostgreSQL database (postgres://…)"
                );
                let from = open(&config).await?;
                let target = App::open(&to, &Default::default())
                    .await
                    .with_context(|| format!("cannot open {}", pilotline_app::redact_url(&to)))?;
                target.migrate().await.context("cannot migrate the target")?;
                let report = from.copy_store_into(&target, &cli_admin()).await?;
                for (table, rows) in &report.tables {
                    println!("{table:<32} {rows:>12}");
                }
                println!(
                    "copied {} rows of {} tables into {}",
                    report.rows(),
                    report.tables.len(),
                    pilotline_app::redact_url(&to)
                );
                println!(
                    "uploaded files stay in {}: set blob_dir to it (or copy it) when serving from PostgreSQL",
                    from.default_blob_dir().display()
                );
                from.close().await;
                target.close().await;
                Ok(())
            }
            Command::Migrate => {
                let store = open(&config).await?;
                store.migrate().await?;
                println!("migrations applied");
                Ok(())
            }
            Command::Route {
                command: RouteCommand::Import { files, user },
            } => {
                let store = open_migrated(&config).await?;
                import_routes(&store, &files, &user).await
            }
            Command::Import {
                command:
                    ImportCommand::Stdf {
                        files,
                        lot,
                        create_lots,
                        user,
                    },
            } => {
                let store = open_migrated(&config).await?;
                crate::import::stdf(&store, &files, lot, create_lots, &user).await
            }
            Command::Token {
                command:
                    TokenCommand::Create {
                        user,
                        role,
                        tenant,
                        expires_in_days,
                    },
            } => {
                let store = open_migrated(&config).await?;
                let expires = expires_in_days
                    .map(|d| pilotline_app::now() + chrono::Duration::days(i64::from(d)));
                let token = store
                    .issue_token(&user, role, tenant.as_deref(), expires)
                    .await?;
                println!("created a {role} token for {user}; it is shown once:");
                println!("{token}");
                Ok(())
            }
            Command::User {
                command: UserCommand::Create { name, role, tenant },
            } => {
                let mut password = String::new();
                std::io::stdin()
                    .read_line(&mut password)
                    .context("cannot read the password from stdin")?;
                let password = password.trim_end_matches(['\r', '\n']);
                let app = open_migrated(&config).await?;
                app.set_password(&name, role, tenant.as_deref(), password)
                    .await?;
                println!("user {name} ({role}) can sign in at /ui/");
                Ok(())
            }
            Command::Line { command } => {
                let app = open_migrated(&config).await?;
                let admin = cli_admin();
                match command {
                    LineCommand::Set { file } => {
                        let cfg: pilotline_mpw::LineConfig = read_json(&file)?;
                        app.put_line_config(&cfg, &admin).await?;
                        println!("line configuration set from {}", file.display());
                    }
                    LineCommand::Show => {
                        let cfg = app.line_config(&admin).await?;
                        println!("{}", serde_json::to_string_pretty(&cfg)?);
                    }
                }
                Ok(())
            }
            Command::Shuttle { command } => {
                let app = open_migrated(&config).await?;
                crate::shuttle_cli::run(&app, &cli_admin(), command).await
            }
            Command::Tenant { command } => {
                let store = open_migrated(&config).await?;
                let admin = cli_admin();
                match command {
                    TenantCommand::Create { id, name } => {
                        let t = pilotline_domain::Tenant {
                            id,
                            name,
                            status: pilotline_domain::TenantStatus::Active,
                        };
                        let t = store.create_tenant(&t, &admin).await?;
                        println!("tenant {} ({}) is {}", t.id, t.name, t.status);
                    }
                    TenantCommand::List => {
                        for t in store.tenants(&admin).await? {
                            println!("{:<24} {:<10} {}", t.id, t.status, t.name);
                        }
                    }
                    TenantCommand::Status { id, status } => {
                        let status =
                            pilotline_domain::TenantStatus::parse(&status).with_context(|| {
                                format!("unknown status {status:?} (active, suspended or closed)")
                            })?;
                        let t = store.set_tenant_status(&id, status, &admin).await?;
                        println!("tenant {} is {}", t.id, t.status);
                    }
                }
                Ok(())
            }
            Command::Token {
                command: TokenCommand::Revoke { token, id, user },
            } => {
                let store = open_migrated(&config).await?;
                match (token, id, user) {
                    (Some(t), _, _) => {
                        store.revoke_token(&t).await?;
                        println!("token revoked");
                    }
                    (_, Some(id), _) => {
                        store.revoke_token_id(id, &cli_admin()).await?;
                        println!("token {id} revoked");
                    }
                    (_, _, Some(u)) => {
                        let n = store.revoke_user_tokens(&u).await?;
                        println!("{n} token(s) of {u} revoked");
                    }
                    _ => anyhow::bail!("name a token, --id or --user"),
                }
                Ok(())
            }
            Command::Token {
                command: TokenCommand::List { user },
            } => {
                let store = open_migrated(&config).await?;
                for t in store.tokens(user.as_deref(), &cli_admin()).await? {
                    let state = match (&t.revoked_at, &t.expires_at) {
                        (Some(_), _) => "revoked".to_string(),
                        _ if t.user_disabled => "user disabled".to_string(),
                        (None, Some(e)) if *e <= pilotline_app::now() => "expired".to_string(),
                        (None, Some(e)) => format!("live until {}", e.to_rfc3339()),
                        (None, None) => "live".to_string(),
                    };
                    println!(
                        "{:>6}  {:<14} {:<16} {:<9} {}",
                        t.id,
                        t.prefix.as_deref().unwrap_or("-"),
                        t.user,
                        t.role,
                        state
                    );
                }
                Ok(())
            }
            Command::Token {
                command: TokenCommand::DisableUser { user, enable },
            } => {
                let store = open_migrated(&config).await?;
                store
                    .set_user_disabled(&user, !enable, &cli_admin())
                    .await?;
                println!(
                    "user {user} {}",
                    if enable { "enabled" } else { "disabled" }
                );
                Ok(())
            }
            Command::Demo {
                listen,
                data_dir,
                profiles,
                mqtt_port,
                no_tools,
            } => {
                let tools = (!no_tools).then(|| crate::demo::Tools {
                    profiles: profiles.or_else(crate::demo::default_profiles),
                    mqtt_port,
                });
                crate::demo::run(&listen, data_dir, tools).await
            }
            Command::Simulate { path, mqtt_broker } => {
                let catalogue = crate::collect::load_profiles(&path)?;
                let (stop_tx, stop) = tokio::sync::watch::channel(false);
                let tasks =
                    crate::simulate::start(&catalogue, mqtt_broker.as_deref(), stop).await?;
                println!(
                    "simulating {} tools from {}; Ctrl-C stops",
                    catalogue.devices.len(),
                    path.display()
                );
                crate::serve::shutdown_signal().await;
                let _ = stop_tx.send(true);
                for t in tasks {
                    let _ = t.await;
                }
                Ok(())
            }
            Command::Validate { .. } => unreachable!("handled before the runtime starts"),
        }
    })
}

fn init_tracing(filter: &str, format: &str) -> Result<()> {
    // The embedded broker reports every connection at info and every client's disconnect as
    // an error; it is quiet unless asked (`pilotline::broker` says if the broker itself stops).
    let filter = if filter.contains("rumqttd") {
        filter.to_string()
    } else {
        format!("{filter},rumqttd=off")
    };
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        "text" => {
            let _ = builder
                .with_ansi(std::io::stderr().is_terminal())
                .try_init();
        }
        // One JSON object a line, the span's fields (the request id) in it.
        "json" => {
            let _ = builder
                .json()
                .with_current_span(true)
                .with_span_list(false)
                .try_init();
        }
        other => anyhow::bail!("log_format {other:?}: it is text or json"),
    }
    Ok(())
}

/// Opens the configured store.
pub async fn open(config: &Config) -> Result<App> {
    let opts = pilotline_app::OpenOptions {
        max_connections: config.max_connections,
        ..Default::default()
    };
    let app = App::open(&config.database_url, &opts)
        .await
        .with_context(|| {
            format!(
                "cannot open database {}",
                pilotline_app::redact_url(&config.database_url)
            )
        })?;
    app.with_retention(config.retention())
        .map_err(|e| anyhow::anyhow!("retention_*_days: {e}"))
}

/// Opens the configured store and applies pending migrations.
pub async fn open_migrated(config: &Config) -> Result<App> {
    let store = open(config).await?;
    store.migrate().await.context("cannot apply migrations")?;
    Ok(store)
}

/// Parses a route file, naming the file and line of any fault.
pub fn parse_route_file(path: &std::path::Path) -> Result<RouteSpec> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let spec: RouteSpec =
        toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    spec.validate()
        .map_err(|errors| anyhow::anyhow!("{}:\n  {}", path.display(), errors.join("\n  ")))?;
    Ok(spec)
}

async fn import_routes(store: &App, files: &[PathBuf], user: &str) -> Result<()> {
    let specs: Vec<RouteSpec> = files
        .iter()
        .map(|f| parse_route_file(f))
        .collect::<Result<_>>()?;
    let actor = Actor {
        user: user.to_string(),
        role: Role::Admin,
        tenant: None,
    };
    for spec in specs {
        match store.execute(&WriteOp::PutRoute(spec), &actor).await? {
            Outcome::Route {
                route,
                created: true,
            } => {
                println!(
                    "route {} v{} stored ({} steps)",
                    route.id,
                    route.version,
                    route.steps.len()
                )
            }
            Outcome::Route { route, .. } => {
                println!("route {} v{} unchanged", route.id, route.version)
            }
            other => anyhow::bail!("unexpected outcome {other:?}"),
        }
    }
    Ok(())
}

fn validate(path: &std::path::Path) -> Result<()> {
    let (catalogue, errors) = pilotline_equipment::load_dir(path);
    for e in &errors {
        eprintln!("{e}");
    }
    if errors.is_empty() {
        println!(
            "{}: {} device types, {} devices, no errors",
            path.display(),
            catalogue.types.len(),
            catalogue.devices.len()
        );
        Ok(())
    } else {
        anyhow::bail!("{} error(s) in {}", errors.len(), path.display())
    }
}
