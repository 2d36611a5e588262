//! What the gateway remembers about every request it received.

use bytes::Bytes;
use http::{HeaderMap, Method};

use crate::multipart::{self, MultipartField};

/// One request as the gateway received it (recorded before any answer is chosen,
/// so requests answered with errors or scripted responses are recorded too).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RecordedRequest {
    /// The HTTP method.
    pub method: Method,
    /// The path and query exactly as received, e.g. `/v1/chat/completions` or `/v1/models?x=1`.
    pub path: String,
    /// All request headers, including `authorization` (so tests can check the key was sent).
    pub headers: HeaderMap,
    /// The whole request body (empty when it was too large or could not be read).
    pub body: Bytes,
}

impl RecordedRequest {
    /// The body parsed as JSON, or `None` when it is not valid JSON.
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// The value of header `name` (case-insensitive) when present and valid UTF-8/ASCII.
    /// With repeated headers, the first one.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)?.to_str().ok()
    }

    /// The path without the query string, e.g. `/v1/models` for `/v1/models?x=1`.
    pub fn path_without_query(&self) -> &str {
        self.path
            .split_once('?')
            .map_or(self.path.as_str(), |(path, _)| path)
    }

    /// The body parsed as `multipart/form-data` (boundary taken from the
    /// `content-type` header), or `None` when it is not a well-formed form.
    pub fn multipart(&self) -> Option<Vec<MultipartField>> {
        let boundary = multipart::boundary(self.header("content-type")?)?;
        multipart::parse(&self.body, &boundary)
    }
}
