//! The OpenAI wire, one implementation for every OpenAI-shaped backend: the MishikaLLM
//! Proxy (`mishikallm_proxy/`), OpenAI itself (`openai/`), and any compatible server a
//! user registers under a prefix of their own ([`OpenAiCompatible::named`]).
//!
//! Pure translation: typed request → `http::Request<Bytes>` at the provider's endpoint
//! paths, answer → typed response. Settings, retries and timeouts are the client's; how
//! the base joins the paths, how the key is sent and how errors read come from the
//! provider's [`ProviderSpec`].

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;

use async_trait::async_trait;
use bytes::Bytes;
use http::header::ACCEPT;
use http::{HeaderValue, Method};
use mishika_core::stream::StreamFrame;
use mishika_core::{
    Call, ChatRequest, ChatResponse, ChatStream, CompletionRequest, CompletionResponse,
    CompletionStream, EmbeddingRequest, EmbeddingResponse, Error, ImageRequest, ImageResponse,
    ModelList, Provider, ProviderSpec, RerankRequest, RerankResponse, ResponseMetadata,
    ResponseStream, Result, SpeechRequest, SpeechResponse, TranscriptionRequest,
    TranscriptionResponse, WithMetadata,
};
use serde::de::DeserializeOwned;

/// What the provider's methods return.
type CallFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T>> + Send + 'a>>;

/// The hot provider methods, written in async_trait's expanded form rather than as
/// `async fn`: they serialise the request before their future is made, so the future holds
/// neither the typed request nor the HTTP one (smaller to allocate and move on every call).
macro_rules! serialised_first {
    ($($method:ident($request:ty) -> $response:ty = |$call:ident, $typed:ident| $body:block;)*) => {
        $(
            fn $method<'life0, 'life1, 'async_trait>(
                &'life0 self,
                $call: &'life1 Call,
                #[allow(unused_mut)] mut $typed: $request,
            ) -> CallFuture<'async_trait, $response>
            where
                'life0: 'async_trait,
                'life1: 'async_trait,
                Self: 'async_trait,
            $body
        )*
    };
}

/// Send a serialised JSON request and decode the JSON answer.
fn post_json<'a, T>(call: &'a Call, request: Result<http::Request<Bytes>>) -> CallFuture<'a, T>
where
    T: DeserializeOwned + WithMetadata + Send + 'a,
{
    match request {
        Ok(request) => Box::pin(call.send_json(request)),
        Err(error) => Box::pin(std::future::ready(Err(error))),
    }
}

/// Send a serialised JSON request asking for a stream of server-sent events.
fn post_sse<'a, T>(
    call: &'a Call,
    request: Result<http::Request<Bytes>>,
) -> CallFuture<'a, ResponseStream<T>>
where
    T: StreamFrame + 'a,
{
    match request {
        Ok(request) => {
            let opened = call.send_sse::<T>(accept(request, "text/event-stream"));
            Box::pin(async move { opened.await.map(ResponseStream::from) })
        }
        Err(error) => Box::pin(std::future::ready(Err(error))),
    }
}

/// An OpenAI-shaped backend: every endpoint of the OpenAI API (chat, text completions,
/// embeddings, images, speech, transcription, models), plus rerank where the server
/// has it (the proxy does; OpenAI does not).
///
/// ```
/// use mishika::core::{PathStyle, ProviderSpec};
/// use mishika::providers::OpenAiCompatible;
///
/// // A local server speaking OpenAI's wire, under `local/<model>`.
/// let local = OpenAiCompatible::named(
///     "local",
///     ProviderSpec::new()
///         .env_api_base("LOCAL_LLM_BASE_URL")
///         .default_api_base("http://127.0.0.1:8000/v1")
///         .paths(PathStyle::AsGiven),
/// );
/// let client = mishika::Client::builder().provider("local", local).build()?;
/// assert!(client.prefixes().contains(&"local"));
/// # Ok::<(), mishika::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct OpenAiCompatible {
    name: Cow<'static, str>,
    spec: ProviderSpec,
    rerank: bool,
}

impl OpenAiCompatible {
    /// A backend named `name` (used in errors) with `spec`'s settings and rules; rerank
    /// answers `Unsupported` until [`with_rerank`](OpenAiCompatible::with_rerank).
    pub const fn new(name: &'static str, spec: ProviderSpec) -> OpenAiCompatible {
        OpenAiCompatible {
            name: Cow::Borrowed(name),
            spec,
            rerank: false,
        }
    }

    /// [`new`](OpenAiCompatible::new) with a name made at run time.
    pub fn named(name: impl Into<String>, spec: ProviderSpec) -> OpenAiCompatible {
        OpenAiCompatible {
            name: Cow::Owned(name.into()),
            spec,
            rerank: false,
        }
    }

    /// Whether the server offers `POST rerank` (Cohere's shape, as LiteLLM's proxy serves it).
    #[must_use]
    pub const fn with_rerank(mut self, rerank: bool) -> OpenAiCompatible {
        self.rerank = rerank;
        self
    }
}

#[async_trait]
impl Provider for OpenAiCompatible {
    fn name(&self) -> &str {
        &self.name
    }

    fn spec(&self) -> ProviderSpec {
        self.spec
    }

    serialised_first! {
        chat(ChatRequest) -> ChatResponse = |call, request| {
            request.stream = None;
            post_json(call, call.json_request("chat/completions", &request))
        };
        chat_stream(ChatRequest) -> ChatStream = |call, request| {
            request.stream = Some(true);
            post_sse(call, call.json_request("chat/completions", &request))
        };
        completion(CompletionRequest) -> CompletionResponse = |call, request| {
            request.stream = None;
            post_json(call, call.json_request("completions", &request))
        };
        completion_stream(CompletionRequest) -> CompletionStream = |call, request| {
            request.stream = Some(true);
            post_sse(call, call.json_request("completions", &request))
        };
        embedding(EmbeddingRequest) -> EmbeddingResponse = |call, request| {
            post_json(call, call.json_request("embeddings", &request))
        };
    }

    async fn image_generation(&self, call: &Call, request: ImageRequest) -> Result<ImageResponse> {
        call.send_json(call.json_request("images/generations", &request)?)
            .await
    }

    async fn speech(&self, call: &Call, request: SpeechRequest) -> Result<SpeechResponse> {
        let http = accept(call.json_request("audio/speech", &request)?, "*/*");
        let (parts, body) = call.send_streamed(http).await?.into_parts();
        Ok(SpeechResponse::new(
            ResponseMetadata::new(parts.status, parts.headers),
            body,
        ))
    }

    async fn transcription(
        &self,
        call: &Call,
        request: TranscriptionRequest,
    ) -> Result<TranscriptionResponse> {
        let mut form = request.to_multipart();
        let content_type = form.content_type();
        let http = call.request(
            Method::POST,
            "audio/transcriptions",
            Some(&content_type),
            form.encode(),
        )?;
        let (parts, body) = call.send_checked(http).await?.into_parts();
        let bytes = body.collect(call.limits().max_response_bytes).await?;
        TranscriptionResponse::parse(&bytes, ResponseMetadata::new(parts.status, parts.headers))
    }

    async fn rerank(&self, call: &Call, request: RerankRequest) -> Result<RerankResponse> {
        if !self.rerank {
            return Err(Error::unsupported(&self.name, "rerank"));
        }
        call.send_json(call.json_request("rerank", &request)?).await
    }

    async fn list_models(&self, call: &Call) -> Result<ModelList> {
        let http = call.request(Method::GET, "models", None, Bytes::new())?;
        call.send_json(accept(http, "application/json")).await
    }
}

fn accept(mut request: http::Request<Bytes>, value: &'static str) -> http::Request<Bytes> {
    request
        .headers_mut()
        .insert(ACCEPT, HeaderValue::from_static(value));
    request
}
