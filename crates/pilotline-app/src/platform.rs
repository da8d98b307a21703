//! The platform's own figures: what it did for start-ups in a year (shuttles run, start-ups
//! served, designs taped out and delivered), as its yearly report gives them.

use chrono::{DateTime, TimeZone, Utc};
use pilotline_domain::{Action, Actor, Code};
use pilotline_store::PlatformFigures;

use crate::{App, AppError};

impl App {
    /// The platform's figures for calendar year `year` (UTC) — staff only.
    pub async fn platform_year(
        &self,
        year: i32,
        actor: &Actor,
    ) -> Result<PlatformFigures, AppError> {
        actor.require(Action::ReadMasterData, "read the platform's figures")?;
        let start = |y: i32| -> Result<DateTime<Utc>, AppError> {
            Utc.with_ymd_and_hms(y, 1, 1, 0, 0, 0)
                .single()
                .ok_or_else(|| {
                    Code::OutOfRange
                        .refusal()
                        .with("field", "year")
                        .with("value", year)
                        .with("range", "a calendar year")
                        .into()
                })
        };
        Ok(self
            .store
            .platform_figures(start(year)?, start(year + 1)?, actor)
            .await?)
    }
}
