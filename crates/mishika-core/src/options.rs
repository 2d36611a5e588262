//! Per-request settings shared by every endpoint: [`RequestOptions`] and the builder methods
//! every request type has.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderMap, HeaderName, HeaderValue};

use crate::error::{Error, ErrorKind, Result};
use crate::secret::{ApiKey, RedactedHeaders, is_credential_header, redact_url};

/// Settings one request carries for itself; each beats the client's and the environment's.
///
/// Never serialised into the JSON body. `Debug` shows no secret: the key prints as
/// `ApiKey(***)`, credential headers' values as `***`, and a base URL's user info and
/// query as `***`.
#[derive(Clone, Default)]
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
    /// Longest time a streamed response may last in all, counted from when the request is
    /// sent, keep-alives or not.
    pub stream_deadline: Option<Duration>,
    /// Retries after the first attempt (overrides the client's policy).
    pub num_retries: Option<u32>,
    /// Upper bound on the time spent across all attempts, backoff included.
    pub retry_deadline: Option<Duration>,
    /// Send this request to the proxy with its model name unchanged (`Some(true)`), or
    /// route it by its prefix even when the client forces the proxy (`Some(false)`).
    pub force_proxy: Option<bool>,
    /// Answer with this instead of calling the provider: no request is sent.
    pub mock: Option<MockAnswer>,
}

/// A made-up answer for tests of the code around mishika: set with `.mock_response(..)`,
/// `.mock_error(..)` or `.mock_tool_call(..)` on a request, it is given without any I/O.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MockAnswer {
    /// Answer with this text (chat and text completions, plain and streamed).
    Text(String),
    /// Fail with an error of this kind (every endpoint), carrying the status the kind
    /// stands for, so `is_retryable` and retries behave as for a real one.
    Error(ErrorKind),
    /// Answer a chat with a call of this tool with these JSON arguments.
    ToolCall {
        /// The tool's name.
        name: String,
        /// The arguments, as JSON text.
        arguments: String,
    },
}

impl std::fmt::Debug for RequestOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestOptions")
            .field("api_base", &self.api_base.as_deref().map(redact_url))
            .field("api_key", &self.api_key)
            .field("headers", &RedactedHeaders(&self.headers))
            .field("timeout", &self.timeout)
            .field("stream_idle_timeout", &self.stream_idle_timeout)
            .field("num_retries", &self.num_retries)
            .field("retry_deadline", &self.retry_deadline)
            .field("force_proxy", &self.force_proxy)
            .finish()
    }
}

impl RequestOptions {
    /// Add a header, failing with a `Config` error on an invalid name or value. A
    /// credential header's value (see [`is_credential_header`]) is marked sensitive.
    pub fn try_header(&mut self, name: &str, value: &str) -> Result<()> {
        self.header_or_invalid(name, value)
            .map_or(Ok(()), |invalid| Err(invalid.error()))
    }

    /// Add a header, or say why it is invalid.
    pub(crate) fn header_or_invalid(&mut self, name: &str, value: &str) -> Option<InvalidOption> {
        let name = match HeaderName::from_bytes(name.as_bytes()) {
            Ok(name) => name,
            Err(e) => {
                return Some(InvalidOption::new(
                    format!("invalid header name {name:?}"),
                    e,
                ));
            }
        };
        match HeaderValue::from_str(value) {
            Ok(mut value) => {
                if is_credential_header(name.as_str()) {
                    value.set_sensitive(true);
                }
                self.headers.insert(name, value);
                None
            }
            Err(e) => Some(InvalidOption::new(
                format!("invalid value for header {name}"),
                e,
            )),
        }
    }
}

/// A setting a request builder could not take, kept (with its cause) until the request is
/// sent, where it becomes one `Config` error.
#[derive(Debug, Clone)]
pub(crate) struct InvalidOption {
    message: String,
    cause: SharedCause,
}

impl InvalidOption {
    fn new(message: String, cause: impl std::error::Error + Send + Sync + 'static) -> Self {
        InvalidOption {
            message,
            cause: SharedCause(Arc::new(cause)),
        }
    }

    /// The `Config` error to report, with the cause as its source.
    pub(crate) fn error(&self) -> Error {
        Error::config(self.message.clone()).with_source(self.cause.clone())
    }
}

/// A cause shared by the clones of a request (the `http` parse errors are not `Clone`).
#[derive(Clone)]
struct SharedCause(Arc<dyn std::error::Error + Send + Sync>);

impl fmt::Debug for SharedCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for SharedCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl std::error::Error for SharedCause {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

/// A request that names a `prefix/model` and carries [`RequestOptions`]: what the client's
/// router and settings resolution need from every endpoint's request type.
pub trait RoutedRequest {
    /// The `prefix/model` name; the router strips the prefix in place.
    fn model_mut(&mut self) -> &mut String;
    /// The per-request settings.
    fn request_options(&self) -> &RequestOptions;
    /// The per-request settings, to amend (a router fills in its deployment's).
    fn request_options_mut(&mut self) -> &mut RequestOptions;
    /// A problem found while building the request, reported when it is sent.
    fn check(&self) -> Result<()>;
}

/// Generates the builder methods every request type shares: `api_base`, `api_key`,
/// `header`, `timeout`, `stream_idle_timeout`, `stream_deadline`, `num_retries`,
/// `retry_deadline`, `extra`.
macro_rules! request_options_builders {
    ($type:ty) => {
        impl $type {
            /// Send this request to another gateway base URL (beats client and environment).
            #[must_use]
            pub fn api_base(mut self, api_base: impl Into<String>) -> Self {
                self.options.api_base = Some(api_base.into());
                self
            }

            /// Use this key for this request only (beats client and environment).
            #[must_use]
            pub fn api_key(mut self, api_key: impl Into<$crate::ApiKey>) -> Self {
                self.options.api_key = Some(api_key.into());
                self
            }

            /// Add an HTTP header to this request. Invalid names or values are reported as a
            /// `Config` error when the request is sent.
            #[must_use]
            pub fn header(mut self, name: impl AsRef<str>, value: impl AsRef<str>) -> Self {
                if let Some(invalid) = self
                    .options
                    .header_or_invalid(name.as_ref(), value.as_ref())
                {
                    self.invalid.get_or_insert(invalid);
                }
                self
            }

            /// Deadline for the whole request.
            #[must_use]
            pub fn timeout(mut self, timeout: std::time::Duration) -> Self {
                self.options.timeout = Some(timeout);
                self
            }

            /// Longest silence allowed between two pieces of a streamed answer.
            #[must_use]
            pub fn stream_idle_timeout(mut self, timeout: std::time::Duration) -> Self {
                self.options.stream_idle_timeout = Some(timeout);
                self
            }

            /// Longest time a streamed answer may last in all, counted from when the
            /// request is sent; keep-alives do not extend it.
            #[must_use]
            pub fn stream_deadline(mut self, deadline: std::time::Duration) -> Self {
                self.options.stream_deadline = Some(deadline);
                self
            }

            /// Retries after the first attempt, for this request.
            #[must_use]
            pub fn num_retries(mut self, retries: u32) -> Self {
                self.options.num_retries = Some(retries);
                self
            }

            /// Upper bound on the time spent across all attempts.
            #[must_use]
            pub fn retry_deadline(mut self, deadline: std::time::Duration) -> Self {
                self.options.retry_deadline = Some(deadline);
                self
            }

            /// Send this request to the MishikaLLM Proxy with its model name unchanged
            /// (`openai/gpt-4o` reaches the proxy as `openai/gpt-4o`), or with `false`
            /// route it by its prefix even when the client forces the proxy.
            #[must_use]
            pub fn force_proxy(mut self, force: bool) -> Self {
                self.options.force_proxy = Some(force);
                self
            }

            /// Answer with `text` instead of calling the provider (chat and text completions,
            /// plain and streamed, with usage): no request is sent.
            #[must_use]
            pub fn mock_response(mut self, text: impl Into<String>) -> Self {
                self.options.mock = Some($crate::options::MockAnswer::Text(text.into()));
                self
            }

            /// Fail with an error of `kind` instead of calling the provider.
            #[must_use]
            pub fn mock_error(mut self, kind: $crate::ErrorKind) -> Self {
                self.options.mock = Some($crate::options::MockAnswer::Error(kind));
                self
            }

            /// Answer a chat with a call of the tool `name` with `arguments` (JSON text)
            /// instead of calling the provider.
            #[must_use]
            pub fn mock_tool_call(
                mut self,
                name: impl Into<String>,
                arguments: impl Into<String>,
            ) -> Self {
                self.options.mock = Some($crate::options::MockAnswer::ToolCall {
                    name: name.into(),
                    arguments: arguments.into(),
                });
                self
            }

            /// Add any JSON field to the body (the `extra_body` of other SDKs).
            #[must_use]
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

            fn request_options_mut(&mut self) -> &mut $crate::RequestOptions {
                &mut self.options
            }

            fn check(&self) -> $crate::Result<()> {
                match &self.invalid {
                    Some(invalid) => Err(invalid.error()),
                    None => Ok(()),
                }
            }
        }
    };
}
pub(crate) use request_options_builders;

/// A request's own overrides of the transport policy (idle timeout, retries), read by the
/// transport decorators from the `http::Request` extensions; [`Call`](crate::Call) inserts it
/// only when the request overrides something. `None` means "the client's default".
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CallPolicy {
    /// Deadline for the whole request.
    pub timeout: Option<Duration>,
    /// Longest silence between two body chunks.
    pub stream_idle_timeout: Option<Duration>,
    /// Longest time a streamed body may last in all, from when the request is sent.
    pub stream_deadline: Option<Duration>,
    /// Retries after the first attempt.
    pub num_retries: Option<u32>,
    /// Upper bound on the time across all attempts.
    pub retry_deadline: Option<Duration>,
}

impl CallPolicy {
    /// Deadline for the whole request.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> CallPolicy {
        self.timeout = Some(timeout);
        self
    }

    /// Longest silence between two body chunks.
    #[must_use]
    pub fn stream_idle_timeout(mut self, timeout: Duration) -> CallPolicy {
        self.stream_idle_timeout = Some(timeout);
        self
    }

    /// Longest time a streamed body may last in all, from when the request is sent.
    #[must_use]
    pub fn stream_deadline(mut self, deadline: Duration) -> CallPolicy {
        self.stream_deadline = Some(deadline);
        self
    }

    /// Retries after the first attempt.
    #[must_use]
    pub fn num_retries(mut self, retries: u32) -> CallPolicy {
        self.num_retries = Some(retries);
        self
    }

    /// Upper bound on the time across all attempts.
    #[must_use]
    pub fn retry_deadline(mut self, deadline: Duration) -> CallPolicy {
        self.retry_deadline = Some(deadline);
        self
    }
}

impl RequestOptions {
    /// The part of these options that travels with the HTTP request.
    pub fn policy(&self) -> CallPolicy {
        CallPolicy {
            timeout: self.timeout,
            stream_idle_timeout: self.stream_idle_timeout,
            stream_deadline: self.stream_deadline,
            num_retries: self.num_retries,
            retry_deadline: self.retry_deadline,
        }
    }
}
