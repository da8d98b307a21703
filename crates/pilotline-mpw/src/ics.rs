//! The iCalendar feed (RFC 5545) of upcoming shuttles' deadlines, one event per date, written
//! with the `icalendar` crate. Times are UTC instants; a calendar client shows them in its
//! user's zone.

use chrono::{DateTime, Duration, Utc};
use icalendar::{Calendar, Component, Event, EventLike};

use crate::shuttle::Shuttle;

/// The feed of `shuttles`' dates, stamped `now`; event UIDs are stable (`{shuttle}-{date}@host`)
/// so a client updates a moved date instead of adding one.
pub fn feed(shuttles: &[Shuttle], host: &str, now: DateTime<Utc>) -> String {
    let mut cal = Calendar::new();
    cal.name("Pilotline MPW shuttles");
    cal.append_property(("PRODID", "-//Pilotline//MPW shuttles//EN"));
    for s in shuttles {
        for (what, at) in s.spec.calendar.dates() {
            let title = what.replace('_', " ");
            let event = Event::new()
                .uid(&format!("{}-{what}@{host}", s.spec.id))
                .summary(&format!("{}: {title}", s.spec.name))
                .description(&format!(
                    "Shuttle {} ({}), process {}: {title}. Status: {}.",
                    s.spec.id, s.spec.name, s.spec.route, s.status
                ))
                .timestamp(now)
                .starts(at)
                .ends(at + Duration::minutes(30))
                .done();
            cal.push(event);
        }
    }
    cal.done().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_date_is_an_event_with_a_stable_uid() {
        let now = Utc::now();
        let s = Shuttle {
            spec: crate::shuttle::ShuttleSpec {
                id: "MPW-1".into(),
                name: "Spring run, with a comma; and semicolon".into(),
                route: "R".into(),
                product: "P".into(),
                wafer_count: 1,
                calendar: crate::shuttle::example_calendar(now),
                offer: crate::offer::example(),
            },
            status: crate::shuttle::ShuttleStatus::Open,
            lot: None,
            time_zone: "Asia/Shanghai".into(),
        };
        let text = feed(&[s], "pilotline.example", now);
        assert!(text.starts_with("BEGIN:VCALENDAR\r\n"));
        assert_eq!(text.matches("BEGIN:VEVENT").count(), 6);
        assert!(text.contains("UID:MPW-1-fab_start@pilotline.example"));
        // Text values are escaped as RFC 5545 says.
        assert!(
            text.contains("with a comma\\; and semicolon") || text.contains("comma\\,"),
            "{text}"
        );
        // No line is longer than 75 octets.
        assert!(text.split("\r\n").all(|l| l.len() <= 75), "{text}");
    }
}
