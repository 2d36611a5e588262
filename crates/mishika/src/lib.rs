//! # mishika
//!
//! One typed, async API for large language models. Its first backend is the
//! **MishikaLLM Proxy**, an OpenAI-compatible gateway (LiteLLM's proxy speaks the same
//! protocol): a model named `mishikallm_proxy/<name>` is sent to the proxy as `<name>`.
//! Beside it, `openai/<name>` calls OpenAI (or any server speaking its API) and
//! `anthropic/<name>` Anthropic's Messages API ([`providers`]); your own backends plug in
//! with [`ClientBuilder::provider`] (see [`guide::writing_a_provider`]). Every endpoint,
//! every provider and the [`Router`] share one set of request types, settings and errors.
//!
//! ```toml
//! [dependencies]
//! mishika = "0.1"
//! tokio = { version = "1", features = ["macros", "rt-multi-thread"] }
//! futures-util = "0.3" # StreamExt, to read streams
//! ```
//!
//! mishika runs on tokio. The minimum supported Rust version is 1.85.
//!
//! # A first call
//!
//! A [`Client`] holds the settings, the connection pool and the retry policy; build one
//! and share it (it is cheap to clone). This one talks to the in-process
//! [`MockGateway`](https://docs.rs/mishika-mock) so that the example runs as it is; for a
//! real proxy, give its address and key instead.
//!
//! ```
//! use mishika::{ChatMessage, ChatRequest, Client};
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let gateway = mishika_mock::MockGateway::start().await?;
//!     let client = Client::builder()
//!         .api_base(gateway.base_url()) // e.g. "http://localhost:4000"
//!         // .api_key("sk-my-proxy-key")
//!         .build()?;
//!
//!     let request = ChatRequest::new(
//!         "mishikallm_proxy/gpt-4o",
//!         [ChatMessage::system("Be brief."), ChatMessage::user("Hello there")],
//!     );
//!     let response = client.chat(request).await?;
//!     assert_eq!(response.content(), Some("Hello there")); // the mock echoes the user
//!     Ok(())
//! }
//! ```
//!
//! Without a client of your own, the free functions ([`completion`], [`completion_stream`],
//! [`embedding`] …) use a process-wide one, configured by [`set_api_base`] and
//! [`set_api_key`] or by the environment (`MISHIKALLM_PROXY_API_BASE`,
//! `MISHIKALLM_PROXY_API_KEY`).
//!
//! # One example per task
//!
//! Each example starts from a `client` built as above, and runs against the mock.
//!
//! **Streaming.** [`Client::chat_stream`] answers once the response head is in (an HTTP
//! error fails there); each item is a [`ChatChunk`] or an error of the stream (a cut
//! connection, an in-band error, no `[DONE]`). [`ChatStreamAccumulator`] assembles the
//! chunks into the [`ChatResponse`] a plain call would have given. Dropping the stream
//! closes the connection.
//!
//! ```
//! use futures_util::StreamExt;
//! use mishika::{ChatMessage, ChatRequest, ChatStreamAccumulator};
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let gateway = mishika_mock::MockGateway::start().await?;
//! # let client = mishika::Client::builder().api_base(gateway.base_url()).build()?;
//!
//! let request = ChatRequest::new("mishikallm_proxy/gpt-4o", [ChatMessage::user("one two three")])
//!     .include_usage(true);
//! let mut stream = client.chat_stream(request).await?;
//! let mut whole = ChatStreamAccumulator::default();
//! while let Some(chunk) = stream.next().await {
//!     let chunk = chunk?;
//!     print!("{}", chunk.content().unwrap_or_default());
//!     whole.push(&chunk);
//! }
//! let response = whole.finish();
//! assert_eq!(response.content(), Some("one two three"));
//! assert!(response.usage.is_some());
//! # Ok(()) }
//! ```
//!
//! **Tools.** Offer functions with [`Tool::function`]; the model answers with
//! [`ToolCall`]s, you run them and send the results back as [`ChatMessage::tool`]
//! messages after the assistant's [`ChatMessage::assistant_tool_calls`].
//!
//! ```
//! use mishika::{ChatMessage, ChatRequest, Tool};
//! use serde_json::json;
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let gateway = mishika_mock::MockGateway::start().await?;
//! # let client = mishika::Client::builder().api_base(gateway.base_url()).build()?;
//!
//! let weather = Tool::function(
//!     "get_weather",
//!     "The weather in a city",
//!     json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}),
//! );
//! let mut request = ChatRequest::new("mishikallm_proxy/gpt-4o", [ChatMessage::user("weather in Paris?")])
//!     .tools([weather]);
//! let response = client.chat(request.clone()).await?;
//! let calls = response.tool_calls().to_vec();
//! assert_eq!(calls[0].function.name, "get_weather");
//!
//! request = request.message(ChatMessage::assistant_tool_calls(calls.clone()));
//! for call in &calls {
//!     let result = r#"{"celsius": 21}"#; // run the function with call.function.arguments
//!     request = request.message(ChatMessage::tool(call.id.clone(), result));
//! }
//! let answer = client.chat(request).await?;
//! println!("{}", answer.content().unwrap_or_default());
//! # Ok(()) }
//! ```
//!
//! **Embeddings.** Vectors are `Vec<f32>` whether they crossed the wire as floats or as
//! base64 ([`EncodingFormat::Base64`]: under half the bytes, and much cheaper to parse).
//!
//! ```
//! use mishika::{EmbeddingRequest, EncodingFormat};
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let gateway = mishika_mock::MockGateway::start().await?;
//! # let client = mishika::Client::builder().api_base(gateway.base_url()).build()?;
//!
//! let request = EmbeddingRequest::new("mishikallm_proxy/text-embedding-3-small", vec!["good morning", "good night"])
//!     .dimensions(16)
//!     .encoding_format(EncodingFormat::Base64);
//! let response = client.embedding(request).await?;
//! let vectors = response.vectors();
//! assert_eq!((vectors.len(), vectors[0].len()), (2, 16));
//! # Ok(()) }
//! ```
//!
//! **The other endpoints** work the same way: a request type, a client method, a free
//! function of the same shape.
//!
//! | endpoint | request | client method | answer |
//! |---|---|---|---|
//! | `POST /v1/chat/completions` | [`ChatRequest`] | [`chat`](Client::chat), [`chat_stream`](Client::chat_stream) | [`ChatResponse`], [`ChatStream`] |
//! | `POST /v1/completions` | [`CompletionRequest`] | [`text_completion`](Client::text_completion), [`text_completion_stream`](Client::text_completion_stream) | [`CompletionResponse`], [`CompletionStream`] |
//! | `POST /v1/embeddings` | [`EmbeddingRequest`] | [`embedding`](Client::embedding) | [`EmbeddingResponse`] |
//! | `POST /v1/images/generations` | [`ImageRequest`] | [`image_generation`](Client::image_generation) | [`ImageResponse`] ([`Image::save`]) |
//! | `POST /v1/audio/speech` | [`SpeechRequest`] | [`speech`](Client::speech) | [`SpeechResponse`] (a byte stream; [`SpeechResponse::save`]) |
//! | `POST /v1/audio/transcriptions` | [`TranscriptionRequest`] ([`AudioFile`]) | [`transcription`](Client::transcription) | [`TranscriptionResponse`] |
//! | `POST /v1/rerank` | [`RerankRequest`] | [`rerank`](Client::rerank) | [`RerankResponse`] |
//! | `GET /v1/models` | | [`list_models`](Client::list_models) | [`ModelList`] |
//!
//! Every request also takes its own settings (`.api_base(..)`, `.api_key(..)`,
//! `.header(..)`, `.timeout(..)`, `.num_retries(..)` …) and any extra body field
//! (`.extra(key, value)`). The repository's `examples/` has a program per endpoint.
//!
//! # How the pieces fit
//!
//! - **This crate**: [`Client`] and its builder, the prefix registry, per-provider
//!   [settings](ProviderSettings), the built-in [`providers`], the model-group [`router`],
//!   retries ([`RetryTransport`]) and the idle and stream deadlines
//!   ([`IdleTimeoutTransport`]). A call goes: client → [`Router`] (when the model names a
//!   group) → the provider for the model's prefix → the transport stack (idle watch,
//!   retries, HTTP).
//! - **[`mishika_core`](crate::core)** (re-exported here as [`mishika::core`](crate::core)): the request and response
//!   types, the [`Transport`] and [`Provider`] traits, the SSE decoder and [`Error`]. It has
//!   no HTTP client and no runtime; depend on it alone to write a provider or a transport.
//! - **[`mishika_http`](https://docs.rs/mishika-http)**: `HttpTransport`, the default
//!   [`Transport`] over reqwest. Build your own to tune it and pass it to
//!   [`ClientBuilder::transport`].
//! - **[`mishika_mock`](https://docs.rs/mishika-mock)**: `MockGateway`, an OpenAI-compatible
//!   gateway in your test process. A dev-dependency only.
//!
//! # Settings
//!
//! Settings are per provider and resolved per call: the request's own (`.api_base(..)`,
//! `.api_key(..)`), then the client's for that provider ([`ClientBuilder::api_base`] for
//! the proxy, [`ClientBuilder::provider_settings`] for any), then the process-wide ones for
//! the free functions ([`set_api_base`], [`set_provider_settings`]), then the provider's
//! environment (`MISHIKALLM_PROXY_API_BASE`, `OPENAI_API_KEY`, `ANTHROPIC_API_KEY` …), then
//! its default. A provider never sees another provider's base, key or headers, and a key
//! never appears in `Debug`, `Display`, logs or errors.
//!
//! # Errors
//!
//! Every failure is one [`Error`]. Match on its [`ErrorKind`] (which mirrors the
//! gateway's exception classes: `RateLimit`, `ContextWindowExceeded`,
//! `Authentication` …) and read what the server said: [`Error::status`],
//! [`Error::message`], [`Error::retry_after`], [`Error::is_retryable`]. Retryable errors
//! (no answer, or 408, 409, 429, 500, 502, 503, 504; not a 429 for a spent quota or
//! budget) are retried with backoff before you see them (two retries by default, honouring
//! `retry-after`; [`ClientBuilder::num_retries`], [`RetryPolicy`]).
//!
//! ```
//! use mishika::{ChatMessage, ChatRequest, ErrorKind};
//! use mishika_mock::ScriptedResponse;
//! use std::time::Duration;
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let gateway = mishika_mock::MockGateway::start().await?;
//! # let client = mishika::Client::builder().api_base(gateway.base_url()).build()?;
//!
//! gateway.push_response(
//!     ScriptedResponse::error(429, "Rate limit reached", "rate_limit_error", "429")
//!         .header("retry-after", "2"),
//! );
//! let request = ChatRequest::new("mishikallm_proxy/gpt-4o", [ChatMessage::user("Hi")])
//!     .num_retries(0); // the first answer, as it came
//! match client.chat(request).await {
//!     Ok(response) => println!("{}", response.content().unwrap_or_default()),
//!     Err(error) if error.kind() == ErrorKind::RateLimit => {
//!         assert_eq!(error.retry_after(), Some(Duration::from_secs(2)));
//!         assert!(error.is_retryable());
//!     }
//!     Err(error) => return Err(error.into()),
//! }
//! # Ok(()) }
//! ```
//!
//! # Testing your code
//!
//! - `.mock_response(text)`, `.mock_tool_call(name, arguments)` and `.mock_error(kind)` on
//!   any request make the client answer it itself, with no request sent:
//!
//!   ```
//!   use mishika::{ChatMessage, ChatRequest, Client};
//!   # #[tokio::main(flavor = "current_thread")]
//!   # async fn main() -> mishika::Result<()> {
//!   let client = Client::builder().build()?;
//!   let request = ChatRequest::new("mishikallm_proxy/gpt-4o", [ChatMessage::user("Hi")])
//!       .mock_response("Hello!");
//!   assert_eq!(client.chat(request).await?.content(), Some("Hello!"));
//!   # Ok(()) }
//!   ```
//!
//! - `mishika_core::MockTransport` (the `mock` feature of `mishika-core`) replaces the
//!   HTTP layer through [`ClientBuilder::transport`]: a test sees each request and writes
//!   each answer.
//! - [`mishika_mock`](https://docs.rs/mishika-mock)'s `MockGateway`, as in the examples
//!   above, runs everything down to the socket.
//!
//! # Feature flags
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `reqwest` | on | `HttpTransport`: the built-in transport over reqwest, which `Client::builder().build()` uses when no `.transport(..)` is given; without it, pass a transport of your own (a build without it and without one is a `Config` error) |
//! | `rustls-ring` | on | TLS by rustls with the `ring` provider (builds fast); certificates checked against the system's roots |
//! | `rustls-aws-lc-rs` | off | TLS by rustls with `aws-lc-rs` (reqwest's own default; a slower build that needs a C toolchain) |
//! | `native-tls` | off | TLS by the platform's library (OpenSSL on Linux: needs `libssl-dev` and `pkg-config`) |
//! | `http2` | off | HTTP/2 for `HttpTransport`, offered by ALPN over TLS (LiteLLM's proxy speaks HTTP/1.1) |
//! | `config` | off | `Router::from_config_file` and `RouterBuilder::from_config_file` (and `from_config_str`): a router read from the `config.yaml` a LiteLLM proxy reads (the `router::config` module); pulls in a YAML parser |
//
// The one list of this crate's features: extend this table when one is added.
//!
//! # Further reading
//!
//! - [`router`]: model groups, load balancing, fallbacks, cooldowns.
//! - [`providers`]: what each built-in provider sends and reads.
//! - [`guide::writing_a_provider`]: the [`Provider`] contract, with a provider tested end
//!   to end.
//! - The [README](https://github.com/mishika-rs/mishika#readme): retries, timeouts and
//!   limits in detail, the error kinds table, performance figures.

#![cfg_attr(docsrs, feature(doc_cfg))]

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
/// The built-in HTTP transport and its settings (feature `reqwest`, on by default).
#[cfg(feature = "reqwest")]
#[cfg_attr(docsrs, doc(cfg(feature = "reqwest")))]
pub use mishika_http::{HttpTransport, HttpTransportBuilder, TlsBackend};

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

/// Doc tests that dropping a builder's result is an `unused_must_use` warning.
#[cfg(doctest)]
mod must_use;
