//! # mishika
//!
//! One typed, async API for large language models. Its first backend is the
//! **MishikaLLM Proxy**, an OpenAI-compatible gateway: a model named
//! `mishikallm_proxy/<name>` is sent to the proxy as `<name>`. Beside it, `openai/<name>`
//! calls OpenAI (or any server speaking its API) and `anthropic/<name>` Anthropic's
//! Messages API ([`providers`]); your own backends plug in with
//! [`ClientBuilder::provider`] (see [`guide::writing_a_provider`]).
//!
//! ```no_run
//! use futures_util::StreamExt;
//! use mishika::{ChatMessage, ChatRequest};
//!
//! # async fn run() -> mishika::Result<()> {
//! mishika::set_api_base("http://localhost:4000");
//! mishika::set_api_key("sk-my-proxy-key");
//!
//! let request = ChatRequest::new("mishikallm_proxy/gpt-4o", [ChatMessage::user("Hi!")]);
//! let response = mishika::completion(request.clone()).await?;
//! println!("{}", response.content().unwrap_or_default());
//!
//! let mut stream = mishika::completion_stream(request).await?;
//! while let Some(chunk) = stream.next().await {
//!     print!("{}", chunk?.content().unwrap_or_default());
//! }
//! # Ok(()) }
//! ```
//!
//! Settings are per provider and resolved per call: the request's own (`.api_base(..)`,
//! `.api_key(..)`), then the client's for that provider ([`ClientBuilder::api_base`] for
//! the proxy, [`ClientBuilder::provider_settings`] for any), then the process-wide ones for
//! the free functions ([`set_api_base`], [`set_provider_settings`]), then the provider's
//! environment (`MISHIKALLM_PROXY_API_BASE`, `OPENAI_API_KEY`, `ANTHROPIC_API_KEY` …), then
//! its default. A provider never sees another provider's base, key or headers.

mod client;
pub mod guide;
mod mock;
pub mod providers;
mod registry;
mod retry;
pub mod router;
mod settings;
mod timeout;

pub use client::{
    Client, ClientBuilder, DEFAULT_CONNECT_TIMEOUT, DEFAULT_STREAM_IDLE_TIMEOUT, DEFAULT_TIMEOUT,
};
pub use providers::proxy;
pub use registry::ProviderRegistry;
pub use retry::{RetryPolicy, RetryTransport};
pub use router::{Deployment, Router, RouterBuilder, Strategy};
pub use settings::{
    ProviderSettings, clear_process_settings, set_api_base, set_api_key, set_provider_settings,
};
pub use timeout::IdleTimeoutTransport;

pub use mishika_core::audio::{TranscriptionSegment, TranscriptionWord};
pub use mishika_core::chat::{
    ChatChoice, ChatDelta, ChunkChoice, FunctionCall, FunctionCallDelta, FunctionDefinition,
    ImageUrl, JsonSchema, ResponseMessage, Stop, StreamOptions, ToolCallDelta,
};
pub use mishika_core::completions::CompletionChoice;
pub use mishika_core::embeddings::EmbeddingUsage;
pub use mishika_core::images::ImageUsage;
pub use mishika_core::rerank::{RerankMeta, RerankedDocument};
pub use mishika_core::{
    ApiKey, AudioFile, Body, Call, CallPolicy, ChatChunk, ChatMessage, ChatRequest, ChatResponse,
    ChatStream, ChatStreamAccumulator, CompletionChunk, CompletionRequest, CompletionResponse,
    CompletionStream, Content, ContentPart, Embedding, EmbeddingInput, EmbeddingRequest,
    EmbeddingResponse, EncodingFormat, Error, ErrorKind, FinishReason, Image, ImageRequest,
    ImageResponse, Limits, Model, ModelList, Prompt, Provider, ProviderSpec, RequestOptions,
    RerankDocument, RerankRequest, RerankResponse, RerankResult, ResponseFormat, ResponseMetadata,
    Result, Role, RouteInfo, SpeechRequest, SpeechResponse, TimeoutPhase, TimestampGranularity,
    Tool, ToolCall, ToolChoice, TranscriptionFormat, TranscriptionRequest, TranscriptionResponse,
    Transport, TransportError, TransportErrorKind, TransportFuture, Usage,
};
pub use mishika_http::HttpTransport;

/// The core crate, for provider and transport authors.
pub use mishika_core as core;

/// Free functions on the process-wide client ([`Client::global`]).
macro_rules! free_functions {
    ($($(#[$doc:meta])* $name:ident => $method:ident($request:ty) -> $response:ty;)*) => {
        $(
            $(#[$doc])*
            pub async fn $name(request: $request) -> Result<$response> {
                Client::global()?.$method(request).await
            }
        )*
    };
}

free_functions! {
    /// Chat (`POST /v1/chat/completions`) through the process-wide client.
    completion => chat(ChatRequest) -> ChatResponse;
    /// Streamed chat through the process-wide client.
    completion_stream => chat_stream(ChatRequest) -> ChatStream;
    /// Legacy text completion (`POST /v1/completions`) through the process-wide client.
    text_completion => text_completion(CompletionRequest) -> CompletionResponse;
    /// Streamed legacy text completion through the process-wide client.
    text_completion_stream => text_completion_stream(CompletionRequest) -> CompletionStream;
    /// Embeddings (`POST /v1/embeddings`) through the process-wide client.
    embedding => embedding(EmbeddingRequest) -> EmbeddingResponse;
    /// Image generation (`POST /v1/images/generations`) through the process-wide client.
    image_generation => image_generation(ImageRequest) -> ImageResponse;
    /// Text to speech (`POST /v1/audio/speech`) through the process-wide client.
    speech => speech(SpeechRequest) -> SpeechResponse;
    /// Transcription (`POST /v1/audio/transcriptions`) through the process-wide client.
    transcription => transcription(TranscriptionRequest) -> TranscriptionResponse;
    /// Rerank (`POST /v1/rerank`) through the process-wide client.
    rerank => rerank(RerankRequest) -> RerankResponse;
}

/// The models the proxy serves (`GET /v1/models`), through the process-wide client.
pub async fn list_models() -> Result<ModelList> {
    Client::global()?.list_models(proxy::PREFIX).await
}
