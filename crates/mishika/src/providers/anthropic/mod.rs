//! The `anthropic/` backend: Anthropic's native Messages API (`POST {base}/v1/messages`).
//!
//! Settings: `ANTHROPIC_API_KEY` (sent as `x-api-key`), `ANTHROPIC_BASE_URL` (default
//! `https://api.anthropic.com`; with or without `/v1`), client and request overrides as for
//! every provider. Every request carries `anthropic-version: 2023-06-01` unless the client
//! or the request sets another.
//!
//! The same [`ChatRequest`] works as with any provider: system messages become the
//! `system` field, text and image parts content blocks, tools and tool results `tool_use`
//! and `tool_result` blocks; a request without `max_tokens` gets
//! [`DEFAULT_MAX_TOKENS`] (Anthropic requires the field). Streams read Anthropic's named
//! events into the same [`ChatChunk`]s, so
//! [`ChatStreamAccumulator`](mishika_core::ChatStreamAccumulator) assembles their tool calls
//! too. Errors map to kinds by Anthropic's error types: `overloaded_error` (529) and
//! `api_error` are retried, `rate_limit_error` with its `retry-after`. Anthropic has no
//! endpoint for the rest (embeddings, images, audio, rerank, text completions): those
//! answer `Unsupported`.

mod wire;

use std::pin::Pin;
use std::task::{Context, Poll};

use async_trait::async_trait;
use bytes::Bytes;
use futures_core::Stream;
use http::header::{ACCEPT, HeaderName};
use http::{HeaderValue, Method, StatusCode};
use mishika_core::stream::SseEventStream;
use mishika_core::{
    AuthScheme, Call, ChatChunk, ChatRequest, ChatResponse, ChatStream, Error, ErrorRules,
    ModelList, PathStyle, Provider, ProviderSpec, ResponseMetadata, ResponseStream, Result,
    WithMetadata,
};

/// The `max_tokens` a request gets when it sets neither `max_tokens` nor
/// `max_completion_tokens` (Anthropic requires the field).
pub const DEFAULT_MAX_TOKENS: u32 = wire::DEFAULT_MAX_TOKENS;

/// The routing prefix: `anthropic/<model>`.
pub const PREFIX: &str = "anthropic";
/// Environment variable for the key (sent as `x-api-key`).
pub const ENV_API_KEY: &str = "ANTHROPIC_API_KEY";
/// Environment variable for the base URL.
pub const ENV_BASE_URL: &str = "ANTHROPIC_BASE_URL";
/// The base URL when nothing sets one.
pub const DEFAULT_BASE_URL: &str = "https://api.anthropic.com";
/// The API version every request names (`anthropic-version`).
pub const API_VERSION: &str = "2023-06-01";

/// The statuses Anthropic answers transient failures with: those of every HTTP API, and
/// 529 (`overloaded_error`).
fn may_retry(status: StatusCode) -> bool {
    matches!(
        status.as_u16(),
        408 | 409 | 429 | 500 | 502 | 503 | 504 | 529
    )
}

/// Anthropic's settings and wire.
pub const SPEC: ProviderSpec = ProviderSpec::new()
    .env_api_base(ENV_BASE_URL)
    .env_api_key(ENV_API_KEY)
    .default_api_base(DEFAULT_BASE_URL)
    .auth(AuthScheme::Header("x-api-key"))
    .paths(PathStyle::V1)
    .errors(ErrorRules::new(wire::error_from_response, may_retry));

/// The Anthropic provider (registered by default under [`PREFIX`]).
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct Anthropic {}

impl Anthropic {
    /// The provider.
    pub fn new() -> Anthropic {
        Anthropic {}
    }
}

/// A request to `path` with the version header (unless the call's headers name one) and
/// the `Accept` the answer comes in.
fn request(
    call: &Call,
    method: Method,
    path: &str,
    body: Option<Bytes>,
    accept: &'static str,
) -> Result<http::Request<Bytes>> {
    let content_type = body.as_ref().map(|_| "application/json");
    let mut request = call.request(method, path, content_type, body.unwrap_or_default())?;
    let headers = request.headers_mut();
    headers
        .entry(HeaderName::from_static("anthropic-version"))
        .or_insert(HeaderValue::from_static(API_VERSION));
    headers.insert(ACCEPT, HeaderValue::from_static(accept));
    Ok(request)
}

#[async_trait]
impl Provider for Anthropic {
    fn name(&self) -> &str {
        PREFIX
    }

    fn spec(&self) -> ProviderSpec {
        SPEC
    }

    async fn chat(&self, call: &Call, request: ChatRequest) -> Result<ChatResponse> {
        let body = wire::request_body(&request, false)?;
        let http = self::request(
            call,
            Method::POST,
            "messages",
            Some(body),
            "application/json",
        )?;
        let (parts, body) = call.send_checked(http).await?.into_parts();
        let bytes = body.collect(call.limits().max_response_bytes).await?;
        let mut answer = wire::parse_response(&bytes)?;
        answer.set_metadata(ResponseMetadata::new(parts.status, parts.headers));
        Ok(answer)
    }

    async fn chat_stream(&self, call: &Call, request: ChatRequest) -> Result<ChatStream> {
        let body = wire::request_body(&request, true)?;
        let http = self::request(
            call,
            Method::POST,
            "messages",
            Some(body),
            "text/event-stream",
        )?;
        let (parts, body) = call.send_streamed(http).await?.into_parts();
        let frames = MessageStream {
            events: SseEventStream::new(body, call.limits().max_sse_line)
                .max_event(call.limits().max_sse_event),
            state: wire::StreamState::default(),
        };
        Ok(ResponseStream::from_stream(
            ResponseMetadata::new(parts.status, parts.headers),
            frames,
        ))
    }

    async fn list_models(&self, call: &Call) -> Result<ModelList> {
        let http = self::request(call, Method::GET, "models", None, "application/json")?;
        call.send_json(http).await
    }
}

/// Anthropic's named events, read into chat chunks as they arrive.
struct MessageStream {
    events: SseEventStream,
    state: wire::StreamState,
}

impl Stream for MessageStream {
    type Item = Result<ChatChunk>;

    fn poll_next(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<ChatChunk>>> {
        let this = &mut *self;
        loop {
            if this.state.is_finished() {
                return Poll::Ready(None);
            }
            let event = match Pin::new(&mut this.events).poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(event))) => event,
                Poll::Ready(Some(Err(error))) => return Poll::Ready(Some(Err(error))),
                Poll::Ready(None) => {
                    return Poll::Ready(Some(Err(Error::stream(
                        "the stream ended before message_stop: the answer may be incomplete",
                    ))));
                }
            };
            match this.state.on_event(event.event.as_deref(), &event.data) {
                Ok(Some(chunk)) => return Poll::Ready(Some(Ok(chunk))),
                Ok(None) => continue,
                Err(error) => return Poll::Ready(Some(Err(error))),
            }
        }
    }
}
