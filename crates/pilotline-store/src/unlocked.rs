//! A lot move on PostgreSQL in two statements and no explicit transaction.
//!
//! A track-in, a track-out without readings or scrap, a hold or a release changes one lot (and
//! perhaps its tool) and is written as one data-modifying statement that checks the versions
//! of the lot and the tool it read (`persist_move_pg`). That statement is atomic by itself, so
//! the move needs no `BEGIN`, no `COMMIT` and no `FOR UPDATE` on its reads: the lot and the
//! tool are read as they are committed, the rules decide, and the one statement writes — or
//! writes nothing, when either changed in between. Then, and whenever the move turns out to
//! need more than that one statement, the connection *declines* and the move runs again in an
//! ordinary transaction that locks what it reads. Two round trips instead of four.

use sqlx::postgres::{PgConnection, PgRow};

use crate::conn::{Conn, Param};
use crate::pg_pool::PgPool;
use crate::write::{LotCommand, Outcome, WriteOp};
use crate::{Store, StoreError, now};
use pilotline_domain::Actor;

/// A PostgreSQL connection outside any transaction, on which reads take no locks and the only
/// write allowed is a lot move's one version-checked statement.
pub(crate) struct Unlocked<'c> {
    conn: &'c mut PgConnection,
    declined: bool,
}

impl Conn for Unlocked<'_> {
    type Row = PgRow;
    const POSTGRES: bool = true;
    const LOCKS: bool = false;

    async fn execute(&mut self, _: &'static str, _: Vec<Param>) -> Result<u64, sqlx::Error> {
        // Every other write needs the transaction (and the locks) of the ordinary path.
        self.declined = true;
        Err(sqlx::Error::Protocol(
            "a write other than a lot move's one statement needs a transaction".into(),
        ))
    }

    async fn fetch_optional(
        &mut self,
        sql: &'static str,
        params: Vec<Param>,
    ) -> Result<Option<PgRow>, sqlx::Error> {
        Conn::fetch_optional(&mut *self.conn, sql, params).await
    }

    async fn fetch_all(
        &mut self,
        sql: &'static str,
        params: Vec<Param>,
    ) -> Result<Vec<PgRow>, sqlx::Error> {
        Conn::fetch_all(&mut *self.conn, sql, params).await
    }

    fn decline(&mut self) {
        self.declined = true;
    }
}

/// Whether `op` is a move that can be written as one statement: one lot, its wafers as they
/// were, and nothing stored beside it (readings and scrap go the ordinary way).
pub(crate) fn moves_in_one_statement(op: &WriteOp) -> bool {
    let WriteOp::Lot { command, .. } = op else {
        return false;
    };
    match command {
        LotCommand::TrackIn { .. } | LotCommand::Hold { .. } | LotCommand::Release { .. } => true,
        LotCommand::TrackOut {
            scrap_wafers,
            readings,
            ..
        } => scrap_wafers.is_empty() && readings.is_empty(),
        _ => false,
    }
}

impl Store {
    /// Runs `op` (see [`moves_in_one_statement`]) on an unlocked connection. `None` when the
    /// connection declined or the database asked for a retry: the caller runs it in a
    /// transaction. A refusal is final: it was decided on the lot as committed when read.
    pub(crate) async fn execute_unlocked(
        &self,
        pool: &PgPool,
        op: &WriteOp,
        actor: &Actor,
    ) -> Result<Option<Outcome>, StoreError> {
        let mut conn = pool.acquire().await?;
        let mut c = Unlocked {
            conn: &mut conn,
            declined: false,
        };
        let out = self.execute_in(&mut c, op, actor, now()).await;
        let declined = c.declined;
        if !declined {
            conn.discard_after(&out);
        }
        match out {
            _ if declined => Ok(None),
            Err(e) if e.is_transient() => Ok(None),
            Ok(outcome) => Ok(Some(outcome)),
            Err(e) => Err(e),
        }
    }
}
