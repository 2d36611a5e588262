//! The `mishikallm_proxy/` provider: the MishikaLLM Proxy, an OpenAI-compatible gateway.
//!
//! Pure translation: typed request → `http::Request<Bytes>` at `{base}/v1/{endpoint}`,
//! answer → typed response. Settings, retries and timeouts are the client's.

use std::future::Future;
use std::pin::Pin;

use async_trait::async_trait;
use bytes::Bytes;
use http::header::ACCEPT;
use http::{HeaderValue, Method};
use mishika_core::stream::{SseStream, StreamFrame};
use mishika_core::{
    Call, ChatRequest, ChatResponse, ChatStream, CompletionRequest, CompletionResponse,
    CompletionStream, EmbeddingRequest, EmbeddingResponse, ImageRequest, ImageResponse, ModelList,
    Provider, ProviderEnv, RerankRequest, RerankResponse, ResponseMetadata, Result, SpeechRequest,
    SpeechResponse, TranscriptionRequest, TranscriptionResponse, WithMetadata,
};
use serde::de::DeserializeOwned;

/// The routing prefix of the proxy: `mishikallm_proxy/<model>`.
pub const PREFIX: &str = "mishikallm_proxy";
/// Environment variable for the proxy's base URL.
pub const ENV_API_BASE: &str = "MISHIKALLM_PROXY_API_BASE";
/// Environment variable for the proxy's key.
pub const ENV_API_KEY: &str = "MISHIKALLM_PROXY_API_KEY";

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
) -> CallFuture<'a, SseStream<T>>
where
    T: StreamFrame + 'a,
{
    match request {
        Ok(request) => Box::pin(call.send_sse(accept(request, "text/event-stream"))),
        Err(error) => Box::pin(std::future::ready(Err(error))),
    }
}

/// The MishikaLLM Proxy provider (registered by default under [`PREFIX`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct MishikallmProxy;

#[async_trait]
impl Provider for MishikallmProxy {
    fn name(&self) -> &str {
        PREFIX
    }

    fn env(&self) -> ProviderEnv {
        ProviderEnv {
            api_base: Some(ENV_API_BASE),
            api_key: Some(ENV_API_KEY),
        }
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
        let (parts, body) = call.send_checked(http).await?.into_parts();
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
        call.send_json(call.json_request("rerank", &request)?).await
    }

    async fn list_models(&self, call: &Call) -> Result<ModelList> {
        let http = call.request(Method::GET, "models", None, bytes::Bytes::new())?;
        call.send_json(accept(http, "application/json")).await
    }
}

fn accept(
    mut request: http::Request<bytes::Bytes>,
    value: &'static str,
) -> http::Request<bytes::Bytes> {
    request
        .headers_mut()
        .insert(ACCEPT, HeaderValue::from_static(value));
    request
}
