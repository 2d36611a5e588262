//! Core of [mishika](https://docs.rs/mishika): wire types, the [`Transport`] and
//! [`Provider`] traits, the SSE decoder and the [`Error`] type.
//!
//! Depend on this crate alone to write a provider or a transport; it pulls in no HTTP
//! client and no async runtime.

pub mod chat;
pub mod error;
pub mod options;
pub mod provider;
pub mod secret;
pub mod sse;
pub mod stream;
pub mod transport;
mod wire;

pub use chat::{
    ChatChunk, ChatMessage, ChatRequest, ChatResponse, ChatStreamAccumulator, Content, ContentPart,
    FinishReason, ResponseFormat, Role, Tool, ToolCall, ToolChoice, Usage,
};
pub use error::{Error, ErrorKind, Result, TimeoutPhase};
pub use options::{CallPolicy, RequestOptions, ResponseMetadata, RoutedRequest};
pub use provider::{Call, ChatStream, Limits, Provider, ProviderEnv, WithMetadata};
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
