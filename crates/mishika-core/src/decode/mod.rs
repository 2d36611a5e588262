//! Reading answers, in one place: the serde entry points, the direct readers of the
//! hottest answers and the chunk decoder state a stream keeps. The wire-type modules
//! define the types and their serde forms and never import this module back.

mod chunk;
pub(crate) mod direct;

#[doc(hidden)]
pub use chunk::ChunkStrings;

use http::HeaderValue;
use http::header::CONTENT_TYPE;
use serde::de::DeserializeOwned;

use crate::audio::TranscriptionResponse;
use crate::chat::ChatResponse;
use crate::completions::CompletionResponse;
use crate::embeddings::EmbeddingResponse;
use crate::error::{Error, Result, truncated_text};
use crate::images::ImageResponse;
use crate::metadata::ResponseMetadata;
use crate::models::ModelList;
use crate::rerank::RerankResponse;
use crate::transport::Body;

/// Response types that carry the status and headers of their answer.
pub trait WithMetadata {
    /// Store the answer's metadata.
    fn set_metadata(&mut self, metadata: ResponseMetadata);

    /// Read the answer from its JSON body without serde's visitors, where the type has a
    /// reader of its own for its common shape; `None` leaves it to serde (the default).
    /// Where it answers, it answers exactly as serde would. Chat and embedding answers
    /// have one.
    ///
    /// Hidden from the docs: a performance hook of mishika's own answer types (a type of
    /// yours leaves it to the default).
    #[doc(hidden)]
    fn read_direct(body: &[u8]) -> Option<Self>
    where
        Self: Sized,
    {
        let _ = body;
        None
    }
}

/// `WithMetadata` and the `metadata()` accessor for every typed JSON answer.
macro_rules! with_metadata {
    ($($type:ty $(=> $reader:path)?),*) => {
        $(
            impl WithMetadata for $type {
                fn set_metadata(&mut self, metadata: ResponseMetadata) {
                    self.metadata = metadata;
                }
                $(
                    fn read_direct(body: &[u8]) -> Option<Self> {
                        $reader(std::str::from_utf8(body).ok()?)
                    }
                )?
            }

            impl $type {
                /// The answer's status and headers (`x-litellm-*`, rate limits …).
                pub fn metadata(&self) -> &ResponseMetadata {
                    &self.metadata
                }
            }
        )*
    };
}

with_metadata!(
    ChatResponse => direct::response,
    CompletionResponse,
    EmbeddingResponse => direct::embeddings,
    ImageResponse,
    TranscriptionResponse,
    RerankResponse,
    ModelList
);

/// Read a success body (at most `limit` bytes) and decode it as JSON into `T`; a body that
/// is an error envelope instead (see [`Error::from_error_envelope`]) is that error.
pub async fn read_json<T: DeserializeOwned + WithMetadata>(
    response: http::Response<Body>,
    limit: usize,
) -> Result<T> {
    let (parts, body) = response.into_parts();
    let bytes = body.collect(limit).await?;
    // A success status whose body is `{"error": …}` (not null) is that error.
    if let Some(error) = Error::from_error_envelope(parts.status, &parts.headers, &bytes) {
        return Err(error);
    }
    let mut value: T = match T::read_direct(&bytes) {
        Some(value) => value,
        None => decode_json(&bytes, parts.headers.get(CONTENT_TYPE))?,
    };
    value.set_metadata(ResponseMetadata::new(parts.status, parts.headers));
    Ok(value)
}

/// Bodies up to this size are checked for UTF-8 in one pass before parsing.
const ONE_PASS_UTF8_LIMIT: usize = 32 * 1024;

/// Decode a JSON body, with an error that shows what arrived instead.
pub fn decode_json<T: DeserializeOwned>(
    bytes: &[u8],
    content_type: Option<&HeaderValue>,
) -> Result<T> {
    if bytes.is_empty() {
        return Err(Error::decode("the response body is empty, expected JSON"));
    }
    // Small answers are mostly strings: one UTF-8 pass over the body beats serde_json's
    // check of each string. Large ones (embeddings) are mostly numbers, where it would not.
    let decoded = if bytes.len() <= ONE_PASS_UTF8_LIMIT {
        from_json(bytes)
    } else {
        serde_json::from_slice(bytes)
    };
    decoded.map_err(|e| {
        let content_type = content_type
            .and_then(|v| v.to_str().ok())
            .unwrap_or("no content type");
        Error::decode(format!(
            "response is not the expected JSON ({content_type}): {e}; body: {}",
            truncated_text(bytes, 256)
        ))
        .with_source(e)
    })
}

/// Parse JSON from bytes, checking their UTF-8 in one pass first.
///
/// serde_json checks every string of a byte slice on its own; a small answer or stream
/// frame is dozens of short strings (keys included), where one pass over the whole text
/// costs a fraction of that. Bytes that are not UTF-8 go to serde_json's own reading, so
/// the result is always what `serde_json::from_slice` gives. Not worth it for bodies of
/// mostly numbers (embeddings).
pub(crate) fn from_json<T: serde::de::DeserializeOwned>(json: &[u8]) -> serde_json::Result<T> {
    match std::str::from_utf8(json) {
        Ok(text) => serde_json::from_str(text),
        Err(_) => serde_json::from_slice(json),
    }
}

impl TranscriptionResponse {
    /// Parse any transcription body: a JSON object, a JSON string, or plain text.
    pub fn parse(bytes: &[u8], metadata: ResponseMetadata) -> Result<TranscriptionResponse> {
        let trimmed = bytes.trim_ascii_start();
        let mut response = if trimmed.starts_with(b"{") {
            decode_json::<TranscriptionResponse>(bytes, None)?
        } else if trimmed.starts_with(b"\"") {
            TranscriptionResponse {
                text: decode_json::<String>(bytes, None)?,
                ..TranscriptionResponse::default()
            }
        } else {
            let text = std::str::from_utf8(bytes).map_err(|e| {
                Error::decode("transcription text is not valid UTF-8").with_source(e)
            })?;
            TranscriptionResponse {
                text: text.to_owned(),
                ..TranscriptionResponse::default()
            }
        };
        response.metadata = metadata;
        Ok(response)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_and_large_json_bodies_decode_alike() {
        #[derive(serde::Deserialize, Debug, PartialEq)]
        struct Answer {
            text: String,
        }
        let small = br#"{"text":"h\u00e9 \u00e9"}"#;
        let padding = " ".repeat(ONE_PASS_UTF8_LIMIT);
        let large = format!(r#"{{"text":"hé é"}}{padding}"#);
        let want = Answer {
            text: "hé é".into(),
        };
        assert_eq!(decode_json::<Answer>(small, None).unwrap(), want);
        assert_eq!(decode_json::<Answer>(large.as_bytes(), None).unwrap(), want);
        for body in [
            &b"{\"text\":\"\xff\"}"[..],
            &[b"{\"text\":\"\xff\"}", padding.as_bytes()].concat(),
        ] {
            let error = decode_json::<Answer>(body, None).unwrap_err();
            assert_eq!(error.kind(), crate::ErrorKind::Decode, "{error}");
        }
    }
}
