//! The one error type of mishika: a cheap-to-match [`ErrorKind`] plus everything the server said.

use std::fmt::{self, Write as _};
use std::sync::LazyLock;
use std::time::{Duration, SystemTime};

use http::{HeaderMap, HeaderValue, StatusCode};
use memchr::memmem;
use serde::Deserialize;

use crate::secret::Secrets;

/// Shorthand for `Result<T, mishika_core::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// How many bytes of a response body an [`Error`] keeps.
pub const MAX_ERROR_BODY: usize = 8 * 1024;

/// What went wrong, mirroring the gateway's exception classes.
///
/// A status maps to a kind first; a more specific class named in the server's
/// message or code (`ContextWindowExceededError`, `BudgetExceededError` …) refines it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// 400: the request was malformed or rejected.
    BadRequest,
    /// 401: the key is missing or wrong.
    Authentication,
    /// 403: the key may not do this.
    PermissionDenied,
    /// 404: unknown model, route or resource.
    NotFound,
    /// 408/504, or a client-side deadline fired (see [`Error::timeout`]).
    Timeout,
    /// 422: the server understood the request but cannot process it.
    UnprocessableEntity,
    /// 429: slow down (quota exhaustion is [`ErrorKind::BudgetExceeded`]).
    RateLimit,
    /// The prompt does not fit the model's context window.
    ContextWindowExceeded,
    /// The provider refused the content.
    ContentPolicyViolation,
    /// A budget or quota is used up; retrying will not help.
    BudgetExceeded,
    /// 500.
    InternalServer,
    /// 502.
    BadGateway,
    /// 503.
    ServiceUnavailable,
    /// Any other non-success status (see [`Error::status`]).
    ApiStatus,
    /// The connection could not be made or broke before a response arrived.
    Connection,
    /// A response could not be decoded into its type.
    Decode,
    /// A streamed response broke, ended early, or carried an in-band error.
    Stream,
    /// mishika is not configured for this call (no base URL, bad header …).
    Config,
    /// The model's prefix names no registered provider.
    UnknownProvider,
    /// The provider does not offer this endpoint.
    Unsupported,
    /// Local file I/O failed (reading an audio file, writing an image or audio output).
    Io,
}

impl ErrorKind {
    /// The kind a bare HTTP status maps to, before the message refines it.
    pub fn from_status(status: StatusCode) -> ErrorKind {
        match status.as_u16() {
            400 => ErrorKind::BadRequest,
            401 => ErrorKind::Authentication,
            403 => ErrorKind::PermissionDenied,
            404 => ErrorKind::NotFound,
            408 | 504 => ErrorKind::Timeout,
            422 => ErrorKind::UnprocessableEntity,
            429 => ErrorKind::RateLimit,
            500 => ErrorKind::InternalServer,
            502 => ErrorKind::BadGateway,
            503 => ErrorKind::ServiceUnavailable,
            _ => ErrorKind::ApiStatus,
        }
    }

    /// The gateway's name for this kind, as its exception classes spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::BadRequest => "BadRequestError",
            ErrorKind::Authentication => "AuthenticationError",
            ErrorKind::PermissionDenied => "PermissionDeniedError",
            ErrorKind::NotFound => "NotFoundError",
            ErrorKind::Timeout => "Timeout",
            ErrorKind::UnprocessableEntity => "UnprocessableEntityError",
            ErrorKind::RateLimit => "RateLimitError",
            ErrorKind::ContextWindowExceeded => "ContextWindowExceededError",
            ErrorKind::ContentPolicyViolation => "ContentPolicyViolationError",
            ErrorKind::BudgetExceeded => "BudgetExceededError",
            ErrorKind::InternalServer => "InternalServerError",
            ErrorKind::BadGateway => "BadGatewayError",
            ErrorKind::ServiceUnavailable => "ServiceUnavailableError",
            ErrorKind::ApiStatus => "APIError",
            ErrorKind::Connection => "APIConnectionError",
            ErrorKind::Decode => "DecodeError",
            ErrorKind::Stream => "StreamError",
            ErrorKind::Config => "ConfigError",
            ErrorKind::UnknownProvider => "UnknownProviderError",
            ErrorKind::Unsupported => "UnsupportedError",
            ErrorKind::Io => "IoError",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which deadline fired, for [`ErrorKind::Timeout`] errors raised by the client itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TimeoutPhase {
    /// Establishing the connection.
    Connect,
    /// The whole request (for a stream: until the response head arrived).
    Request,
    /// No bytes arrived on an open stream for too long.
    StreamIdle,
    /// A stream outlasted its whole-stream deadline (keep-alives or not).
    StreamDeadline,
}

impl fmt::Display for TimeoutPhase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TimeoutPhase::Connect => "connect",
            TimeoutPhase::Request => "request",
            TimeoutPhase::StreamIdle => "stream idle",
            TimeoutPhase::StreamDeadline => "stream deadline",
        })
    }
}

/// Every mishika failure: match on [`Error::kind`], read the server's details from the accessors.
///
/// The error is one pointer wide so `Result<T, Error>` stays cheap to move.
/// It never holds an API key: errors from a call have the call's key and credential
/// headers scrubbed (see [`Error::scrub_secrets`]). `Display` escapes control characters
/// the server sent (`\n`, `\x1b` …); [`body`](Error::body) keeps them as they came.
pub struct Error {
    inner: Box<Inner>,
}

struct Inner {
    kind: ErrorKind,
    message: String,
    status: Option<StatusCode>,
    error_type: Option<String>,
    param: Option<String>,
    code: Option<String>,
    retry_after: Option<Duration>,
    body: Option<String>,
    headers: Option<HeaderMap>,
    timeout: Option<TimeoutPhase>,
    provider: Option<String>,
    endpoint: Option<String>,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl Error {
    /// A new error of `kind` with a human message.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error {
            inner: Box::new(Inner {
                kind,
                message: message.into(),
                status: None,
                error_type: None,
                param: None,
                code: None,
                retry_after: None,
                body: None,
                headers: None,
                timeout: None,
                provider: None,
                endpoint: None,
                source: None,
            }),
        }
    }

    /// A configuration error.
    pub fn config(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Config, message)
    }

    /// A decoding error.
    pub fn decode(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Decode, message)
    }

    /// A stream error.
    pub fn stream(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Stream, message)
    }

    /// Local file I/O failed on `path`.
    pub fn io(action: &str, path: &std::path::Path, source: std::io::Error) -> Error {
        Error::new(
            ErrorKind::Io,
            format!("could not {action} {}", path.display()),
        )
        .with_source(source)
    }

    /// A client-side deadline fired.
    pub fn timeout(phase: TimeoutPhase, after: Duration) -> Error {
        let mut error = Error::new(
            ErrorKind::Timeout,
            format!("{phase} timeout after {after:?}"),
        );
        error.inner.timeout = Some(phase);
        error
    }

    /// The provider does not offer this endpoint.
    pub fn unsupported(provider: &str, endpoint: &str) -> Error {
        let mut error = Error::new(
            ErrorKind::Unsupported,
            format!("provider `{provider}` does not support the {endpoint} endpoint"),
        );
        error.inner.provider = Some(provider.to_owned());
        error.inner.endpoint = Some(endpoint.to_owned());
        error
    }

    /// An error built from a non-success HTTP answer: the kind comes from the status,
    /// refined by the gateway's error envelope (`{"error":{…}}` or FastAPI's `{"detail":…}`).
    pub fn from_response(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> Error {
        let details = ApiErrorDetails::parse(body);
        let message = details
            .message
            .clone()
            .unwrap_or_else(|| fallback_message(status, body));
        let kind = refine_kind(
            ErrorKind::from_status(status),
            &message,
            details.error_type.as_deref(),
            details.code.as_deref(),
        );
        let mut error = Error::new(kind, message);
        let inner = &mut error.inner;
        inner.status = Some(status);
        inner.error_type = details.error_type;
        inner.param = details.param;
        inner.code = details.code;
        inner.retry_after = retry_after(headers, SystemTime::now());
        inner.body = Some(truncated_text(body, MAX_ERROR_BODY));
        inner.headers = Some(headers.clone());
        error
    }

    /// The error a success answer carries in its body instead of the answer: a JSON object
    /// whose top-level `error` is present and not `null` (`{"error": {…}}`), as gateways
    /// sometimes answer with a `200`. `None` for any other body, cheaply for the usual one.
    ///
    /// The kind comes from the envelope's `code` when that is an HTTP error status, else
    /// from `status` when it is not a success, else it is [`ErrorKind::ApiStatus`]; the
    /// message refines it. Status, headers and body are kept as [`Error::from_response`]
    /// keeps them.
    ///
    /// ```
    /// use mishika_core::{Error, ErrorKind};
    /// use mishika_core::reexports::http::{HeaderMap, StatusCode};
    /// let body = br#"{"error": {"message": "no such model", "code": "404"}}"#;
    /// let error = Error::from_error_envelope(StatusCode::OK, &HeaderMap::new(), body).unwrap();
    /// assert_eq!((error.kind(), error.message()), (ErrorKind::NotFound, "no such model"));
    /// let fine = br#"{"choices": [], "error": null}"#;
    /// assert!(Error::from_error_envelope(StatusCode::OK, &HeaderMap::new(), fine).is_none());
    /// ```
    pub fn from_error_envelope(
        status: StatusCode,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Option<Error> {
        static ERROR_KEY: LazyLock<memmem::Finder<'static>> =
            LazyLock::new(|| memmem::Finder::new(b"\"error\""));
        #[derive(Deserialize)]
        struct TopLevel {
            #[serde(default)]
            error: Option<serde::de::IgnoredAny>,
        }
        ERROR_KEY.find(body)?;
        serde_json::from_slice::<TopLevel>(body).ok()?.error?;
        let details = ApiErrorDetails::parse(body);
        let message = details
            .message
            .clone()
            .unwrap_or_else(|| fallback_message(status, body));
        let base = details
            .code
            .as_deref()
            .and_then(|code| code.trim().parse::<u16>().ok())
            .filter(|code| *code >= 400)
            .and_then(|code| StatusCode::from_u16(code).ok())
            .map(ErrorKind::from_status)
            .unwrap_or(if status.is_success() {
                ErrorKind::ApiStatus
            } else {
                ErrorKind::from_status(status)
            });
        let kind = refine_kind(
            base,
            &message,
            details.error_type.as_deref(),
            details.code.as_deref(),
        );
        let mut error = Error::new(kind, message);
        let inner = &mut error.inner;
        inner.status = Some(status);
        inner.error_type = details.error_type;
        inner.param = details.param;
        inner.code = details.code;
        inner.retry_after = retry_after(headers, SystemTime::now());
        inner.body = Some(truncated_text(body, MAX_ERROR_BODY));
        inner.headers = Some(headers.clone());
        Some(error)
    }

    /// An error carried inside a stream (`data: {"error": {…}}`): the kind comes from the
    /// frame's code (often an HTTP status) and message, else it is [`ErrorKind::Stream`].
    pub fn from_stream_frame(frame: &[u8]) -> Error {
        let details = ApiErrorDetails::parse(frame);
        let message = details
            .message
            .clone()
            .unwrap_or_else(|| truncated_text(frame, 512));
        let base = details
            .code
            .as_deref()
            .and_then(|code| code.parse::<u16>().ok())
            .and_then(|code| StatusCode::from_u16(code).ok())
            .map(ErrorKind::from_status)
            .unwrap_or(ErrorKind::Stream);
        let kind = refine_kind(
            base,
            &message,
            details.error_type.as_deref(),
            details.code.as_deref(),
        );
        let mut error = Error::new(kind, message);
        let inner = &mut error.inner;
        inner.error_type = details.error_type;
        inner.param = details.param;
        inner.code = details.code;
        inner.body = Some(truncated_text(frame, MAX_ERROR_BODY));
        error
    }

    /// Attach the underlying cause.
    #[must_use]
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Error {
        self.inner.source = Some(Box::new(source));
        self
    }

    /// Attach an already boxed cause.
    #[must_use]
    pub fn with_boxed_source(mut self, source: Box<dyn std::error::Error + Send + Sync>) -> Error {
        self.inner.source = Some(source);
        self
    }

    /// Mark which client-side deadline this timeout is.
    #[must_use]
    pub fn with_timeout_phase(mut self, phase: TimeoutPhase) -> Error {
        self.inner.timeout = Some(phase);
        self
    }

    /// Attach the provider's name (for messages and matching).
    #[must_use]
    pub fn with_provider(mut self, provider: impl Into<String>) -> Error {
        self.inner.provider = Some(provider.into());
        self
    }

    /// Attach the HTTP status of the answer this error came from.
    #[must_use]
    pub fn with_status(mut self, status: StatusCode) -> Error {
        self.inner.status = Some(status);
        self
    }

    /// Attach the server's error `type` (e.g. `invalid_request_error`).
    #[must_use]
    pub fn with_error_type(mut self, error_type: impl Into<String>) -> Error {
        self.inner.error_type = Some(error_type.into());
        self
    }

    /// Attach the raw response body, kept as text and truncated to [`MAX_ERROR_BODY`]
    /// bytes as [`Error::from_response`] keeps it.
    #[must_use]
    pub fn with_body(mut self, body: &[u8]) -> Error {
        self.inner.body = Some(truncated_text(body, MAX_ERROR_BODY));
        self
    }

    /// Attach the response headers of the answer this error came from.
    #[must_use]
    pub fn with_headers(mut self, headers: HeaderMap) -> Error {
        self.inner.headers = Some(headers);
        self
    }

    /// Attach how long the server asked to wait before retrying (see [`retry_after`]).
    #[must_use]
    pub fn with_retry_after(mut self, wait: Duration) -> Error {
        self.inner.retry_after = Some(wait);
        self
    }

    /// This error with every occurrence of `secret` replaced by `***` in all it keeps of
    /// what the server said: the message, type, param and code, the body, the header
    /// values and the cause's text. A secret cut short where a kept text was truncated
    /// (`… (N bytes in all)`) is replaced from its fourth byte on. A blank secret changes
    /// nothing.
    ///
    /// ```
    /// use mishika_core::Error;
    /// use mishika_core::reexports::http::{HeaderMap, StatusCode};
    /// let body = br#"{"error": {"message": "Incorrect API key provided: sk-abc123"}}"#;
    /// let error = Error::from_response(StatusCode::UNAUTHORIZED, &HeaderMap::new(), body)
    ///     .scrub_secret("sk-abc123");
    /// assert_eq!(error.message(), "Incorrect API key provided: ***");
    /// assert!(!error.body().unwrap().contains("sk-abc123"));
    /// ```
    #[must_use]
    pub fn scrub_secret(mut self, secret: &str) -> Error {
        self.scrub_in_place(secret.as_bytes());
        self
    }

    /// [`scrub_secret`](Error::scrub_secret) for each of a call's [`Secrets`]: its key, its
    /// credential headers' values and the tokens in them.
    #[must_use]
    pub fn scrub_secrets(mut self, secrets: &Secrets) -> Error {
        secrets.for_each(|secret| self.scrub_in_place(secret));
        self
    }

    fn scrub_in_place(&mut self, secret: &[u8]) {
        let secret = secret.trim_ascii();
        if secret.is_empty() {
            return;
        }
        let inner = &mut *self.inner;
        scrub_string(&mut inner.message, secret);
        for text in [
            &mut inner.error_type,
            &mut inner.param,
            &mut inner.code,
            &mut inner.body,
        ]
        .into_iter()
        .flatten()
        {
            scrub_string(text, secret);
        }
        if let Some(headers) = &mut inner.headers {
            for value in headers.values_mut() {
                if let Some(clean) = scrubbed(value.as_bytes(), secret) {
                    // The secret's bytes became `***`, so the value stays a valid one.
                    let mut replaced =
                        HeaderValue::from_bytes(&clean).unwrap_or(HeaderValue::from_static("***"));
                    replaced.set_sensitive(value.is_sensitive());
                    *value = replaced;
                }
            }
        }
        if let Some(source) = &inner.source {
            if let Some(clean) = scrubbed(source.to_string().as_bytes(), secret) {
                inner.source = Some(Box::new(ScrubbedCause(
                    String::from_utf8_lossy(&clean).into_owned(),
                )));
            }
        }
    }

    /// Replace the message (to add what the client knows and the server could not say).
    #[must_use]
    pub fn with_message(mut self, message: impl Into<String>) -> Error {
        self.inner.message = message.into();
        self
    }

    /// What went wrong.
    pub fn kind(&self) -> ErrorKind {
        self.inner.kind
    }

    /// The message: the server's own where there was one.
    pub fn message(&self) -> &str {
        &self.inner.message
    }

    /// The HTTP status, when the error is an HTTP answer.
    pub fn status(&self) -> Option<StatusCode> {
        self.inner.status
    }

    /// The server's error `type`.
    pub fn error_type(&self) -> Option<&str> {
        self.inner.error_type.as_deref()
    }

    /// The server's error `param`.
    pub fn param(&self) -> Option<&str> {
        self.inner.param.as_deref()
    }

    /// The server's error `code` (a string even where the server sent a number).
    pub fn code(&self) -> Option<&str> {
        self.inner.code.as_deref()
    }

    /// How long the server asked us to wait (`retry-after-ms` / `retry-after`).
    pub fn retry_after(&self) -> Option<Duration> {
        self.inner.retry_after
    }

    /// The raw response body, truncated to [`MAX_ERROR_BODY`] bytes.
    pub fn body(&self) -> Option<&str> {
        self.inner.body.as_deref()
    }

    /// The response headers of an HTTP error answer.
    pub fn headers(&self) -> Option<&HeaderMap> {
        self.inner.headers.as_ref()
    }

    /// Which client-side deadline fired, for timeouts raised by mishika itself.
    pub fn timeout_phase(&self) -> Option<TimeoutPhase> {
        self.inner.timeout
    }

    /// The provider involved, where known.
    pub fn provider(&self) -> Option<&str> {
        self.inner.provider.as_deref()
    }

    /// The endpoint a provider lacks, for [`ErrorKind::Unsupported`].
    pub fn endpoint(&self) -> Option<&str> {
        self.inner.endpoint.as_deref()
    }

    /// Whether sending the same request again may succeed.
    pub fn is_retryable(&self) -> bool {
        match self.inner.kind {
            ErrorKind::RateLimit
            | ErrorKind::Timeout
            | ErrorKind::Connection
            | ErrorKind::InternalServer
            | ErrorKind::BadGateway
            | ErrorKind::ServiceUnavailable => true,
            ErrorKind::ApiStatus => self.inner.status.is_some_and(|s| s.as_u16() == 409),
            _ => false,
        }
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &self.inner;
        let mut debug = f.debug_struct("Error");
        debug.field("kind", &inner.kind);
        debug.field("message", &inner.message);
        if let Some(status) = inner.status {
            debug.field("status", &status.as_u16());
        }
        if let Some(value) = &inner.error_type {
            debug.field("type", value);
        }
        if let Some(value) = &inner.param {
            debug.field("param", value);
        }
        if let Some(value) = &inner.code {
            debug.field("code", value);
        }
        if let Some(value) = &inner.retry_after {
            debug.field("retry_after", value);
        }
        if let Some(value) = &inner.timeout {
            debug.field("timeout", value);
        }
        if let Some(value) = &inner.provider {
            debug.field("provider", value);
        }
        if let Some(value) = &inner.source {
            debug.field("source", value);
        }
        debug.finish_non_exhaustive()
    }
}

impl fmt::Display for Error {
    /// `Kind (status): message: cause`, with control characters (and the bidirectional
    /// overrides) in the message and the cause escaped: a server's `ESC` or newline never
    /// reaches a terminal or a log line raw.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &self.inner;
        write!(f, "{}", inner.kind)?;
        if let Some(status) = inner.status {
            write!(f, " ({})", status.as_u16())?;
        }
        f.write_str(": ")?;
        Escaping(f).write_str(&inner.message)?;
        if let Some(source) = &inner.source {
            f.write_str(": ")?;
            write!(Escaping(f), "{source}")?;
        }
        Ok(())
    }
}

/// Writes text with control characters escaped: `\n`, `\r`, `\t`, `\x1b` (other C0 and
/// DEL), `\u{85}` (C1, and the bidirectional marks and overrides that reorder a line).
struct Escaping<'a, 'b>(&'a mut fmt::Formatter<'b>);

fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

impl fmt::Write for Escaping<'_, '_> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        let mut clean = 0;
        for (at, c) in text.char_indices() {
            if !needs_escape(c) {
                continue;
            }
            self.0.write_str(&text[clean..at])?;
            match c {
                '\n' => self.0.write_str("\\n")?,
                '\r' => self.0.write_str("\\r")?,
                '\t' => self.0.write_str("\\t")?,
                c if c.is_ascii() => write!(self.0, "\\x{:02x}", u32::from(c))?,
                c => write!(self.0, "\\u{{{:x}}}", u32::from(c))?,
            }
            clean = at + c.len_utf8();
        }
        self.0.write_str(&text[clean..])
    }
}

/// A cause whose text held a secret, kept as its scrubbed text.
#[derive(Debug)]
struct ScrubbedCause(String);

impl fmt::Display for ScrubbedCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ScrubbedCause {}

/// Scrub `secret` from `text` in place (see [`scrubbed`]).
fn scrub_string(text: &mut String, secret: &[u8]) {
    if let Some(clean) = scrubbed(text.as_bytes(), secret) {
        *text = String::from_utf8_lossy(&clean).into_owned();
    }
}

/// What [`truncated_text`] puts where it cut a text.
const TRUNCATION_MARK: &[u8] = "… (".as_bytes();

/// The shortest start of a secret replaced where a text was cut: three bytes (`sk-`) say
/// nothing of a key.
const MIN_CUT_SECRET: usize = 4;

/// `text` with every `secret` replaced by `***`, and a start of `secret` (of at least
/// [`MIN_CUT_SECRET`] bytes) right before a truncation mark; `None` when there is none.
fn scrubbed(text: &[u8], secret: &[u8]) -> Option<Vec<u8>> {
    let mut out: Option<Vec<u8>> = None;
    let mut copied = 0;
    for at in memmem::find_iter(text, secret) {
        if at < copied {
            continue; // overlaps the occurrence just replaced
        }
        let buffer = out.get_or_insert_with(|| Vec::with_capacity(text.len()));
        buffer.extend_from_slice(&text[copied..at]);
        buffer.extend_from_slice(b"***");
        copied = at + secret.len();
    }
    if let Some(buffer) = &mut out {
        buffer.extend_from_slice(&text[copied..]);
    }
    let current = out.as_deref().unwrap_or(text);
    let mut cuts = Vec::new();
    for mark in memmem::find_iter(current, TRUNCATION_MARK) {
        let before = &current[..mark];
        let longest = (MIN_CUT_SECRET..secret.len())
            .rev()
            .find(|&length| before.ends_with(&secret[..length]));
        if let Some(length) = longest {
            cuts.push((mark - length, mark));
        }
    }
    if cuts.is_empty() {
        return out;
    }
    let mut clean = Vec::with_capacity(current.len());
    let mut copied = 0;
    for (start, end) in cuts {
        clean.extend_from_slice(&current[copied..start]);
        clean.extend_from_slice(b"***");
        copied = end;
    }
    clean.extend_from_slice(&current[copied..]);
    Some(clean)
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.inner
            .source
            .as_deref()
            .map(|source| source as &(dyn std::error::Error + 'static))
    }
}

/// The fields of a gateway error envelope, whichever shape it came in.
#[derive(Debug, Default, Clone, PartialEq)]
#[non_exhaustive]
pub struct ApiErrorDetails {
    /// `error.message`, or FastAPI's `detail` rendered as text.
    pub message: Option<String>,
    /// `error.type`.
    pub error_type: Option<String>,
    /// `error.param`.
    pub param: Option<String>,
    /// `error.code`, as a string.
    pub code: Option<String>,
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(default)]
    error: Option<serde_json::Value>,
    #[serde(default)]
    detail: Option<serde_json::Value>,
    #[serde(default)]
    message: Option<serde_json::Value>,
}

impl ApiErrorDetails {
    /// Parse `{"error":{"message","type","param","code"}}`, `{"error":"text"}`,
    /// `{"detail": …}` or `{"message": …}`; anything else gives empty details.
    pub fn parse(body: &[u8]) -> ApiErrorDetails {
        let Ok(envelope) = serde_json::from_slice::<Envelope>(body) else {
            return ApiErrorDetails::default();
        };
        if let Some(error) = envelope.error {
            return match error {
                serde_json::Value::Object(map) => ApiErrorDetails {
                    message: map.get("message").and_then(value_text),
                    error_type: map.get("type").and_then(value_text),
                    param: map.get("param").and_then(value_text),
                    code: map.get("code").and_then(value_text),
                },
                other => ApiErrorDetails {
                    message: value_text(&other),
                    ..ApiErrorDetails::default()
                },
            };
        }
        if let Some(detail) = envelope.detail {
            // FastAPI: a string, an object with "error"/"message", or a list of validation errors.
            let message = match &detail {
                serde_json::Value::Object(map) => map
                    .get("error")
                    .or_else(|| map.get("message"))
                    .and_then(value_text)
                    .or_else(|| value_text(&detail)),
                _ => value_text(&detail),
            };
            return ApiErrorDetails {
                message,
                ..ApiErrorDetails::default()
            };
        }
        ApiErrorDetails {
            message: envelope.message.as_ref().and_then(value_text),
            ..ApiErrorDetails::default()
        }
    }
}

/// A JSON value as text: strings as they are, `null` and the Python `"None"` as absent.
fn value_text(value: &serde_json::Value) -> Option<String> {
    match value {
        serde_json::Value::Null => None,
        serde_json::Value::String(text) if text.is_empty() || text == "None" => None,
        serde_json::Value::String(text) => Some(text.clone()),
        other => Some(other.to_string()),
    }
}

fn fallback_message(status: StatusCode, body: &[u8]) -> String {
    let text = truncated_text(body, 512);
    let text = text.trim();
    if text.is_empty() {
        format!(
            "HTTP {} {}",
            status.as_u16(),
            status.canonical_reason().unwrap_or("")
        )
        .trim_end()
        .to_owned()
    } else {
        text.to_owned()
    }
}

/// Refine a status-derived kind with the exception class, type or code the server named.
///
/// Classes that say more than any status (context window, content policy, budget) always win;
/// the others only sharpen a kind that said little (another status, a 500, a stream error).
pub fn refine_kind(
    kind: ErrorKind,
    message: &str,
    error_type: Option<&str>,
    code: Option<&str>,
) -> ErrorKind {
    let haystacks = [message, error_type.unwrap_or(""), code.unwrap_or("")];
    let mentions = |needles: &[&str]| {
        haystacks.iter().any(|hay| {
            needles
                .iter()
                .any(|needle| contains_ignore_case(hay, needle))
        })
    };
    if mentions(&[
        "ContextWindowExceeded",
        "context_length_exceeded",
        "maximum context length",
        "context window",
        "prompt is too long",
    ]) {
        return ErrorKind::ContextWindowExceeded;
    }
    if mentions(&["ContentPolicyViolation", "content_policy_violation"]) {
        return ErrorKind::ContentPolicyViolation;
    }
    if mentions(&[
        "BudgetExceeded",
        "budget_exceeded",
        "ExceededBudget",
        "insufficient_quota",
        "Budget has been exceeded",
    ]) {
        return ErrorKind::BudgetExceeded;
    }
    let vague = matches!(
        kind,
        ErrorKind::ApiStatus | ErrorKind::InternalServer | ErrorKind::Stream
    );
    if !vague {
        return kind;
    }
    const CLASSES: &[(&str, ErrorKind)] = &[
        ("RateLimitError", ErrorKind::RateLimit),
        ("rate_limit_exceeded", ErrorKind::RateLimit),
        ("AuthenticationError", ErrorKind::Authentication),
        ("PermissionDeniedError", ErrorKind::PermissionDenied),
        ("NotFoundError", ErrorKind::NotFound),
        ("UnprocessableEntityError", ErrorKind::UnprocessableEntity),
        ("ServiceUnavailableError", ErrorKind::ServiceUnavailable),
        ("BadGatewayError", ErrorKind::BadGateway),
        ("APIConnectionError", ErrorKind::Connection),
        ("Timeout", ErrorKind::Timeout),
        ("BadRequestError", ErrorKind::BadRequest),
        ("InternalServerError", ErrorKind::InternalServer),
    ];
    CLASSES
        .iter()
        .find(|(needle, _)| mentions(&[needle]))
        .map(|(_, refined)| *refined)
        .unwrap_or(kind)
}

fn contains_ignore_case(haystack: &str, needle: &str) -> bool {
    let (hay, needle) = (haystack.as_bytes(), needle.as_bytes());
    needle.len() <= hay.len()
        && hay
            .windows(needle.len())
            .any(|window| window.eq_ignore_ascii_case(needle))
}

/// The server's requested wait: `retry-after-ms`, else `retry-after` in seconds or as an HTTP date.
pub fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let text = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
    if let Some(ms) = text("retry-after-ms").and_then(|v| v.trim().parse::<f64>().ok()) {
        if ms.is_finite() && ms >= 0.0 {
            return Some(Duration::from_secs_f64((ms / 1000.0).min(86_400.0)));
        }
    }
    // LiteLLM's proxy passes the upstream's header on as `llm_provider-retry-after`.
    let value = text("retry-after")
        .or_else(|| text("llm_provider-retry-after"))?
        .trim();
    if let Ok(seconds) = value.parse::<f64>() {
        return (seconds.is_finite() && seconds >= 0.0)
            .then(|| Duration::from_secs_f64(seconds.min(86_400.0)));
    }
    let date = httpdate::parse_http_date(value).ok()?;
    Some(date.duration_since(now).unwrap_or(Duration::ZERO))
}

/// At most `limit` bytes of `bytes` as text (lossy UTF-8), marked when cut.
pub fn truncated_text(bytes: &[u8], limit: usize) -> String {
    if bytes.len() <= limit {
        return String::from_utf8_lossy(bytes).into_owned();
    }
    let mut text = String::from_utf8_lossy(&bytes[..limit]).into_owned();
    text.push_str(&format!("… ({} bytes in all)", bytes.len()));
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(code: u16) -> StatusCode {
        StatusCode::from_u16(code).unwrap_or(StatusCode::IM_A_TEAPOT)
    }

    #[test]
    fn envelope_fields_land_on_the_error() {
        let body = br#"{"error":{"message":"Invalid model","type":"invalid_request_error","param":"model","code":"400"}}"#;
        let error = Error::from_response(status(400), &HeaderMap::new(), body);
        assert_eq!(error.kind(), ErrorKind::BadRequest);
        assert_eq!(error.message(), "Invalid model");
        assert_eq!(error.error_type(), Some("invalid_request_error"));
        assert_eq!(error.param(), Some("model"));
        assert_eq!(error.code(), Some("400"));
        assert_eq!(error.status(), Some(status(400)));
        assert_eq!(error.body(), Some(std::str::from_utf8(body).unwrap_or("")));
        assert!(!error.is_retryable());
    }

    #[test]
    fn fastapi_detail_and_python_none() {
        let error =
            Error::from_response(status(404), &HeaderMap::new(), br#"{"detail":"Not Found"}"#);
        assert_eq!(error.kind(), ErrorKind::NotFound);
        assert_eq!(error.message(), "Not Found");
        let error = Error::from_response(
            status(401),
            &HeaderMap::new(),
            br#"{"error":{"message":"bad key","type":"auth_error","param":"None","code":401}}"#,
        );
        assert_eq!(error.param(), None);
        assert_eq!(error.code(), Some("401"));
        let error = Error::from_response(
            status(400),
            &HeaderMap::new(),
            br#"{"detail":{"error":"budget: Budget has been exceeded"}}"#,
        );
        assert_eq!(error.kind(), ErrorKind::BudgetExceeded);
    }

    #[test]
    fn message_refines_status() {
        let cases: &[(u16, &str, ErrorKind)] = &[
            (
                400,
                "litellm.ContextWindowExceededError: prompt too long",
                ErrorKind::ContextWindowExceeded,
            ),
            (
                400,
                "litellm.ContentPolicyViolationError: no",
                ErrorKind::ContentPolicyViolation,
            ),
            (
                400,
                "ExceededBudget: User over budget",
                ErrorKind::BudgetExceeded,
            ),
            (
                429,
                "You exceeded your current quota (insufficient_quota)",
                ErrorKind::BudgetExceeded,
            ),
            (
                500,
                "litellm.RateLimitError: slow down",
                ErrorKind::RateLimit,
            ),
            (
                418,
                "litellm.ServiceUnavailableError",
                ErrorKind::ServiceUnavailable,
            ),
            (
                401,
                "litellm.RateLimitError mentioned but status wins",
                ErrorKind::Authentication,
            ),
            (409, "conflict", ErrorKind::ApiStatus),
            (504, "gateway timeout", ErrorKind::Timeout),
        ];
        for (code, message, kind) in cases {
            let body = serde_json::json!({"error": {"message": message}}).to_string();
            let error = Error::from_response(status(*code), &HeaderMap::new(), body.as_bytes());
            assert_eq!(error.kind(), *kind, "{code} {message}");
        }
    }

    #[test]
    fn html_page_keeps_text_and_kind() {
        let error = Error::from_response(
            status(502),
            &HeaderMap::new(),
            b"<html><body>502 Bad Gateway</body></html>",
        );
        assert_eq!(error.kind(), ErrorKind::BadGateway);
        assert!(error.message().contains("502 Bad Gateway"));
        assert!(error.is_retryable());
        let empty = Error::from_response(status(503), &HeaderMap::new(), b"");
        assert_eq!(empty.message(), "HTTP 503 Service Unavailable");
    }

    #[test]
    fn retry_after_forms() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let mut headers = HeaderMap::new();
        headers.insert("retry-after", http::HeaderValue::from_static("2"));
        assert_eq!(retry_after(&headers, now), Some(Duration::from_secs(2)));
        headers.insert("retry-after-ms", http::HeaderValue::from_static("150"));
        assert_eq!(retry_after(&headers, now), Some(Duration::from_millis(150)));
        let mut headers = HeaderMap::new();
        let date = httpdate::fmt_http_date(now + Duration::from_secs(30));
        headers.insert(
            "retry-after",
            http::HeaderValue::from_str(&date).unwrap_or(http::HeaderValue::from_static("")),
        );
        assert_eq!(retry_after(&headers, now), Some(Duration::from_secs(30)));
        headers.insert("retry-after", http::HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&headers, now), None);
    }

    #[test]
    fn stream_frame_kind_from_code() {
        let error = Error::from_stream_frame(
            br#"{"error":{"message":"upstream went away","type":"None","code":"500"}}"#,
        );
        assert_eq!(error.kind(), ErrorKind::InternalServer);
        assert_eq!(error.message(), "upstream went away");
        assert_eq!(error.error_type(), None);
        let error = Error::from_stream_frame(br#"{"error":{"message":"boom"}}"#);
        assert_eq!(error.kind(), ErrorKind::Stream);
    }

    #[test]
    fn builders_set_what_from_response_sets() {
        let mut headers = HeaderMap::new();
        headers.insert("retry-after", http::HeaderValue::from_static("3"));
        let body = vec![b'y'; MAX_ERROR_BODY + 10];
        let built = Error::new(ErrorKind::RateLimit, "slow down")
            .with_status(status(429))
            .with_error_type("rate_limit_error")
            .with_body(&body)
            .with_headers(headers.clone())
            .with_retry_after(Duration::from_secs(3));
        let parsed = Error::from_response(status(429), &headers, &body);
        assert_eq!(built.status(), Some(status(429)));
        assert_eq!(built.error_type(), Some("rate_limit_error"));
        assert_eq!(built.body(), parsed.body());
        assert_eq!(built.headers(), Some(&headers));
        assert_eq!(built.retry_after(), Some(Duration::from_secs(3)));
        assert_eq!(built.retry_after(), parsed.retry_after());
        assert!(built.is_retryable());
    }

    #[test]
    fn long_bodies_are_truncated() {
        let body = vec![b'x'; MAX_ERROR_BODY * 2];
        let error = Error::from_response(status(500), &HeaderMap::new(), &body);
        let kept = error.body().unwrap_or("");
        assert!(kept.len() < MAX_ERROR_BODY + 64);
        assert!(kept.ends_with(&format!("({} bytes in all)", body.len())));
    }

    #[test]
    fn display_escapes_control_characters_and_body_keeps_them() {
        let body = "{\"error\":{\"message\":\"bad\\u001b[2J\\r\\nforged: ok\\t\\u0085\\u202eevil\\u0000\"}}";
        let error = Error::from_response(status(400), &HeaderMap::new(), body.as_bytes());
        assert_eq!(
            error.message(),
            "bad\u{1b}[2J\r\nforged: ok\t\u{85}\u{202e}evil\u{0}"
        );
        assert_eq!(
            error.to_string(),
            r"BadRequestError (400): bad\x1b[2J\r\nforged: ok\t\u{85}\u{202e}evil\x00"
        );
        assert_eq!(error.body(), Some(body), "the body is kept as it came");
        // The cause is escaped too, and plain text passes through untouched.
        let error = Error::stream("plain é 😀").with_source(std::io::Error::other("a\x7fb\nc"));
        assert_eq!(error.to_string(), r"StreamError: plain é 😀: a\x7fb\nc");
    }

    #[test]
    fn scrub_secret_reaches_everything_the_error_keeps() {
        const KEY: &str = "sk-echoed-0123456789";
        let body = format!(
            r#"{{"error":{{"message":"Incorrect API key provided: {KEY}. Bearer {KEY}","type":"auth {KEY}","param":"{KEY}","code":"{KEY}"}}}}"#
        );
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-echo",
            http::HeaderValue::from_str(&format!("key={KEY}; again={KEY}")).unwrap(),
        );
        headers.insert("x-other", http::HeaderValue::from_static("kept"));
        let error = Error::from_response(status(401), &headers, body.as_bytes())
            .with_source(std::io::Error::other(format!("cause mentions {KEY}")))
            .scrub_secret(KEY);
        assert_eq!(
            error.message(),
            "Incorrect API key provided: ***. Bearer ***"
        );
        assert_eq!(error.error_type(), Some("auth ***"));
        assert_eq!(error.param(), Some("***"));
        assert_eq!(error.code(), Some("***"));
        assert_eq!(
            error.body(),
            Some(
                r#"{"error":{"message":"Incorrect API key provided: ***. Bearer ***","type":"auth ***","param":"***","code":"***"}}"#
            )
        );
        let kept = error.headers().unwrap();
        assert_eq!(kept["x-echo"], "key=***; again=***");
        assert_eq!(kept["x-other"], "kept");
        let source = std::error::Error::source(&error).unwrap().to_string();
        assert_eq!(source, "cause mentions ***");
        for shown in [error.to_string(), format!("{error:?}")] {
            assert!(!shown.contains(KEY), "{shown}");
        }
        // Blank secrets change nothing.
        let untouched = Error::stream("a b").scrub_secret("").scrub_secret("  ");
        assert_eq!(untouched.message(), "a b");
    }

    #[test]
    fn a_secret_cut_by_truncation_is_scrubbed_too() {
        const KEY: &str = "sk-cut-in-half-ABCDEFGH";
        // The body is cut at MAX_ERROR_BODY bytes, in the middle of the key.
        let mut body = vec![b'x'; MAX_ERROR_BODY - 10];
        body.extend_from_slice(KEY.as_bytes());
        body.extend_from_slice(b" and more");
        let error = Error::from_response(status(500), &HeaderMap::new(), &body).scrub_secret(KEY);
        let kept = error.body().unwrap();
        assert!(
            kept.contains(&format!("xx***… ({} bytes in all)", body.len())),
            "{kept}"
        );
        assert!(!kept.contains("sk-cut"), "{kept}");
        // Only the key's start is replaced: every byte before it is kept.
        let before = "x".repeat(MAX_ERROR_BODY - 10);
        assert!(kept.starts_with(&format!("{before}***… (")), "{kept}");
        // Three bytes (`sk-`) say nothing; they are left alone.
        let mut body = vec![b'y'; MAX_ERROR_BODY - 3];
        body.extend_from_slice(KEY.as_bytes());
        let error = Error::from_response(status(500), &HeaderMap::new(), &body).scrub_secret(KEY);
        assert!(error.body().unwrap().contains("ysk-… ("));
    }

    #[test]
    fn scrub_secrets_takes_the_key_header_values_and_bearer_tokens() {
        let mut sent = HeaderMap::new();
        sent.insert(
            "authorization",
            http::HeaderValue::from_static("Bearer tok-from-header"),
        );
        sent.insert(
            "x-litellm-api-key",
            http::HeaderValue::from_static("sk-litellm-header"),
        );
        sent.insert("x-team", http::HeaderValue::from_static("search"));
        let key = crate::ApiKey::new("sk-the-key");
        let secrets = Secrets::new(Some(&key), &sent);
        let error = Error::stream(
            "echo sk-the-key, tok-from-header, Bearer tok-from-header, sk-litellm-header, search",
        )
        .scrub_secrets(&secrets);
        assert_eq!(error.message(), "echo ***, ***, ***, ***, search");
    }

    #[test]
    fn an_error_envelope_in_a_success_answer() {
        let none = |body: &str| {
            Error::from_error_envelope(status(200), &HeaderMap::new(), body.as_bytes())
        };
        for body in [
            r#"{"choices":[],"error":null}"#,
            r#"{"choices":[{"message":{"content":""error""}}]}"#,
            r#"{"choices":[{"finish_reason":"error"}]}"#,
            r#"["error", 1]"#,
            r#"{"error": "#,
            "",
        ] {
            assert!(none(body).is_none(), "{body}");
        }
        let error = none(r#"{"error":{"message":"Invalid model name passed in model=gpt-5","type":"invalid_request_error","code":"400"}}"#).unwrap();
        assert_eq!(error.kind(), ErrorKind::BadRequest);
        assert_eq!(error.message(), "Invalid model name passed in model=gpt-5");
        assert_eq!(error.status(), Some(status(200)));
        assert_eq!(error.error_type(), Some("invalid_request_error"));
        let error = none(r#"{"error":"upstream said no"}"#).unwrap();
        assert_eq!(
            (error.kind(), error.message()),
            (ErrorKind::ApiStatus, "upstream said no")
        );
        let error = none(r#"{"error":{"message":"litellm.RateLimitError: slow down"}}"#).unwrap();
        assert_eq!(error.kind(), ErrorKind::RateLimit);
        let error = none(r#"{"error":{"code":"500"}}"#).unwrap();
        assert_eq!(error.kind(), ErrorKind::InternalServer);
        assert_eq!(error.message(), r#"{"error":{"code":"500"}}"#);
    }
}
