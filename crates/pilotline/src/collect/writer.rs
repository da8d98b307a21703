//! The collector's writer: stores what the collector tasks report, in order, and acknowledges
//! MQTT deliveries once their content is durable.
//!
//! Events are taken in groups (group commit): everything already queued, up to [`BATCH`]
//! records, goes into one transaction. A group with no MQTT delivery waiting lingers up to
//! [`LINGER`] for more, so steady Modbus polling does not cost a commit per sample; a group
//! with deliveries is committed at once, because the broker holds back further messages until
//! they are acknowledged.
//!
//! When the database refuses a write, the group goes to the local [`Spool`] instead (flushed to
//! disk before anything is acknowledged), and so does everything after it until the spool has
//! been replayed, so the store receives records in the order they were read. Replay is tried
//! with capped exponential backoff.

use pilotline_app::{App, AppError, NewSample, WriteOp};
use pilotline_collector::metrics::METRICS;
use pilotline_collector::spool::{Record, Spool};
use pilotline_collector::{Delivery, Event};
use pilotline_domain::{Actor, Role};
use pilotline_equipment::Decoded;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Records stored per transaction at most.
pub const BATCH: usize = 5000;
/// Longest a record waits for company when no delivery is waiting to be acknowledged.
pub const LINGER: Duration = Duration::from_millis(100);
/// First wait before replaying the spool after a failure.
const RETRY_START: Duration = Duration::from_millis(500);
/// Longest wait between replay attempts.
const RETRY_MAX: Duration = Duration::from_secs(10);

/// Stores collector events.
pub struct Writer {
    store: App,
    spool: Spool,
    actor: Actor,
    /// While set, the database is considered down until this instant.
    retry_at: Option<Instant>,
    retry_delay: Duration,
}

/// One group of events.
#[derive(Default)]
struct Group {
    records: Vec<Record>,
    deliveries: Vec<Delivery>,
}

impl Writer {
    /// A writer into `store`, spooling to `spool`.
    pub fn new(store: App, spool: Spool) -> Writer {
        METRICS.spooled.set(spool.pending() as i64);
        Writer {
            store,
            spool,
            actor: Actor {
                user: "collector".into(),
                role: Role::Admin,
                tenant: None,
            },
            // Replay what an earlier run left at once.
            retry_at: None,
            retry_delay: RETRY_START,
        }
    }

    /// Runs until every sender is gone and everything received is stored or spooled.
    pub async fn run(mut self, mut rx: mpsc::Receiver<Event>) {
        loop {
            if !self.spool.is_empty() && self.retry_at.is_none_or(|t| t <= Instant::now()) {
                self.replay().await;
            }
            let first = match self.retry_at.filter(|_| !self.spool.is_empty()) {
                Some(at) => tokio::select! {
                    e = rx.recv() => e,
                    _ = tokio::time::sleep_until(at) => continue,
                },
                None => rx.recv().await,
            };
            let Some(first) = first else {
                self.finish().await;
                return;
            };
            let mut group = Group::default();
            take(&mut group, first);
            let mut open = true;
            let deadline = Instant::now() + LINGER;
            while group.records.len() < BATCH {
                match rx.try_recv() {
                    Ok(e) => take(&mut group, e),
                    Err(mpsc::error::TryRecvError::Empty) if group.deliveries.is_empty() => {
                        match tokio::time::timeout_at(deadline, rx.recv()).await {
                            Ok(Some(e)) => take(&mut group, e),
                            Ok(None) => {
                                open = false;
                                break;
                            }
                            Err(_) => break,
                        }
                    }
                    Err(mpsc::error::TryRecvError::Empty) => break,
                    Err(mpsc::error::TryRecvError::Disconnected) => {
                        open = false;
                        break;
                    }
                }
            }
            self.commit(group).await;
            if !open {
                self.finish().await;
                return;
            }
        }
    }

    /// Stores the group (or spools it), then acknowledges its deliveries.
    async fn commit(&mut self, group: Group) {
        let Group {
            records,
            deliveries,
        } = group;
        let durable = if self.spool.is_empty() && self.retry_at.is_none() {
            match self.store_records(&records).await {
                Ok(()) => true,
                Err((done, e)) => {
                    tracing::error!(error = %e, "cannot store collector records; spooling to disk");
                    self.database_down();
                    self.spool_records(&records[done..])
                }
            }
        } else {
            self.spool_records(&records)
        };
        if durable {
            for d in deliveries {
                d.ack();
            }
        } else {
            // Not acknowledged: the broker redelivers these after a reconnect or restart.
            tracing::error!(
                unacknowledged = deliveries.len(),
                "records neither stored nor spooled"
            );
        }
    }

    fn spool_records(&mut self, records: &[Record]) -> bool {
        match self.spool.append(records) {
            Ok(()) => {
                METRICS.spooled.set(self.spool.pending() as i64);
                true
            }
            Err(e) => {
                tracing::error!(
                    path = %self.spool.path().display(),
                    error = %e,
                    lost = records.len(),
                    "cannot write the spool: records lost"
                );
                false
            }
        }
    }

    fn database_down(&mut self) {
        self.retry_at = Some(Instant::now() + self.retry_delay);
        self.retry_delay = (self.retry_delay * 2).min(RETRY_MAX);
    }

    /// Replays spooled frames in order until the spool is empty or the database refuses.
    async fn replay(&mut self) {
        loop {
            let frame = match self.spool.next_frame() {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(e) => {
                    tracing::error!(error = %e, "cannot read the spool");
                    self.database_down();
                    return;
                }
            };
            if let Err((_, e)) = self.store_records(&frame).await {
                tracing::warn!(error = %e, pending = self.spool.pending(), "database still unavailable");
                self.database_down();
                return;
            }
            if let Err(e) = self.spool.replayed() {
                tracing::error!(error = %e, "cannot advance the spool");
                self.database_down();
                return;
            }
            METRICS.spooled.set(self.spool.pending() as i64);
        }
        if self.retry_at.is_some() {
            tracing::info!("database back; spool replayed");
        }
        self.retry_at = None;
        self.retry_delay = RETRY_START;
    }

    /// On shutdown: one last replay attempt; what remains stays spooled for the next start.
    async fn finish(&mut self) {
        if !self.spool.is_empty() {
            self.replay().await;
        }
        if !self.spool.is_empty() {
            tracing::warn!(
                records = self.spool.pending(),
                path = %self.spool.path().display(),
                "records left in the spool for the next start"
            );
        }
    }

    /// Stores `records` in order: runs of samples in one transaction each, states and
    /// communication changes one by one. On failure, says how many were stored.
    async fn store_records(&self, records: &[Record]) -> Result<(), (usize, AppError)> {
        let mut i = 0;
        while i < records.len() {
            let run = records[i..]
                .iter()
                .take_while(|r| matches!(r, Record::Sample { .. }))
                .count();
            if run > 0 {
                let samples: Vec<NewSample> =
                    records[i..i + run].iter().filter_map(to_sample).collect();
                let stored = self
                    .store
                    .record_samples(&samples)
                    .await
                    .map_err(|e| (i, e))?;
                METRICS.samples.inc_by(stored.stored);
                i += run;
                continue;
            }
            match &records[i] {
                Record::State {
                    equipment,
                    state,
                    at,
                    reason,
                } => {
                    let op = WriteOp::SignalEquipmentState {
                        id: equipment.clone(),
                        state: *state,
                        at: *at,
                        reason: reason.clone(),
                    };
                    match self.store.execute(&op, &self.actor).await {
                        Ok(_) => {}
                        // The domain refused (unknown state change): nothing to retry.
                        Err(AppError::Refused(r)) => {
                            tracing::warn!(%equipment, refusal = %r, "signalled state not recorded")
                        }
                        Err(e) => return Err((i, e)),
                    }
                }
                Record::Comm {
                    equipment,
                    stale,
                    at,
                } => self
                    .store
                    .record_comm_state(equipment, *stale, *at)
                    .await
                    .map_err(|e| (i, e))?,
                Record::Sample { .. } => {}
            }
            i += 1;
        }
        Ok(())
    }
}

/// Adds an event to the group.
fn take(group: &mut Group, event: Event) {
    match event {
        Event::Sample(s) => {
            let (number, text) = match s.value {
                Decoded::Number(n) => (Some(n), None),
                Decoded::Bool(b) => (Some(if b { 1.0 } else { 0.0 }), None),
                Decoded::Text(t) => (None, Some(t)),
            };
            group.records.push(Record::Sample {
                equipment: s.equipment,
                point: s.point,
                at: s.at,
                number,
                text,
            });
        }
        Event::State {
            equipment,
            state,
            at,
            reason,
        } => group.records.push(Record::State {
            equipment,
            state,
            at,
            reason,
        }),
        Event::Stale {
            equipment,
            at,
            reason,
        } => {
            tracing::warn!(%equipment, %reason, "tool communication lost; marked stale");
            METRICS.comm_losses.with_label_values(&[&equipment]).inc();
            METRICS.stale.with_label_values(&[&equipment]).set(1);
            group.records.push(Record::Comm {
                equipment,
                stale: true,
                at,
            });
        }
        Event::Recovered { equipment, at } => {
            tracing::info!(%equipment, "tool communication restored");
            METRICS.stale.with_label_values(&[&equipment]).set(0);
            group.records.push(Record::Comm {
                equipment,
                stale: false,
                at,
            });
        }
        Event::Rejected {
            equipment, point, ..
        } => {
            // Logged where it was found, with the reason.
            METRICS
                .rejected
                .with_label_values(&[&equipment, &point])
                .inc();
        }
        Event::Delivered(d) => group.deliveries.push(d),
    }
}

fn to_sample(r: &Record) -> Option<NewSample> {
    match r {
        Record::Sample {
            equipment,
            point,
            at,
            number,
            text,
        } => Some(NewSample {
            equipment: equipment.clone(),
            point: point.clone(),
            at: *at,
            number: *number,
            text: text.clone(),
        }),
        _ => None,
    }
}
