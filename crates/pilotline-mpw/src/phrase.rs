//! Something said to people about a quote or a precheck, as a stable key and its values: each
//! front end renders it in the viewer's language (the web interface from its catalogues), and
//! the English sentence stays beside it for API clients that show text as it comes.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A message key (`quote-slot`, `precheck-too-large`…) with its values. Quotes and verdicts
/// stored before phrases existed read back with an empty key; a front end then shows the
/// English text kept beside it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Phrase {
    /// The message key, stable across releases.
    pub key: String,
    /// Its values by name (numbers already formatted, names as they are).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub args: BTreeMap<String, String>,
}

impl Phrase {
    /// A phrase with no values yet.
    pub fn new(key: &str) -> Self {
        Self {
            key: key.into(),
            args: BTreeMap::new(),
        }
    }

    /// The phrase with one more value.
    pub fn with(mut self, name: &str, value: impl ToString) -> Self {
        self.args.insert(name.into(), value.to_string());
        self
    }

    /// Whether there is nothing to render (a quote or verdict stored before phrases).
    pub fn is_empty(&self) -> bool {
        self.key.is_empty()
    }
}
