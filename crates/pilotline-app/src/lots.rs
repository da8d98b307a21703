//! Lot reads: one lot, lists, history, genealogy, WIP, process data.

use pilotline_domain::{Actor, Code, LotEvent, LotView};
use pilotline_store::{Genealogy, LotFilter, LotPage, ProcessDataQuery, ProcessRun, WipRow};

use crate::perform::require;
use crate::reads::reads;
use crate::{App, AppError};

impl App {
    /// One lot; another tenant's lot is `lot_not_found`, as if it did not exist.
    pub async fn lot(&self, id: &str, actor: &Actor) -> Result<LotView, AppError> {
        require(actor, pilotline_domain::Action::ReadLots, "read lots")?;
        self.store
            .lot(id, actor)
            .await?
            .ok_or_else(|| Code::LotNotFound.refusal().with("lot", id).into())
    }
}

reads! {
    /// Lots the caller may see, filtered and paged by id.
    scoped fn lots(filter: &LotFilter) -> LotPage = ReadLots, "read lots";
    /// Every event of a lot, oldest first.
    scoped fn history(id: &str) -> Vec<LotEvent> = ReadLots, "read lots";
    /// The lot's split/merge family.
    scoped fn genealogy(id: &str) -> Genealogy = ReadLots, "read lots";
    /// Lots and wafers by route step and state.
    scoped fn wip() -> Vec<WipRow> = ReadLots, "read WIP";
}

impl App {
    /// Each run of the lot on a tool, with the tool's samples during it (at most `q.limit` per
    /// run, each run saying whether more remain and where to continue).
    pub async fn process_data(
        &self,
        lot: &str,
        q: ProcessDataQuery<'_>,
        actor: &Actor,
    ) -> Result<Vec<ProcessRun>, AppError> {
        require(actor, pilotline_domain::Action::ReadLots, "read lots")?;
        if q.after.is_some() && q.run.is_none() {
            return Err(Code::QueryInvalid
                .refusal()
                .with("parameter", "after")
                .with("reason", "a cursor continues one run: give `run` with it")
                .into());
        }
        Ok(self.store.process_data(lot, actor, q).await?)
    }
}
