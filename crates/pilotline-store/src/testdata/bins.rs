//! Each product's bin table: set by engineers, read by whoever may see the product.

use pilotline_domain::{Action, Actor, Code};
use pilotline_yield::{BinDefinition, BinTable};
use serde::Serialize;

use super::bin_tables;
use crate::conn::{Conn, Param, RowExt, params};
use crate::write::require;
use crate::{Store, StoreError, in_write_tx, with_read_conn};

/// A product's bin table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProductBins {
    /// Product (an MES product, or the part type of data from outside the line).
    pub product: String,
    /// Its hard bins, by number; empty when none is set (the part flag decides).
    pub bins: Vec<BinDefinition>,
}

/// The tenant of a product (`Some(None)`: the platform's), `None` if no such product or part
/// type is known.
async fn product_tenant<C: Conn>(
    c: &mut C,
    product: &str,
) -> Result<Option<Option<String>>, StoreError> {
    if let Some(r) = c
        .fetch_optional(
            "SELECT tenant FROM products WHERE id = $1",
            params![product],
        )
        .await?
    {
        return Ok(Some(r.opt_text("tenant")?));
    }
    let external = c
        .fetch_optional(
            "SELECT part_type FROM external_lots WHERE part_type = $1 LIMIT 1",
            params![product],
        )
        .await?;
    Ok(external.map(|_| None))
}

impl Store {
    /// Replaces `product`'s bin table (engineers). Yields, maps and Paretos use it from then
    /// on, for data imported before as well: the summaries keep bins, not verdicts.
    pub async fn set_bin_table(
        &self,
        product: &str,
        bins: Vec<BinDefinition>,
        actor: &Actor,
    ) -> Result<ProductBins, StoreError> {
        require(actor, Action::WriteMasterData, "set a bin table")?;
        let table = BinTable::new(bins).map_err(|e| {
            Code::DefinitionInvalid
                .refusal()
                .with("what", "bins")
                .with("problems", e)
        })?;
        in_write_tx!(self, |c| {
            if product_tenant(c, product).await?.is_none() {
                return Err(Code::BinProductUnknown
                    .refusal()
                    .with("product", product)
                    .into());
            }
            c.execute(
                "DELETE FROM product_bins WHERE product = $1",
                params![product],
            )
            .await?;
            for b in table.bins() {
                c.execute(
                    "INSERT INTO product_bins (product, bin, name, pass, category, colour) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                    vec![
                        Param::from(product),
                        Param::Int(i64::from(b.bin)),
                        Param::from(b.name.as_str()),
                        Param::Bool(b.pass),
                        Param::from(b.category.as_str()),
                        Param::OptText(b.colour.clone()),
                    ],
                )
                .await?;
            }
            Ok(ProductBins {
                product: product.to_string(),
                bins: table.bins().cloned().collect(),
            })
        })
    }

    /// `product`'s bin table; `None` when the product is unknown or not visible to `actor`.
    pub async fn bin_table(
        &self,
        product: &str,
        actor: &Actor,
    ) -> Result<Option<ProductBins>, StoreError> {
        with_read_conn!(self, |c| {
            let Some(tenant) = product_tenant(c, product).await? else {
                return Ok(None);
            };
            if !actor.may_see_tenant(tenant.as_deref()) {
                return Ok(None);
            }
            let table = bin_tables(c, Some(product))
                .await?
                .remove(product)
                .unwrap_or_default();
            Ok(Some(ProductBins {
                product: product.to_string(),
                bins: table.bins().cloned().collect(),
            }))
        })
    }
}
