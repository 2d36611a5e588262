//! [`Client`]: the router, settings resolution and transport stack behind every call.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use futures_util::future::Either;
use mishika_core::call::EndpointCache;
use mishika_core::{
    ApiKey, Call, CallPolicy, ChatRequest, ChatResponse, ChatStream, CompletionRequest,
    CompletionResponse, CompletionStream, EmbeddingRequest, EmbeddingResponse, EncodingFormat,
    Error, ImageRequest, ImageResponse, Limits, ModelList, Provider, RequestOptions, RerankRequest,
    RerankResponse, ResponseStream, Result, RoutedRequest, SpeechRequest, SpeechResponse,
    StreamFrame, TranscriptionRequest, TranscriptionResponse, Transport,
};

use crate::mock::MockReply;
use crate::providers::{anthropic, openai, proxy};
use crate::registry::{ProviderRegistry, Route};
use crate::retry::{RetryPolicy, RetryTransport};
use crate::router::{EstimateTokens, Routed, Router};
use crate::settings::{self, ProviderSettings};
use crate::timeout::{IdleTimeoutTransport, with_deadline};

/// Default deadline for a whole request (for a stream: until its head arrives).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);
/// Default longest silence on a streamed answer.
pub const DEFAULT_STREAM_IDLE_TIMEOUT: Duration = Duration::from_secs(120);
/// Default deadline for connecting (used when mishika builds the HTTP transport).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// What a client method asks of a provider: to call its endpoint method (a plain function
/// pointer, so routing code is written once for every endpoint).
pub(crate) type Op<R, T> = for<'a> fn(
    &'a dyn Provider,
    &'a Call,
    R,
) -> Pin<Box<dyn Future<Output = Result<T>> + Send + 'a>>;

/// One client method per endpoint: to a model group's router, or by the prefix route with
/// the settings resolved for its provider, under the request deadline, with the call's
/// secrets scrubbed from what comes back (see [`Scrub`]).
macro_rules! endpoints {
    ($($(#[$doc:meta])* $method:ident $(=> $provider_method:ident)? ($request:ty) -> $response:ty;)*) => {
        $(
            $(#[$doc])*
            pub fn $method(
                &self,
                request: $request,
            ) -> impl Future<Output = Result<$response>> + Send + '_ {
                self.dispatch(request, endpoints!(@op $method $(, $provider_method)?))
            }
        )*
    };
    (@op $method:ident) => {
        |provider, call, request| provider.$method(call, request)
    };
    (@op $method:ident, $provider_method:ident) => {
        |provider, call, request| provider.$provider_method(call, request)
    };
}

/// What the client does to every answer of a call before handing it out: an error has the
/// call's secrets (its key, its credential headers) scrubbed, whichever provider built it,
/// and a stream scrubs them from its error items too.
pub(crate) trait Scrub: Sized {
    fn scrubbed(self, call: &Call) -> Self;
}

/// [`Scrub`] for answers that are whole once returned: only an error needs it.
macro_rules! scrub_errors {
    ($($response:ty),*) => {
        $(
            impl Scrub for Result<$response> {
                fn scrubbed(self, call: &Call) -> Self {
                    self.map_err(|error| error.scrub_secrets(&call.secrets()))
                }
            }
        )*
    };
}

scrub_errors!(
    ChatResponse,
    CompletionResponse,
    EmbeddingResponse,
    ImageResponse,
    SpeechResponse,
    TranscriptionResponse,
    RerankResponse,
    ModelList
);

impl<T: StreamFrame> Scrub for Result<ResponseStream<T>> {
    fn scrubbed(self, call: &Call) -> Self {
        match self {
            Ok(stream) => Ok(stream.with_secrets(call.secrets())),
            Err(error) => Err(error.scrub_secrets(&call.secrets())),
        }
    }
}

/// The client's settings that belong to no one provider.
#[derive(Debug, Clone)]
struct Settings {
    timeout: Option<Duration>,
    stream_idle_timeout: Option<Duration>,
    stream_deadline: Option<Duration>,
    limits: Limits,
    embedding_encoding: Option<EncodingFormat>,
    /// The process-wide client also consults the process-wide settings
    /// (`mishika::set_api_base`, `mishika::set_provider_settings` …).
    process_wide: bool,
    /// Every model goes to the proxy unchanged.
    force_proxy: bool,
}

/// A client for every provider it routes to. Cheap to clone: clones share one connection
/// pool, one router and one set of settings.
///
/// Each provider gets its own settings and only its own: [`ClientBuilder::api_base`],
/// [`api_key`](ClientBuilder::api_key) and [`header`](ClientBuilder::header) are the
/// proxy's; [`ClientBuilder::provider_settings`] sets any provider's.
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
    router: ProviderRegistry,
    /// Model groups, when the client has a router.
    model_router: Option<Router>,
    settings: Settings,
    transport: Arc<dyn Transport>,
    /// The same stack without transport-level retries, for a router's calls to its
    /// deployments (the router retries): what `num_retries(0)` does, without the marker
    /// every such request would otherwise carry.
    once: Arc<dyn Transport>,
    /// Endpoint URIs parsed once for all calls.
    endpoints: Arc<EndpointCache>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let settings = &self.inner.settings;
        f.debug_struct("Client")
            .field("providers", &self.inner.router)
            .field("timeout", &settings.timeout)
            .field("force_proxy", &settings.force_proxy)
            .field("transport", &self.inner.transport)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client with the defaults: the built-in providers (`mishikallm_proxy/`, `openai/`,
    /// `anthropic/`), the built-in HTTP transport (`HttpTransport`, feature `reqwest`), each
    /// provider's settings from its environment. Without the `reqwest` feature this is a
    /// `Config` error: use [`Client::builder`] and pass a transport.
    pub fn new() -> Result<Client> {
        Client::builder().build()
    }

    /// Configure a client.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// The process-wide client behind the free functions (`mishika::completion` …).
    /// It reads the process-wide settings ([`set_api_base`](crate::set_api_base),
    /// [`set_provider_settings`](crate::set_provider_settings) …) on every call.
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
    pub fn embedding(
        &self,
        mut request: EmbeddingRequest,
    ) -> impl Future<Output = Result<EmbeddingResponse>> + Send + '_ {
        if request.encoding_format.is_none() {
            request.encoding_format = self.inner.settings.embedding_encoding.clone();
        }
        self.dispatch(request, |provider, call, request| {
            provider.embedding(call, request)
        })
    }

    // The call path is plain functions that return futures, not `async fn`s: an `async fn`
    // keeps each argument in its state for the whole call, so every level would hold (and
    // move) the request once more.

    /// Send `request` to the model group its model names, when the client has a router
    /// with that group, else by its prefix; under the request deadline either way.
    fn dispatch<R, T>(
        &self,
        mut request: R,
        op: Op<R, T>,
    ) -> impl Future<Output = Result<T>> + Send + '_
    where
        R: RoutedRequest + EstimateTokens + Clone + Send + 'static,
        T: Routed + MockReply<R>,
        Result<T>: Scrub,
    {
        let deadline = request
            .request_options()
            .timeout
            .or(self.inner.settings.timeout);
        let group = match &self.inner.model_router {
            Some(router) => router
                .group(request.model_mut())
                .map(|group| (router, group)),
            None => None,
        };
        let call = match group {
            // Not boxed: the routed call's state holds one request and one call, as the
            // plain call's does, plus a little bookkeeping (a test below holds it there),
            // so a box would cost more than the bytes it saves.
            Some((router, group)) => Either::Left(router.call(self, group, request, op)),
            None => Either::Right(self.call_via(request, op, &self.inner.transport)),
        };
        with_deadline(deadline, call)
    }

    /// Send `request` by its prefix through `transport`: resolve the provider and its
    /// settings, answer a mock without I/O, or call the provider.
    fn call_via<R, T>(
        &self,
        request: R,
        op: Op<R, T>,
        transport: &Arc<dyn Transport>,
    ) -> impl Future<Output = Result<T>> + Send + 'static
    where
        R: RoutedRequest + Send + 'static,
        T: MockReply<R> + Send + 'static,
        Result<T>: Scrub,
    {
        // Resolved and mock-answered before the async part, which then holds only what
        // the call needs: the provider and the call, used where they lie (a binding by
        // value would store them a second time).
        let prepared = self.prepare(request, transport);
        async move {
            match prepared {
                Err(error) | Ok(Prepared::Answered(Err(error))) => Err(error),
                Ok(Prepared::Answered(Ok(answer))) => Ok(answer),
                Ok(Prepared::Call(ref provider, ref call, request)) => {
                    op(provider.as_ref(), call, request).await.scrubbed(call)
                }
            }
        }
    }

    /// A router's call to a deployment, resolved: by the prefix route, with no
    /// transport-level retries unless the request sets its own (the router retries).
    pub(crate) fn prepare_once<R, T>(&self, request: R) -> Result<Prepared<R, T>>
    where
        R: RoutedRequest,
        T: MockReply<R>,
    {
        let transport = match request.request_options().num_retries {
            None => &self.inner.once,
            Some(_) => &self.inner.transport,
        };
        self.prepare(request, transport)
    }

    /// `request` resolved to its provider and settings, or its mock answer.
    fn prepare<R, T>(&self, request: R, transport: &Arc<dyn Transport>) -> Result<Prepared<R, T>>
    where
        R: RoutedRequest,
        T: MockReply<R>,
    {
        let (provider, call, request) = self.route_via(request, transport)?;
        Ok(match &request.request_options().mock {
            Some(answer) => Prepared::Answered(T::mock(&request, answer)),
            None => Prepared::Call(provider, call, request),
        })
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
        let forced = options
            .force_proxy
            .unwrap_or(self.inner.settings.force_proxy);
        let route = self
            .inner
            .router
            .route_named(if forced { proxy::PREFIX } else { prefix })?;
        let call = self.call_named(route, options, &self.inner.transport);
        with_deadline(call.deadline(), route.provider.list_models(&call))
            .await
            .scrubbed(&call)
    }

    /// Resolve the provider and settings for `request`, stripping the routing prefix from
    /// its model name. With force-proxy on (client, request or `MISHIKALLM_PROXY=true`)
    /// every model goes to the proxy unchanged; only a leading `mishikallm_proxy/` is
    /// stripped.
    pub fn route<R: RoutedRequest>(&self, request: R) -> Result<(Arc<dyn Provider>, Call, R)> {
        self.route_via(request, &self.inner.transport)
    }

    fn route_via<R: RoutedRequest>(
        &self,
        mut request: R,
        transport: &Arc<dyn Transport>,
    ) -> Result<(Arc<dyn Provider>, Call, R)> {
        request.check()?;
        let forced = request
            .request_options()
            .force_proxy
            .unwrap_or(self.inner.settings.force_proxy);
        let (route, strip) = if forced {
            let route = self.inner.router.route_named(proxy::PREFIX)?;
            let strip = match request.model_mut().strip_prefix(proxy::PREFIX) {
                Some(rest) if rest.starts_with('/') => proxy::PREFIX.len() + 1,
                _ => 0,
            };
            (route, strip)
        } else {
            self.inner.router.resolve_route(request.model_mut())?
        };
        request.model_mut().replace_range(..strip, "");
        let call = self.call_named(route, request.request_options(), transport);
        Ok((Arc::clone(&route.provider), call, request))
    }

    /// The settings of one call to the provider under `prefix`: request > client >
    /// process-wide > the provider's environment > its default.
    pub fn call_for(&self, prefix: &str, options: &RequestOptions) -> Result<Call> {
        let route = self.inner.router.route_named(prefix)?;
        Ok(self.call_named(route, options, &self.inner.transport))
    }

    fn call_named(
        &self,
        route: &Route,
        options: &RequestOptions,
        transport: &Arc<dyn Transport>,
    ) -> Call {
        let settings = &self.inner.settings;
        let process = if settings.process_wide {
            settings::process_wide(&route.prefix)
        } else {
            None
        };
        let (api_base, api_key, headers) =
            settings::resolve(&route.spec, &route.settings, process.as_ref(), options);
        // Only the request's own overrides travel with it; the transport decorators hold the
        // client's defaults.
        let policy: CallPolicy = options.policy();
        Call::new(Arc::clone(transport), Arc::clone(&route.name))
            .with_spec(route.spec)
            .with_api_base(api_base)
            .with_api_key(api_key)
            .with_headers(headers)
            .with_policy(policy)
            .with_deadline(options.timeout.or(settings.timeout))
            .with_limits(settings.limits)
            .with_endpoint_cache(Arc::clone(&self.inner.endpoints))
    }
}

/// A call resolved to its provider and settings, or the mock answer that takes its place.
#[expect(
    clippy::large_enum_variant,
    reason = "a call needs the larger variant's parts anyway; a box would allocate per call"
)]
pub(crate) enum Prepared<R, T> {
    /// The mock answer (no I/O).
    Answered(Result<T>),
    /// The provider, the call's settings and the request as it goes.
    Call(Arc<dyn Provider>, Call, R),
}

/// Builds a [`Client`].
pub struct ClientBuilder {
    settings: Settings,
    router: ProviderRegistry,
    /// Settings per provider prefix; the proxy's come from `api_base`, `api_key` and `header`.
    provider_settings: Vec<(String, ProviderSettings)>,
    /// Prefixes registered with [`provider`](ClientBuilder::provider), to catch a prefix
    /// registered twice.
    registered: Vec<String>,
    model_router: Option<Router>,
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
            .field("provider_settings", &self.provider_settings)
            .finish_non_exhaustive()
    }
}

/// The built-in providers every default client routes to.
fn default_router() -> ProviderRegistry {
    let mut router = ProviderRegistry::default();
    let builtins: [(&str, Arc<dyn Provider>); 3] = [
        (proxy::PREFIX, Arc::new(proxy::MISHIKALLM_PROXY)),
        (openai::PREFIX, Arc::new(openai::OPENAI)),
        (anthropic::PREFIX, Arc::new(anthropic::Anthropic::new())),
    ];
    for (prefix, provider) in builtins {
        // The built-in prefixes are valid names: registration cannot fail.
        let _ = router.register(prefix, provider);
    }
    router
}

impl Default for ClientBuilder {
    fn default() -> ClientBuilder {
        ClientBuilder {
            settings: Settings {
                timeout: Some(DEFAULT_TIMEOUT),
                stream_idle_timeout: Some(DEFAULT_STREAM_IDLE_TIMEOUT),
                stream_deadline: None,
                limits: Limits::default(),
                embedding_encoding: None,
                process_wide: false,
                force_proxy: settings::force_proxy_from_env(),
            },
            router: default_router(),
            provider_settings: Vec::new(),
            registered: Vec::new(),
            model_router: None,
            transport: None,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            retry: RetryPolicy::default(),
            invalid: None,
        }
    }
}

impl ClientBuilder {
    /// The settings of the provider under `prefix`, made on first use.
    fn settings_of(&mut self, prefix: &str) -> &mut ProviderSettings {
        let prefix = prefix.trim_end_matches('/');
        let index = match self.provider_settings.iter().position(|(p, _)| p == prefix) {
            Some(index) => index,
            None => {
                self.provider_settings
                    .push((prefix.to_owned(), ProviderSettings::default()));
                self.provider_settings.len() - 1
            }
        };
        &mut self.provider_settings[index].1
    }

    /// The proxy's base URL (`http://h:4000`, with or without `/v1`). Other providers
    /// take theirs from [`provider_settings`](ClientBuilder::provider_settings).
    #[must_use]
    pub fn api_base(mut self, api_base: impl Into<String>) -> Self {
        self.settings_of(proxy::PREFIX).api_base = Some(api_base.into());
        self
    }

    /// The proxy's key, sent as `Authorization: Bearer <key>` to the proxy only.
    #[must_use]
    pub fn api_key(mut self, api_key: impl Into<ApiKey>) -> Self {
        self.settings_of(proxy::PREFIX).api_key = Some(api_key.into());
        self
    }

    /// A header sent on every request to the proxy, and to no other provider (see
    /// [`provider_settings`](ClientBuilder::provider_settings)).
    #[must_use]
    pub fn header(mut self, name: impl AsRef<str>, value: impl AsRef<str>) -> Self {
        let settings = std::mem::take(self.settings_of(proxy::PREFIX));
        *self.settings_of(proxy::PREFIX) = settings.header(name, value);
        self
    }

    /// The base URL, key and headers of the provider under `prefix` (`openai`,
    /// `anthropic`, `mishikallm_proxy`, or one registered with
    /// [`provider`](ClientBuilder::provider)), replacing any given before. They reach that
    /// provider and no other; a request's own settings beat them, and they beat the
    /// process-wide ones and the provider's environment.
    #[must_use]
    pub fn provider_settings(
        mut self,
        prefix: impl AsRef<str>,
        settings: ProviderSettings,
    ) -> Self {
        *self.settings_of(prefix.as_ref()) = settings;
        self
    }

    /// Route requests whose model names one of `router`'s model groups to the group's
    /// deployments (see [`Router`]); every other model goes by its prefix. Each
    /// deployment's model must name a registered provider.
    #[must_use]
    pub fn router(mut self, router: Router) -> Self {
        self.model_router = Some(router);
        self
    }

    /// Send every model to the proxy unchanged (`openai/gpt-4o` reaches the proxy as the
    /// model `openai/gpt-4o`; only a leading `mishikallm_proxy/` is stripped). Off by
    /// default; on when the environment has `MISHIKALLM_PROXY=true` as the client is
    /// built. A request's own `.force_proxy(..)` beats it.
    #[must_use]
    pub fn force_proxy(mut self, force: bool) -> Self {
        self.settings.force_proxy = force;
        self
    }

    /// Deadline for a whole request (`None`: no deadline). Default 600 s.
    #[must_use]
    pub fn timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.settings.timeout = timeout.into();
        self
    }

    /// Longest silence on a body handed to the caller: a stream, speech audio (`None`: wait
    /// forever). Default 120 s. JSON answers are read within the whole-request deadline.
    #[must_use]
    pub fn stream_idle_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.settings.stream_idle_timeout = timeout.into();
        self
    }

    /// Longest time a body handed to the caller (a stream, speech audio) may last in all,
    /// counted from when its request is sent (`None`, the default: no limit). Keep-alive
    /// comments and `ping` events reset the idle timer, since they are bytes arriving; this
    /// deadline is what cuts a stream that only ever sends those. Past it the stream ends
    /// with an `Err` item of kind `Timeout`, phase
    /// [`TimeoutPhase::StreamDeadline`](mishika_core::TimeoutPhase::StreamDeadline).
    #[must_use]
    pub fn stream_deadline(mut self, deadline: impl Into<Option<Duration>>) -> Self {
        self.settings.stream_deadline = deadline.into();
        self
    }

    /// Deadline for connecting, for the HTTP transport mishika builds (feature `reqwest`;
    /// a transport passed with [`transport`](ClientBuilder::transport) keeps its own).
    /// Default 10 s.
    #[must_use]
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Retries after the first attempt (default 2).
    #[must_use]
    pub fn num_retries(mut self, retries: u32) -> Self {
        self.retry.max_retries = retries;
        self
    }

    /// Upper bound on the time spent across all attempts of one call.
    #[must_use]
    pub fn retry_deadline(mut self, deadline: Duration) -> Self {
        self.retry.deadline = Some(deadline);
        self
    }

    /// The whole retry policy: count, backoff, `retry-after` cap, deadline.
    #[must_use]
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// The `encoding_format` for embedding requests that do not set one.
    /// `EncodingFormat::Base64` moves a quarter of the bytes and decodes far faster.
    #[must_use]
    pub fn embedding_encoding(mut self, format: EncodingFormat) -> Self {
        self.settings.embedding_encoding = Some(format);
        self
    }

    /// Memory limits on responses.
    #[must_use]
    pub fn limits(mut self, limits: Limits) -> Self {
        self.settings.limits = limits;
        self
    }

    /// Send every request through `transport` instead of the built-in reqwest one
    /// (a mock in tests, another HTTP stack, a recording layer …).
    #[must_use]
    pub fn transport(mut self, transport: Arc<dyn Transport>) -> Self {
        self.transport = Some(transport);
        self
    }

    /// Route `prefix/<model>` to `provider`, beside the built-in ones. It may replace a
    /// built-in (`openai`, say, with a provider of your own); registering the same prefix
    /// twice on one builder, or an empty prefix, is a `Config` error when the client is
    /// built. The provider gets its settings from
    /// [`provider_settings`](ClientBuilder::provider_settings), the request, and its own
    /// [`spec`](Provider::spec)'s environment variables and default — never another
    /// provider's.
    #[must_use]
    pub fn provider(
        mut self,
        prefix: impl Into<String>,
        provider: impl Provider + 'static,
    ) -> Self {
        let prefix = prefix.into().trim_end_matches('/').to_owned();
        if self.registered.contains(&prefix) {
            self.invalid.get_or_insert(Error::config(format!(
                "two providers registered under the prefix `{prefix}`"
            )));
        }
        match self.router.register(prefix.clone(), Arc::new(provider)) {
            Ok(_) => self.registered.push(prefix),
            Err(error) => {
                self.invalid.get_or_insert(error);
            }
        }
        self
    }

    /// Build the client.
    pub fn build(mut self) -> Result<Client> {
        if let Some(error) = self.invalid {
            return Err(error);
        }
        for (prefix, settings) in std::mem::take(&mut self.provider_settings) {
            settings.check()?;
            self.router.configure(&prefix, settings)?;
        }
        if let Some(router) = &self.model_router {
            for group in router.groups() {
                for deployment in router.deployments(group) {
                    if let Err(error) = self.router.resolve(deployment.model()) {
                        return Err(Error::config(format!(
                            "the deployment `{}` of the model group `{group}` names no \
                             registered provider: {}",
                            deployment.model(),
                            error.message()
                        )));
                    }
                }
            }
        }
        let base: Arc<dyn Transport> = match self.transport {
            Some(transport) => transport,
            None => default_transport(self.connect_timeout)?,
        };
        // Retries sit right above the byte mover; the idle watch wraps the body that is
        // finally handed out.
        let once: Arc<dyn Transport> = Arc::new(
            IdleTimeoutTransport::new(Arc::clone(&base), self.settings.stream_idle_timeout)
                .with_stream_deadline(self.settings.stream_deadline),
        );
        let retrying: Arc<dyn Transport> = Arc::new(
            RetryTransport::new(base, self.retry)
                .error_body_idle_timeout(self.settings.stream_idle_timeout)
                .max_buffered_body(self.settings.limits.max_response_bytes),
        );
        let transport: Arc<dyn Transport> = Arc::new(
            IdleTimeoutTransport::new(retrying, self.settings.stream_idle_timeout)
                .with_stream_deadline(self.settings.stream_deadline),
        );
        Ok(Client {
            inner: Arc::new(Inner {
                router: self.router,
                model_router: self.model_router,
                settings: self.settings,
                transport,
                once,
                endpoints: Arc::default(),
            }),
        })
    }
}

/// The transport a client builds when none is given: mishika-http's over reqwest.
#[cfg(feature = "reqwest")]
fn default_transport(connect_timeout: Duration) -> Result<Arc<dyn Transport>> {
    Ok(Arc::new(
        mishika_http::HttpTransport::builder()
            .connect_timeout(connect_timeout)
            .build()?,
    ))
}

/// Without the `reqwest` feature there is no built-in transport: a `Config` error that
/// says what to do.
#[cfg(not(feature = "reqwest"))]
fn default_transport(_connect_timeout: Duration) -> Result<Arc<dyn Transport>> {
    Err(Error::config(NO_TRANSPORT))
}

/// The message of the `Config` error a client without a transport is built with.
#[cfg(not(feature = "reqwest"))]
pub(crate) const NO_TRANSPORT: &str = "no transport: this build of mishika has no built-in \
    HTTP transport; enable mishika's `reqwest` feature (on by default), or pass one with \
    `ClientBuilder::transport`";

#[cfg(test)]
mod tests {
    use mishika_core::ChatMessage;

    use super::*;
    use crate::router::Deployment;

    /// A client (with a deadline) whose router has the group `group`, of one deployment.
    fn routed_client() -> (Router, Client) {
        let router = Router::builder()
            .deployment(Deployment::new("group", "mishikallm_proxy/model"))
            .build()
            .unwrap();
        let client = Client::builder()
            .api_base("http://127.0.0.1:9")
            .timeout(Duration::from_secs(5))
            .router(router.clone())
            .build()
            .unwrap();
        (router, client)
    }

    /// Every call's future is allocated and moved by its caller, and the routed and the
    /// plain call share the method's: a routed call holds one request and one call's
    /// settings, as the plain call does, plus its loop's bookkeeping; a second copy of
    /// either (680 and 400 bytes) would show here.
    #[test]
    fn a_routed_call_holds_one_request_and_one_call() {
        let (router, client) = routed_client();
        let request = ChatRequest::new("group", [ChatMessage::user("hi")]);
        let group = router.group("group").unwrap();
        let op: Op<ChatRequest, ChatResponse> =
            |provider, call, request| provider.chat(call, request);
        let routed = size_of_val(&router.call(&client, group, request.clone(), op));
        let transport = &client.inner.transport;
        let plain = size_of_val(&client.call_via(request.clone(), op, transport));
        assert!(
            routed <= plain + 256,
            "routed {routed} bytes, plain {plain}"
        );
        // The method's future: the larger of the two and the deadline's timer.
        let method = size_of_val(&client.chat(request));
        assert!(method <= routed.max(plain) + 256, "method {method} bytes");
    }

    /// A call's future may be made before a runtime runs (its deadline's timer is made at
    /// the first poll), by the prefix route and through a router alike.
    #[test]
    fn a_call_made_outside_a_runtime_runs_in_one() {
        let (_, client) = routed_client();
        let plain = client.chat(
            ChatRequest::new("mishikallm_proxy/model", [ChatMessage::user("hi")])
                .mock_response("plain"),
        );
        let routed = client
            .chat(ChatRequest::new("group", [ChatMessage::user("hi")]).mock_response("routed"));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let (plain, routed) = runtime.block_on(async { (plain.await, routed.await) });
        assert_eq!(plain.unwrap().content(), Some("plain"));
        let routed = routed.unwrap();
        assert_eq!(routed.content(), Some("routed"));
        assert_eq!(&*routed.metadata().route().unwrap().group, "group");
    }
}
