//! A product's bin table: what each hard bin means (name, pass or fail, category, colour).
//!
//! The table is authoritative. Where a product has one, a result passes if and only if its hard
//! bin is a passing bin of the table — a bin the table does not list fails, and the tester's
//! flag and the file's HBR/SBR records are not consulted. Without a table the part's own
//! pass/fail flag decides (a flag marked invalid counts as a fail).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::yields::BinResult;

/// One hard bin of a product's bin table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BinDefinition {
    /// Hard bin number.
    pub bin: u16,
    /// Name (e.g. `PASS`, `OPEN`, `LEAKAGE`).
    pub name: String,
    /// Whether dies in this bin are good.
    pub pass: bool,
    /// Failure category for Pareto grouping (e.g. `continuity`, `parametric`, `functional`).
    #[serde(default)]
    pub category: String,
    /// Display colour, `#rrggbb`.
    #[serde(default)]
    pub colour: Option<String>,
}

/// A product's bin table (empty: none defined, the part flag decides).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BinTable {
    bins: BTreeMap<u16, BinDefinition>,
}

impl BinTable {
    /// A table of `bins`; refuses duplicates, names left empty and colours that are not
    /// `#rrggbb`, naming the bin.
    pub fn new(bins: Vec<BinDefinition>) -> Result<BinTable, String> {
        let mut map = BTreeMap::new();
        for b in bins {
            if b.name.trim().is_empty() {
                return Err(format!("bin {}: name is empty", b.bin));
            }
            if let Some(c) = &b.colour
                && !(c.len() == 7
                    && c.starts_with('#')
                    && c[1..].chars().all(|h| h.is_ascii_hexdigit()))
            {
                return Err(format!("bin {}: colour {c:?} is not #rrggbb", b.bin));
            }
            let bin = b.bin;
            if map.insert(bin, b).is_some() {
                return Err(format!("bin {bin} is listed twice"));
            }
        }
        Ok(BinTable { bins: map })
    }

    /// Whether the product has no table (the part flag decides).
    pub fn is_empty(&self) -> bool {
        self.bins.is_empty()
    }

    /// The definition of hard bin `bin`.
    pub fn get(&self, bin: u16) -> Option<&BinDefinition> {
        self.bins.get(&bin)
    }

    /// Every bin, by number.
    pub fn bins(&self) -> impl Iterator<Item = &BinDefinition> {
        self.bins.values()
    }

    /// Whether a result passes: by the table where there is one, else by the part's flag.
    pub fn passes(&self, r: &BinResult) -> bool {
        if self.bins.is_empty() {
            r.flag == Some(true)
        } else {
            self.bins.get(&r.hard_bin).is_some_and(|b| b.pass)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def(bin: u16, pass: bool) -> BinDefinition {
        BinDefinition {
            bin,
            name: format!("B{bin}"),
            pass,
            category: String::new(),
            colour: None,
        }
    }

    #[test]
    fn the_table_overrides_the_flag_and_unlisted_bins_fail() {
        let r = |hard_bin, flag| BinResult {
            hard_bin,
            soft_bin: 0,
            flag,
        };
        let none = BinTable::default();
        assert!(none.passes(&r(9, Some(true))));
        assert!(!none.passes(&r(1, None)));
        let t = BinTable::new(vec![def(1, true), def(2, true), def(5, false)]).unwrap();
        // The tester flagged bin 2 failing and bin 5 passing: the table decides.
        assert!(t.passes(&r(2, Some(false))));
        assert!(!t.passes(&r(5, Some(true))));
        assert!(
            !t.passes(&r(9, Some(true))),
            "a bin the table does not list fails"
        );
    }

    #[test]
    fn a_bad_table_is_refused_naming_the_bin() {
        let e = BinTable::new(vec![def(1, true), def(1, false)]).unwrap_err();
        assert!(e.contains("bin 1"), "{e}");
        let mut bad = def(3, false);
        bad.colour = Some("red".into());
        assert!(BinTable::new(vec![bad]).unwrap_err().contains("bin 3"));
    }
}
