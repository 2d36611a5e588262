//! Core of [mishika](https://docs.rs/mishika): wire types, the [`Transport`] and
//! [`Provider`] traits, the SSE decoder and the [`Error`] type.
//!
//! Depend on this crate alone to write a provider or a transport; it pulls in no HTTP
//! client and no async runtime. Both fit in a few lines:
//!
//! ```
//! use std::sync::Arc;
//! use mishika_core::reexports::{async_trait, bytes::Bytes, http};
//! use mishika_core::{Body, Call, ChatMessage, ChatRequest, ChatResponse, Provider, Result,
//!                    Transport, TransportFuture};
//!
//! /// A provider for any OpenAI-compatible server.
//! #[derive(Debug)]
//! struct Compatible;
//!
//! #[async_trait]
//! impl Provider for Compatible {
//!     fn name(&self) -> &str { "compatible" }
//!     async fn chat(&self, call: &Call, request: ChatRequest) -> Result<ChatResponse> {
//!         call.send_json(call.json_request("chat/completions", &request)?).await
//!     }
//! }
//!
//! /// A transport that answers every request from memory.
//! #[derive(Debug)]
//! struct Canned;
//!
//! impl Transport for Canned {
//!     fn send(&self, request: http::Request<Bytes>) -> TransportFuture<'_> {
//!         assert_eq!(request.uri(), "http://localhost:8000/v1/chat/completions");
//!         Box::pin(async move {
//!             Ok(http::Response::new(Body::from(
//!                 r#"{"choices":[{"index":0,"message":{"role":"assistant","content":"hi"}}]}"#,
//!             )))
//!         })
//!     }
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let call = Call::new(Arc::new(Canned), "compatible")
//!     .with_api_base(Some("http://localhost:8000".into()));
//! let request = ChatRequest::new("my-model", [ChatMessage::user("hello")]);
//! let response = Compatible.chat(&call, request).await?;
//! assert_eq!(response.content(), Some("hi"));
//! # Ok::<(), mishika_core::Error>(()) }).unwrap();
//! ```

pub mod audio;
pub mod call;
pub mod chat;
pub mod completions;
pub mod decode;
pub mod embeddings;
pub mod error;
pub mod images;
pub mod metadata;
pub mod models;
pub mod multipart;
pub mod options;
pub mod provider;
pub mod rerank;
pub mod secret;
pub mod spec;
pub mod sse;
pub mod stream;
pub mod transport;
mod wire;

pub use wire::TextInput;

pub use audio::{
    AudioFile, SpeechRequest, SpeechResponse, TimestampGranularity, TranscriptionFormat,
    TranscriptionRequest, TranscriptionResponse,
};
pub use call::{AnswerUse, Call, CallContext, EndpointCache};
pub use chat::{
    ChatChunk, ChatMessage, ChatRequest, ChatResponse, ChatStreamAccumulator, Content, ContentPart,
    FinishReason, ResponseFormat, Role, Tool, ToolCall, ToolChoice, Usage,
};
pub use completions::{CompletionChunk, CompletionRequest, CompletionResponse, Prompt};
pub use decode::WithMetadata;
pub use embeddings::{
    Embedding, EmbeddingInput, EmbeddingRequest, EmbeddingResponse, EncodingFormat,
};
pub use error::{Error, ErrorKind, Result, TimeoutPhase};
pub use images::{Image, ImageRequest, ImageResponse};
pub use metadata::{ResponseMetadata, RouteInfo};
pub use models::{Model, ModelList};
pub use options::{CallPolicy, MockAnswer, RequestOptions, RoutedRequest};
pub use provider::Provider;
pub use rerank::{RerankDocument, RerankRequest, RerankResponse, RerankResult};
pub use secret::{ApiKey, Secrets};
pub use spec::{AuthScheme, ErrorRules, Limits, PathStyle, ProviderSpec};
pub use stream::{
    ChatStream, CompletionStream, LineStream, ResponseStream, SseEventStream, SseStream,
    StreamFrame,
};
#[cfg(feature = "mock")]
#[cfg_attr(docsrs, doc(cfg(feature = "mock")))]
pub use transport::MockTransport;
pub use transport::{Body, Transport, TransportError, TransportErrorKind, TransportFuture};

/// Re-exports for provider and transport authors, so their versions match mishika's.
pub mod reexports {
    pub use async_trait::async_trait;
    pub use bytes;
    pub use http;
    pub use serde_json;
}
