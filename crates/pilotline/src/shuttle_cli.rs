//! `pilotline shuttle …`: the engineer's routine steps with MPW shuttles, through the same
//! application layer as the API.

use anyhow::Result;
use pilotline_app::App;
use pilotline_domain::Actor;
use pilotline_mpw::{ShuttleSpec, ShuttleStatus};

use crate::cli::{ShuttleCommand, read_json};

/// Runs one shuttle command as `actor`.
pub async fn run(app: &App, actor: &Actor, command: ShuttleCommand) -> Result<()> {
    match command {
        ShuttleCommand::Create { file } => {
            let spec: ShuttleSpec = read_json(&file)?;
            let s = app.create_shuttle(&spec, actor).await?;
            println!("shuttle {} ({}) is {}", s.spec.id, s.spec.name, s.status);
        }
        ShuttleCommand::List => {
            for s in app.shuttles(false, actor).await? {
                let view = app.shuttle(&s.spec.id, actor).await?;
                let left: Vec<String> = view
                    .capacity
                    .iter()
                    .map(|p| format!("{} {}/{}", p.pool, p.left, p.capacity))
                    .collect();
                println!(
                    "{:<16} {:<10} fab start {}  left: {}  lot: {}",
                    s.spec.id,
                    s.status,
                    s.spec.calendar.fab_start.format("%Y-%m-%d"),
                    left.join(", "),
                    s.lot.as_deref().unwrap_or("-")
                );
            }
        }
        ShuttleCommand::Open { id } => status(app, actor, &id, ShuttleStatus::Open).await?,
        ShuttleCommand::Deliver { id } => status(app, actor, &id, ShuttleStatus::Delivered).await?,
        ShuttleCommand::Cancel { id } => status(app, actor, &id, ShuttleStatus::Cancelled).await?,
        ShuttleCommand::Close { id } => {
            let layout = app.close_shuttle(&id, actor).await?;
            println!(
                "shuttle {id} is closed: {} fields, {} dies on a wafer{}",
                layout.fields.len(),
                layout.dies.len(),
                if layout.needs_approval {
                    " (the area packing needs approval: pilotline shuttle approve)"
                } else {
                    ""
                }
            );
            for b in &layout.bookings {
                println!(
                    "  {:<20} {:<16} {} per field, {} per wafer",
                    b.booking, b.tenant, b.per_field, b.per_wafer
                );
            }
        }
        ShuttleCommand::Approve { id } => {
            app.approve_layout(&id, actor).await?;
            println!("the layout of shuttle {id} is approved");
        }
        ShuttleCommand::Start { id } => {
            let s = app.start_shuttle(&id, actor).await?;
            println!(
                "shuttle {id} is {}: lot {}",
                s.status,
                s.lot.as_deref().unwrap_or("-")
            );
        }
    }
    Ok(())
}

async fn status(app: &App, actor: &Actor, id: &str, to: ShuttleStatus) -> Result<()> {
    let s = app.set_shuttle_status(id, to, actor).await?;
    println!("shuttle {} is {}", s.spec.id, s.status);
    Ok(())
}
