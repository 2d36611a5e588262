//! [`ApiKey`]: a secret that never prints; which headers carry credentials; URLs and
//! header maps redacted for printing; the [`Secrets`] of a call, scrubbed from errors.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use http::{HeaderMap, HeaderValue};

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

    /// Whether the key is empty or only whitespace. Such a key is no key: it is never
    /// sent (no `Authorization: Bearer ` with nothing after it), and settings resolution
    /// passes over it to the next layer.
    ///
    /// ```
    /// assert!(mishika_core::ApiKey::new("  ").is_blank());
    /// assert!(!mishika_core::ApiKey::new("sk-1").is_blank());
    /// ```
    pub fn is_blank(&self) -> bool {
        self.0.key.trim().is_empty()
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

/// The headers that carry credentials, by lower-case name. Their values are marked
/// sensitive, print as `***` in every `Debug`, and are scrubbed from errors like the key.
/// Besides these names, any name ending in `api-key`, `-token` or `-secret` counts too
/// (see [`is_credential_header`]).
pub const CREDENTIAL_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "x-api-key",
    "api-key",
    "x-litellm-api-key",
    "x-goog-api-key",
    "cookie",
];

/// Whether a header of this name carries a credential: one of [`CREDENTIAL_HEADERS`], or a
/// name ending in `api-key`, `-token` or `-secret` (`x-portkey-api-key`, `x-auth-token` …).
/// Names compare case-insensitively.
///
/// ```
/// use mishika_core::secret::is_credential_header;
/// assert!(is_credential_header("Authorization"));
/// assert!(is_credential_header("x-litellm-api-key"));
/// assert!(is_credential_header("x-auth-token"));
/// assert!(!is_credential_header("x-team"));
/// ```
pub fn is_credential_header(name: &str) -> bool {
    let name = name.as_bytes();
    let ends_with = |suffix: &[u8]| {
        name.len() >= suffix.len() && name[name.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
    };
    CREDENTIAL_HEADERS
        .iter()
        .any(|known| known.as_bytes().eq_ignore_ascii_case(name))
        || ends_with(b"api-key")
        || ends_with(b"-token")
        || ends_with(b"-secret")
}

/// A header map for `Debug`: every value shown, except credentials (by name, see
/// [`is_credential_header`], or marked sensitive), which print as `***`.
pub struct RedactedHeaders<'a>(pub &'a HeaderMap);

impl fmt::Debug for RedactedHeaders<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        /// One value: as `HeaderValue` shows it, or `***`.
        struct Value<'a>(&'a HeaderValue, bool);
        impl fmt::Debug for Value<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                if self.1 || self.0.is_sensitive() {
                    f.write_str("***")
                } else {
                    fmt::Debug::fmt(self.0, f)
                }
            }
        }
        f.debug_map()
            .entries(self.0.iter().map(|(name, value)| {
                let hidden = is_credential_header(name.as_str());
                (name.as_str(), Value(value, hidden))
            }))
            .finish()
    }
}

/// A URL for printing, with its user info (`user:password@`) and its query (`?…`) shown as
/// `***`: both can hold credentials.
///
/// ```
/// use mishika_core::secret::redact_url;
/// assert_eq!(redact_url("http://me:pw@h:4000/v1"), "http://***@h:4000/v1");
/// assert_eq!(redact_url("http://h/v1?key=abc#top"), "http://h/v1?***");
/// assert_eq!(redact_url("http://h:4000"), "http://h:4000");
/// ```
pub fn redact_url(url: &str) -> Cow<'_, str> {
    let (head, query) = match url.find(['?', '#']) {
        Some(at) => (&url[..at], Some(at)),
        None => (url, None),
    };
    let after_scheme = head.find("://").map_or(0, |at| at + 3);
    // Every `@` before the query is read as the end of user info, even one in the path:
    // a password may hold a `/`, and printing less is the safe side.
    let userinfo_end = head[after_scheme..].rfind('@').map(|at| after_scheme + at);
    if userinfo_end.is_none() && query.is_none() {
        return Cow::Borrowed(url);
    }
    let mut shown = String::with_capacity(url.len());
    match userinfo_end {
        Some(at) => {
            shown.push_str(&head[..after_scheme]);
            shown.push_str("***");
            shown.push_str(&head[at..]);
        }
        None => shown.push_str(head),
    }
    if query.is_some() {
        shown.push_str("?***");
    }
    Cow::Owned(shown)
}

/// The secrets one call sends: its key and the values of its credential headers (see
/// [`is_credential_header`]). [`Error::scrub_secrets`](crate::Error::scrub_secrets) replaces
/// each with `***` wherever an error keeps what the server said, so a server that echoes
/// a key back does not put it in a message, a body, a header or a log.
///
/// Cheap to make and to clone: the key is shared, and only credential headers are copied.
#[derive(Clone, Default)]
pub struct Secrets {
    key: Option<ApiKey>,
    /// Boxed, not a `Vec`: every stream carries its call's secrets, and the usual call has
    /// no such header (an empty box allocates nothing).
    headers: Box<[HeaderValue]>,
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secrets({})", self.count())
    }
}

impl Secrets {
    /// The secrets of a call sending `key` (unless blank) and `headers`.
    pub fn new(key: Option<&ApiKey>, headers: &HeaderMap) -> Secrets {
        let headers = headers
            .iter()
            .filter(|(name, value)| value.is_sensitive() || is_credential_header(name.as_str()))
            .map(|(_, value)| value.clone())
            .collect();
        Secrets {
            key: key.filter(|key| !key.is_blank()).cloned(),
            headers,
        }
    }

    /// Whether there is nothing to scrub.
    pub fn is_empty(&self) -> bool {
        self.key.is_none() && self.headers.is_empty()
    }

    fn count(&self) -> usize {
        usize::from(self.key.is_some()) + self.headers.len()
    }

    /// Call `each` with every text to scrub: the key; each credential header's value, and
    /// for a value such as `Bearer <token>` the token after the scheme too. Blank texts
    /// are left out.
    pub fn for_each(&self, mut each: impl FnMut(&[u8])) {
        let mut visit = |text: &[u8]| {
            let text = text.trim_ascii();
            if !text.is_empty() {
                each(text);
            }
        };
        if let Some(key) = &self.key {
            visit(key.expose().as_bytes());
        }
        for value in &self.headers {
            let value = value.as_bytes();
            visit(value);
            if let Some(space) = memchr::memchr(b' ', value.trim_ascii()) {
                visit(&value.trim_ascii()[space..]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_headers_by_name_in_any_case() {
        for name in [
            "authorization",
            "Proxy-Authorization",
            "x-api-key",
            "api-key",
            "X-LiteLLM-API-Key",
            "x-goog-api-key",
            "cookie",
            "x-portkey-api-key",
            "x-auth-token",
            "x-client-secret",
        ] {
            assert!(is_credential_header(name), "{name}");
        }
        for name in [
            "x-team",
            "content-type",
            "openai-project",
            "x-tokens",
            "set-cookie",
        ] {
            assert!(!is_credential_header(name), "{name}");
        }
    }

    #[test]
    fn urls_print_without_user_info_or_query() {
        for (url, shown) in [
            ("http://user:pass@h:4000/v1", "http://***@h:4000/v1"),
            ("https://sk-key@h", "https://***@h"),
            ("http://u:p/w@rd@h:1/x", "http://***@h:1/x"),
            ("http://h:4000/v1?api-key=abc", "http://h:4000/v1?***"),
            ("http://u:p@h#frag", "http://***@h?***"),
            ("h:4000", "h:4000"),
            ("http://[::1]:4000/v1/", "http://[::1]:4000/v1/"),
        ] {
            assert_eq!(redact_url(url), shown, "{url}");
        }
        assert!(matches!(redact_url("http://h:4000"), Cow::Borrowed(_)));
    }

    #[test]
    fn redacted_headers_hide_credentials_and_sensitive_values() {
        let mut headers = HeaderMap::new();
        headers.insert("x-team", HeaderValue::from_static("search"));
        headers.insert("authorization", HeaderValue::from_static("Bearer sk-1"));
        headers.insert("x-litellm-api-key", HeaderValue::from_static("sk-2"));
        let mut marked = HeaderValue::from_static("sk-3");
        marked.set_sensitive(true);
        headers.insert("x-custom", marked);
        let shown = format!("{:?}", RedactedHeaders(&headers));
        assert_eq!(
            shown,
            r#"{"x-team": "search", "authorization": ***, "x-litellm-api-key": ***, "x-custom": ***}"#
        );
    }

    #[test]
    fn secrets_are_the_key_and_credential_values_never_blank() {
        let mut headers = HeaderMap::new();
        headers.insert("authorization", HeaderValue::from_static("Bearer tok-1"));
        headers.insert("cookie", HeaderValue::from_static("  "));
        headers.insert("x-team", HeaderValue::from_static("search"));
        let key = ApiKey::new("sk-key");
        let mut seen = Vec::new();
        Secrets::new(Some(&key), &headers).for_each(|secret| seen.push(secret.to_vec()));
        assert_eq!(seen, [&b"sk-key"[..], b"Bearer tok-1", b"tok-1"]);
        let blank = ApiKey::new(" ");
        assert!(Secrets::new(Some(&blank), &HeaderMap::new()).is_empty());
        assert_eq!(
            format!("{:?}", Secrets::new(Some(&key), &headers)),
            "Secrets(3)"
        );
    }

    #[test]
    fn blank_keys() {
        for blank in ["", " ", "\t\n"] {
            assert!(ApiKey::new(blank).is_blank(), "{blank:?}");
        }
        assert!(!ApiKey::new(" k ").is_blank());
    }
}
