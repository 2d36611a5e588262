//! The [`Provider`] trait (one async method per endpoint) and the [`Call`] a provider is
//! handed: resolved settings plus the transport, with helpers to build and read requests.

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use http::{HeaderMap, HeaderValue, Method};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::audio::{SpeechRequest, SpeechResponse, TranscriptionRequest, TranscriptionResponse};
use crate::chat::{ChatChunk, ChatRequest, ChatResponse};
use crate::completions::{CompletionChunk, CompletionRequest, CompletionResponse};
use crate::embeddings::{EmbeddingRequest, EmbeddingResponse};
use crate::error::{Error, MAX_ERROR_BODY, Result, truncated_text};
use crate::images::{ImageRequest, ImageResponse};
use crate::models::ModelList;
use crate::options::{CallPolicy, ResponseMetadata};
use crate::rerank::{RerankRequest, RerankResponse};
use crate::secret::ApiKey;
use crate::stream::SseStream;
use crate::transport::{Body, Transport, TransportFuture};

/// A streamed chat answer: typed chunks, then the end (or an `Err` item, after which
/// the stream ends). Dropping it closes the connection.
pub type ChatStream = SseStream<ChatChunk>;

/// A streamed text completion.
pub type CompletionStream = SseStream<CompletionChunk>;

/// Names of the environment variables a provider falls back to (lowest precedence).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProviderEnv {
    /// Variable holding the base URL, e.g. `MISHIKALLM_PROXY_API_BASE`.
    pub api_base: Option<&'static str>,
    /// Variable holding the API key, e.g. `MISHIKALLM_PROXY_API_KEY`.
    pub api_key: Option<&'static str>,
}

/// A backend: translates typed requests into HTTP and HTTP answers into typed responses.
///
/// Providers do translation only; all I/O goes through [`Call::send`]. Every endpoint has a
/// default that returns [`ErrorKind::Unsupported`](crate::ErrorKind::Unsupported), so a
/// provider implements just what its backend offers.
#[async_trait]
pub trait Provider: Send + Sync + fmt::Debug {
    /// The provider's name, used in errors (usually its routing prefix).
    fn name(&self) -> &str;

    /// Environment variables for base URL and key, consulted when neither the request nor
    /// the client sets them.
    fn env(&self) -> ProviderEnv {
        ProviderEnv::default()
    }

    /// `POST /chat/completions`.
    async fn chat(&self, call: &Call, request: ChatRequest) -> Result<ChatResponse> {
        let _ = (call, request);
        Err(Error::unsupported(self.name(), "chat"))
    }

    /// `POST /chat/completions` with `stream: true`.
    async fn chat_stream(&self, call: &Call, request: ChatRequest) -> Result<ChatStream> {
        let _ = (call, request);
        Err(Error::unsupported(self.name(), "chat_stream"))
    }

    /// `POST /completions` (legacy text completion).
    async fn completion(
        &self,
        call: &Call,
        request: CompletionRequest,
    ) -> Result<CompletionResponse> {
        let _ = (call, request);
        Err(Error::unsupported(self.name(), "completion"))
    }

    /// `POST /completions` with `stream: true`.
    async fn completion_stream(
        &self,
        call: &Call,
        request: CompletionRequest,
    ) -> Result<CompletionStream> {
        let _ = (call, request);
        Err(Error::unsupported(self.name(), "completion_stream"))
    }

    /// `POST /embeddings`.
    async fn embedding(&self, call: &Call, request: EmbeddingRequest) -> Result<EmbeddingResponse> {
        let _ = (call, request);
        Err(Error::unsupported(self.name(), "embedding"))
    }

    /// `POST /images/generations`.
    async fn image_generation(&self, call: &Call, request: ImageRequest) -> Result<ImageResponse> {
        let _ = (call, request);
        Err(Error::unsupported(self.name(), "image_generation"))
    }

    /// `POST /audio/speech`.
    async fn speech(&self, call: &Call, request: SpeechRequest) -> Result<SpeechResponse> {
        let _ = (call, request);
        Err(Error::unsupported(self.name(), "speech"))
    }

    /// `POST /audio/transcriptions`.
    async fn transcription(
        &self,
        call: &Call,
        request: TranscriptionRequest,
    ) -> Result<TranscriptionResponse> {
        let _ = (call, request);
        Err(Error::unsupported(self.name(), "transcription"))
    }

    /// `POST /rerank`.
    async fn rerank(&self, call: &Call, request: RerankRequest) -> Result<RerankResponse> {
        let _ = (call, request);
        Err(Error::unsupported(self.name(), "rerank"))
    }

    /// `GET /models`.
    async fn list_models(&self, call: &Call) -> Result<ModelList> {
        let _ = call;
        Err(Error::unsupported(self.name(), "list_models"))
    }
}

/// Limits on what a response may make mishika hold in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest JSON (or other buffered) response body, in bytes. Default 64 MiB.
    pub max_response_bytes: usize,
    /// Longest single SSE line, in bytes. Default 1 MiB.
    pub max_sse_line: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_response_bytes: 64 * 1024 * 1024,
            max_sse_line: crate::sse::DEFAULT_MAX_LINE,
        }
    }
}

/// Everything one call needs besides the request: the transport and the settings resolved
/// for it (request > client > environment).
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
    env: ProviderEnv,
    endpoints: Option<Arc<EndpointCache>>,
}

impl fmt::Debug for Call {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Call")
            .field("provider", &self.provider)
            .field("api_base", &self.api_base)
            .field("api_key", &self.api_key)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl Call {
    /// A call over `transport` for the provider named `provider`.
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
            env: ProviderEnv::default(),
            endpoints: None,
        }
    }

    /// Share `cache`'s parsed endpoint URIs with other calls, instead of joining and
    /// parsing `{base}/v1/{path}` on every request (a client passes one to all its calls).
    pub fn with_endpoint_cache(mut self, cache: Arc<EndpointCache>) -> Call {
        self.endpoints = Some(cache);
        self
    }

    /// Set the resolved base URL.
    pub fn with_api_base(mut self, api_base: Option<String>) -> Call {
        self.api_base = api_base;
        self
    }

    /// Set the resolved key (`None`: no `Authorization` header).
    pub fn with_api_key(mut self, api_key: Option<ApiKey>) -> Call {
        self.api_key = api_key;
        self
    }

    /// Set the extra headers sent on every request of this call.
    pub fn with_headers(mut self, headers: HeaderMap) -> Call {
        self.headers = headers;
        self
    }

    /// Set the request's own overrides of the transport policy (idle timeout, retries). They
    /// travel in each request's extensions — only when there are any, so the common request
    /// carries no extension to allocate and copy.
    pub fn with_policy(mut self, policy: CallPolicy) -> Call {
        self.policy = policy;
        self
    }

    /// Set the deadline for the whole call, which the client applies around the provider.
    pub fn with_deadline(mut self, deadline: Option<std::time::Duration>) -> Call {
        self.deadline = deadline;
        self
    }

    /// The deadline for the whole call.
    pub fn deadline(&self) -> Option<std::time::Duration> {
        self.deadline
    }

    /// Set the memory limits.
    pub fn with_limits(mut self, limits: Limits) -> Call {
        self.limits = limits;
        self
    }

    /// Record which environment variables were consulted (for error messages).
    pub fn with_env(mut self, env: ProviderEnv) -> Call {
        self.env = env;
        self
    }

    /// The provider's name.
    pub fn provider(&self) -> &str {
        &self.provider
    }

    /// The resolved base URL, if any.
    pub fn api_base(&self) -> Option<&str> {
        self.api_base.as_deref()
    }

    /// The resolved key, if any.
    pub fn api_key(&self) -> Option<&ApiKey> {
        self.api_key.as_ref()
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

    /// `{base}/v1/{path}` for any of the base forms `http://h:4000`, `…/`, `…/v1`, `…/v1/`.
    ///
    /// Fails with a `Config` error naming every way to set the base URL when none is set.
    pub fn url(&self, path: &str) -> Result<String> {
        let base = self
            .api_base
            .as_deref()
            .ok_or_else(|| self.missing_base())?;
        join_url(base, path)
    }

    fn missing_base(&self) -> Error {
        let env = match self.env.api_base {
            Some(variable) => format!(", or the environment variable {variable}"),
            None => String::new(),
        };
        Error::config(format!(
            "no API base URL for provider `{}`: set it on the request (`.api_base(..)`), \
             on the client (`Client::builder().api_base(..)`) or process-wide \
             (`mishika::set_api_base(..)`){env}",
            self.provider
        ))
        .with_provider(self.provider.to_string())
    }

    /// A request to `{base}/v1/{path}` with the key, headers and policy of this call.
    pub fn request(
        &self,
        method: Method,
        path: &str,
        content_type: Option<&str>,
        body: Bytes,
    ) -> Result<http::Request<Bytes>> {
        let uri = match (&self.endpoints, &self.api_base) {
            (Some(cache), Some(base)) => cache.uri(base, path)?,
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
            let value = key
                .bearer()
                .ok_or_else(|| Error::config("the API key is not a valid header value"))?;
            headers.insert(AUTHORIZATION, value.clone());
        }
        for (name, value) in &self.headers {
            headers.insert(name.clone(), value.clone());
        }
        if self.policy != CallPolicy::default() {
            request.extensions_mut().insert(self.policy);
        }
        Ok(request)
    }

    /// A `POST` of `body` as JSON, serialised once straight to `Bytes`.
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
    pub fn send(
        &self,
        request: http::Request<Bytes>,
    ) -> impl Future<Output = Result<http::Response<Body>>> + Send + '_ {
        let sending = self.transport.send(request);
        self.finish_send(sending, false)
    }

    /// Send and return the response if its status is a success; otherwise the mapped error
    /// with the server's body. The body of a success is not read.
    pub fn send_checked(
        &self,
        request: http::Request<Bytes>,
    ) -> impl Future<Output = Result<http::Response<Body>>> + Send + '_ {
        let sending = self.transport.send(request);
        self.finish_send(sending, true)
    }

    /// Send, check the status, and decode the JSON body into `T` (with its metadata).
    pub fn send_json<T: DeserializeOwned + WithMetadata + Send>(
        &self,
        request: http::Request<Bytes>,
    ) -> impl Future<Output = Result<T>> + Send + '_ {
        let sending = self.transport.send(request);
        async move {
            let response = self.finish_send(sending, true).await?;
            read_json(response, self.limits.max_response_bytes).await
        }
    }

    /// Send, check the status, and return the body as a typed SSE stream.
    pub fn send_sse<T: crate::stream::StreamFrame>(
        &self,
        request: http::Request<Bytes>,
    ) -> impl Future<Output = Result<SseStream<T>>> + Send + '_ {
        let sending = self.transport.send(request);
        async move {
            let response = self.finish_send(sending, true).await?;
            let (parts, body) = response.into_parts();
            Ok(SseStream::new(
                body,
                ResponseMetadata::new(parts.status, parts.headers),
                self.limits.max_sse_line,
            ))
        }
    }

    /// Await the transport; map its failure, and with `check` turn an error status into
    /// its [`Error`].
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
            Err(Box::pin(status_error(response)).await)
        }
    }
}

/// Join a base URL and an endpoint path as `{base}/v1/{path}`.
pub fn join_url(base: &str, path: &str) -> Result<String> {
    let trimmed = base.trim();
    if !(trimmed.starts_with("http://") || trimmed.starts_with("https://")) {
        return Err(Error::config(format!(
            "API base URL must start with http:// or https://, got `{trimmed}`"
        )));
    }
    let mut root = trimmed.trim_end_matches('/');
    if let Some(stripped) = root.strip_suffix("/v1") {
        root = stripped;
    }
    let path = path.trim_start_matches('/');
    Ok(format!("{root}/v1/{path}"))
}

/// Response types that carry the status and headers of their answer.
pub trait WithMetadata {
    /// Store the answer's metadata.
    fn set_metadata(&mut self, metadata: ResponseMetadata);

    /// Read the answer from its JSON body without serde's visitors, where the type has a
    /// reader of its own for its common shape; `None` leaves it to serde (the default).
    /// Where it answers, it answers exactly as serde would. Chat and embedding answers
    /// have one.
    fn read_direct(body: &[u8]) -> Option<Self>
    where
        Self: Sized,
    {
        let _ = body;
        None
    }
}

/// Parse a joined endpoint URL.
fn parse_uri(url: String) -> Result<http::Uri> {
    http::Uri::try_from(url.as_str())
        .map_err(|e| Error::config(format!("invalid API base URL, giving `{url}`")).with_source(e))
}

/// Endpoint URIs already joined and parsed, by base URL and path: a client sends every
/// request to the same few, so each is parsed once, not once per request.
#[derive(Debug, Default)]
pub struct EndpointCache {
    entries: std::sync::RwLock<Vec<(String, String, http::Uri)>>,
}

/// Endpoints a cache remembers; past this, URIs are parsed per request.
const MAX_CACHED_ENDPOINTS: usize = 64;

impl EndpointCache {
    /// An empty cache.
    pub fn new() -> EndpointCache {
        EndpointCache::default()
    }

    /// The URI of `{base}/v1/{path}`: the cached one, or a newly parsed one (then cached).
    pub fn uri(&self, base: &str, path: &str) -> Result<http::Uri> {
        if let Ok(entries) = self.entries.read() {
            let known = entries.iter().find(|(b, p, _)| b == base && p == path);
            if let Some((_, _, uri)) = known {
                return Ok(uri.clone());
            }
        }
        let uri = parse_uri(join_url(base, path)?)?;
        if let Ok(mut entries) = self.entries.write() {
            if entries.len() < MAX_CACHED_ENDPOINTS {
                entries.push((base.to_owned(), path.to_owned(), uri.clone()));
            }
        }
        Ok(uri)
    }
}

/// `WithMetadata` and the `metadata()` accessor for every typed JSON answer.
macro_rules! with_metadata {
    ($($type:ty $(=> $reader:path)?),*) => {
        $(
            impl WithMetadata for $type {
                fn set_metadata(&mut self, metadata: ResponseMetadata) {
                    self.metadata = metadata;
                }
                $(
                    fn read_direct(body: &[u8]) -> Option<Self> {
                        $reader(std::str::from_utf8(body).ok()?)
                    }
                )?
            }

            impl $type {
                /// The answer's status and headers (`x-litellm-*`, rate limits …).
                pub fn metadata(&self) -> &ResponseMetadata {
                    &self.metadata
                }
            }
        )*
    };
}

with_metadata!(
    ChatResponse => crate::direct::response,
    CompletionResponse,
    EmbeddingResponse => crate::direct::embeddings,
    ImageResponse,
    TranscriptionResponse,
    RerankResponse,
    ModelList
);

/// Pass a success through; turn any other status into its [`Error`], reading at most
/// [`MAX_ERROR_BODY`] × 8 bytes of the error body.
pub async fn check_status(response: http::Response<Body>) -> Result<http::Response<Body>> {
    if response.status().is_success() {
        return Ok(response);
    }
    Err(Box::pin(status_error(response)).await)
}

/// The [`Error`] of an answer whose status is not a success, with the head of its body.
async fn status_error(response: http::Response<Body>) -> Error {
    let (parts, body) = response.into_parts();
    let bytes = body.prefix(MAX_ERROR_BODY * 8).await;
    Error::from_response(parts.status, &parts.headers, &bytes)
}

/// Read a success body (at most `limit` bytes) and decode it as JSON into `T`.
pub async fn read_json<T: DeserializeOwned + WithMetadata>(
    response: http::Response<Body>,
    limit: usize,
) -> Result<T> {
    let (parts, body) = response.into_parts();
    let bytes = body.collect(limit).await?;
    let mut value: T = match T::read_direct(&bytes) {
        Some(value) => value,
        None => decode_json(&bytes, parts.headers.get(CONTENT_TYPE))?,
    };
    value.set_metadata(ResponseMetadata::new(parts.status, parts.headers));
    Ok(value)
}

const JSON: &str = "application/json";

/// Bodies up to this size are checked for UTF-8 in one pass before parsing.
const ONE_PASS_UTF8_LIMIT: usize = 32 * 1024;

/// Decode a JSON body, with an error that shows what arrived instead.
pub fn decode_json<T: DeserializeOwned>(
    bytes: &[u8],
    content_type: Option<&HeaderValue>,
) -> Result<T> {
    if bytes.is_empty() {
        return Err(Error::decode("the response body is empty, expected JSON"));
    }
    // Small answers are mostly strings: one UTF-8 pass over the body beats serde_json's
    // check of each string. Large ones (embeddings) are mostly numbers, where it would not.
    let decoded = if bytes.len() <= ONE_PASS_UTF8_LIMIT {
        crate::wire::from_json(bytes)
    } else {
        serde_json::from_slice(bytes)
    };
    decoded.map_err(|e| {
        let content_type = content_type
            .and_then(|v| v.to_str().ok())
            .unwrap_or("no content type");
        Error::decode(format!(
            "response is not the expected JSON ({content_type}): {e}; body: {}",
            truncated_text(bytes, 256)
        ))
        .with_source(e)
    })
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
                let uri = cache.uri(base, "chat/completions").unwrap();
                assert_eq!(uri, "http://h:4000/v1/chat/completions");
            }
        }
        assert_eq!(
            cache.entries.read().unwrap().len(),
            4,
            "one entry per base form"
        );
        assert_eq!(
            cache.uri("http://h:4000", "embeddings").unwrap(),
            "http://h:4000/v1/embeddings"
        );
        for bad in ["h:4000", "http://bad host"] {
            let error = cache.uri(bad, "models").unwrap_err();
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
                cache.uri(&base, "models").unwrap(),
                format!("{base}/v1/models").as_str()
            );
        }
        assert_eq!(cache.entries.read().unwrap().len(), MAX_CACHED_ENDPOINTS);
    }

    #[test]
    fn small_and_large_json_bodies_decode_alike() {
        #[derive(serde::Deserialize, Debug, PartialEq)]
        struct Answer {
            text: String,
        }
        let small = br#"{"text":"h\u00e9 \u00e9"}"#;
        let padding = " ".repeat(ONE_PASS_UTF8_LIMIT);
        let large = format!(r#"{{"text":"hé é"}}{padding}"#);
        let want = Answer {
            text: "hé é".into(),
        };
        assert_eq!(decode_json::<Answer>(small, None).unwrap(), want);
        assert_eq!(decode_json::<Answer>(large.as_bytes(), None).unwrap(), want);
        for body in [
            &b"{\"text\":\"\xff\"}"[..],
            &[b"{\"text\":\"\xff\"}", padding.as_bytes()].concat(),
        ] {
            let error = decode_json::<Answer>(body, None).unwrap_err();
            assert_eq!(error.kind(), crate::ErrorKind::Decode, "{error}");
        }
    }
}
