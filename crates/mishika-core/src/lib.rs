//! Core of [mishika](https://docs.rs/mishika): wire types, the [`Transport`] and
//! [`Provider`] traits, the SSE decoder and the [`Error`] type.
//!
//! Depend on this crate alone to write a provider or a transport; it pulls in no HTTP
//! client and no async runtime.

pub mod audio;
pub mod chat;
pub mod completions;
pub mod embeddings;
pub mod error;
pub mod images;
pub mod models;
pub mod multipart;
pub mod options;
pub mod provider;
pub mod rerank;
pub mod secret;
pub mod sse;
pub mod stream;
pub mod transport;
mod wire;

pub use audio::{
    AudioFile, SpeechRequest, SpeechResponse, TimestampGranularity, TranscriptionFormat,
    TranscriptionRequest, TranscriptionResponse,
};
pub use chat::{
    ChatChunk, ChatMessage, ChatRequest, ChatResponse, ChatStreamAccumulator, Content, ContentPart,
    FinishReason, ResponseFormat, Role, Tool, ToolCall, ToolChoice, Usage,
};
pub use completions::{CompletionChunk, CompletionRequest, CompletionResponse, Prompt};
pub use embeddings::{
    Embedding, EmbeddingInput, EmbeddingRequest, EmbeddingResponse, EncodingFormat,
};
pub use error::{Error, ErrorKind, Result, TimeoutPhase};
pub use images::{Image, ImageRequest, ImageResponse};
pub use models::{Model, ModelList};
pub use options::{CallPolicy, RequestOptions, ResponseMetadata, RoutedRequest};
pub use provider::{
    Call, ChatStream, CompletionStream, Limits, Provider, ProviderEnv, WithMetadata,
};
pub use rerank::{RerankDocument, RerankRequest, RerankResponse, RerankResult};
pub use secret::ApiKey;
pub use stream::{SseStream, StreamFrame};
#[cfg(feature = "mock")]
pub use transport::MockTransport;
pub use transport::{Body, Transport, TransportError, TransportErrorKind};

/// Re-exports for provider and transport authors, so their versions match mishika's.
pub mod reexports {
    pub use async_trait::async_trait;
    pub use bytes;
    pub use http;
    pub use serde_json;
}
