//! [`ApiKey`]: a secret that never prints.

use std::fmt;
use std::sync::Arc;

use http::HeaderValue;

/// An API key. `Debug` and `Display` print `ApiKey(***)`; only [`ApiKey::expose`] reveals it.
///
/// ```
/// let key = mishika_core::ApiKey::new("sk-secret");
/// assert_eq!(format!("{key:?} {key}"), "ApiKey(***) ***");
/// assert_eq!(key.expose(), "sk-secret");
/// ```
#[derive(Clone)]
pub struct ApiKey(Arc<KeyInner>);

struct KeyInner {
    key: Box<str>,
    /// `Bearer <key>`, built once per key rather than once per request; `None` when the key
    /// cannot be a header value.
    bearer: Option<HeaderValue>,
}

impl ApiKey {
    /// Wrap a key.
    pub fn new(key: impl AsRef<str>) -> ApiKey {
        let key: Box<str> = Box::from(key.as_ref());
        let bearer = HeaderValue::from_maybe_shared(bytes::Bytes::from(format!("Bearer {key}")))
            .ok()
            .map(|mut value| {
                value.set_sensitive(true);
                value
            });
        ApiKey(Arc::new(KeyInner { key, bearer }))
    }

    /// The key itself, for building the `Authorization` header.
    pub fn expose(&self) -> &str {
        &self.0.key
    }

    /// The `Authorization: Bearer <key>` value (marked sensitive), or `None` when the key
    /// holds characters a header cannot carry.
    pub fn bearer(&self) -> Option<&HeaderValue> {
        self.0.bearer.as_ref()
    }
}

impl PartialEq for ApiKey {
    fn eq(&self, other: &ApiKey) -> bool {
        self.expose() == other.expose()
    }
}

impl Eq for ApiKey {}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(***)")
    }
}

impl fmt::Display for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl From<&str> for ApiKey {
    fn from(key: &str) -> ApiKey {
        ApiKey::new(key)
    }
}

impl From<String> for ApiKey {
    fn from(key: String) -> ApiKey {
        ApiKey::new(key)
    }
}
