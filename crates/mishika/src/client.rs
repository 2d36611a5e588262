//! [`Client`]: the router, settings resolution and transport stack behind every call.

use std::fmt;
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Duration;

use http::{HeaderMap, HeaderName, HeaderValue};
use mishika_core::{
    ApiKey, Call, CallPolicy, ChatRequest, ChatResponse, ChatStream, CompletionRequest,
    CompletionResponse, CompletionStream, EmbeddingRequest, EmbeddingResponse, EncodingFormat,
    EndpointCache, Error, ImageRequest, ImageResponse, Limits, ModelList, Provider, RequestOptions,
    RerankRequest, RerankResponse, Result, RoutedRequest, SpeechRequest, SpeechResponse,
    TranscriptionRequest, TranscriptionResponse, Transport,
};
use mishika_http::HttpTransport;

use crate::proxy::{self, MishikallmProxy};
use crate::retry::{RetryPolicy, RetryTransport};
use crate::router::Router;
use crate::timeout::{IdleTimeoutTransport, with_deadline};

/// Default deadline for a whole request (for a stream: until its head arrives).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);
/// Default longest silence on a streamed answer.
pub const DEFAULT_STREAM_IDLE_TIMEOUT: Duration = Duration::from_secs(120);
/// Default deadline for connecting (used when mishika builds the HTTP transport).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// One client method per endpoint: route, resolve settings, call the provider under the
/// request deadline.
macro_rules! endpoints {
    ($($(#[$doc:meta])* $method:ident $(=> $provider_method:ident)? ($request:ty) -> $response:ty;)*) => {
        $(
            $(#[$doc])*
            pub async fn $method(&self, request: $request) -> Result<$response> {
                let (provider, call, request) = self.route(request)?;
                with_deadline(
                    call.deadline(),
                    endpoints!(@call provider, call, request, $method $(, $provider_method)?),
                )
                .await
            }
        )*
    };
    (@call $provider:ident, $call:ident, $request:ident, $method:ident) => {
        $provider.$method(&$call, $request)
    };
    (@call $provider:ident, $call:ident, $request:ident, $method:ident, $provider_method:ident) => {
        $provider.$provider_method(&$call, $request)
    };
}

/// The client's own settings: the middle layer between the request and the environment.
#[derive(Debug, Clone)]
struct Settings {
    api_base: Option<String>,
    api_key: Option<ApiKey>,
    headers: HeaderMap,
    timeout: Option<Duration>,
    stream_idle_timeout: Option<Duration>,
    limits: Limits,
    embedding_encoding: Option<EncodingFormat>,
    /// The process-wide client also consults `mishika::set_api_base` / `set_api_key`.
    process_wide: bool,
}

/// A client for every provider it routes to. Cheap to clone: clones share one connection
/// pool, one router and one set of settings.
///
/// ```no_run
/// use mishika::{ChatMessage, ChatRequest, Client};
/// # async fn run() -> mishika::Result<()> {
/// let client = Client::builder()
///     .api_base("http://localhost:4000")
///     .api_key("sk-my-proxy-key")
///     .build()?;
/// let response = client
///     .chat(ChatRequest::new("mishikallm_proxy/gpt-4o", [ChatMessage::user("Hello")]))
///     .await?;
/// println!("{}", response.content().unwrap_or_default());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    router: Router,
    settings: Settings,
    transport: Arc<dyn Transport>,
    /// Endpoint URIs parsed once for all calls.
    endpoints: Arc<EndpointCache>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let settings = &self.inner.settings;
        f.debug_struct("Client")
            .field("providers", &self.inner.router.prefixes())
            .field("api_base", &settings.api_base)
            .field("api_key", &settings.api_key)
            .field("timeout", &settings.timeout)
            .field("transport", &self.inner.transport)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client with the defaults: the proxy provider, an [`HttpTransport`], settings from
    /// the environment.
    pub fn new() -> Result<Client> {
        Client::builder().build()
    }

    /// Configure a client.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// The process-wide client behind the free functions (`mishika::completion` …).
    /// It reads `mishika::set_api_base` / `set_api_key` on every call.
    pub fn global() -> Result<&'static Client> {
        static GLOBAL: OnceLock<std::result::Result<Client, String>> = OnceLock::new();
        GLOBAL
            .get_or_init(|| {
                let mut builder = Client::builder();
                builder.settings.process_wide = true;
                builder.build().map_err(|e| e.to_string())
            })
            .as_ref()
            .map_err(|message| Error::config(message.clone()))
    }

    /// The registered routing prefixes.
    pub fn prefixes(&self) -> Vec<&str> {
        self.inner.router.prefixes()
    }

    endpoints! {
        /// Chat: `POST /v1/chat/completions`.
        chat(ChatRequest) -> ChatResponse;
        /// Streamed chat. An HTTP error is the `Err` of this call, with its body; errors after
        /// the stream started are `Err` items. Dropping the stream closes the connection.
        chat_stream(ChatRequest) -> ChatStream;
        /// Legacy text completion: `POST /v1/completions`, sent natively (never as chat).
        text_completion => completion(CompletionRequest) -> CompletionResponse;
        /// Streamed legacy text completion.
        text_completion_stream => completion_stream(CompletionRequest) -> CompletionStream;
        /// Image generation: `POST /v1/images/generations`.
        image_generation(ImageRequest) -> ImageResponse;
        /// Text to speech: `POST /v1/audio/speech`; the audio streams as it arrives.
        speech(SpeechRequest) -> SpeechResponse;
        /// Transcription: `POST /v1/audio/transcriptions` as multipart/form-data.
        transcription(TranscriptionRequest) -> TranscriptionResponse;
        /// Rerank: `POST /v1/rerank`.
        rerank(RerankRequest) -> RerankResponse;
    }

    /// Embeddings: `POST /v1/embeddings`. A request without `encoding_format` gets the
    /// client's default ([`ClientBuilder::embedding_encoding`]).
    pub async fn embedding(&self, mut request: EmbeddingRequest) -> Result<EmbeddingResponse> {
        if request.encoding_format.is_none() {
            request.encoding_format = self.inner.settings.embedding_encoding.clone();
        }
        let (provider, call, request) = self.route(request)?;
        with_deadline(call.deadline(), provider.embedding(&call, request)).await
    }

    /// The models the provider registered under `prefix` serves: `GET /v1/models`.
    pub async fn list_models(&self, prefix: &str) -> Result<ModelList> {
        self.list_models_with(prefix, &RequestOptions::default())
            .await
    }

    /// [`list_models`](Client::list_models) with per-request settings.
    pub async fn list_models_with(
        &self,
        prefix: &str,
        options: &RequestOptions,
    ) -> Result<ModelList> {
        let provider = self.inner.router.provider(prefix)?;
        let call = self.call_for(provider.as_ref(), options)?;
        with_deadline(call.deadline(), provider.list_models(&call)).await
    }

    /// Resolve the provider and settings for `request`, stripping the routing prefix from
    /// its model name.
    pub fn route<R: RoutedRequest>(&self, mut request: R) -> Result<(Arc<dyn Provider>, Call, R)> {
        request.check()?;
        let (route, strip) = self.inner.router.resolve_route(request.model_mut())?;
        let (provider, name) = (Arc::clone(&route.provider), Arc::clone(&route.name));
        request.model_mut().replace_range(..strip, "");
        let call = self.call_named(provider.as_ref(), name, request.request_options());
        Ok((provider, call, request))
    }

    /// The settings of one call to `provider`: request > client (or process-wide) > environment.
    pub fn call_for(
        &self,
        provider: &dyn Provider,
        options: &mishika_core::RequestOptions,
    ) -> Result<Call> {
        Ok(self.call_named(provider, Arc::from(provider.name()), options))
    }

    fn call_named(
        &self,
        provider: &dyn Provider,
        name: Arc<str>,
        options: &mishika_core::RequestOptions,
    ) -> Call {
        let settings = &self.inner.settings;
        let env = provider.env();
        let (global_base, global_key) = if settings.process_wide {
            process_wide()
        } else {
            (None, None)
        };
        let api_base = options
            .api_base
            .clone()
            .or(global_base)
            .or_else(|| settings.api_base.clone())
            .or_else(|| env.api_base.and_then(read_env));
        let api_key = options
            .api_key
            .clone()
            .or(global_key)
            .or_else(|| settings.api_key.clone())
            .or_else(|| env.api_key.and_then(read_env).map(ApiKey::from));
        let headers = if options.headers.is_empty() {
            settings.headers.clone()
        } else {
            let mut headers = settings.headers.clone();
            for (name, value) in &options.headers {
                headers.insert(name.clone(), value.clone());
            }
            headers
        };
        // Only the request's own overrides travel with it; the transport decorators hold the
        // client's defaults.
        let policy: CallPolicy = options.policy();
        Call::new(Arc::clone(&self.inner.transport), name)
            .with_api_base(api_base)
            .with_api_key(api_key)
            .with_headers(headers)
            .with_policy(policy)
            .with_deadline(options.timeout.or(settings.timeout))
            .with_limits(settings.limits)
            .with_env(env)
            .with_endpoint_cache(Arc::clone(&self.inner.endpoints))
    }
}

fn read_env(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .map(|value| value.trim().to_owned())
        .filter(|value| !value.is_empty())
}

/// Settings made with [`crate::set_api_base`] and [`crate::set_api_key`].
#[derive(Default)]
struct ProcessWide {
    api_base: Option<String>,
    api_key: Option<ApiKey>,
}

static PROCESS_WIDE: RwLock<ProcessWide> = RwLock::new(ProcessWide {
    api_base: None,
    api_key: None,
});

fn process_wide() -> (Option<String>, Option<ApiKey>) {
    match PROCESS_WIDE.read() {
        Ok(guard) => (guard.api_base.clone(), guard.api_key.clone()),
        Err(poisoned) => {
            let guard = poisoned.into_inner();
            (guard.api_base.clone(), guard.api_key.clone())
        }
    }
}

fn update_process_wide(update: impl FnOnce(&mut ProcessWide)) {
    let mut guard = match PROCESS_WIDE.write() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    };
    update(&mut guard);
}

/// Set the base URL the free functions use (beats the environment; a request's own
/// `.api_base(..)` beats it).
pub fn set_api_base(api_base: impl Into<String>) {
    let api_base = api_base.into();
    update_process_wide(|settings| settings.api_base = Some(api_base));
}

/// Set the key the free functions use (beats the environment; a request's own
/// `.api_key(..)` beats it).
pub fn set_api_key(api_key: impl Into<ApiKey>) {
    let api_key = api_key.into();
    update_process_wide(|settings| settings.api_key = Some(api_key));
}

/// Forget the process-wide base URL and key: the free functions fall back to the
/// environment again.
pub fn clear_process_settings() {
    update_process_wide(|settings| *settings = ProcessWide::default());
}

/// Builds a [`Client`].
pub struct ClientBuilder {
    settings: Settings,
    router: Router,
    transport: Option<Arc<dyn Transport>>,
    connect_timeout: Duration,
    retry: RetryPolicy,
    invalid: Option<Error>,
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("settings", &self.settings)
            .field("providers", &self.router.prefixes())
            .finish_non_exhaustive()
    }
}

impl Default for ClientBuilder {
    fn default() -> ClientBuilder {
        let mut router = Router::default();
        router.register(proxy::PREFIX, Arc::new(MishikallmProxy));
        ClientBuilder {
            settings: Settings {
                api_base: None,
                api_key: None,
                headers: HeaderMap::new(),
                timeout: Some(DEFAULT_TIMEOUT),
                stream_idle_timeout: Some(DEFAULT_STREAM_IDLE_TIMEOUT),
                limits: Limits::default(),
                embedding_encoding: None,
                process_wide: false,
            },
            router,
            transport: None,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            retry: RetryPolicy::default(),
            invalid: None,
        }
    }
}

impl ClientBuilder {
    /// The gateway's base URL (`http://h:4000`, with or without `/v1`).
    pub fn api_base(mut self, api_base: impl Into<String>) -> Self {
        self.settings.api_base = Some(api_base.into());
        self
    }

    /// The key sent as `Authorization: Bearer <key>`.
    pub fn api_key(mut self, api_key: impl Into<ApiKey>) -> Self {
        self.settings.api_key = Some(api_key.into());
        self
    }

    /// A header sent on every request.
    pub fn header(mut self, name: impl AsRef<str>, value: impl AsRef<str>) -> Self {
        let parsed = HeaderName::from_bytes(name.as_ref().as_bytes())
            .map_err(|e| {
                Error::config(format!("invalid header name {:?}", name.as_ref())).with_source(e)
            })
            .and_then(|name| {
                HeaderValue::from_str(value.as_ref())
                    .map(|value| (name, value))
                    .map_err(|e| Error::config("invalid header value").with_source(e))
            });
        match parsed {
            Ok((name, value)) => {
                self.settings.headers.insert(name, value);
            }
            Err(error) => {
                self.invalid.get_or_insert(error);
            }
        }
        self
    }

    /// Deadline for a whole request (`None`: no deadline). Default 600 s.
    pub fn timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.settings.timeout = timeout.into();
        self
    }

    /// Longest silence on a body handed to the caller: a stream, speech audio (`None`: wait
    /// forever). Default 120 s. JSON answers are read within the whole-request deadline.
    pub fn stream_idle_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.settings.stream_idle_timeout = timeout.into();
        self
    }

    /// Deadline for connecting, for the HTTP transport mishika builds. Default 10 s.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Retries after the first attempt (default 2).
    pub fn num_retries(mut self, retries: u32) -> Self {
        self.retry.max_retries = retries;
        self
    }

    /// Upper bound on the time spent across all attempts of one call.
    pub fn retry_deadline(mut self, deadline: Duration) -> Self {
        self.retry.deadline = Some(deadline);
        self
    }

    /// The whole retry policy: count, backoff, `retry-after` cap, deadline.
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// The `encoding_format` for embedding requests that do not set one.
    /// `EncodingFormat::Base64` moves a quarter of the bytes and decodes far faster.
    pub fn embedding_encoding(mut self, format: EncodingFormat) -> Self {
        self.settings.embedding_encoding = Some(format);
        self
    }

    /// Memory limits on responses.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.settings.limits = limits;
        self
    }

    /// Send every request through `transport` instead of the built-in reqwest one
    /// (a mock in tests, another HTTP stack, a recording layer …).
    pub fn transport(mut self, transport: Arc<dyn Transport>) -> Self {
        self.transport = Some(transport);
        self
    }

    /// Route `prefix/<model>` to `provider`, beside the built-in `mishikallm_proxy/`.
    pub fn provider(
        mut self,
        prefix: impl Into<String>,
        provider: impl Provider + 'static,
    ) -> Self {
        self.router.register(prefix, Arc::new(provider));
        self
    }

    /// Build the client.
    pub fn build(self) -> Result<Client> {
        if let Some(error) = self.invalid {
            return Err(error);
        }
        let base: Arc<dyn Transport> = match self.transport {
            Some(transport) => transport,
            None => Arc::new(
                HttpTransport::builder()
                    .connect_timeout(self.connect_timeout)
                    .build()?,
            ),
        };
        // Retries sit right above the byte mover; the idle watch wraps the body that is
        // finally handed out.
        let retrying: Arc<dyn Transport> = Arc::new(RetryTransport::new(base, self.retry));
        let transport: Arc<dyn Transport> = Arc::new(IdleTimeoutTransport::new(
            retrying,
            self.settings.stream_idle_timeout,
        ));
        Ok(Client {
            inner: Arc::new(Inner {
                router: self.router,
                settings: self.settings,
                transport,
                endpoints: Arc::default(),
            }),
        })
    }
}
