//! Per-request settings and per-response metadata, shared by every endpoint.

use std::fmt;
use std::sync::OnceLock;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};

use crate::error::{Error, Result};
use crate::secret::ApiKey;

/// Settings one request carries for itself; each beats the client's and the environment's.
///
/// Never serialised into the JSON body.
#[derive(Debug, Clone, Default)]
pub struct RequestOptions {
    /// Base URL of the gateway for this request only.
    pub api_base: Option<String>,
    /// Key for this request only.
    pub api_key: Option<ApiKey>,
    /// Extra HTTP headers for this request (added after the client's, replacing same names).
    pub headers: HeaderMap,
    /// Deadline for the whole request (for a stream: until the response head arrives).
    pub timeout: Option<Duration>,
    /// Longest silence allowed between two pieces of a streamed response.
    pub stream_idle_timeout: Option<Duration>,
    /// Retries after the first attempt (overrides the client's policy).
    pub num_retries: Option<u32>,
    /// Upper bound on the time spent across all attempts, backoff included.
    pub retry_deadline: Option<Duration>,
}

impl RequestOptions {
    /// Add a header, failing with a `Config` error on an invalid name or value.
    pub fn try_header(&mut self, name: &str, value: &str) -> Result<()> {
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|e| Error::config(format!("invalid header name {name:?}")).with_source(e))?;
        let value = HeaderValue::from_str(value).map_err(|e| {
            Error::config(format!("invalid value for header {name}")).with_source(e)
        })?;
        self.headers.insert(name, value);
        Ok(())
    }
}

/// A request that names a `prefix/model` and carries [`RequestOptions`]: what the client's
/// router and settings resolution need from every endpoint's request type.
pub trait RoutedRequest {
    /// The `prefix/model` name; the router strips the prefix in place.
    fn model_mut(&mut self) -> &mut String;
    /// The per-request settings.
    fn request_options(&self) -> &RequestOptions;
    /// A problem found while building the request, reported when it is sent.
    fn check(&self) -> Result<()>;
}

/// Generates the builder methods every request type shares: `api_base`, `api_key`,
/// `header`, `timeout`, `stream_idle_timeout`, `num_retries`, `retry_deadline`, `extra`.
macro_rules! request_options_builders {
    ($type:ty) => {
        impl $type {
            /// Send this request to another gateway base URL (beats client and environment).
            pub fn api_base(mut self, api_base: impl Into<String>) -> Self {
                self.options.api_base = Some(api_base.into());
                self
            }

            /// Use this key for this request only (beats client and environment).
            pub fn api_key(mut self, api_key: impl Into<$crate::ApiKey>) -> Self {
                self.options.api_key = Some(api_key.into());
                self
            }

            /// Add an HTTP header to this request. Invalid names or values are reported as a
            /// `Config` error when the request is sent.
            pub fn header(mut self, name: impl AsRef<str>, value: impl AsRef<str>) -> Self {
                if let Err(error) = self.options.try_header(name.as_ref(), value.as_ref()) {
                    self.invalid.get_or_insert(error.to_string());
                }
                self
            }

            /// Deadline for the whole request.
            pub fn timeout(mut self, timeout: std::time::Duration) -> Self {
                self.options.timeout = Some(timeout);
                self
            }

            /// Longest silence allowed between two pieces of a streamed answer.
            pub fn stream_idle_timeout(mut self, timeout: std::time::Duration) -> Self {
                self.options.stream_idle_timeout = Some(timeout);
                self
            }

            /// Retries after the first attempt, for this request.
            pub fn num_retries(mut self, retries: u32) -> Self {
                self.options.num_retries = Some(retries);
                self
            }

            /// Upper bound on the time spent across all attempts.
            pub fn retry_deadline(mut self, deadline: std::time::Duration) -> Self {
                self.options.retry_deadline = Some(deadline);
                self
            }

            /// Add any JSON field to the body (the `extra_body` of other SDKs).
            pub fn extra(
                mut self,
                key: impl Into<String>,
                value: impl Into<serde_json::Value>,
            ) -> Self {
                self.extra.insert(key.into(), value.into());
                self
            }

            /// The per-request settings.
            pub fn options(&self) -> &$crate::RequestOptions {
                &self.options
            }

            /// The per-request settings, mutably.
            pub fn options_mut(&mut self) -> &mut $crate::RequestOptions {
                &mut self.options
            }
        }

        impl $crate::options::RoutedRequest for $type {
            fn model_mut(&mut self) -> &mut String {
                &mut self.model
            }

            fn request_options(&self) -> &$crate::RequestOptions {
                &self.options
            }

            fn check(&self) -> $crate::Result<()> {
                match &self.invalid {
                    Some(message) => Err($crate::Error::config(message.clone())),
                    None => Ok(()),
                }
            }
        }
    };
}
pub(crate) use request_options_builders;

/// The status and headers of a gateway answer, with typed accessors for what LiteLLM-style
/// gateways report (`x-litellm-*`, rate limits).
///
/// Every header of the answer is kept, compactly: the names in a list and all values in
/// one buffer of their own. Header values arrive as slices of the connection's read buffer
/// (8 KiB); metadata that kept them would keep that whole buffer alive for as long as the
/// answer is kept. The [`HeaderMap`] of [`headers`](ResponseMetadata::headers) is built on
/// first use; [`header`](ResponseMetadata::header) and the typed accessors read the list.
#[derive(Clone, Default)]
pub struct ResponseMetadata {
    /// HTTP status of the answer.
    pub status: StatusCode,
    /// Names with their value's place in `values`, in the order of the answer's map.
    names: Vec<StoredName>,
    /// Every value, one after the other.
    values: Bytes,
    /// The map, once asked for.
    map: OnceLock<Box<HeaderMap>>,
}

#[derive(Clone)]
struct StoredName {
    name: HeaderName,
    start: u32,
    end: u32,
    sensitive: bool,
}

impl fmt::Debug for ResponseMetadata {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        /// The headers as a map, without building the `HeaderMap`.
        struct Headers<'a>(&'a ResponseMetadata);
        /// A value as `HeaderValue` shows it: quoted text, or `Sensitive`.
        struct Value<'a>(&'a [u8], bool);
        impl fmt::Debug for Value<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                if self.1 {
                    f.write_str("Sensitive")
                } else {
                    fmt::Debug::fmt(&String::from_utf8_lossy(self.0), f)
                }
            }
        }
        impl fmt::Debug for Headers<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let metadata = self.0;
                f.debug_map()
                    .entries(metadata.names.iter().map(|stored| {
                        let value = Value(metadata.value_bytes(stored), stored.sensitive);
                        (stored.name.as_str(), value)
                    }))
                    .finish()
            }
        }
        f.debug_struct("ResponseMetadata")
            .field("status", &self.status)
            .field("headers", &Headers(self))
            .finish()
    }
}

impl ResponseMetadata {
    /// Metadata from a response head; its header values are copied into one buffer.
    pub fn new(status: StatusCode, headers: HeaderMap) -> ResponseMetadata {
        let size: usize = headers.values().map(|value| value.len()).sum();
        let mut values = Vec::with_capacity(size);
        let mut names: Vec<StoredName> = Vec::with_capacity(headers.len());
        // The names are moved, not cloned (a custom name's clone allocates); a repeated
        // header comes without its name, which is the one before.
        for (name, value) in headers {
            let name = match (name, names.last()) {
                (Some(name), _) => name,
                (None, Some(previous)) => previous.name.clone(),
                (None, None) => continue, // the map never yields this
            };
            let start = values.len();
            values.extend_from_slice(value.as_bytes());
            // Header blocks are far below 4 GiB (hyper caps them at a few hundred KiB).
            let (Ok(start), Ok(end)) = (u32::try_from(start), u32::try_from(values.len())) else {
                break;
            };
            names.push(StoredName {
                name,
                start,
                end,
                sensitive: value.is_sensitive(),
            });
        }
        ResponseMetadata {
            status,
            names,
            values: Bytes::from(values),
            map: OnceLock::new(),
        }
    }

    /// All response headers.
    pub fn headers(&self) -> &HeaderMap {
        self.map.get_or_init(|| {
            let mut map = HeaderMap::with_capacity(self.names.len());
            for stored in &self.names {
                let bytes = self
                    .values
                    .slice(stored.start as usize..stored.end as usize);
                // The bytes were a valid value when they arrived, so this cannot fail.
                if let Ok(mut value) = HeaderValue::from_maybe_shared(bytes) {
                    value.set_sensitive(stored.sensitive);
                    map.append(stored.name.clone(), value);
                }
            }
            Box::new(map)
        })
    }

    fn value_bytes(&self, stored: &StoredName) -> &[u8] {
        self.values
            .get(stored.start as usize..stored.end as usize)
            .unwrap_or_default()
    }

    /// A header as text (the first, when the answer repeats it; names in any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        let stored = self.names.iter().find(|stored| stored.name == name)?;
        let bytes = self.value_bytes(stored);
        // What `HeaderValue::to_str` accepts: visible ASCII and tabs.
        if !bytes
            .iter()
            .all(|&byte| byte == b'\t' || (b' '..=b'~').contains(&byte))
        {
            return None;
        }
        std::str::from_utf8(bytes).ok()
    }

    fn number<T: std::str::FromStr>(&self, name: &str) -> Option<T> {
        self.header(name).and_then(|text| text.trim().parse().ok())
    }

    /// `x-litellm-call-id`: the gateway's id for this call (quote it in bug reports).
    pub fn call_id(&self) -> Option<&str> {
        self.header("x-litellm-call-id")
    }

    /// `x-litellm-response-cost`: what the gateway billed for this call, in USD.
    pub fn response_cost(&self) -> Option<f64> {
        self.number("x-litellm-response-cost")
    }

    /// `x-litellm-model-id`: the deployment that answered.
    pub fn model_id(&self) -> Option<&str> {
        self.header("x-litellm-model-id")
    }

    /// `x-litellm-model-api-base`: the upstream base URL that answered.
    pub fn model_api_base(&self) -> Option<&str> {
        self.header("x-litellm-model-api-base")
    }

    /// `x-ratelimit-remaining-requests`.
    pub fn remaining_requests(&self) -> Option<u64> {
        self.number("x-ratelimit-remaining-requests")
    }

    /// `x-ratelimit-remaining-tokens`.
    pub fn remaining_tokens(&self) -> Option<u64> {
        self.number("x-ratelimit-remaining-tokens")
    }

    /// `x-ratelimit-limit-requests`.
    pub fn limit_requests(&self) -> Option<u64> {
        self.number("x-ratelimit-limit-requests")
    }

    /// `x-ratelimit-limit-tokens`.
    pub fn limit_tokens(&self) -> Option<u64> {
        self.number("x-ratelimit-limit-tokens")
    }

    /// The `content-type` of the answer.
    pub fn content_type(&self) -> Option<&str> {
        self.header("content-type")
    }
}

/// A request's own overrides of the transport policy (idle timeout, retries), read by the
/// transport decorators from the `http::Request` extensions; [`Call`](crate::Call) inserts it
/// only when the request overrides something. `None` means "the client's default".
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CallPolicy {
    /// Deadline for the whole request.
    pub timeout: Option<Duration>,
    /// Longest silence between two body chunks.
    pub stream_idle_timeout: Option<Duration>,
    /// Retries after the first attempt.
    pub num_retries: Option<u32>,
    /// Upper bound on the time across all attempts.
    pub retry_deadline: Option<Duration>,
}

impl RequestOptions {
    /// The part of these options that travels with the HTTP request.
    pub fn policy(&self) -> CallPolicy {
        CallPolicy {
            timeout: self.timeout,
            stream_idle_timeout: self.stream_idle_timeout,
            num_retries: self.num_retries,
            retry_deadline: self.retry_deadline,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::header::CONTENT_TYPE;

    #[test]
    fn headers_keep_every_value_without_pinning_the_read_buffer() {
        let read_buffer = Bytes::from_static(b"text/event-stream;abc-123;set-a;set-b;secret");
        let slice = |range: std::ops::Range<usize>| {
            HeaderValue::from_maybe_shared(read_buffer.slice(range)).unwrap()
        };
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, slice(0..17));
        headers.insert("x-litellm-call-id", slice(18..25));
        headers.append("set-cookie", slice(26..31));
        headers.append("set-cookie", slice(32..37));
        let mut secret = slice(38..44);
        secret.set_sensitive(true);
        headers.insert("x-secret", secret);

        let metadata = ResponseMetadata::new(StatusCode::OK, headers.clone());
        let owned = metadata.headers();
        assert_eq!(owned, &headers);
        assert!(owned["x-secret"].is_sensitive());
        let cookies: Vec<_> = owned.get_all("set-cookie").iter().collect();
        assert_eq!(cookies, ["set-a", "set-b"]);
        let buffer = read_buffer.as_ptr_range();
        for value in owned.values() {
            assert!(
                !buffer.contains(&value.as_bytes().as_ptr()),
                "{value:?} still points into the read buffer"
            );
        }
    }

    #[test]
    fn header_reads_what_the_map_would_give() {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.append("x-repeated", HeaderValue::from_static("first"));
        headers.append("x-repeated", HeaderValue::from_static("second"));
        headers.insert("x-latin", HeaderValue::from_bytes(b"caf\xe9").unwrap());
        headers.insert("x-tab", HeaderValue::from_static("a\tb"));
        headers.insert("x-empty", HeaderValue::from_static(""));
        let metadata = ResponseMetadata::new(StatusCode::CREATED, headers.clone());
        for name in [
            "content-type",
            "Content-Type",
            "x-repeated",
            "X-LATIN",
            "x-tab",
            "x-empty",
            "x-missing",
        ] {
            assert_eq!(
                metadata.header(name),
                headers.get(name).and_then(|value| value.to_str().ok()),
                "{name}"
            );
        }
        assert_eq!(metadata.headers(), &headers);
        assert_eq!(metadata.content_type(), Some("application/json"));
        let clone = metadata.clone();
        assert_eq!(clone.headers(), &headers);
        assert_eq!(clone.status, StatusCode::CREATED);
    }

    #[test]
    fn debug_shows_headers_and_hides_sensitive_values() {
        let mut headers = HeaderMap::new();
        headers.insert("x-litellm-call-id", HeaderValue::from_static("call-1"));
        let mut secret = HeaderValue::from_static("sk-should-not-show");
        secret.set_sensitive(true);
        headers.insert("x-secret", secret);
        let shown = format!("{:?}", ResponseMetadata::new(StatusCode::OK, headers));
        assert!(
            shown.contains(r#""x-litellm-call-id": "call-1""#),
            "{shown}"
        );
        assert!(shown.contains(r#""x-secret": Sensitive"#), "{shown}");
        assert!(!shown.contains("sk-should-not-show"), "{shown}");
    }
}
