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

/// The largest test data file an upload may send (uncompressed STDF of a full lot runs to a
/// few hundred MB).
pub const MAX_TEST_FILE: u64 = 4 << 30;

/// An upload streaming into the blob store; it holds one of the upload places until dropped.
pub struct Upload {
    writer: pilotline_store::BlobWriter,
    _place: tokio::sync::OwnedSemaphorePermit,
}

impl Upload {
    /// Appends the next chunk of the body (refused past the size limit).
    pub async fn write(&mut self, chunk: &[u8]) -> Result<(), AppError> {
        Ok(self.writer.write(chunk).await?)
    }

    /// Whether nothing was written.
    pub fn is_empty(&self) -> bool {
        self.writer.is_empty()
    }

    /// Syncs the file and keeps it under its SHA-256; the upload place is given back.
    pub(crate) async fn finish(self) -> Result<pilotline_store::Blob, AppError> {
        Ok(self.writer.finish().await?)
    }
}

impl App {
    /// Starts an upload of test data for `actor`, before a byte of the body is read: the role,
    /// the declared size (`declared`, from Content-Length) and a free upload place are checked
    /// first, so a caller who may not import — or a body too large, or one upload too many —
    /// never makes the server read anything.
    pub async fn begin_upload(
        &self,
        declared: Option<u64>,
        actor: &Actor,
    ) -> Result<Upload, AppError> {
        require(actor, Action::WriteMasterData, "import test data")?;
        self.start_upload(declared, MAX_TEST_FILE).await
    }

    /// An upload of at most `max` bytes into the blob store, once the declared size and a
    /// free upload place are checked (the caller has checked the role).
    pub(crate) async fn start_upload(
        &self,
        declared: Option<u64>,
        max: u64,
    ) -> Result<Upload, AppError> {
        if declared.is_some_and(|n| n > max) {
            return Err(Code::BodyTooLarge
                .refusal()
                .with("limit", format!("{max} bytes"))
                .into());
        }
        let place = self.uploads.clone().try_acquire_owned().map_err(|_| {
            Code::TooManyUploads
                .refusal()
                .with("limit", self.max_uploads)
        })?;
        let writer = self.blobs.writer(max).await?;
        Ok(Upload {
            writer,
            _place: place,
        })
    }

    /// Imports a finished upload as an STDF file (whole or not at all; a refused file is
    /// recorded with its reason). The file stays in the blob store under its SHA-256.
    pub async fn import_upload(
        &self,
        upload: Upload,
        name: &str,
        lot: Option<&str>,
        create_lot: bool,
        actor: &Actor,
    ) -> Result<ImportedFile, AppError> {
        if upload.writer.is_empty() {
            return Err(Code::BodyEmpty
                .refusal()
                .with("expected", "send the STDF file's bytes")
                .into());
        }
        let Upload { writer, _place } = upload;
        let blob = writer.finish().await?;
        let upload = StdfUpload {
            name,
            path: &blob.path,
            sha256: Some(&blob.sha256),
            lot,
            create_lot,
            source: "upload",
        };
        let imported = self.store.import_stdf(upload, actor).await;
        self.metrics.record_import("stdf", &imported);
        Ok(imported?)
    }

    /// Imports one STDF file from disk, read as a stream (memory stays bounded whatever its
    /// size), whole or not at all; a refused file is recorded with its reason.
    pub async fn import_stdf(
        &self,
        upload: StdfUpload<'_>,
        actor: &Actor,
    ) -> Result<ImportedFile, AppError> {
        require(actor, Action::WriteMasterData, "import test data")?;
        let imported = self.store.import_stdf(upload, actor).await;
        self.metrics.record_import("stdf", &imported);
        Ok(imported?)
    }

    /// A lot's yield from its test data.
    pub async fn lot_yield(&self, lot: &str, actor: &Actor) -> Result<LotYield, AppError> {
        require(actor, Action::ReadLots, "read test data")?;
        self.store
            .lot_yield(lot, None, actor)
            .await?
            .ok_or_else(|| Code::NoTestData.refusal().with("lot", lot).into())
    }

    /// A wafer's map (`lot` chooses among lots that share the wafer id; `design`, an MPW
    /// booking, keeps that design's dies only; a tenant sees its own dies only).
    pub async fn wafer_map(
        &self,
        wafer: &str,
        lot: Option<&str>,
        design: Option<&str>,
        actor: &Actor,
    ) -> Result<WaferMap, AppError> {
        require(actor, Action::ReadLots, "read wafer maps")?;
        self.store
            .wafer_map(wafer, lot, design, actor)
            .await?
            .ok_or_else(|| Code::WaferNotFound.refusal().with("wafer", wafer).into())
    }

    /// A lot's wafers stacked into one map (`design`: one MPW design's dies; a tenant sees its
    /// own dies only).
    pub async fn stacked_map(
        &self,
        lot: &str,
        design: Option<&str>,
        actor: &Actor,
    ) -> Result<StackedMap, AppError> {
        require(actor, Action::ReadLots, "read wafer maps")?;
        self.store
            .stacked_map(lot, design, actor)
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
