//! What a provider declares about itself ([`ProviderSpec`]: settings, authentication,
//! paths, error rules) and the [`Limits`] on what an answer may make mishika hold.

use std::fmt;

use http::{HeaderMap, StatusCode};

use crate::error::Error;

/// How a provider sends its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthScheme {
    /// `Authorization: Bearer <key>` (OpenAI, the proxy).
    Bearer,
    /// The key alone as the value of this header (Anthropic's `x-api-key`, Azure's
    /// `api-key`). The name must be a valid lower-case header name.
    Header(&'static str),
    /// [`Call`](crate::Call) adds no key: the provider authenticates by itself, or not at all.
    None,
}

/// How [`Call`](crate::Call) joins an endpoint path to the base URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PathStyle {
    /// `{base}/v1/{path}`, whether the base ends in `/v1` or not: `http://h:4000`,
    /// `http://h:4000/`, `http://h:4000/v1` and `http://h:4000/v1/` reach the same URL
    /// (the proxy, Anthropic).
    V1,
    /// `{base}/{path}`: the base names its version itself, as OpenAI's SDKs expect of
    /// `OPENAI_BASE_URL` (`https://api.openai.com/v1`).
    AsGiven,
}

/// How a provider's error answers read: the one piece of its wire that the shared retry
/// layer needs too, so it travels with each request (plain function pointers: nothing to
/// allocate or count per call).
#[derive(Clone, Copy)]
#[non_exhaustive]
pub struct ErrorRules {
    /// Turn a non-success answer (status, headers, the head of its body) into an [`Error`].
    /// The retry layer retries when the result [`is_retryable`](Error::is_retryable).
    pub from_response: fn(StatusCode, &HeaderMap, &[u8]) -> Error,
    /// Statuses worth reading the body of to decide on a retry; others are final at once.
    pub may_retry: fn(StatusCode) -> bool,
}

impl ErrorRules {
    /// Rules that turn a failed answer into an error with `from_response` and read the
    /// body of the statuses `may_retry` names to decide on a retry.
    pub const fn new(
        from_response: fn(StatusCode, &HeaderMap, &[u8]) -> Error,
        may_retry: fn(StatusCode) -> bool,
    ) -> ErrorRules {
        ErrorRules {
            from_response,
            may_retry,
        }
    }

    /// The OpenAI-shaped rules: [`Error::from_response`] reads the `{"error":{…}}` envelope
    /// (and FastAPI's `{"detail":…}`); 408, 409, 429, 500, 502, 503 and 504 may be retried.
    pub const OPENAI: ErrorRules = ErrorRules {
        from_response: Error::from_response,
        may_retry: openai_may_retry,
    };
}

/// The statuses an OpenAI-shaped server answers transient failures with.
pub fn openai_may_retry(status: StatusCode) -> bool {
    matches!(status.as_u16(), 408 | 409 | 429 | 500 | 502 | 503 | 504)
}

impl Default for ErrorRules {
    fn default() -> ErrorRules {
        ErrorRules::OPENAI
    }
}

impl fmt::Debug for ErrorRules {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ErrorRules").finish_non_exhaustive()
    }
}

/// What a provider declares about its settings and wire. Build it with the `const`
/// methods:
///
/// ```
/// use mishika_core::{AuthScheme, PathStyle, ProviderSpec};
///
/// const SPEC: ProviderSpec = ProviderSpec::new()
///     .env_api_base("ACME_BASE_URL")
///     .env_api_key("ACME_API_KEY")
///     .default_api_base("https://api.acme.example")
///     .auth(AuthScheme::Header("x-acme-key"))
///     .paths(PathStyle::AsGiven)
///     .env_headers(&[("ACME_TEAM", "x-acme-team")]);
/// assert_eq!(SPEC.env_headers, [("ACME_TEAM", "x-acme-team")]);
/// ```
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct ProviderSpec {
    /// Variable holding the base URL (lowest precedence but the default).
    pub env_api_base: Option<&'static str>,
    /// Variable holding the key.
    pub env_api_key: Option<&'static str>,
    /// Variables whose value is sent as a header: `(variable, header name)`, e.g.
    /// `("OPENAI_ORGANIZATION", "openai-organization")`. Settings of the client or the
    /// request for the same header beat them.
    pub env_headers: &'static [(&'static str, &'static str)],
    /// The base URL when nothing else sets one.
    pub default_api_base: Option<&'static str>,
    /// How the key is sent.
    pub auth: AuthScheme,
    /// How paths join the base URL.
    pub paths: PathStyle,
    /// How error answers read and which may be retried.
    pub errors: ErrorRules,
}

impl Default for ProviderSpec {
    fn default() -> ProviderSpec {
        ProviderSpec::new()
    }
}

impl ProviderSpec {
    /// No environment variables, no default base, `Authorization: Bearer`,
    /// `{base}/v1/{path}`, OpenAI-shaped errors.
    pub const fn new() -> ProviderSpec {
        ProviderSpec {
            env_api_base: None,
            env_api_key: None,
            env_headers: &[],
            default_api_base: None,
            auth: AuthScheme::Bearer,
            paths: PathStyle::V1,
            errors: ErrorRules::OPENAI,
        }
    }

    /// The variable holding the base URL.
    #[must_use]
    pub const fn env_api_base(mut self, variable: &'static str) -> ProviderSpec {
        self.env_api_base = Some(variable);
        self
    }

    /// The variable holding the key.
    #[must_use]
    pub const fn env_api_key(mut self, variable: &'static str) -> ProviderSpec {
        self.env_api_key = Some(variable);
        self
    }

    /// Variables sent as headers; see [`env_headers`](ProviderSpec::env_headers).
    #[must_use]
    pub const fn env_headers(
        mut self,
        pairs: &'static [(&'static str, &'static str)],
    ) -> ProviderSpec {
        self.env_headers = pairs;
        self
    }

    /// The base URL when nothing else sets one.
    #[must_use]
    pub const fn default_api_base(mut self, url: &'static str) -> ProviderSpec {
        self.default_api_base = Some(url);
        self
    }

    /// How the key is sent.
    #[must_use]
    pub const fn auth(mut self, auth: AuthScheme) -> ProviderSpec {
        self.auth = auth;
        self
    }

    /// How paths join the base URL.
    #[must_use]
    pub const fn paths(mut self, paths: PathStyle) -> ProviderSpec {
        self.paths = paths;
        self
    }

    /// How error answers read and which may be retried.
    #[must_use]
    pub const fn errors(mut self, errors: ErrorRules) -> ProviderSpec {
        self.errors = errors;
        self
    }
}

/// Limits on what a response may make mishika hold in memory. Set the ones you change and
/// take the rest from the defaults: `Limits::default().max_sse_line(4 << 20)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Largest JSON (or other buffered) response body, in bytes. Default 64 MiB; a longer
    /// body is a `Decode` error.
    ///
    /// A buffered answer is held whole, and while it is read and decoded memory peaks at
    /// about **twice its size**: the chunks as they arrived are copied into one buffer
    /// (both alive for a moment), then that buffer and the decoded answer coexist until
    /// the buffer is dropped. A valid 60 MiB answer thus peaks near 120 MiB; plan the
    /// limit against half the memory you can spare per concurrent call.
    pub max_response_bytes: usize,
    /// Longest single SSE line, in bytes. Default 1 MiB.
    pub max_sse_line: usize,
    /// Largest SSE event, in bytes: the data of all its `data:` lines joined. Default
    /// 8 MiB ([`DEFAULT_MAX_EVENT`](crate::sse::DEFAULT_MAX_EVENT)). An event over it is a
    /// `Decode` error naming the limit, raised before more than this is held.
    pub max_sse_event: usize,
}

impl Limits {
    /// Largest buffered response body, in bytes.
    #[must_use]
    pub const fn max_response_bytes(mut self, bytes: usize) -> Limits {
        self.max_response_bytes = bytes;
        self
    }

    /// Longest single SSE line, in bytes.
    #[must_use]
    pub const fn max_sse_line(mut self, bytes: usize) -> Limits {
        self.max_sse_line = bytes;
        self
    }

    /// Largest SSE event (its `data:` lines joined), in bytes.
    #[must_use]
    pub const fn max_sse_event(mut self, bytes: usize) -> Limits {
        self.max_sse_event = bytes;
        self
    }
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_response_bytes: 64 * 1024 * 1024,
            max_sse_line: crate::sse::DEFAULT_MAX_LINE,
            max_sse_event: crate::sse::DEFAULT_MAX_EVENT,
        }
    }
}
