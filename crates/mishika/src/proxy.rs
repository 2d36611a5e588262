//! The `mishikallm_proxy/` provider: the MishikaLLM Proxy, an OpenAI-compatible gateway.
//!
//! Pure translation: typed request → `http::Request<Bytes>` at `{base}/v1/{endpoint}`,
//! answer → typed response. Settings, retries and timeouts are the client's.

use async_trait::async_trait;
use http::header::ACCEPT;
use http::{HeaderValue, Method};
use mishika_core::{
    Call, ChatRequest, ChatResponse, ChatStream, CompletionRequest, CompletionResponse,
    CompletionStream, EmbeddingRequest, EmbeddingResponse, ImageRequest, ImageResponse, ModelList,
    Provider, ProviderEnv, RerankRequest, RerankResponse, ResponseMetadata, Result, SpeechRequest,
    SpeechResponse, TranscriptionRequest, TranscriptionResponse,
};

/// The routing prefix of the proxy: `mishikallm_proxy/<model>`.
pub const PREFIX: &str = "mishikallm_proxy";
/// Environment variable for the proxy's base URL.
pub const ENV_API_BASE: &str = "MISHIKALLM_PROXY_API_BASE";
/// Environment variable for the proxy's key.
pub const ENV_API_KEY: &str = "MISHIKALLM_PROXY_API_KEY";

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

    async fn chat(&self, call: &Call, mut request: ChatRequest) -> Result<ChatResponse> {
        request.stream = None;
        let http = call.json_request("chat/completions", &request)?;
        call.send_json(http).await
    }

    async fn chat_stream(&self, call: &Call, mut request: ChatRequest) -> Result<ChatStream> {
        request.stream = Some(true);
        let http = accept(
            call.json_request("chat/completions", &request)?,
            "text/event-stream",
        );
        call.send_sse(http).await
    }

    async fn completion(
        &self,
        call: &Call,
        mut request: CompletionRequest,
    ) -> Result<CompletionResponse> {
        request.stream = None;
        call.send_json(call.json_request("completions", &request)?)
            .await
    }

    async fn completion_stream(
        &self,
        call: &Call,
        mut request: CompletionRequest,
    ) -> Result<CompletionStream> {
        request.stream = Some(true);
        let http = accept(
            call.json_request("completions", &request)?,
            "text/event-stream",
        );
        call.send_sse(http).await
    }

    async fn embedding(&self, call: &Call, request: EmbeddingRequest) -> Result<EmbeddingResponse> {
        call.send_json(call.json_request("embeddings", &request)?)
            .await
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
