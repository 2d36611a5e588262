//! # mishika
//!
//! One typed, async API for large language models. Its first backend is the
//! **MishikaLLM Proxy**, an OpenAI-compatible gateway: a model named
//! `mishikallm_proxy/<name>` is sent to the proxy as `<name>`. Other backends plug in
//! beside it with [`ClientBuilder::provider`].
//!
//! ```no_run
//! use futures_util::StreamExt;
//! use mishika::{ChatMessage, ChatRequest};
//!
//! # async fn run() -> mishika::Result<()> {
//! mishika::set_api_base(Some("http://localhost:4000".to_owned()));
//! mishika::set_api_key(Some("sk-my-proxy-key".to_owned()));
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
//! Settings are resolved per call: the request's own (`.api_base(..)`, `.api_key(..)`),
//! then the client's (or, for the free functions, [`set_api_base`] / [`set_api_key`]), then
//! the environment (`MISHIKALLM_PROXY_API_BASE`, `MISHIKALLM_PROXY_API_KEY`).

mod client;
pub mod proxy;
mod router;
mod timeout;

pub use client::{
    Client, ClientBuilder, DEFAULT_CONNECT_TIMEOUT, DEFAULT_STREAM_IDLE_TIMEOUT, DEFAULT_TIMEOUT,
    set_api_base, set_api_key,
};
pub use router::Router;
pub use timeout::IdleTimeoutTransport;

pub use mishika_core::chat::{
    ChatChoice, ChatDelta, ChunkChoice, FunctionCall, FunctionCallDelta, FunctionDefinition,
    ImageUrl, JsonSchema, ResponseMessage, Stop, StreamOptions, ToolCallDelta,
};
pub use mishika_core::{
    ApiKey, Body, Call, CallPolicy, ChatChunk, ChatMessage, ChatRequest, ChatResponse, ChatStream,
    ChatStreamAccumulator, Content, ContentPart, Error, ErrorKind, FinishReason, Limits, Provider,
    ProviderEnv, RequestOptions, ResponseFormat, ResponseMetadata, Result, Role, TimeoutPhase,
    Tool, ToolCall, ToolChoice, Transport, TransportError, TransportErrorKind, Usage,
};
pub use mishika_http::HttpTransport;

/// The core crate, for provider and transport authors.
pub use mishika_core as core;

/// Chat through the process-wide client ([`Client::global`]).
pub async fn completion(request: ChatRequest) -> Result<ChatResponse> {
    Client::global()?.chat(request).await
}

/// Streamed chat through the process-wide client ([`Client::global`]).
pub async fn completion_stream(request: ChatRequest) -> Result<ChatStream> {
    Client::global()?.chat_stream(request).await
}

/// The README's examples, compiled as doc tests so they cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;
