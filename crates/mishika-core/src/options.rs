//! Per-request settings and per-response metadata, shared by every endpoint.

use std::time::Duration;

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
#[derive(Debug, Clone, Default)]
pub struct ResponseMetadata {
    /// HTTP status of the answer.
    pub status: StatusCode,
    /// All response headers.
    pub headers: HeaderMap,
}

impl ResponseMetadata {
    /// Metadata from a response head. The header values are copied out of whatever
    /// buffer they share (see [`detach_values`]), so keeping the metadata keeps only them.
    pub fn new(status: StatusCode, headers: HeaderMap) -> ResponseMetadata {
        ResponseMetadata {
            status,
            headers: detach_values(headers),
        }
    }

    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
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

/// `headers` with every value copied into one buffer of their own, in place.
///
/// Header values from hyper are slices of the connection's read buffer (8 KiB): metadata
/// that kept them would keep that whole buffer alive for as long as the answer is kept
/// (a batch job holding many answers, an open stream). One small allocation instead, and
/// the header map itself is reused rather than rebuilt.
fn detach_values(mut headers: HeaderMap) -> HeaderMap {
    let size = headers.values().map(|value| value.len()).sum();
    if size == 0 {
        return headers;
    }
    let mut joined = bytes::BytesMut::with_capacity(size);
    for value in headers.values() {
        joined.extend_from_slice(value.as_bytes());
    }
    let joined = joined.freeze();
    let mut start = 0;
    for value in headers.values_mut() {
        let end = start + value.len();
        // The bytes came from a valid value, so this cannot fail; if it did, the value
        // would simply stay as it was.
        if let Ok(mut copy) = HeaderValue::from_maybe_shared(joined.slice(start..end)) {
            copy.set_sensitive(value.is_sensitive());
            *value = copy;
        }
        start = end;
    }
    headers
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use http::header::CONTENT_TYPE;

    #[test]
    fn detached_values_keep_every_value_without_pinning_the_read_buffer() {
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

        let owned = ResponseMetadata::new(StatusCode::OK, headers.clone()).headers;
        assert_eq!(owned, headers);
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
}
