//! Test data: importing STDF files, bin tables, yields, maps, Pareto, parametrics.

use pilotline_domain::{Action, Actor, Code};
use pilotline_store::{
    BinPareto, GroupBy, ImportedFile, LotYield, ParametricRow, ProductBins, Rejection, StdfUpload,
    TestFileInfo, YieldFilter, YieldGroup,
};
use pilotline_yield::{BinDefinition, StackedMap, WaferMap};

use crate::perform::require;
use crate::reads::reads;
use crate::{App, AppError};

reads! {
    /// Yield roll-ups (a customer sees its own designs only).
    scoped fn yield_rollup(group_by: GroupBy, filter: &YieldFilter) -> Vec<YieldGroup> = ReadLots, "read yields";
    /// Failing dies by final bin.
    scoped fn bin_pareto(filter: &YieldFilter) -> BinPareto = ReadLots, "read yields";
    /// Refused test files (staff).
    scoped fn rejections(limit: u32) -> Vec<Rejection> = ReadMasterData, "read refused test files";
    /// Test files, newest first.
    scoped fn test_files(lot: Option<&str>, limit: u32) -> Vec<TestFileInfo> = ReadLots, "read test data";
}

impl App {
    /// Whether `actor` may import test data: asked before an upload's body is read, so a
    /// caller who may not import never makes the server buffer a byte of it.
    pub fn authorize_import(&self, actor: &Actor) -> Result<(), AppError> {
        require(actor, Action::WriteMasterData, "import test data")
    }

    /// Imports one STDF file, whole or not at all; a refused file is recorded with its reason.
    pub async fn import_stdf(
        &self,
        upload: StdfUpload<'_>,
        actor: &Actor,
    ) -> Result<ImportedFile, AppError> {
        require(actor, Action::WriteMasterData, "import test data")?;
        Ok(self.store.import_stdf(upload, actor).await?)
    }

    /// A lot's yield from its test data.
    pub async fn lot_yield(&self, lot: &str, actor: &Actor) -> Result<LotYield, AppError> {
        require(actor, Action::ReadLots, "read test data")?;
        self.store
            .lot_yield(lot, actor)
            .await?
            .ok_or_else(|| Code::NoTestData.refusal().with("lot", lot).into())
    }

    /// A wafer's map (`lot` chooses among lots that share the wafer id).
    pub async fn wafer_map(
        &self,
        wafer: &str,
        lot: Option<&str>,
        actor: &Actor,
    ) -> Result<WaferMap, AppError> {
        require(actor, Action::ReadLots, "read wafer maps")?;
        self.store
            .wafer_map(wafer, lot, actor)
            .await?
            .ok_or_else(|| Code::WaferNotFound.refusal().with("wafer", wafer).into())
    }

    /// A lot's wafers stacked into one map.
    pub async fn stacked_map(&self, lot: &str, actor: &Actor) -> Result<StackedMap, AppError> {
        require(actor, Action::ReadLots, "read wafer maps")?;
        self.store
            .stacked_map(lot, actor)
            .await?
            .ok_or_else(|| Code::NoTestData.refusal().with("lot", lot).into())
    }

    /// A lot's parametric statistics per wafer and test.
    pub async fn lot_parametrics(
        &self,
        lot: &str,
        actor: &Actor,
    ) -> Result<Vec<ParametricRow>, AppError> {
        require(actor, Action::ReadLots, "read test data")?;
        self.store
            .lot_parametrics(lot, actor)
            .await?
            .ok_or_else(|| Code::NoTestData.refusal().with("lot", lot).into())
    }

    /// One test file.
    pub async fn test_file(&self, id: &str, actor: &Actor) -> Result<TestFileInfo, AppError> {
        require(actor, Action::ReadLots, "read test data")?;
        self.store
            .test_file(id, actor)
            .await?
            .ok_or_else(|| Code::TestFileNotFound.refusal().with("file", id).into())
    }

    /// A product's bin table.
    pub async fn bin_table(&self, product: &str, actor: &Actor) -> Result<ProductBins, AppError> {
        require(actor, Action::ReadLots, "read bin tables")?;
        self.store.bin_table(product, actor).await?.ok_or_else(|| {
            Code::ProductNotFound
                .refusal()
                .with("product", product)
                .into()
        })
    }

    /// Sets a product's bin table (engineers); it judges data imported before too.
    pub async fn set_bin_table(
        &self,
        product: &str,
        bins: Vec<BinDefinition>,
        actor: &Actor,
    ) -> Result<ProductBins, AppError> {
        require(actor, Action::WriteMasterData, "set bin tables")?;
        Ok(self.store.set_bin_table(product, bins, actor).await?)
    }
}
