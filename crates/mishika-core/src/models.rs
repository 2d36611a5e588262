//! Models: `GET /v1/models`, what a gateway serves.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::metadata::ResponseMetadata;
use crate::wire::lenient_u64;
use crate::wire::null_as_default;

/// The models a gateway serves.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ModelList {
    /// `list`.
    #[serde(default)]
    pub object: Option<String>,
    /// The models.
    #[serde(default, deserialize_with = "null_as_default")]
    pub data: Vec<Model>,
    /// Any other field.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
    /// The answer's status and headers.
    #[serde(skip)]
    pub metadata: ResponseMetadata,
}

impl ModelList {
    /// The model ids.
    pub fn ids(&self) -> Vec<&str> {
        self.data.iter().map(|model| model.id.as_str()).collect()
    }
}

/// One model.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Model {
    /// The name to call it by (after the routing prefix).
    #[serde(default)]
    pub id: String,
    /// `model`.
    #[serde(default)]
    pub object: Option<String>,
    /// Unix seconds.
    #[serde(default, deserialize_with = "lenient_u64")]
    pub created: Option<u64>,
    /// Owner.
    #[serde(default)]
    pub owned_by: Option<String>,
    /// Any other field.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}
