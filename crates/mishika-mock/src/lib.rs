//! `MockGateway`: an in-process, OpenAI-compatible LLM gateway on loopback,
//! shaped like the MishikaLLM Proxy (LiteLLM's proxy), for tests, examples and
//! the zero-setup quickstart.
//!
//! It serves HTTP/1.1 on `127.0.0.1` from the current tokio runtime and
//! answers, with and without the `/v1` prefix:
//!
//! | route | answer |
//! |---|---|
//! | `POST /v1/chat/completions` | echoes the last user message, or a tool result after it (JSON or SSE); calls the first tool when that text says "weather" |
//! | `POST /v1/messages` | Anthropic's Messages API (wants `anthropic-version`): the same answers as chat, as a `message` or named SSE events |
//! | `POST /v1/completions` | echoes each prompt (JSON or SSE) |
//! | `POST /v1/embeddings` | deterministic vectors, float or base64 |
//! | `POST /v1/images/generations` | URLs to (or base64 of) a 1×1 PNG, served at `GET /files/image-<i>.png` |
//! | `POST /v1/audio/speech` | deterministic audio bytes, streamed |
//! | `POST /v1/audio/transcriptions` | `mock transcript of <filename> (<len> bytes)` in every format |
//! | `POST /v1/rerank`, `/v2/rerank` | word-overlap scores, Cohere shape |
//! | `GET /v1/models` | the configured model ids |
//! | `GET /health`, `/health/liveliness` | `"I'm alive!"` |
//!
//! With [`MockGatewayBuilder::api_key`], every known route except the health
//! checks and the image files requires `Authorization: Bearer <key>` (on
//! `/v1/messages`, `x-api-key: <key>` works too); the order is FastAPI's:
//! unknown path → 404, wrong method → 405, then the key → 401, then the body
//! (malformed JSON or missing `model` → 400). Bodies over 64 MiB get 413.
//!
//! Token counts everywhere are whitespace-separated words. Every request is
//! recorded ([`MockGateway::requests`]); any answer can be replaced by a
//! [`ScriptedResponse`] (errors, delays, abrupt drops, streams held open).
//! Errors use LiteLLM's envelope
//! `{"error":{"message":..,"type":..,"param":..,"code":".."}}`, except on
//! `/v1/messages`, which uses Anthropic's
//! `{"type":"error","error":{"type":..,"message":..}}`; unknown routes get
//! FastAPI's `404 {"detail":"Not Found"}`.
//!
//! Every model has a context window of [`CONTEXT_WINDOW_TOKENS`]; models named
//! with [`SMALL_CONTEXT_MODEL_MARKER`] (e.g. `mock-small-context`) only
//! [`SMALL_CONTEXT_WINDOW_TOKENS`]. A longer prompt gets the provider's
//! `400` (on `/v1/messages`: `prompt is too long: N tokens > M maximum`).
//!
//! # Example
//!
//! A test that points a [mishika](https://docs.rs/mishika) `Client` at the gateway, then
//! makes the next answer a rate-limit error:
//!
//! ```
//! use mishika::{ChatMessage, ChatRequest, Client, ErrorKind};
//! use mishika_mock::{MockGateway, ScriptedResponse};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let gateway = MockGateway::builder().api_key("sk-test").start().await?;
//! let client = Client::builder()
//!     .api_base(gateway.base_url())
//!     .api_key("sk-test")
//!     .num_retries(0)
//!     .build()?;
//! let request = ChatRequest::new("mishikallm_proxy/mock-chat", [ChatMessage::user("Hello world")]);
//!
//! let answer = client.chat(request.clone()).await?;
//! assert_eq!(answer.content(), Some("Hello world"));
//! let sent = gateway.last_request().expect("a recorded request");
//! assert_eq!(sent.path, "/v1/chat/completions");
//! assert_eq!(sent.header("authorization"), Some("Bearer sk-test"));
//! assert_eq!(sent.json().expect("a JSON body")["model"], "mock-chat");
//!
//! gateway.push_response(ScriptedResponse::error(429, "slow down", "rate_limit_error", "429"));
//! let error = client.chat(request).await.unwrap_err();
//! assert_eq!(error.kind(), ErrorKind::RateLimit);
//! # Ok(())
//! # }
//! ```
//!
//! Any HTTP client works the same way: send to [`MockGateway::base_url`] (or
//! [`MockGateway::url`] for one path). In another process, or for a client in another
//! language, the `mishika-mock-gateway` binary serves it on its own
//! (`--port`, `--api-key`, `--models`, `--log-requests`).
//!
//! # Feature flags
//!
//! None yet.
//
// The one list of this crate's features: replace "None yet." with a table when one is added.

#![cfg_attr(docsrs, feature(doc_cfg))]

mod body;
mod gateway;
mod multipart;
mod record;
mod routes;
mod script;
mod server;

pub use gateway::{DEFAULT_MODELS, MockGateway, MockGatewayBuilder};
pub use multipart::MultipartField;
pub use record::RecordedRequest;
pub use routes::embeddings::mock_embedding;
pub use routes::images::PNG_1X1;
pub use routes::rerank::mock_rerank_score;
pub use routes::{CONTEXT_WINDOW_TOKENS, SMALL_CONTEXT_MODEL_MARKER, SMALL_CONTEXT_WINDOW_TOKENS};
pub use script::ScriptedResponse;

/// Request bodies larger than this many bytes are refused with `413`.
pub const MAX_REQUEST_BODY_BYTES: usize = server::MAX_BODY_BYTES;
