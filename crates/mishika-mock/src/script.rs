//! Scripted answers: a test pushes them, the next matching request gets one
//! instead of the normal answer.

use std::time::Duration;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use http::{Response, StatusCode};

use crate::body::{ChunkSource, DropTracker, Ending, MockBody, StreamPlan};
use crate::routes::error_envelope;
use crate::routes::messages::anthropic_error_envelope;

/// A canned answer for the next request, built reqwest-style.
///
/// ```
/// use std::time::Duration;
/// use mishika_mock::ScriptedResponse;
///
/// // A rate-limit error with a retry hint.
/// let limited = ScriptedResponse::error(429, "Rate limit reached", "rate_limit_error", "429")
///     .header("retry-after", "1");
/// // An SSE stream that stops abruptly after 10 body bytes.
/// let cut = ScriptedResponse::sse(vec![r#"{"choices":[]}"#.to_string()]).drop_after(10);
/// // A slow plain-text answer, sent 4 bytes at a time.
/// let slow = ScriptedResponse::status(200)
///     .body("hello world")
///     .chunk_size(4)
///     .chunk_delay(Duration::from_millis(5));
/// // Anthropic's "overloaded", as a status and as an error inside a stream.
/// let overloaded = ScriptedResponse::anthropic_error(529, "overloaded_error", "Overloaded");
/// let broken = ScriptedResponse::anthropic_stream_error("Hel", "overloaded_error", "Overloaded");
/// # let _ = (limited, cut, slow, overloaded, broken);
/// ```
#[derive(Debug, Clone)]
pub struct ScriptedResponse {
    status: u16,
    headers: Vec<(HeaderName, HeaderValue)>,
    content_type: Option<&'static str>,
    body: ScriptBody,
    delay: Option<Duration>,
    chunk_delay: Option<Duration>,
    chunk_size: Option<usize>,
    drop_after: Option<usize>,
    hold_open: bool,
}

#[derive(Debug, Clone)]
enum ScriptBody {
    Raw(Bytes),
    /// Whole SSE frames, each ending in a blank line.
    Sse(Vec<String>),
}

impl ScriptedResponse {
    /// An answer with this status and an empty body. A status outside
    /// 100..=999 is sent as 500.
    pub fn status(status: u16) -> Self {
        ScriptedResponse {
            status,
            headers: Vec::new(),
            content_type: None,
            body: ScriptBody::Raw(Bytes::new()),
            delay: None,
            chunk_delay: None,
            chunk_size: None,
            drop_after: None,
            hold_open: false,
        }
    }

    /// A LiteLLM-style error answer:
    /// `{"error":{"message":..,"type":..,"param":null,"code":..}}` with
    /// `content-type: application/json`.
    pub fn error(
        status: u16,
        message: impl Into<String>,
        error_type: impl Into<String>,
        code: impl Into<String>,
    ) -> Self {
        let envelope = error_envelope(
            &message.into(),
            &error_type.into(),
            serde_json::Value::Null,
            &code.into(),
        );
        Self::status(status).json(envelope)
    }

    /// A `200` server-sent-event stream with `content-type: text/event-stream`:
    /// each frame is sent as its own chunk `data: {frame}\n\n`. Include
    /// `"[DONE]"` yourself if you want it.
    pub fn sse<S: Into<String>>(frames: impl IntoIterator<Item = S>) -> Self {
        let frames = frames
            .into_iter()
            .map(|frame| format!("data: {}\n\n", frame.into()));
        Self::sse_frames(frames.collect())
    }

    /// A `200` stream of named server-sent events, Anthropic's way, with
    /// `content-type: text/event-stream`: each `(name, data)` is sent as its
    /// own chunk `event: {name}\ndata: {data}\n\n`.
    pub fn sse_events<N: Into<String>, D: Into<String>>(
        events: impl IntoIterator<Item = (N, D)>,
    ) -> Self {
        let frames = events
            .into_iter()
            .map(|(name, data)| format!("event: {}\ndata: {}\n\n", name.into(), data.into()));
        Self::sse_frames(frames.collect())
    }

    fn sse_frames(frames: Vec<String>) -> Self {
        ScriptedResponse {
            content_type: Some("text/event-stream"),
            body: ScriptBody::Sse(frames),
            ..Self::status(200)
        }
    }

    /// An Anthropic-style error answer:
    /// `{"type":"error","error":{"type":..,"message":..}}` with
    /// `content-type: application/json`, e.g.
    /// `anthropic_error(529, "overloaded_error", "Overloaded")`.
    pub fn anthropic_error(
        status: u16,
        error_type: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self::status(status).json(anthropic_error_envelope(
            &error_type.into(),
            &message.into(),
        ))
    }

    /// A `200` Anthropic Messages stream that fails midway, as Anthropic's API
    /// does when it is overloaded: `message_start` (id `msg_mock_scripted`,
    /// model `mock-scripted`), `content_block_start`, one `text_delta` carrying
    /// `partial_text`, then `event: error` with
    /// `{"type":"error","error":{"type":error_type,"message":message}}`, and the
    /// body ends cleanly.
    pub fn anthropic_stream_error(
        partial_text: impl Into<String>,
        error_type: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        let start = serde_json::json!({
            "type": "message_start",
            "message": {
                "id": "msg_mock_scripted",
                "type": "message",
                "role": "assistant",
                "model": "mock-scripted",
                "content": [],
                "stop_reason": null,
                "stop_sequence": null,
                "usage": { "input_tokens": 1, "output_tokens": 1 },
            },
        });
        let block = serde_json::json!({
            "type": "content_block_start",
            "index": 0,
            "content_block": { "type": "text", "text": "" },
        });
        let delta = serde_json::json!({
            "type": "content_block_delta",
            "index": 0,
            "delta": { "type": "text_delta", "text": partial_text.into() },
        });
        let error = anthropic_error_envelope(&error_type.into(), &message.into());
        Self::sse_events([
            ("message_start", start.to_string()),
            ("content_block_start", block.to_string()),
            ("content_block_delta", delta.to_string()),
            ("error", error.to_string()),
        ])
    }

    /// Adds a header (repeatable). Invalid names or values are ignored. A
    /// `content-type` given here wins over the one set by [`json`](Self::json) or
    /// [`sse`](Self::sse).
    #[must_use]
    pub fn header(mut self, name: &str, value: &str) -> Self {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            self.headers.push((name, value));
        }
        self
    }

    /// Sets a raw body (no content type is added).
    #[must_use]
    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = ScriptBody::Raw(body.into());
        self
    }

    /// Sets a JSON body and `content-type: application/json`.
    #[must_use]
    pub fn json(mut self, value: serde_json::Value) -> Self {
        self.body = ScriptBody::Raw(Bytes::from(value.to_string()));
        self.content_type = Some("application/json");
        self
    }

    /// Waits this long before sending the status line and headers.
    #[must_use]
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = Some(delay);
        self
    }

    /// Waits this long between body chunks (makes the body chunked).
    #[must_use]
    pub fn chunk_delay(mut self, delay: Duration) -> Self {
        self.chunk_delay = Some(delay);
        self
    }

    /// Splits the body into chunks of `size` bytes (makes the body chunked).
    /// For [`sse`](Self::sse) and [`sse_events`](Self::sse_events) answers the
    /// frames are concatenated first, so
    /// frames (and UTF-8 characters) can straddle chunks.
    #[must_use]
    pub fn chunk_size(mut self, size: usize) -> Self {
        self.chunk_size = Some(size.max(1));
        self
    }

    /// Sends the head and the first `n_bytes` body bytes, then aborts the
    /// connection without the final chunk, so the client sees an error rather
    /// than a clean end of body. Wins over [`hold_open`](Self::hold_open).
    #[must_use]
    pub fn drop_after(mut self, n_bytes: usize) -> Self {
        self.drop_after = Some(n_bytes);
        self
    }

    /// After the body, never finish: the response stays open until the client
    /// drops it (which [`MockGateway::dropped_streams`](crate::MockGateway::dropped_streams) counts).
    #[must_use]
    pub fn hold_open(mut self) -> Self {
        self.hold_open = true;
        self
    }

    /// The delay before the head, if any.
    pub(crate) fn head_delay(&self) -> Option<Duration> {
        self.delay
    }

    /// Builds the HTTP response.
    pub(crate) fn into_response(self, tracker: &DropTracker) -> Response<MockBody> {
        let streamed = matches!(self.body, ScriptBody::Sse(_))
            || self.chunk_delay.is_some()
            || self.chunk_size.is_some()
            || self.drop_after.is_some()
            || self.hold_open;

        let body = if streamed {
            let chunks: Vec<Bytes> = match (self.body, self.chunk_size) {
                (ScriptBody::Sse(frames), None) => frames.into_iter().map(Bytes::from).collect(),
                (ScriptBody::Sse(frames), Some(size)) => split(Bytes::from(frames.concat()), size),
                (ScriptBody::Raw(raw), Some(size)) => split(raw, size),
                (ScriptBody::Raw(raw), None) => vec![raw],
            };
            let ending = if self.drop_after.is_some() {
                Ending::Abort
            } else if self.hold_open {
                Ending::HoldOpen
            } else {
                Ending::Finish
            };
            let plan = StreamPlan {
                source: ChunkSource::list(chunks),
                chunk_delay: self.chunk_delay,
                drop_after: self.drop_after,
                ending,
            };
            MockBody::stream(plan, tracker.clone())
        } else {
            match self.body {
                ScriptBody::Raw(raw) => MockBody::full(raw),
                ScriptBody::Sse(_) => MockBody::empty(), // unreachable: SSE is always streamed
            }
        };

        let mut response = Response::new(body);
        *response.status_mut() =
            StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let headers = response.headers_mut();
        for (name, value) in self.headers {
            headers.append(name, value);
        }
        if let Some(content_type) = self.content_type {
            if !headers.contains_key(CONTENT_TYPE) {
                headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
            }
        }
        response
    }
}

fn split(bytes: Bytes, size: usize) -> Vec<Bytes> {
    let size = size.max(1);
    (0..bytes.len())
        .step_by(size)
        .map(|start| bytes.slice(start..(start + size).min(bytes.len())))
        .collect()
}
