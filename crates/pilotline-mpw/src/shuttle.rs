//! A shuttle run: its calendar, its status and the rules the server clock enforces.

use chrono::{DateTime, Utc};
use pilotline_domain::{Code, Refusal, check_text, valid_id};
use serde::{Deserialize, Serialize};

use crate::line::LineConfig;
use crate::offer::Offer;

/// Where a shuttle is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ShuttleStatus {
    /// Announced; not yet taking bookings.
    Planned,
    /// Taking bookings (between booking opens and booking closes).
    Open,
    /// Booking closed: designs are placed; the designs are finished and accepted.
    Closed,
    /// Its MPW lot runs on the line.
    InFab,
    /// Dies delivered.
    Delivered,
    /// Called off.
    Cancelled,
}

impl ShuttleStatus {
    /// Every status.
    pub const ALL: [ShuttleStatus; 6] = [
        ShuttleStatus::Planned,
        ShuttleStatus::Open,
        ShuttleStatus::Closed,
        ShuttleStatus::InFab,
        ShuttleStatus::Delivered,
        ShuttleStatus::Cancelled,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            ShuttleStatus::Planned => "planned",
            ShuttleStatus::Open => "open",
            ShuttleStatus::Closed => "closed",
            ShuttleStatus::InFab => "in_fab",
            ShuttleStatus::Delivered => "delivered",
            ShuttleStatus::Cancelled => "cancelled",
        }
    }

    /// The status with this stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// Whether the shuttle is still ahead of its fab start (listed as upcoming).
    pub fn upcoming(self) -> bool {
        matches!(
            self,
            ShuttleStatus::Planned | ShuttleStatus::Open | ShuttleStatus::Closed
        )
    }
}

impl std::fmt::Display for ShuttleStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A shuttle's dates, each an instant (shown in the viewer's zone).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Calendar {
    /// Bookings are taken from here.
    pub booking_opens: DateTime<Utc>,
    /// Bookings are taken until here; then the designs are placed.
    pub booking_closes: DateTime<Utc>,
    /// Design revisions are uploaded and submitted until here.
    pub design_deadline: DateTime<Utc>,
    /// The submitted designs must be DRC clean and accepted by here.
    pub drc_freeze: DateTime<Utc>,
    /// The MPW lot starts.
    pub fab_start: DateTime<Utc>,
    /// The dies are promised for here.
    pub expected_delivery: DateTime<Utc>,
}

/// A deadline of the calendar, as rules and refusals name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deadline {
    /// `booking_opens` (too early).
    BookingOpens,
    /// `booking_closes`.
    BookingCloses,
    /// `design_deadline`.
    DesignDeadline,
    /// `drc_freeze`.
    DrcFreeze,
}

impl Deadline {
    /// Its field name.
    pub fn as_str(self) -> &'static str {
        match self {
            Deadline::BookingOpens => "booking_opens",
            Deadline::BookingCloses => "booking_closes",
            Deadline::DesignDeadline => "design_deadline",
            Deadline::DrcFreeze => "drc_freeze",
        }
    }
}

impl Calendar {
    /// The dates in calendar order, with their names.
    pub fn dates(&self) -> [(&'static str, DateTime<Utc>); 6] {
        [
            ("booking_opens", self.booking_opens),
            ("booking_closes", self.booking_closes),
            ("design_deadline", self.design_deadline),
            ("drc_freeze", self.drc_freeze),
            ("fab_start", self.fab_start),
            ("expected_delivery", self.expected_delivery),
        ]
    }

    /// Refuses dates out of order (each at or after the one before it).
    pub fn validate(&self) -> Result<(), Refusal> {
        let d = self.dates();
        for w in d.windows(2) {
            if w[1].1 < w[0].1 {
                return Err(Code::DefinitionInvalid
                    .refusal()
                    .with("what", "calendar")
                    .with(
                        "problems",
                        format!("{} ({}) is before {} ({})", w[1].0, w[1].1, w[0].0, w[0].1),
                    ));
            }
        }
        Ok(())
    }

    /// The instant of `d`.
    pub fn at(&self, d: Deadline) -> DateTime<Utc> {
        match d {
            Deadline::BookingOpens => self.booking_opens,
            Deadline::BookingCloses => self.booking_closes,
            Deadline::DesignDeadline => self.design_deadline,
            Deadline::DrcFreeze => self.drc_freeze,
        }
    }
}

/// A shuttle as it is defined (the body of a create).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ShuttleSpec {
    /// Id (`MPW-2027-1`).
    pub id: String,
    /// Name shown to people.
    pub name: String,
    /// The process: the route its MPW lot follows (and whose layer table prechecks use).
    pub route: String,
    /// The product its MPW lot is started as.
    pub product: String,
    /// Wafers in the MPW lot.
    pub wafer_count: u32,
    /// The dates.
    pub calendar: Calendar,
    /// What is sold.
    pub offer: Offer,
}

impl ShuttleSpec {
    /// Refuses a malformed shuttle.
    pub fn validate(&self, line: &LineConfig) -> Result<(), Refusal> {
        if !valid_id(&self.id) {
            return Err(Code::IdMalformed
                .refusal()
                .with("field", "id")
                .with("value", format!("{:?}", self.id)));
        }
        check_text("name", &self.name, 200)?;
        if self.wafer_count == 0 || self.wafer_count > 25 {
            return Err(Code::OutOfRange
                .refusal()
                .with("field", "wafer_count")
                .with("value", self.wafer_count)
                .with("range", "1..=25"));
        }
        self.calendar.validate()?;
        self.offer.validate(&line.stepper_field)
    }
}

/// A shuttle as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Shuttle {
    /// Its definition.
    #[serde(flatten)]
    pub spec: ShuttleSpec,
    /// Where it is.
    pub status: ShuttleStatus,
    /// The MPW lot, once started.
    pub lot: Option<String>,
    /// The line's time zone its people plan in.
    pub time_zone: String,
}

/// Whether a late action was let through by an engineer's override.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lateness {
    /// The deadline passed.
    pub deadline: Deadline,
    /// The override's reason.
    pub reason: String,
}

/// An engineer's override of a passed deadline.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Override<'a> {
    /// Why (required for an override to count).
    pub reason: Option<&'a str>,
    /// Whether the caller may override (engineers, admins).
    pub allowed: bool,
}

impl Shuttle {
    /// Refuses (`shuttle_state_forbids`) unless the shuttle is in one of `states`.
    pub fn require_status(&self, states: &[ShuttleStatus], allowed: &str) -> Result<(), Refusal> {
        if states.contains(&self.status) {
            Ok(())
        } else {
            Err(Code::ShuttleStateForbids
                .refusal()
                .with("shuttle", &self.spec.id)
                .with("status", self.status)
                .with("allowed", allowed))
        }
    }

    /// Checks that `now` is before `deadline`; past it, only an override with a reason lets
    /// the action through (and says so, to be recorded).
    pub fn before(
        &self,
        deadline: Deadline,
        action: &str,
        now: DateTime<Utc>,
        ov: &Override<'_>,
    ) -> Result<Option<Lateness>, Refusal> {
        let at = self.spec.calendar.at(deadline);
        if now < at {
            return Ok(None);
        }
        let refused = || {
            Code::DeadlinePassed
                .refusal()
                .with("deadline", deadline.as_str())
                .with("shuttle", &self.spec.id)
                .with("at", at.to_rfc3339())
                .with("action", action)
        };
        if !ov.allowed {
            return Err(refused());
        }
        match ov.reason.map(str::trim) {
            Some(r) if !r.is_empty() => {
                check_text("override_reason", r, 500)?;
                Ok(Some(Lateness {
                    deadline,
                    reason: r.to_string(),
                }))
            }
            Some(_) => Err(Code::OverrideReasonRequired.refusal()),
            None => Err(refused()),
        }
    }

    /// The rules of a new booking at `now`: the shuttle is open, booking has opened and has
    /// not closed (unless overridden).
    pub fn may_book(
        &self,
        now: DateTime<Utc>,
        ov: &Override<'_>,
    ) -> Result<Option<Lateness>, Refusal> {
        self.require_status(
            &[ShuttleStatus::Open],
            "bookings are taken while it is open",
        )?;
        if now < self.spec.calendar.booking_opens {
            return Err(Code::DeadlinePassed
                .refusal()
                .with("deadline", "booking_opens")
                .with("shuttle", &self.spec.id)
                .with("at", self.spec.calendar.booking_opens.to_rfc3339())
                .with("action", "booking (booking has not opened yet)"));
        }
        self.before(Deadline::BookingCloses, "booking", now, ov)
    }

    /// The status a shuttle may move to from its current one.
    pub fn next_status_allowed(&self, to: ShuttleStatus) -> Result<(), Refusal> {
        use ShuttleStatus::*;
        let ok = matches!(
            (self.status, to),
            (Planned, Open)
                | (Open, Closed)
                | (Closed, InFab)
                | (InFab, Delivered)
                | (Planned | Open | Closed, Cancelled)
        );
        if ok {
            Ok(())
        } else {
            Err(Code::ShuttleStateForbids
                .refusal()
                .with("shuttle", &self.spec.id)
                .with("status", self.status)
                .with(
                    "allowed",
                    format!(
                        "it cannot become {to}; a shuttle goes planned → open → closed → in_fab → delivered, or is cancelled before fab"
                    ),
                ))
        }
    }
}

#[cfg(test)]
pub(crate) fn example_calendar(now: DateTime<Utc>) -> Calendar {
    let d = |days: i64| now + chrono::Duration::days(days);
    Calendar {
        booking_opens: d(-1),
        booking_closes: d(10),
        design_deadline: d(20),
        drc_freeze: d(25),
        fab_start: d(30),
        expected_delivery: d(120),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shuttle(status: ShuttleStatus) -> Shuttle {
        let now = Utc::now();
        Shuttle {
            spec: ShuttleSpec {
                id: "S1".into(),
                name: "Shuttle one".into(),
                route: "R".into(),
                product: "P".into(),
                wafer_count: 3,
                calendar: example_calendar(now),
                offer: crate::offer::example(),
            },
            status,
            lot: None,
            time_zone: "Asia/Shanghai".into(),
        }
    }

    #[test]
    fn booking_needs_an_open_shuttle_inside_its_window() {
        let now = Utc::now();
        let none = Override::default();
        assert_eq!(shuttle(ShuttleStatus::Open).may_book(now, &none), Ok(None));
        assert_eq!(
            shuttle(ShuttleStatus::Planned)
                .may_book(now, &none)
                .unwrap_err()
                .code(),
            Code::ShuttleStateForbids
        );
        let late = now + chrono::Duration::days(11);
        let s = shuttle(ShuttleStatus::Open);
        assert_eq!(
            s.may_book(late, &none).unwrap_err().code(),
            Code::DeadlinePassed
        );
        let early = now - chrono::Duration::days(2);
        assert_eq!(
            s.may_book(early, &none).unwrap_err().code(),
            Code::DeadlinePassed
        );
        // An engineer's override needs a reason, and is then recorded.
        let no_reason = Override {
            reason: Some(" "),
            allowed: true,
        };
        assert_eq!(
            s.may_book(late, &no_reason).unwrap_err().code(),
            Code::OverrideReasonRequired
        );
        let ok = Override {
            reason: Some("agreed with the customer"),
            allowed: true,
        };
        let lateness = s.may_book(late, &ok).unwrap().unwrap();
        assert_eq!(lateness.deadline, Deadline::BookingCloses);
        // A customer's "override" counts for nothing.
        let customer = Override {
            reason: Some("please"),
            allowed: false,
        };
        assert_eq!(
            s.may_book(late, &customer).unwrap_err().code(),
            Code::DeadlinePassed
        );
    }

    #[test]
    fn a_calendar_out_of_order_is_refused() {
        let mut c = example_calendar(Utc::now());
        assert!(c.validate().is_ok());
        c.fab_start = c.booking_opens;
        assert_eq!(c.validate().unwrap_err().code(), Code::DefinitionInvalid);
    }

    #[test]
    fn status_moves_forward_only() {
        use ShuttleStatus::*;
        assert!(shuttle(Planned).next_status_allowed(Open).is_ok());
        assert!(shuttle(Closed).next_status_allowed(InFab).is_ok());
        assert!(shuttle(Open).next_status_allowed(InFab).is_err());
        assert!(shuttle(InFab).next_status_allowed(Cancelled).is_err());
        assert!(shuttle(Delivered).next_status_allowed(Open).is_err());
        for s in ShuttleStatus::ALL {
            assert_eq!(ShuttleStatus::parse(s.as_str()), Some(s));
        }
    }
}
