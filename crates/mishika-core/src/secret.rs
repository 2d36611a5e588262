//! [`ApiKey`]: a secret that never prints.

use std::fmt;
use std::sync::Arc;

/// An API key. `Debug` and `Display` print `ApiKey(***)`; only [`ApiKey::expose`] reveals it.
///
/// ```
/// let key = mishika_core::ApiKey::new("sk-secret");
/// assert_eq!(format!("{key:?} {key}"), "ApiKey(***) ***");
/// assert_eq!(key.expose(), "sk-secret");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(Arc<str>);

impl ApiKey {
    /// Wrap a key.
    pub fn new(key: impl AsRef<str>) -> ApiKey {
        ApiKey(Arc::from(key.as_ref()))
    }

    /// The key itself, for building the `Authorization` header.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

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
        ApiKey(Arc::from(key))
    }
}
