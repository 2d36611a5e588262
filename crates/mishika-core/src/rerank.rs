//! Rerank: `POST /v1/rerank`, in the Cohere shape the proxy serves.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::metadata::ResponseMetadata;
use crate::options::{RequestOptions, request_options_builders};
use crate::wire::{lenient_u32, null_as_default, setters};

/// A document to rank: plain text or a JSON object (ranked on `rank_fields`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RerankDocument {
    /// Plain text.
    Text(String),
    /// A structured document.
    Object(Map<String, Value>),
}

impl From<&str> for RerankDocument {
    fn from(text: &str) -> RerankDocument {
        RerankDocument::Text(text.to_owned())
    }
}

impl From<String> for RerankDocument {
    fn from(text: String) -> RerankDocument {
        RerankDocument::Text(text)
    }
}

impl From<Map<String, Value>> for RerankDocument {
    fn from(object: Map<String, Value>) -> RerankDocument {
        RerankDocument::Object(object)
    }
}

/// A rerank request.
///
/// `Deserialize` reads the JSON body this type serialises to (a batch file, a replay):
/// unknown fields land in `extra`, so serialising what was read gives the same bytes. The
/// per-request settings that never go on the wire (`api_key`, `api_base`, headers,
/// timeouts, retries, mock answers) are not read: a deserialised request has none, and
/// takes the client's.
///
/// ```
/// use mishika_core::rerank::RerankRequest;
/// let request = RerankRequest::new("mishikallm_proxy/rerank-english-v3.0", "capital of France",
///         ["Paris is the capital of France.", "Berlin is in Germany."])
///     .top_n(1)
///     .return_documents(true);
/// assert_eq!(request.documents.len(), 2);
/// ```
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RerankRequest {
    /// `prefix/model`.
    pub model: String,
    /// What the documents are ranked against.
    pub query: String,
    /// The documents.
    pub documents: Vec<RerankDocument>,
    /// Keep only the best N.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_n: Option<u32>,
    /// Echo the documents in the results (sent only when set).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub return_documents: Option<bool>,
    /// Fields of object documents to rank on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rank_fields: Option<Vec<String>>,
    /// Chunks per document.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_chunks_per_doc: Option<u32>,
    /// Tokens per document.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_tokens_per_doc: Option<u32>,
    /// Any other field, merged into the JSON body.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
    #[serde(skip)]
    options: RequestOptions,
    #[serde(skip)]
    invalid: Option<crate::options::InvalidOption>,
}

impl RerankRequest {
    /// Rank `documents` against `query` with `model`.
    pub fn new<D: Into<RerankDocument>>(
        model: impl Into<String>,
        query: impl Into<String>,
        documents: impl IntoIterator<Item = D>,
    ) -> RerankRequest {
        RerankRequest {
            model: model.into(),
            query: query.into(),
            documents: documents.into_iter().map(Into::into).collect(),
            top_n: None,
            return_documents: None,
            rank_fields: None,
            max_chunks_per_doc: None,
            max_tokens_per_doc: None,
            extra: Map::new(),
            options: RequestOptions::default(),
            invalid: None,
        }
    }

    setters! {
        /// Keep only the best N.
        top_n: u32,
        /// Echo the documents.
        return_documents: bool,
        /// Chunks per document.
        max_chunks_per_doc: u32,
        /// Tokens per document.
        max_tokens_per_doc: u32,
    }

    /// Fields of object documents to rank on.
    #[must_use]
    pub fn rank_fields<S: Into<String>>(mut self, fields: impl IntoIterator<Item = S>) -> Self {
        self.rank_fields = Some(fields.into_iter().map(Into::into).collect());
        self
    }
}

request_options_builders!(RerankRequest);

/// A rerank answer.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RerankResponse {
    /// The call's id.
    #[serde(default)]
    pub id: Option<String>,
    /// Results, best first.
    #[serde(default, deserialize_with = "null_as_default")]
    pub results: Vec<RerankResult>,
    /// Billing and token counts.
    #[serde(default)]
    pub meta: Option<RerankMeta>,
    /// Any other field.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
    /// The answer's status and headers.
    #[serde(skip)]
    pub metadata: ResponseMetadata,
}

impl RerankResponse {}

/// One ranked document.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RerankResult {
    /// Position of the document in the request.
    #[serde(default, deserialize_with = "lenient_u32")]
    pub index: u32,
    /// Relevance, higher is better.
    #[serde(default, deserialize_with = "null_as_default")]
    pub relevance_score: f64,
    /// The document, when `return_documents` was set.
    #[serde(default)]
    pub document: Option<RerankedDocument>,
}

/// A document echoed in a result: `{"text": …}` for text documents, the object otherwise.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RerankedDocument {
    /// The text of a text document.
    #[serde(default)]
    pub text: Option<String>,
    /// The other fields of an object document.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Billing and token counts of a rerank.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RerankMeta {
    /// Billed units (`search_units` …).
    #[serde(default)]
    pub billed_units: Option<Map<String, Value>>,
    /// Token counts (`input_tokens`, `output_tokens`).
    #[serde(default)]
    pub tokens: Option<Map<String, Value>>,
    /// Any other field.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}
