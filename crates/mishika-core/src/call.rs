//! [`Call`]: what a provider is handed for one call — the transport and the settings
//! resolved for it — with helpers that build requests by the provider's rules and read
//! the answers; and the [`CallContext`] marker the shared transport layers read.

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::decode::{WithMetadata, read_json};
use crate::error::{Error, MAX_ERROR_BODY, Result};
use crate::metadata::ResponseMetadata;
use crate::options::CallPolicy;
use crate::secret::{ApiKey, RedactedHeaders, Secrets, redact_url};
use crate::spec::{AuthScheme, ErrorRules, Limits, PathStyle, ProviderSpec};
use crate::stream::SseStream;
use crate::transport::{Body, Transport, TransportFuture};

/// What becomes of an answer's body, for the shared transport layers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum AnswerUse {
    /// Read whole inside the call, under its whole-request deadline (JSON answers).
    #[default]
    Read,
    /// Handed to the caller as it arrives (streams, audio): the stream-idle timeout
    /// watches it.
    Streamed,
}

/// The marker a request carries in its `http::Extensions` for the shared transport
/// layers: the request's own policy overrides, what becomes of its answer, and how its
/// provider's errors read (for the retry decision). A request without one is read whole,
/// with OpenAI-shaped errors and the client's policy: [`Call`] inserts the marker only
/// when something differs, so the common request carries no extension to allocate.
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct CallContext {
    /// The request's own overrides of the client's policy.
    pub policy: CallPolicy,
    /// What becomes of the answer's body.
    pub answer: AnswerUse,
    /// How the provider's error answers read.
    pub errors: ErrorRules,
}

impl CallContext {
    /// A marker with these parts.
    pub fn new(policy: CallPolicy, answer: AnswerUse, errors: ErrorRules) -> CallContext {
        CallContext {
            policy,
            answer,
            errors,
        }
    }

    /// The marker of `request`, or the defaults when it has none.
    pub fn of<B>(request: &http::Request<B>) -> CallContext {
        request
            .extensions()
            .get::<CallContext>()
            .copied()
            .unwrap_or_default()
    }

    /// Mark `request` as one whose answer is handed to the caller as it arrives.
    pub fn mark_streamed<B>(request: &mut http::Request<B>) {
        let extensions = request.extensions_mut();
        match extensions.get_mut::<CallContext>() {
            Some(context) => context.answer = AnswerUse::Streamed,
            None => {
                extensions.insert(CallContext {
                    answer: AnswerUse::Streamed,
                    ..CallContext::default()
                });
            }
        }
    }
}

/// Everything one call needs besides the request: the transport, the provider's
/// [`ProviderSpec`] and the settings resolved for it (request > client > process-wide >
/// the provider's environment > its default).
#[derive(Clone)]
pub struct Call {
    transport: Arc<dyn Transport>,
    provider: Arc<str>,
    api_base: Option<String>,
    api_key: Option<ApiKey>,
    headers: HeaderMap,
    policy: CallPolicy,
    deadline: Option<std::time::Duration>,
    limits: Limits,
    spec: ProviderSpec,
    /// Whether the provider's error rules are not the OpenAI ones (then every request
    /// carries them for the retry layer).
    own_errors: bool,
    endpoints: Option<Arc<EndpointCache>>,
}

impl fmt::Debug for Call {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Call")
            .field("provider", &self.provider)
            .field("api_base", &self.api_base.as_deref().map(redact_url))
            .field("api_key", &self.api_key)
            .field("headers", &RedactedHeaders(&self.headers))
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl Call {
    /// A call over `transport` for the provider named `provider`, with the default
    /// [`ProviderSpec`] until [`with_spec`](Call::with_spec).
    pub fn new(transport: Arc<dyn Transport>, provider: impl Into<Arc<str>>) -> Call {
        Call {
            transport,
            provider: provider.into(),
            api_base: None,
            api_key: None,
            headers: HeaderMap::new(),
            policy: CallPolicy::default(),
            deadline: None,
            limits: Limits::default(),
            spec: ProviderSpec::new(),
            own_errors: false,
            endpoints: None,
        }
    }

    /// Share `cache`'s parsed endpoint URIs with other calls, instead of joining and
    /// parsing the URL on every request (a client passes one to all its calls).
    ///
    /// Hidden from the docs: a performance internal of the client (another crate).
    #[doc(hidden)]
    #[must_use]
    pub fn with_endpoint_cache(mut self, cache: Arc<EndpointCache>) -> Call {
        self.endpoints = Some(cache);
        self
    }

    /// Build requests by `spec`'s rules: its authentication, path joining and errors.
    #[must_use]
    pub fn with_spec(mut self, spec: ProviderSpec) -> Call {
        self.own_errors = !(std::ptr::fn_addr_eq(
            spec.errors.from_response,
            ErrorRules::OPENAI.from_response as fn(_, &_, &_) -> _,
        ) && std::ptr::fn_addr_eq(
            spec.errors.may_retry,
            ErrorRules::OPENAI.may_retry as fn(_) -> _,
        ));
        self.spec = spec;
        self
    }

    /// Set the resolved base URL.
    #[must_use]
    pub fn with_api_base(mut self, api_base: Option<String>) -> Call {
        self.api_base = api_base;
        self
    }

    /// Set the resolved key (`None`: no key is sent). A blank key (empty or whitespace) is
    /// no key: nothing is sent for it.
    #[must_use]
    pub fn with_api_key(mut self, api_key: Option<ApiKey>) -> Call {
        self.api_key = api_key.filter(|key| !key.is_blank());
        self
    }

    /// Set the extra headers sent on every request of this call.
    #[must_use]
    pub fn with_headers(mut self, headers: HeaderMap) -> Call {
        self.headers = headers;
        self
    }

    /// Set the request's own overrides of the transport policy (idle timeout, retries).
    /// They travel in each request's [`CallContext`].
    #[must_use]
    pub fn with_policy(mut self, policy: CallPolicy) -> Call {
        self.policy = policy;
        self
    }

    /// Set the deadline for the whole call, which the client applies around the provider.
    #[must_use]
    pub fn with_deadline(mut self, deadline: Option<std::time::Duration>) -> Call {
        self.deadline = deadline;
        self
    }

    /// The deadline for the whole call.
    pub fn deadline(&self) -> Option<std::time::Duration> {
        self.deadline
    }

    /// Set the memory limits.
    #[must_use]
    pub fn with_limits(mut self, limits: Limits) -> Call {
        self.limits = limits;
        self
    }

    /// The provider's name.
    pub fn provider(&self) -> &str {
        &self.provider
    }

    /// The provider's spec the requests are built by.
    pub fn spec(&self) -> &ProviderSpec {
        &self.spec
    }

    /// The resolved base URL, if any.
    pub fn api_base(&self) -> Option<&str> {
        self.api_base.as_deref()
    }

    /// The resolved key, if any.
    pub fn api_key(&self) -> Option<&ApiKey> {
        self.api_key.as_ref()
    }

    /// The extra headers every request of this call carries (the provider's own from the
    /// client, its environment's, and the request's).
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The secrets this call sends, its key and its credential headers' values, for
    /// [`Error::scrub_secrets`]: the helpers here scrub them from every error they return
    /// (and from a stream's error items), and the client from every error of a call.
    pub fn secrets(&self) -> Secrets {
        Secrets::new(self.api_key.as_ref(), &self.headers)
    }

    /// The request's own overrides of the transport policy.
    pub fn policy(&self) -> CallPolicy {
        self.policy
    }

    /// The memory limits.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// The transport.
    pub fn transport(&self) -> &Arc<dyn Transport> {
        &self.transport
    }

    /// The URL of `path` on the resolved base, joined by the spec's [`PathStyle`].
    ///
    /// Fails with a `Config` error naming every way to set the base URL when none is set.
    pub fn url(&self, path: &str) -> Result<String> {
        let base = self
            .api_base
            .as_deref()
            .ok_or_else(|| self.missing_base())?;
        join_url(self.spec.paths, base, path)
    }

    fn missing_base(&self) -> Error {
        let env = match self.spec.env_api_base {
            Some(variable) => format!(", or the environment variable {variable}"),
            None => String::new(),
        };
        let provider = &self.provider;
        Error::config(format!(
            "no API base URL for provider `{provider}`: set it on the request \
             (`.api_base(..)`), on the client (`Client::builder().api_base(..)` for the proxy, \
             `.provider_settings(\"{provider}\", ProviderSettings::new().api_base(..))` for \
             any provider), process-wide (`mishika::set_api_base(..)`, \
             `mishika::set_provider_settings(..)`){env}"
        ))
        .with_provider(self.provider.to_string())
    }

    /// A request to `path` with the key (by the spec's [`AuthScheme`]), the headers and the
    /// [`CallContext`] of this call.
    pub fn request(
        &self,
        method: Method,
        path: &str,
        content_type: Option<&str>,
        body: Bytes,
    ) -> Result<http::Request<Bytes>> {
        let uri = match (&self.endpoints, &self.api_base) {
            (Some(cache), Some(base)) => cache.uri(self.spec.paths, base, path)?,
            _ => parse_uri(self.url(path)?)?,
        };
        let mut request = http::Request::new(body);
        *request.method_mut() = method;
        *request.uri_mut() = uri;
        let headers = request.headers_mut();
        if let Some(content_type) = content_type {
            let value = if content_type == JSON {
                HeaderValue::from_static(JSON) // the common case, without a copy
            } else {
                HeaderValue::from_str(content_type)
                    .map_err(|e| Error::config("invalid content type").with_source(e))?
            };
            headers.insert(CONTENT_TYPE, value);
        }
        if let Some(key) = &self.api_key {
            match self.spec.auth {
                AuthScheme::Bearer => {
                    let value = key
                        .bearer()
                        .ok_or_else(|| Error::config("the API key is not a valid header value"))?;
                    headers.insert(AUTHORIZATION, value.clone());
                }
                AuthScheme::Header(name) => {
                    let name = HeaderName::from_bytes(name.as_bytes()).map_err(|e| {
                        Error::config(format!("invalid authentication header name {name:?}"))
                            .with_source(e)
                    })?;
                    let mut value = HeaderValue::from_str(key.expose())
                        .map_err(|_| Error::config("the API key is not a valid header value"))?;
                    value.set_sensitive(true);
                    headers.insert(name, value);
                }
                AuthScheme::None => {}
            }
        }
        for (name, value) in &self.headers {
            headers.insert(name.clone(), value.clone());
        }
        if self.own_errors || self.policy != CallPolicy::default() {
            request.extensions_mut().insert(CallContext {
                policy: self.policy,
                answer: AnswerUse::Read,
                errors: self.spec.errors,
            });
        }
        Ok(request)
    }

    /// A `POST` of `body` as JSON, serialised once straight to `Bytes`, accepting JSON.
    pub fn json_request<T: Serialize + ?Sized>(
        &self,
        path: &str,
        body: &T,
    ) -> Result<http::Request<Bytes>> {
        // Most requests fit; starting at 512 bytes saves the first few regrowths.
        let mut json = Vec::with_capacity(512);
        serde_json::to_writer(&mut json, body)
            .map_err(|e| Error::config("request could not be serialised").with_source(e))?;
        let mut request = self.request(Method::POST, path, Some(JSON), Bytes::from(json))?;
        request
            .headers_mut()
            .entry(ACCEPT)
            .or_insert(HeaderValue::from_static(JSON));
        Ok(request)
    }

    // The send family hands the request to the transport before returning its future, so
    // each future holds the transport's boxed future, not the request: smaller futures to
    // allocate and move on every call.

    /// Send through the transport; transport failures become `Connection`/`Timeout` errors.
    /// The answer, whatever its status, is the caller's to read.
    pub fn send(
        &self,
        request: http::Request<Bytes>,
    ) -> impl Future<Output = Result<http::Response<Body>>> + Send + '_ {
        let sending = self.transport.send(request);
        self.finish_send(sending, false)
    }

    /// Send and return the response if its status is a success; otherwise the error the
    /// provider's [`ErrorRules`] read from it. The body of a success is not read.
    pub fn send_checked(
        &self,
        request: http::Request<Bytes>,
    ) -> impl Future<Output = Result<http::Response<Body>>> + Send + '_ {
        let sending = self.transport.send(request);
        self.finish_send(sending, true)
    }

    /// [`send_checked`](Call::send_checked) for an answer handed to the caller as it
    /// arrives (a stream of the provider's own framing, audio): the request is marked
    /// [`AnswerUse::Streamed`], so the stream-idle timeout watches its body.
    pub fn send_streamed(
        &self,
        mut request: http::Request<Bytes>,
    ) -> impl Future<Output = Result<http::Response<Body>>> + Send + '_ {
        CallContext::mark_streamed(&mut request);
        self.send_checked(request)
    }

    /// Send, check the status, and decode the JSON body into `T` (with its metadata).
    pub fn send_json<T: DeserializeOwned + WithMetadata + Send>(
        &self,
        request: http::Request<Bytes>,
    ) -> impl Future<Output = Result<T>> + Send + '_ {
        let sending = self.transport.send(request);
        async move {
            let response = self.finish_send(sending, true).await?;
            read_json(response, self.limits.max_response_bytes)
                .await
                .map_err(|error| error.scrub_secrets(&self.secrets()))
        }
    }

    /// Send (as [`send_streamed`](Call::send_streamed)), check the status, and return the
    /// body as a typed stream of OpenAI-style server-sent events (`data: {json}` …
    /// `data: [DONE]`), capped by the call's [`Limits`], with this call's
    /// [`secrets`](Call::secrets) scrubbed from its error items.
    pub fn send_sse<T: crate::stream::StreamFrame>(
        &self,
        mut request: http::Request<Bytes>,
    ) -> impl Future<Output = Result<SseStream<T>>> + Send + '_ {
        CallContext::mark_streamed(&mut request);
        let sending = self.transport.send(request);
        async move {
            let response = self.finish_send(sending, true).await?;
            let (parts, body) = response.into_parts();
            Ok(SseStream::new(
                body,
                ResponseMetadata::new(parts.status, parts.headers),
                self.limits.max_sse_line,
            )
            .max_event(self.limits.max_sse_event)
            .with_secrets(self.secrets()))
        }
    }

    /// Await the transport; map its failure, and with `check` turn an error status into
    /// its [`Error`] by the provider's rules, with this call's secrets scrubbed from it.
    async fn finish_send(
        &self,
        sending: TransportFuture<'_>,
        check: bool,
    ) -> Result<http::Response<Body>> {
        let response = sending
            .await
            .map_err(|e| e.into_error().with_provider(self.provider.to_string()))?;
        if !check || response.status().is_success() {
            Ok(response)
        } else {
            // Boxed: the rare path's buffers stay out of the future every call carries.
            let mut error = Box::pin(status_error(response, self.spec.errors)).await;
            if error.kind() == crate::ErrorKind::Authentication
                && self.api_key.is_none()
                && self.spec.auth != AuthScheme::None
            {
                let message = format!("{}; {}", error.message(), self.no_key_hint());
                error = error.with_message(message);
            }
            Err(error
                .scrub_secrets(&self.secrets())
                .with_provider(self.provider.to_string()))
        }
    }

    /// What to say when the server wants a key and none was sent.
    fn no_key_hint(&self) -> String {
        let env = match self.spec.env_api_key {
            Some(variable) => format!(", or the environment variable {variable}"),
            None => String::new(),
        };
        let provider = &self.provider;
        format!(
            "no API key is set for provider `{provider}`, so none was sent: set one on the \
             request (`.api_key(..)`), on the client (`Client::builder().api_key(..)` for the \
             proxy, `.provider_settings(\"{provider}\", ProviderSettings::new().api_key(..))` \
             for any provider), process-wide (`mishika::set_api_key(..)`, \
             `mishika::set_provider_settings(..)`){env}"
        )
    }
}

const JSON: &str = "application/json";

/// Join a base URL and an endpoint path by `style`: `{base}/v1/{path}` or `{base}/{path}`,
/// after checking the base (see [`check_api_base`]).
pub fn join_url(style: PathStyle, base: &str, path: &str) -> Result<String> {
    let base = check_api_base(base)?;
    let mut root = base.trim_end_matches('/');
    let path = path.trim_start_matches('/');
    match style {
        PathStyle::V1 => {
            if let Some(stripped) = root.strip_suffix("/v1") {
                root = stripped;
            }
            Ok(format!("{root}/v1/{path}"))
        }
        PathStyle::AsGiven => Ok(format!("{root}/{path}")),
    }
}

/// Check a base URL once, before any request goes out, and give it back trimmed with its
/// scheme in lower case. A `Config` error (which prints the URL with any user info and
/// query as `***`) when:
///
/// - the scheme is not `http://` or `https://` (in any case: `HTTP://h` is `http://h`);
/// - it carries user info (`http://user:password@host`): mishika sends no Basic auth from
///   a URL and would otherwise print the password; give the key with `api_key` or a
///   credential header instead. Any `@` before the path's end counts;
/// - it has a query or a fragment (`?x=1`, `#top`), which the endpoint path would land after;
/// - the host is empty, or the port is not a number from 1 to 65535.
///
/// ```
/// use mishika_core::call::check_api_base;
/// assert_eq!(check_api_base(" HTTPS://h:4000/v1 ").unwrap(), "https://h:4000/v1");
/// let error = check_api_base("http://me:hunter2@h:4000").unwrap_err();
/// assert!(!error.to_string().contains("hunter2"));
/// for bad in ["h:4000", "ftp://h", "http://h:99999", "http://h:0", "http://h/?x=1", "http://:80"] {
///     assert_eq!(check_api_base(bad).unwrap_err().kind(), mishika_core::ErrorKind::Config);
/// }
/// ```
pub fn check_api_base(base: &str) -> Result<std::borrow::Cow<'_, str>> {
    let trimmed = base.trim();
    let fail = |problem: &str| {
        Error::config(format!(
            "invalid API base URL `{}`: {problem}",
            redact_url(trimmed)
        ))
    };
    let Some((scheme, rest)) = trimmed.split_once("://") else {
        return Err(fail("it must start with http:// or https://"));
    };
    let lower = if scheme.eq_ignore_ascii_case("http") {
        "http"
    } else if scheme.eq_ignore_ascii_case("https") {
        "https"
    } else {
        return Err(fail("it must start with http:// or https://"));
    };
    if rest.contains('@') {
        return Err(fail(
            "it must not carry user info (`user:password@`); mishika sends no Basic auth from \
             a URL: set the key with `.api_key(..)` or a credential header instead",
        ));
    }
    if rest.contains(['?', '#']) {
        return Err(fail(
            "it must not have a query or a fragment (`?…`, `#…`): the endpoint path is \
             appended to it",
        ));
    }
    let authority = rest.split('/').next().unwrap_or_default();
    let (host, port) = match authority.strip_prefix('[') {
        // An IPv6 literal: `[::1]` or `[::1]:4000`.
        Some(literal) => match literal.split_once(']') {
            Some((host, "")) => (host, None),
            Some((host, after)) => match after.strip_prefix(':') {
                Some(port) => (host, Some(port)),
                None => return Err(fail("text follows the IPv6 address")),
            },
            None => return Err(fail("the IPv6 address has no closing `]`")),
        },
        None => match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        },
    };
    if host.is_empty() {
        return Err(fail("it has no host"));
    }
    if let Some(port) = port {
        let valid = port.len() <= 5
            && port.bytes().all(|byte| byte.is_ascii_digit())
            && port.parse::<u16>().is_ok_and(|port| port != 0);
        if !valid {
            return Err(fail(&format!(
                "the port `{port}` is not a number from 1 to 65535"
            )));
        }
    }
    Ok(if scheme == lower {
        std::borrow::Cow::Borrowed(trimmed)
    } else {
        std::borrow::Cow::Owned(format!("{lower}://{rest}"))
    })
}

/// Parse a joined endpoint URL.
fn parse_uri(url: String) -> Result<http::Uri> {
    http::Uri::try_from(url.as_str()).map_err(|e| {
        Error::config(format!(
            "invalid API base URL, giving `{}`",
            redact_url(&url)
        ))
        .with_source(e)
    })
}

/// Endpoint URIs already joined and parsed, by base URL and path: a client sends every
/// request to the same few, so each is parsed once, not once per request.
///
/// Hidden from the docs and from the crate root: a performance internal of the client,
/// public only because the client is another crate.
#[doc(hidden)]
#[derive(Debug, Default)]
pub struct EndpointCache {
    entries: std::sync::RwLock<Vec<CachedEndpoint>>,
}

/// One joined and parsed endpoint, by what it was made of.
#[derive(Debug)]
struct CachedEndpoint {
    style: PathStyle,
    base: String,
    path: String,
    uri: http::Uri,
}

/// Endpoints a cache remembers; past this, URIs are parsed per request.
const MAX_CACHED_ENDPOINTS: usize = 64;

impl EndpointCache {
    /// An empty cache.
    pub fn new() -> EndpointCache {
        EndpointCache::default()
    }

    /// The URI of `path` on `base` joined by `style`: the cached one, or a newly parsed
    /// one (then cached).
    pub fn uri(&self, style: PathStyle, base: &str, path: &str) -> Result<http::Uri> {
        if let Ok(entries) = self.entries.read() {
            let known = entries
                .iter()
                .find(|entry| entry.style == style && entry.base == base && entry.path == path);
            if let Some(entry) = known {
                return Ok(entry.uri.clone());
            }
        }
        let uri = parse_uri(join_url(style, base, path)?)?;
        if let Ok(mut entries) = self.entries.write() {
            if entries.len() < MAX_CACHED_ENDPOINTS {
                entries.push(CachedEndpoint {
                    style,
                    base: base.to_owned(),
                    path: path.to_owned(),
                    uri: uri.clone(),
                });
            }
        }
        Ok(uri)
    }
}

/// Pass a success through; turn any other status into its [`Error`] by `rules`, reading at
/// most [`MAX_ERROR_BODY`] × 8 bytes of the error body.
pub async fn check_status(
    response: http::Response<Body>,
    rules: ErrorRules,
) -> Result<http::Response<Body>> {
    if response.status().is_success() {
        return Ok(response);
    }
    Err(Box::pin(status_error(response, rules)).await)
}

/// The [`Error`] of an answer whose status is not a success, with the head of its body.
/// A redirect (the transport follows none that would change the request or its origin)
/// names where it points, whatever the provider's rules.
async fn status_error(response: http::Response<Body>, rules: ErrorRules) -> Error {
    let (parts, body) = response.into_parts();
    let bytes = body.prefix(MAX_ERROR_BODY * 8).await;
    let error = (rules.from_response)(parts.status, &parts.headers, &bytes);
    if !parts.status.is_redirection() {
        return error;
    }
    let location = parts.headers.get(http::header::LOCATION).map(|value| {
        String::from_utf8_lossy(value.as_bytes())
            .escape_debug()
            .to_string()
    });
    let status = parts.status;
    let message = match location {
        Some(location) => format!(
            "the server redirected the request to `{location}` ({} {}); mishika does not \
             follow a redirect that would change the method or the origin: set the base URL \
             to where it points",
            status.as_u16(),
            status.canonical_reason().unwrap_or("")
        ),
        None => format!(
            "the server answered {} {} without a Location; redirects are not followed",
            status.as_u16(),
            status.canonical_reason().unwrap_or("")
        ),
    };
    error.with_message(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_cache_parses_each_endpoint_once_and_agrees_with_join_url() {
        let cache = EndpointCache::new();
        for base in [
            "http://h:4000",
            "http://h:4000/",
            "http://h:4000/v1",
            "http://h:4000/v1/",
        ] {
            for _ in 0..3 {
                let uri = cache.uri(PathStyle::V1, base, "chat/completions").unwrap();
                assert_eq!(uri, "http://h:4000/v1/chat/completions");
            }
        }
        assert_eq!(
            cache.entries.read().unwrap().len(),
            4,
            "one entry per base form"
        );
        assert_eq!(
            cache
                .uri(PathStyle::V1, "http://h:4000", "embeddings")
                .unwrap(),
            "http://h:4000/v1/embeddings"
        );
        for bad in ["h:4000", "http://bad host"] {
            let error = cache.uri(PathStyle::V1, bad, "models").unwrap_err();
            assert_eq!(error.kind(), crate::ErrorKind::Config, "{bad}: {error}");
        }
        assert_eq!(
            cache.entries.read().unwrap().len(),
            5,
            "failures are not cached"
        );
        for i in 0..100 {
            let base = format!("http://h{i}:1");
            assert_eq!(
                cache.uri(PathStyle::V1, &base, "models").unwrap(),
                format!("{base}/v1/models").as_str()
            );
        }
        assert_eq!(cache.entries.read().unwrap().len(), MAX_CACHED_ENDPOINTS);
    }

    #[test]
    fn paths_join_the_base_as_the_provider_says() {
        for base in [
            "http://h:4000",
            "http://h:4000/",
            "http://h:4000/v1",
            "http://h:4000/v1/",
        ] {
            assert_eq!(
                join_url(PathStyle::V1, base, "/chat/completions").unwrap(),
                "http://h:4000/v1/chat/completions"
            );
        }
        for (base, want) in [
            (
                "https://api.openai.com/v1",
                "https://api.openai.com/v1/chat/completions",
            ),
            (
                "https://api.openai.com/v1/",
                "https://api.openai.com/v1/chat/completions",
            ),
            ("http://h:4000", "http://h:4000/chat/completions"),
            (
                "http://h/openai/deployments",
                "http://h/openai/deployments/chat/completions",
            ),
        ] {
            assert_eq!(
                join_url(PathStyle::AsGiven, base, "chat/completions").unwrap(),
                want
            );
        }
        let cache = EndpointCache::new();
        assert_eq!(
            cache
                .uri(PathStyle::AsGiven, "http://h:4000/v1", "models")
                .unwrap(),
            "http://h:4000/v1/models"
        );
        assert_eq!(
            cache
                .uri(PathStyle::V1, "http://h:4000/v1", "models")
                .unwrap(),
            "http://h:4000/v1/models"
        );
        assert_eq!(
            cache
                .uri(PathStyle::AsGiven, "http://h:4000", "models")
                .unwrap(),
            "http://h:4000/models",
            "the cache keys on the style too"
        );
    }

    #[test]
    fn the_base_url_is_checked_once_with_a_clear_config_error() {
        let cases: &[(&str, &str)] = &[
            ("h:4000", "must start with http:// or https://"),
            ("ftp://h:4000", "must start with http:// or https://"),
            (
                "http://h:99999",
                "the port `99999` is not a number from 1 to 65535",
            ),
            (
                "http://h:65536/v1",
                "the port `65536` is not a number from 1 to 65535",
            ),
            ("http://h:0", "the port `0` is not"),
            ("http://h:80a", "the port `80a` is not"),
            ("http://h:/v1", "the port `` is not"),
            ("http://[::1]:999999", "the port `999999` is not"),
            ("http://[::1", "no closing `]`"),
            ("http://:4000", "no host"),
            ("http:///v1", "no host"),
            ("http://h:4000/?x=1", "must not have a query or a fragment"),
            (
                "http://h:4000/v1#top",
                "must not have a query or a fragment",
            ),
            ("http://user:hunter2@h:4000", "must not carry user info"),
            ("http://sk-in-the-user@h:4000", "must not carry user info"),
            ("http://user:p/ss@h:4000", "must not carry user info"),
        ];
        for (base, says) in cases {
            for style in [PathStyle::V1, PathStyle::AsGiven] {
                let error = join_url(style, base, "chat/completions").unwrap_err();
                assert_eq!(error.kind(), crate::ErrorKind::Config, "{base}");
                assert!(error.message().contains(says), "{base}: {error}");
                assert!(!error.is_retryable());
                let cached = EndpointCache::new().uri(style, base, "models").unwrap_err();
                assert_eq!(cached.message(), error.message(), "{base}");
            }
        }
        // Neither the password nor a user name nor a query is ever printed.
        for (base, hidden) in [
            ("http://user:hunter2@h:4000", "hunter2"),
            ("http://sk-in-the-user@h:4000", "sk-in-the-user"),
            ("http://user:p/ss@h:4000", "p/ss"),
            ("http://h:4000/?key=sk-q", "sk-q"),
        ] {
            let error = check_api_base(base).unwrap_err();
            for shown in [error.to_string(), format!("{error:?}")] {
                assert!(!shown.contains(hidden), "{shown}");
            }
        }
        let error = check_api_base("http://user:hunter2@h:4000").unwrap_err();
        assert_eq!(
            error.message(),
            "invalid API base URL `http://***@h:4000`: it must not carry user info \
             (`user:password@`); mishika sends no Basic auth from a URL: set the key with \
             `.api_key(..)` or a credential header instead"
        );
        // The scheme in any case, surrounding space, IPv6 literals and ports in range.
        for (base, want) in [
            ("HTTP://h:4000", "http://h:4000/v1/models"),
            ("Https://H:443/v1/", "https://H:443/v1/models"),
            ("  http://h  ", "http://h/v1/models"),
            ("http://[::1]:65535", "http://[::1]:65535/v1/models"),
            ("http://[::1]/v1", "http://[::1]/v1/models"),
            ("http://h:1", "http://h:1/v1/models"),
        ] {
            assert_eq!(join_url(PathStyle::V1, base, "models").unwrap(), want);
            let uri = EndpointCache::new()
                .uri(PathStyle::V1, base, "models")
                .unwrap();
            assert_eq!(uri, want);
            assert_eq!(uri.scheme_str(), want.split("://").next());
        }
    }

    /// A transport that answers every request with one canned answer and keeps the
    /// requests' headers.
    #[derive(Debug)]
    struct Canned {
        status: u16,
        headers: Vec<(&'static str, String)>,
        body: String,
        seen: std::sync::Mutex<Vec<HeaderMap>>,
    }

    impl Canned {
        fn new(status: u16, body: impl Into<String>) -> Canned {
            Canned {
                status,
                headers: Vec::new(),
                body: body.into(),
                seen: std::sync::Mutex::new(Vec::new()),
            }
        }
    }

    impl Transport for Canned {
        fn send(&self, request: http::Request<Bytes>) -> TransportFuture<'_> {
            Box::pin(async move { self.answer(request) })
        }
    }

    impl Canned {
        fn answer(
            &self,
            request: http::Request<Bytes>,
        ) -> std::result::Result<http::Response<Body>, crate::TransportError> {
            self.seen.lock().unwrap().push(request.headers().clone());
            let mut response = http::Response::new(Body::from(self.body.clone()));
            *response.status_mut() = http::StatusCode::from_u16(self.status).unwrap();
            for (name, value) in &self.headers {
                response
                    .headers_mut()
                    .insert(*name, HeaderValue::from_str(value).unwrap());
            }
            Ok(response)
        }
    }

    fn call_over(transport: &Arc<Canned>) -> Call {
        Call::new(Arc::clone(transport) as Arc<dyn Transport>, "test")
            .with_api_base(Some("http://h:4000".into()))
    }

    fn run<F: Future>(future: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(future)
    }

    const ANSWER: &str = r#"{"choices":[{"index":0,"message":{"content":"hi"}}]}"#;

    #[test]
    fn a_blank_key_sends_no_authorization() {
        for key in ["", "   ", "\t"] {
            let transport = Arc::new(Canned::new(200, ANSWER));
            let call = call_over(&transport).with_api_key(Some(ApiKey::new(key)));
            assert!(call.api_key().is_none(), "{key:?}");
            let request = call.json_request("chat/completions", &()).unwrap();
            assert!(request.headers().get(AUTHORIZATION).is_none(), "{key:?}");
            let header_auth = call
                .clone()
                .with_spec(ProviderSpec::new().auth(AuthScheme::Header("x-api-key")))
                .json_request("chat/completions", &())
                .unwrap();
            assert!(header_auth.headers().get("x-api-key").is_none(), "{key:?}");
        }
        let call =
            call_over(&Arc::new(Canned::new(200, ANSWER))).with_api_key(Some(ApiKey::new("sk-1")));
        let request = call.json_request("chat/completions", &()).unwrap();
        assert_eq!(request.headers()[AUTHORIZATION], "Bearer sk-1");
    }

    #[test]
    fn status_errors_have_the_calls_secrets_scrubbed() {
        const KEY: &str = "sk-echo-key-123456";
        const HEADER_KEY: &str = "sk-header-key-654321";
        let mut transport = Canned::new(
            401,
            format!(
                r#"{{"error":{{"message":"Incorrect API key provided: {KEY} (or {HEADER_KEY})","type":"auth_error","code":"401"}}}}"#
            ),
        );
        transport.headers.push(("x-echoed-key", KEY.to_owned()));
        let transport = Arc::new(transport);
        let mut headers = HeaderMap::new();
        headers.insert("x-litellm-api-key", HeaderValue::from_static(HEADER_KEY));
        let call = call_over(&transport)
            .with_api_key(Some(ApiKey::new(KEY)))
            .with_headers(headers);
        let request = call.json_request("chat/completions", &()).unwrap();
        let error = run(call.send_json::<crate::ChatResponse>(request)).unwrap_err();
        assert_eq!(error.kind(), crate::ErrorKind::Authentication);
        assert_eq!(error.message(), "Incorrect API key provided: *** (or ***)");
        assert_eq!(error.headers().unwrap()["x-echoed-key"], "***");
        let everything = format!("{error} {error:?} {:?} {:?}", error.body(), error.headers());
        for secret in [KEY, HEADER_KEY] {
            assert!(!everything.contains(secret), "{everything}");
        }
    }

    #[test]
    fn a_success_status_with_an_error_body_is_that_error() {
        let transport = Arc::new(Canned::new(
            200,
            r#"{"error":{"message":"key sk-in-200 is over budget: BudgetExceededError","type":"budget_exceeded"}}"#,
        ));
        let call = call_over(&transport).with_api_key(Some(ApiKey::new("sk-in-200")));
        let request = call.json_request("chat/completions", &()).unwrap();
        let error = run(call.send_json::<crate::ChatResponse>(request)).unwrap_err();
        assert_eq!(error.kind(), crate::ErrorKind::BudgetExceeded);
        assert_eq!(error.status(), Some(http::StatusCode::OK));
        assert_eq!(
            error.message(),
            "key *** is over budget: BudgetExceededError"
        );
        // `"error": null` beside an answer is no error.
        let transport = Arc::new(Canned::new(
            200,
            r#"{"error":null,"choices":[{"index":0,"message":{"content":"hi"}}]}"#,
        ));
        let call = call_over(&transport);
        let request = call.json_request("chat/completions", &()).unwrap();
        let answer = run(call.send_json::<crate::ChatResponse>(request)).unwrap();
        assert_eq!(answer.content(), Some("hi"));
    }

    #[test]
    fn a_streams_in_band_error_has_the_key_scrubbed() {
        use futures_util::StreamExt;
        const KEY: &str = "sk-stream-echo-42";
        let transport = Arc::new(Canned::new(
            200,
            format!(
                "data: {{\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"a\"}}}}]}}\n\n\
                 data: {{\"error\":{{\"message\":\"bad key {KEY}\",\"code\":\"401\"}}}}\n\n"
            ),
        ));
        let call = call_over(&transport).with_api_key(Some(ApiKey::new(KEY)));
        let request = call.json_request("chat/completions", &()).unwrap();
        let items: Vec<_> = run(async {
            let stream = call.send_sse::<crate::ChatChunk>(request).await.unwrap();
            stream.collect::<Vec<_>>().await
        });
        assert_eq!(items.len(), 2);
        assert_eq!(items[0].as_ref().unwrap().content(), Some("a"));
        let error = items[1].as_ref().unwrap_err();
        assert_eq!(error.kind(), crate::ErrorKind::Authentication);
        assert_eq!(error.message(), "bad key ***");
        let everything = format!("{error} {error:?} {:?}", error.body());
        assert!(!everything.contains(KEY), "{everything}");
    }
}
