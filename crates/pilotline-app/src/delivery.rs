//! Where a booking's silicon is: its MPW lot's progress along the shuttle's route and the
//! expected delivery date, forecast from the steps left at the line's measured cycle time per
//! step, beside the date the shuttle's calendar promised.
//!
//! A tenant may follow the MPW lot of a shuttle it has a design on, though the lot is the
//! platform's: the booking is read in the caller's scope first, and only then the lot, as the
//! platform, for the figures shown here (never its other tenants' data).

use chrono::{DateTime, Utc};
use pilotline_domain::{Action, Actor, Code, LotState, Role};
use pilotline_mpw::forecast::{self, Forecast, StepAhead};
use serde::Serialize;

use pilotline_mpw::Shuttle;
use pilotline_store::Booking;

use crate::perform::require;
use crate::{App, AppError};

/// An MPW lot's place on its route.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LotProgress {
    /// The lot.
    pub lot: String,
    /// Its process state.
    pub state: LotState,
    /// The current step's id (the last step once completed).
    pub step: String,
    /// The current step's name.
    pub step_name: String,
    /// Steps done.
    pub steps_done: usize,
    /// Steps in the route.
    pub steps_total: usize,
    /// Whether it is on hold.
    pub held: bool,
    /// When it reached its current step.
    pub arrived_at: DateTime<Utc>,
}

/// A booking's delivery: progress, forecast and promise.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Delivery {
    /// The booking.
    pub booking: String,
    /// The shuttle.
    pub shuttle: String,
    /// The date the shuttle's calendar promised.
    pub promised: DateTime<Utc>,
    /// The MPW lot's progress, once the shuttle started.
    pub progress: Option<LotProgress>,
    /// The expected delivery, while the lot is on its route (`None` before the shuttle
    /// starts; once the route is done, `expected` is when it finished).
    pub forecast: Option<Forecast>,
}

/// The platform reading the MPW lot for a caller whose booking it carries.
fn platform_reader() -> Actor {
    Actor {
        user: "pilotline".into(),
        role: Role::Manager,
        tenant: None,
    }
}

impl App {
    /// Booking `id`'s delivery: its MPW lot's progress and the forecast delivery date (a
    /// tenant: its own bookings only).
    pub async fn delivery(&self, id: &str, actor: &Actor) -> Result<Delivery, AppError> {
        require(actor, Action::ReadShuttles, "read bookings")?;
        let booking =
            self.store.booking(id, actor).await?.ok_or_else(|| {
                AppError::from(Code::BookingNotFound.refusal().with("booking", id))
            })?;
        let shuttle = self.shuttle_of_booking(&booking).await?;
        self.delivery_of(&booking, &shuttle).await
    }

    /// The shuttle `booking` is on.
    pub(crate) async fn shuttle_of_booking(&self, booking: &Booking) -> Result<Shuttle, AppError> {
        self.store.shuttle(&booking.shuttle).await?.ok_or_else(|| {
            AppError::from(
                Code::ShuttleNotFound
                    .refusal()
                    .with("shuttle", &booking.shuttle),
            )
        })
    }

    /// The delivery of `booking` (already read in the caller's scope) on `shuttle`.
    pub(crate) async fn delivery_of(
        &self,
        booking: &Booking,
        shuttle: &Shuttle,
    ) -> Result<Delivery, AppError> {
        let promised = shuttle.spec.calendar.expected_delivery;
        let mut out = Delivery {
            booking: booking.id.clone(),
            shuttle: shuttle.spec.id.clone(),
            promised,
            progress: None,
            forecast: None,
        };
        // Only a design on the wafers follows the lot; a cancelled booking does not.
        let on_wafer = matches!(
            booking.status,
            pilotline_mpw::BookingStatus::InFab | pilotline_mpw::BookingStatus::Delivered
        );
        let Some(lot_id) = shuttle.lot.as_deref().filter(|_| on_wafer) else {
            return Ok(out);
        };
        let platform = platform_reader();
        let Some(lot) = self.store.lot(lot_id, &platform).await? else {
            return Ok(out);
        };
        let route = self
            .store
            .route(&lot.route, Some(lot.route_version))
            .await?
            .ok_or_else(|| {
                AppError::from(Code::RouteNotFound.refusal().with("route", &lot.route))
            })?;
        let total = route.steps.len();
        let finished = matches!(lot.state, LotState::Completed | LotState::Shipped);
        let done = if finished { total } else { lot.step.index };
        out.progress = Some(LotProgress {
            lot: lot.id.clone(),
            state: lot.state,
            step: lot.step.id.clone(),
            step_name: lot.step.name.clone(),
            steps_done: done,
            steps_total: total,
            held: !lot.holds.is_empty(),
            arrived_at: lot.arrived_at,
        });
        if matches!(lot.state, LotState::Scrapped | LotState::Merged) {
            return Ok(out);
        }
        let now = pilotline_store::now();
        let measured = self.store.step_cycle_times(&lot.route).await?;
        let ahead: Vec<StepAhead> = if finished {
            Vec::new()
        } else {
            route.steps[lot.step.index..]
                .iter()
                .map(|s| StepAhead {
                    step: s.id.clone(),
                    measured_s: measured.get(&s.id).copied(),
                })
                .collect()
        };
        let in_step = (now - lot.arrived_at).num_milliseconds().max(0) as f64 / 1000.0;
        let at = if finished { lot.arrived_at } else { now };
        let line_mean =
            (!measured.is_empty()).then(|| measured.values().sum::<f64>() / measured.len() as f64);
        out.forecast = Some(forecast::forecast(
            &ahead,
            line_mean,
            in_step,
            !lot.holds.is_empty(),
            promised,
            at,
        ));
        Ok(out)
    }
}
