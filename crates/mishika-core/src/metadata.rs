//! [`ResponseMetadata`]: the status and headers of an answer, with typed accessors for what
//! LiteLLM-style gateways report.

use std::fmt;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};

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
    /// Which model group and deployment answered, when a router chose them.
    route: Option<Box<RouteInfo>>,
}

/// How a router reached an answer: the model group and deployment that gave it, and what
/// it took (see `mishika::Router`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RouteInfo {
    /// The model group that answered (the one asked for, or a fallback).
    pub group: Arc<str>,
    /// The id of the deployment that answered.
    pub deployment: Arc<str>,
    /// The deployment's own model name (`mishikallm_proxy/gpt-4o` …).
    pub model: Arc<str>,
    /// Calls to deployments it took, this one included.
    pub attempts: u32,
    /// Fallback groups moved to before this answer (0 when the first group answered).
    pub fallbacks: u32,
}

impl RouteInfo {
    /// A route: `group`'s deployment `deployment` (model `model`) answered after
    /// `attempts` calls and `fallbacks` moves to fallback groups.
    pub fn new(
        group: impl Into<Arc<str>>,
        deployment: impl Into<Arc<str>>,
        model: impl Into<Arc<str>>,
        attempts: u32,
        fallbacks: u32,
    ) -> RouteInfo {
        RouteInfo {
            group: group.into(),
            deployment: deployment.into(),
            model: model.into(),
            attempts,
            fallbacks,
        }
    }
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
        let mut debug = f.debug_struct("ResponseMetadata");
        debug
            .field("status", &self.status)
            .field("headers", &Headers(self));
        if let Some(route) = &self.route {
            debug.field("route", route);
        }
        debug.finish()
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
            route: None,
        }
    }

    /// Which model group and deployment answered, when a router chose them.
    pub fn route(&self) -> Option<&RouteInfo> {
        self.route.as_deref()
    }

    /// Record how a router reached this answer.
    pub fn set_route(&mut self, route: RouteInfo) {
        self.route = Some(Box::new(route));
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
