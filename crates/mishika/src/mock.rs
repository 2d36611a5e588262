//! Mock answers: a request carrying `.mock_response(..)`, `.mock_error(..)` or
//! `.mock_tool_call(..)` is answered here, with no I/O, in the shape the endpoint gives.

use mishika_core::{
    ChatChunk, ChatRequest, ChatResponse, ChatStream, CompletionChunk, CompletionRequest,
    CompletionResponse, CompletionStream, EmbeddingRequest, EmbeddingResponse, Error, ErrorKind,
    ImageRequest, ImageResponse, MockAnswer, RerankRequest, RerankResponse, ResponseMetadata,
    ResponseStream, Result, SpeechRequest, SpeechResponse, TranscriptionRequest,
    TranscriptionResponse,
};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// An answer type that can be made up for a request of type `R`.
pub(crate) trait MockReply<R>: Sized {
    /// The made-up answer to `request`.
    fn mock(request: &R, answer: &MockAnswer) -> Result<Self>;
}

/// The status an error of `kind` comes with from a real server.
fn status_of(kind: ErrorKind) -> Option<u16> {
    Some(match kind {
        ErrorKind::BadRequest
        | ErrorKind::ContextWindowExceeded
        | ErrorKind::ContentPolicyViolation => 400,
        ErrorKind::Authentication => 401,
        ErrorKind::BudgetExceeded => 402,
        ErrorKind::PermissionDenied => 403,
        ErrorKind::NotFound => 404,
        ErrorKind::Timeout => 408,
        ErrorKind::UnprocessableEntity => 422,
        ErrorKind::RateLimit => 429,
        ErrorKind::InternalServer => 500,
        ErrorKind::BadGateway => 502,
        ErrorKind::ServiceUnavailable => 503,
        _ => return None,
    })
}

/// The error a `mock_error(kind)` request fails with.
pub(crate) fn mock_error(kind: ErrorKind) -> Error {
    let error = Error::new(kind, format!("mock {kind} (mock_error)"));
    match status_of(kind).and_then(|status| http::StatusCode::from_u16(status).ok()) {
        Some(status) => error.with_status(status),
        None => error,
    }
}

/// The error of a mock answer an endpoint cannot give.
fn not_for(endpoint: &str) -> Error {
    Error::config(format!(
        "mock_response and mock_tool_call answer chat and text completions, not {endpoint}; \
         use mock_error here"
    ))
}

/// Words of `text`, each with the space before it, as a stream sends them.
fn pieces(text: &str) -> Vec<String> {
    let mut pieces = Vec::new();
    for (index, word) in text.split(' ').enumerate() {
        pieces.push(if index == 0 {
            word.to_owned()
        } else {
            format!(" {word}")
        });
    }
    pieces
}

/// Rough token counts: the prompt's words, the answer's words.
fn usage(prompt: &str, text: &str) -> Value {
    let prompt = prompt.split_whitespace().count().max(1);
    let completion = text.split_whitespace().count();
    json!({"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion})
}

fn from_json<T: DeserializeOwned>(value: Value) -> Result<T> {
    serde_json::from_value(value).map_err(|e| Error::decode("a mock answer").with_source(e))
}

fn chat_prompt(request: &ChatRequest) -> String {
    let texts: Vec<String> = request
        .messages
        .iter()
        .filter_map(|message| message.content.as_ref().map(|content| content.text()))
        .collect();
    texts.join(" ")
}

fn completion_prompt(request: &CompletionRequest) -> String {
    serde_json::to_value(&request.prompt)
        .map(|value| match value {
            Value::String(text) => text,
            other => other.to_string(),
        })
        .unwrap_or_default()
}

const MOCK_ID: &str = "mock-response";

impl MockReply<ChatRequest> for ChatResponse {
    fn mock(request: &ChatRequest, answer: &MockAnswer) -> Result<ChatResponse> {
        let prompt = chat_prompt(request);
        let (message, finish, text) = match answer {
            MockAnswer::Text(text) => (
                json!({"role": "assistant", "content": text}),
                "stop",
                text.as_str(),
            ),
            MockAnswer::ToolCall { name, arguments } => (
                json!({"role": "assistant", "content": null, "tool_calls": [{
                    "id": "call_mock", "type": "function",
                    "function": {"name": name, "arguments": arguments},
                }]}),
                "tool_calls",
                arguments.as_str(),
            ),
            MockAnswer::Error(kind) => return Err(mock_error(*kind)),
            _ => return Err(not_for("this answer")),
        };
        from_json(json!({
            "id": MOCK_ID, "object": "chat.completion", "model": request.model,
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": usage(&prompt, text),
        }))
    }
}

impl MockReply<ChatRequest> for ChatStream {
    fn mock(request: &ChatRequest, answer: &MockAnswer) -> Result<ChatStream> {
        let prompt = chat_prompt(request);
        let chunk = |choices: Value, usage: Value| {
            from_json::<ChatChunk>(json!({
                "id": MOCK_ID, "object": "chat.completion.chunk", "model": request.model,
                "choices": choices, "usage": usage,
            }))
        };
        let mut chunks = Vec::new();
        let (finish, text) = match answer {
            MockAnswer::Text(text) => {
                for (index, piece) in pieces(text).into_iter().enumerate() {
                    let delta = match index {
                        0 => json!({"role": "assistant", "content": piece}),
                        _ => json!({"content": piece}),
                    };
                    chunks.push(chunk(json!([{"index": 0, "delta": delta}]), Value::Null)?);
                }
                ("stop", text.as_str())
            }
            MockAnswer::ToolCall { name, arguments } => {
                let delta = json!({"role": "assistant", "tool_calls": [{
                    "index": 0, "id": "call_mock", "type": "function",
                    "function": {"name": name, "arguments": arguments},
                }]});
                chunks.push(chunk(json!([{"index": 0, "delta": delta}]), Value::Null)?);
                ("tool_calls", arguments.as_str())
            }
            MockAnswer::Error(kind) => return Err(mock_error(*kind)),
            _ => return Err(not_for("this answer")),
        };
        chunks.push(chunk(
            json!([{"index": 0, "delta": {}, "finish_reason": finish}]),
            Value::Null,
        )?);
        chunks.push(chunk(json!([]), usage(&prompt, text))?);
        Ok(ResponseStream::from_stream(
            ResponseMetadata::default(),
            futures_util::stream::iter(chunks.into_iter().map(Ok)),
        ))
    }
}

impl MockReply<CompletionRequest> for CompletionResponse {
    fn mock(request: &CompletionRequest, answer: &MockAnswer) -> Result<CompletionResponse> {
        match answer {
            MockAnswer::Text(text) => from_json(json!({
                "id": MOCK_ID, "object": "text_completion", "model": request.model,
                "choices": [{"index": 0, "text": text, "finish_reason": "stop"}],
                "usage": usage(&completion_prompt(request), text),
            })),
            MockAnswer::Error(kind) => Err(mock_error(*kind)),
            _ => Err(not_for("a tool call from a text completion")),
        }
    }
}

impl MockReply<CompletionRequest> for CompletionStream {
    fn mock(request: &CompletionRequest, answer: &MockAnswer) -> Result<CompletionStream> {
        let text = match answer {
            MockAnswer::Text(text) => text,
            MockAnswer::Error(kind) => return Err(mock_error(*kind)),
            _ => return Err(not_for("a tool call from a text completion")),
        };
        let chunk = |choice: Value| {
            from_json::<CompletionChunk>(json!({
                "id": MOCK_ID, "object": "text_completion", "model": request.model,
                "choices": [choice],
            }))
        };
        let mut chunks = Vec::new();
        for piece in pieces(text) {
            chunks.push(chunk(json!({"index": 0, "text": piece}))?);
        }
        chunks.push(chunk(
            json!({"index": 0, "text": "", "finish_reason": "stop"}),
        )?);
        Ok(ResponseStream::from_stream(
            ResponseMetadata::default(),
            futures_util::stream::iter(chunks.into_iter().map(Ok)),
        ))
    }
}

/// Endpoints with no text to make up: a mock error, or a clear `Config` error.
macro_rules! mock_errors_only {
    ($($response:ty => $request:ty, $endpoint:literal;)*) => {
        $(
            impl MockReply<$request> for $response {
                fn mock(_: &$request, answer: &MockAnswer) -> Result<$response> {
                    match answer {
                        MockAnswer::Error(kind) => Err(mock_error(*kind)),
                        _ => Err(not_for($endpoint)),
                    }
                }
            }
        )*
    };
}

mock_errors_only! {
    EmbeddingResponse => EmbeddingRequest, "embeddings";
    ImageResponse => ImageRequest, "image generation";
    SpeechResponse => SpeechRequest, "speech";
    TranscriptionResponse => TranscriptionRequest, "transcription";
    RerankResponse => RerankRequest, "rerank";
}
