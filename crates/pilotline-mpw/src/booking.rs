//! A booking's life: request → confirmed or waitlisted → design submitted → precheck passed
//! or failed → accepted → in fab → delivered; or cancelled. Every change is an event.

use pilotline_domain::{Code, Refusal};
use serde::{Deserialize, Serialize};

/// Where a booking is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum BookingStatus {
    /// Space is held for it.
    Confirmed,
    /// No space left when it was asked for; it is promoted, in order, when space frees.
    Waitlisted,
    /// A revision is designated as the design to fabricate; its precheck decides next.
    DesignSubmitted,
    /// The submitted revision passed its precheck; it waits for an engineer.
    PrecheckPassed,
    /// The submitted revision failed its precheck; a corrected revision is needed.
    PrecheckFailed,
    /// An engineer accepted the submitted revision; its hash is pinned.
    Accepted,
    /// Its dies are on the line.
    InFab,
    /// Its dies were delivered.
    Delivered,
    /// Called off (by the customer, or at fab start without an accepted design).
    Cancelled,
}

impl BookingStatus {
    /// Every status.
    pub const ALL: [BookingStatus; 9] = [
        BookingStatus::Confirmed,
        BookingStatus::Waitlisted,
        BookingStatus::DesignSubmitted,
        BookingStatus::PrecheckPassed,
        BookingStatus::PrecheckFailed,
        BookingStatus::Accepted,
        BookingStatus::InFab,
        BookingStatus::Delivered,
        BookingStatus::Cancelled,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            BookingStatus::Confirmed => "confirmed",
            BookingStatus::Waitlisted => "waitlisted",
            BookingStatus::DesignSubmitted => "design_submitted",
            BookingStatus::PrecheckPassed => "precheck_passed",
            BookingStatus::PrecheckFailed => "precheck_failed",
            BookingStatus::Accepted => "accepted",
            BookingStatus::InFab => "in_fab",
            BookingStatus::Delivered => "delivered",
            BookingStatus::Cancelled => "cancelled",
        }
    }

    /// The status with this stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// Whether the booking holds space on its shuttle.
    pub fn holds_space(self) -> bool {
        !matches!(self, BookingStatus::Waitlisted | BookingStatus::Cancelled)
    }

    /// Whether design revisions may still be uploaded and submitted.
    pub fn takes_designs(self) -> bool {
        matches!(
            self,
            BookingStatus::Confirmed
                | BookingStatus::Waitlisted
                | BookingStatus::DesignSubmitted
                | BookingStatus::PrecheckPassed
                | BookingStatus::PrecheckFailed
                | BookingStatus::Accepted
        )
    }

    fn refuse(self, booking: &str, allowed: &str) -> Refusal {
        Code::BookingStateForbids
            .refusal()
            .with("booking", booking)
            .with("status", self)
            .with("allowed", allowed)
    }

    /// Refuses an upload or submission to a booking that takes no more designs.
    pub fn require_takes_designs(self, booking: &str) -> Result<(), Refusal> {
        if self.takes_designs() {
            Ok(())
        } else {
            Err(self.refuse(
                booking,
                "designs are taken until the booking is in fab or cancelled",
            ))
        }
    }

    /// Refuses submitting a revision for a waitlisted booking (it has no space yet).
    pub fn require_may_submit(self, booking: &str) -> Result<(), Refusal> {
        if self == BookingStatus::Waitlisted {
            return Err(self.refuse(
                booking,
                "a waitlisted booking may upload revisions but submits one once it is confirmed",
            ));
        }
        self.require_takes_designs(booking)
    }

    /// Refuses accepting a design unless the submitted revision passed its precheck.
    pub fn require_may_accept(self, booking: &str) -> Result<(), Refusal> {
        match self {
            BookingStatus::PrecheckPassed => Ok(()),
            _ => Err(self.refuse(
                booking,
                "an engineer accepts a submitted design that passed its precheck",
            )),
        }
    }

    /// Refuses cancelling a booking already in fab, delivered or cancelled.
    pub fn require_may_cancel(self, booking: &str) -> Result<(), Refusal> {
        match self {
            BookingStatus::InFab | BookingStatus::Delivered | BookingStatus::Cancelled => Err(self
                .refuse(
                    booking,
                    "a booking is cancelled before its shuttle is in fab",
                )),
            _ => Ok(()),
        }
    }
}

impl std::fmt::Display for BookingStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What happened to a booking (the timeline's entries).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum BookingEventKind {
    /// Asked for, with its quote.
    Requested,
    /// Space was given.
    Confirmed,
    /// No space: placed on the waitlist at a position.
    Waitlisted,
    /// Space freed by a cancellation was given to it.
    Promoted,
    /// A design revision was uploaded (with its hash and precheck verdict).
    RevisionUploaded,
    /// A revision was designated as the design to fabricate.
    DesignSubmitted,
    /// The submitted revision passed its precheck.
    PrecheckPassed,
    /// The submitted revision failed its precheck.
    PrecheckFailed,
    /// An engineer accepted the design; the hash to fabricate is pinned.
    Accepted,
    /// Its shuttle started; its dies are in the MPW lot.
    InFab,
    /// Delivered.
    Delivered,
    /// Cancelled.
    Cancelled,
    /// A passed deadline was overridden by an engineer (with the reason).
    DeadlineOverridden,
}

impl BookingEventKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            BookingEventKind::Requested => "requested",
            BookingEventKind::Confirmed => "confirmed",
            BookingEventKind::Waitlisted => "waitlisted",
            BookingEventKind::Promoted => "promoted",
            BookingEventKind::RevisionUploaded => "revision_uploaded",
            BookingEventKind::DesignSubmitted => "design_submitted",
            BookingEventKind::PrecheckPassed => "precheck_passed",
            BookingEventKind::PrecheckFailed => "precheck_failed",
            BookingEventKind::Accepted => "accepted",
            BookingEventKind::InFab => "in_fab",
            BookingEventKind::Delivered => "delivered",
            BookingEventKind::Cancelled => "cancelled",
            BookingEventKind::DeadlineOverridden => "deadline_overridden",
        }
    }

    /// Every kind.
    pub const ALL: [BookingEventKind; 13] = [
        BookingEventKind::Requested,
        BookingEventKind::Confirmed,
        BookingEventKind::Waitlisted,
        BookingEventKind::Promoted,
        BookingEventKind::RevisionUploaded,
        BookingEventKind::DesignSubmitted,
        BookingEventKind::PrecheckPassed,
        BookingEventKind::PrecheckFailed,
        BookingEventKind::Accepted,
        BookingEventKind::InFab,
        BookingEventKind::Delivered,
        BookingEventKind::Cancelled,
        BookingEventKind::DeadlineOverridden,
    ];

    /// The kind with this stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use BookingStatus::*;

    #[test]
    fn the_table_of_what_each_status_allows() {
        // (status, may submit, may accept, may cancel, holds space)
        let table = [
            (Confirmed, true, false, true, true),
            (Waitlisted, false, false, true, false),
            (DesignSubmitted, true, false, true, true),
            (PrecheckPassed, true, true, true, true),
            (PrecheckFailed, true, false, true, true),
            (Accepted, true, false, true, true),
            (InFab, false, false, false, true),
            (Delivered, false, false, false, true),
            (Cancelled, false, false, false, false),
        ];
        for (s, submit, accept, cancel, space) in table {
            assert_eq!(s.require_may_submit("B").is_ok(), submit, "{s} submit");
            assert_eq!(s.require_may_accept("B").is_ok(), accept, "{s} accept");
            assert_eq!(s.require_may_cancel("B").is_ok(), cancel, "{s} cancel");
            assert_eq!(s.holds_space(), space, "{s} space");
            assert_eq!(BookingStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(
            InFab.require_may_cancel("B").unwrap_err().code(),
            Code::BookingStateForbids
        );
    }
}
