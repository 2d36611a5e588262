//! The core of [mishika](https://docs.rs/mishika): the request and response types of every
//! endpoint, the [`Transport`] and [`Provider`] traits, the [`Call`] a provider is handed,
//! the SSE decoder and the [`Error`] type.
//!
//! Applications depend on `mishika`, which re-exports all of this as `mishika::core` (and
//! the everyday types at its root). Depend on this crate directly to write a **provider**
//! (a backend with its own wire format) or a **transport** (another HTTP stack, a test
//! double, a layer that adds tracing): it pulls in no HTTP client and no async runtime.
//!
//! # Where things are
//!
//! | you want | look at |
//! |---|---|
//! | the types of an endpoint | [`chat`], [`completions`], [`embeddings`], [`images`], [`audio`], [`rerank`], [`models`]; the everyday ones are re-exported at this crate's root |
//! | per-request settings, mock answers | [`options`] ([`RequestOptions`], [`MockAnswer`]) |
//! | what an answer's headers said (call id, cost, rate limits, the route taken) | [`metadata`] ([`ResponseMetadata`]) |
//! | errors | [`error`] ([`Error`], [`ErrorKind`], [`TimeoutPhase`]) |
//! | to write a provider | [`Provider`], [`Call`], [`ProviderSpec`] (its settings, auth, paths and error rules) |
//! | to write a transport | [`Transport`], [`TransportFuture`], [`Body`], [`TransportError`] |
//! | to read a stream | [`stream`] ([`SseStream`], [`SseEventStream`], [`LineStream`]), [`sse`] (the decoder) |
//! | multipart bodies | [`multipart`] |
//! | keys and what must never be printed | [`secret`] ([`ApiKey`], [`Secrets`]) |
//! | the versions of `bytes`, `http`, `serde_json` and `async-trait` this crate uses | [`reexports`] |
//!
//! # A provider and a transport
//!
//! Both fit in a few lines. A provider translates typed requests into HTTP through the
//! [`Call`] it is given (which knows the base URL, the key, the headers, the limits); a
//! transport turns a finished `http::Request<Bytes>` into a response.
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
//!
//! In an application, register the provider with `mishika`'s
//! `Client::builder().provider("prefix", Compatible)`, or hand the transport to
//! `Client::builder().transport(..)`: the client then adds settings resolution, retries and
//! timeouts around them. mishika's guide "Writing a provider" states the whole contract.
//!
//! # Errors
//!
//! Every failure is one [`Error`] whose [`ErrorKind`] mirrors the gateway's exception
//! classes (`RateLimit`, `ContextWindowExceeded`, `Authentication` …) or names a
//! client-side failure (`Connection`, `Timeout`, `Decode`, `Stream`, `Config` …). It keeps
//! what the server said (status, message, type, param, code, `retry-after`, headers, the
//! body up to 8 KiB) with any key or credential header it echoed replaced by `***`.
//!
//! ```
//! use mishika_core::reexports::http::{HeaderMap, StatusCode};
//! use mishika_core::{Error, ErrorKind};
//!
//! let body = br#"{"error": {"message": "Rate limit reached", "type": "rate_limit_error", "code": "429"}}"#;
//! let error = Error::from_response(StatusCode::TOO_MANY_REQUESTS, &HeaderMap::new(), body);
//! assert_eq!(error.kind(), ErrorKind::RateLimit);
//! assert_eq!(error.message(), "Rate limit reached");
//! assert!(error.is_retryable());
//! ```
//!
//! # Testing with `MockTransport`
//!
//! With the `mock` feature, `MockTransport` is a
//! [mockall](https://docs.rs/mockall) mock of [`Transport`]: each expectation sees the
//! request and returns the answer.
//!
//! ```
//! # #[cfg(not(feature = "mock"))] fn main() {}
//! # #[cfg(feature = "mock")]
//! # fn main() -> mishika_core::Result<()> {
//! use std::sync::Arc;
//! use mishika_core::reexports::{http, serde_json};
//! use mishika_core::{Body, Call, ChatMessage, ChatRequest, ChatResponse, MockTransport};
//!
//! let mut transport = MockTransport::new();
//! transport.expect_send().times(1).returning(|request| {
//!     let body: serde_json::Value = serde_json::from_slice(request.body()).unwrap();
//!     assert_eq!(body["model"], "my-model");
//!     Ok(http::Response::new(Body::from(
//!         r#"{"choices":[{"index":0,"message":{"role":"assistant","content":"hi"}}]}"#,
//!     )))
//! });
//!
//! let call = Call::new(Arc::new(transport), "compatible")
//!     .with_api_base(Some("http://localhost:8000".into()));
//! let request = ChatRequest::new("my-model", [ChatMessage::user("hello")]);
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let response: ChatResponse = call.send_json(call.json_request("chat/completions", &request)?).await?;
//! assert_eq!(response.content(), Some("hi"));
//! # Ok(()) })
//! # }
//! ```
//!
//! # Feature flags
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `mock` | off | `MockTransport`, a mockall mock of [`Transport`], for tests |
//! | `tokio` | off | `SpeechResponse::save` and `SpeechResponse::write_to`, on tokio's file and `AsyncWrite` types (`mishika` turns it on) |
//
// The one list of this crate's features: extend this table when one is added.

#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod audio;
pub mod call;
pub mod chat;
pub mod completions;
pub mod decode;
pub mod embeddings;
pub mod error;
mod file;
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
pub use call::{AnswerUse, Call, CallContext};
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
