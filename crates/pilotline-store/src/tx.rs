//! A unit of work: one database transaction in which the application layer runs the steps of
//! a use case in the order it decides (a track-out, then the SPC judgement of its readings,
//! then the idempotent answer), all committed together or not at all.

use chrono::{DateTime, Utc};
use pilotline_domain::Actor;
use pilotline_yield::chart::{ChartLimits, ChartView};
use std::future::Future;

use crate::idempotency::{self, IdempotencyKey, StoredResponse};
use crate::spc::{self, MeasurementRow};
use crate::sqlite_writer::WriterConn;
use crate::write::{Outcome, WriteOp};
use crate::{Store, StoreError, in_write_tx, now};

/// The body of a unit of work: the steps of a use case, run in one transaction. A struct holds
/// what the steps need; `run` may be called again on a fresh transaction after a transient
/// failure.
pub trait Work: Send {
    /// What the unit produces.
    type Output: Send;
    /// Runs the steps in `tx`; an `Err` rolls everything back.
    fn run<'a>(
        &'a mut self,
        tx: &'a mut Tx<'_>,
    ) -> impl Future<Output = Result<Self::Output, StoreError>> + Send + 'a;
}

/// An open write transaction. Its body may await only its own methods (on SQLite the whole
/// transaction runs in one synchronous hop on the writer connection).
pub struct Tx<'t> {
    pub(crate) conn: TxConn<'t>,
    pub(crate) store: &'t Store,
    at: DateTime<Utc>,
}

pub(crate) enum TxConn<'t> {
    Sqlite(WriterConn<'t>),
    Postgres(&'t mut sqlx::PgConnection),
}

/// A connection a unit of work can run on.
pub(crate) trait AsTx {
    fn tx_conn(&mut self) -> TxConn<'_>;
}

impl AsTx for WriterConn<'_> {
    fn tx_conn(&mut self) -> TxConn<'_> {
        TxConn::Sqlite(WriterConn(&mut *self.0))
    }
}

impl AsTx for sqlx::PgConnection {
    fn tx_conn(&mut self) -> TxConn<'_> {
        TxConn::Postgres(self)
    }
}

/// Runs `$body` with `$c` bound to the transaction's connection, whichever backend it is.
macro_rules! on_conn {
    ($tx:expr, |$c:ident| $body:expr) => {
        match &mut $tx.conn {
            TxConn::Sqlite(w) => {
                let $c = w;
                $body
            }
            TxConn::Postgres(p) => {
                let $c: &mut sqlx::PgConnection = p;
                $body
            }
        }
    };
}

pub(crate) use on_conn;

impl Tx<'_> {
    /// The transaction's clock reading: every change it makes is stamped with it.
    pub fn at(&self) -> DateTime<Utc> {
        self.at
    }

    /// Runs one mutation for `actor` (the rules decide; a refusal aborts the whole unit when
    /// the body passes it on).
    pub async fn execute(&mut self, op: &WriteOp, actor: &Actor) -> Result<Outcome, StoreError> {
        let (store, at) = (self.store, self.at);
        on_conn!(self, |c| store.execute_in(c, op, actor, at).await)
    }

    /// Stores the answer to an idempotent request, with the change it answers.
    pub async fn remember(
        &mut self,
        key: &IdempotencyKey,
        response: &StoredResponse,
    ) -> Result<(), StoreError> {
        on_conn!(self, |c| idempotency::insert(c, key, response).await)
    }

    /// Stores readings, stamped with the transaction's time.
    pub async fn insert_measurements(
        &mut self,
        rows: &[MeasurementRow<'_>],
    ) -> Result<(), StoreError> {
        let at = self.at;
        on_conn!(self, |c| spc::insert_measurements(c, rows, at).await)
    }

    /// The charts of the parameters lot `lot` had measured at or after `since`, with every
    /// point and their judgement.
    pub async fn charts_measured(
        &mut self,
        lot: &str,
        since: DateTime<Utc>,
    ) -> Result<Vec<ChartView>, StoreError> {
        on_conn!(self, |c| spc::charts_measured(c, lot, since).await)
    }

    /// Freezes `limits` as chart `chart`'s new current version.
    pub async fn save_limits(
        &mut self,
        chart: &str,
        limits: &ChartLimits,
    ) -> Result<(), StoreError> {
        on_conn!(self, |c| spc::save_limits(c, chart, limits).await)
    }
}

impl Store {
    /// Runs `work` in one write transaction: committed when it returns `Ok`, rolled back when
    /// it returns `Err`. A transient failure (serialization, deadlock, busy database) runs it
    /// again on a fresh transaction, up to five times.
    pub async fn write<W: Work>(&self, mut work: W) -> Result<W::Output, StoreError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let at = now();
            let result = in_write_tx!(self, |c| {
                let mut unit = Tx {
                    conn: AsTx::tx_conn(c),
                    store: self,
                    at,
                };
                work.run(&mut unit).await
            });
            match result {
                Err(e) if e.is_transient() && attempt < 5 => continue,
                other => return other,
            }
        }
    }
}
