//! Routing and the pieces every endpoint shares: the key check, JSON and SSE
//! answers, the LiteLLM error envelope, word counting, context windows.

mod audio;
mod chat;
mod completions;
pub(crate) mod embeddings;
mod health;
pub(crate) mod images;
pub(crate) mod messages;
mod models;
pub(crate) mod rerank;

use bytes::Bytes;
use http::header::{AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use http::{HeaderMap, Method, Response, StatusCode};
use serde_json::{Map, Value, json};

use crate::body::{DropTracker, MockBody, StreamPlan};
use crate::record::RecordedRequest;

/// Every handler answers with this.
pub(crate) type Reply = Response<MockBody>;

/// What a handler returns: an answer, or an error to send in LiteLLM's envelope.
pub(crate) type Handled = Result<Reply, ApiError>;

/// An error answer, turned into `{"error":{...}}` by [`ApiError::into_reply`].
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    message: String,
    error_type: &'static str,
    param: Value,
    /// The `code`; `None` sends the status as a string, as LiteLLM does.
    code: Option<&'static str>,
}

impl ApiError {
    /// An error with this status, message, type and `param`.
    pub(crate) fn new(
        status: StatusCode,
        message: impl Into<String>,
        error_type: &'static str,
        param: Value,
    ) -> Self {
        ApiError {
            status,
            message: message.into(),
            error_type,
            param,
            code: None,
        }
    }

    /// The same error with this `code` instead of the status.
    pub(crate) fn with_code(mut self, code: &'static str) -> Self {
        self.code = Some(code);
        self
    }

    fn into_reply(self) -> Reply {
        match self.code {
            Some(code) => json_with_status(
                self.status,
                &error_envelope(&self.message, self.error_type, self.param, code),
            ),
            None => error_response(self.status, &self.message, self.error_type, self.param),
        }
    }
}

/// What a handler needs to know besides the request.
#[derive(Debug)]
pub(crate) struct Ctx<'a> {
    /// The request's sequence number (1-based), used in ids.
    pub(crate) seq: u64,
    /// Unix seconds, for `created` fields.
    pub(crate) created: u64,
    /// `http://127.0.0.1:PORT`.
    pub(crate) base_url: &'a str,
    pub(crate) models: &'a [String],
    pub(crate) api_key: Option<&'a str>,
    pub(crate) tracker: &'a DropTracker,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Route {
    Chat,
    Messages,
    Completions,
    Embeddings,
    ImageGenerations,
    ImageFile,
    Speech,
    Transcriptions,
    Rerank,
    Models,
    Model(String),
    Health,
}

impl Route {
    /// Routes answer with and without the `/v1` prefix.
    fn from_path(path: &str) -> Option<Route> {
        let path = path
            .strip_prefix("/v1")
            .filter(|rest| rest.starts_with('/'))
            .unwrap_or(path);
        let route = match path {
            "/chat/completions" => Route::Chat,
            "/messages" => Route::Messages,
            "/completions" => Route::Completions,
            "/embeddings" => Route::Embeddings,
            "/images/generations" => Route::ImageGenerations,
            "/audio/speech" => Route::Speech,
            "/audio/transcriptions" => Route::Transcriptions,
            "/rerank" | "/v2/rerank" => Route::Rerank,
            "/models" => Route::Models,
            "/health" | "/health/liveliness" | "/health/liveness" | "/health/readiness" => {
                Route::Health
            }
            _ => {
                if let Some(id) = path.strip_prefix("/models/").filter(|id| !id.is_empty()) {
                    Route::Model(id.to_owned())
                } else if images::is_image_file(path) {
                    Route::ImageFile
                } else {
                    return None;
                }
            }
        };
        Some(route)
    }

    fn method(&self) -> Method {
        match self {
            Route::Models | Route::Model(_) | Route::Health | Route::ImageFile => Method::GET,
            _ => Method::POST,
        }
    }

    /// Health checks and generated image files need no key.
    fn is_public(&self) -> bool {
        matches!(self, Route::Health | Route::ImageFile)
    }
}

/// Answers a request that no script claimed.
pub(crate) fn dispatch(ctx: &Ctx<'_>, request: &RecordedRequest) -> Reply {
    let Some(route) = Route::from_path(request.path_without_query()) else {
        return detail_response(StatusCode::NOT_FOUND, "Not Found");
    };
    let allowed = route.method();
    if request.method != allowed {
        let mut response = detail_response(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed");
        if let Ok(allow) = HeaderValue::from_str(allowed.as_str()) {
            response.headers_mut().insert(http::header::ALLOW, allow);
        }
        return response;
    }
    if route == Route::Messages {
        // Anthropic's wire: the key may also come as `x-api-key` (LiteLLM
        // accepts both), and the 401 uses Anthropic's envelope.
        if !authorized(ctx.api_key, &request.headers)
            && !x_api_key_matches(ctx.api_key, &request.headers)
        {
            return messages::unauthorized(&request.headers);
        }
    } else if !route.is_public() && !authorized(ctx.api_key, &request.headers) {
        return error_response(
            StatusCode::UNAUTHORIZED,
            "Authentication Error, Invalid proxy server token passed. \
             Unable to find token in cache or `LiteLLM_VerificationTokenTable`",
            "auth_error",
            json!("None"),
        );
    }
    let result = match route {
        Route::Chat => chat::chat(ctx, request),
        Route::Messages => Ok(messages::messages(ctx, request)),
        Route::Completions => completions::completions(ctx, request),
        Route::Embeddings => embeddings::embeddings(ctx, request),
        Route::ImageGenerations => images::generations(ctx, request),
        Route::ImageFile => Ok(images::file(ctx)),
        Route::Speech => audio::speech(ctx, request),
        Route::Transcriptions => audio::transcriptions(ctx, request),
        Route::Rerank => rerank::rerank(ctx, request),
        Route::Models => Ok(models::list(ctx)),
        Route::Model(id) => models::retrieve(ctx, &id),
        Route::Health => Ok(health::alive(ctx)),
    };
    result.unwrap_or_else(ApiError::into_reply)
}

fn authorized(expected: Option<&str>, headers: &HeaderMap) -> bool {
    let Some(expected) = expected else {
        return true;
    };
    let presented = headers
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| {
            let (scheme, token) = value.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        });
    presented == Some(expected)
}

/// Whether the `x-api-key` header carries the expected key (always true without one).
fn x_api_key_matches(expected: Option<&str>, headers: &HeaderMap) -> bool {
    let Some(expected) = expected else {
        return true;
    };
    headers
        .get("x-api-key")
        .and_then(|value| value.to_str().ok())
        .map(str::trim)
        == Some(expected)
}

/// The context window of every mock model, in tokens (whitespace-separated words).
pub const CONTEXT_WINDOW_TOKENS: usize = 200_000;

/// Models whose name contains this (e.g. `mock-small-context`) have a context
/// window of only [`SMALL_CONTEXT_WINDOW_TOKENS`].
pub const SMALL_CONTEXT_MODEL_MARKER: &str = "small-context";

/// The context window of models named with [`SMALL_CONTEXT_MODEL_MARKER`], in tokens.
pub const SMALL_CONTEXT_WINDOW_TOKENS: usize = 16;

/// The context window of `model`, in tokens.
pub(crate) fn context_window(model: &str) -> usize {
    if model.contains(SMALL_CONTEXT_MODEL_MARKER) {
        SMALL_CONTEXT_WINDOW_TOKENS
    } else {
        CONTEXT_WINDOW_TOKENS
    }
}

/// `{"error":{"message","type","param","code"}}` — LiteLLM's error shape.
pub(crate) fn error_envelope(message: &str, error_type: &str, param: Value, code: &str) -> Value {
    json!({
        "error": {
            "message": message,
            "type": error_type,
            "param": param,
            "code": code,
        }
    })
}

/// An error answer; `code` is the status as a string, as LiteLLM sends it.
pub(crate) fn error_response(
    status: StatusCode,
    message: &str,
    error_type: &str,
    param: Value,
) -> Reply {
    let code = status.as_u16().to_string();
    json_with_status(status, &error_envelope(message, error_type, param, &code))
}

/// A `400 invalid_request_error`.
pub(crate) fn bad_request(message: impl Into<String>, param: Option<&str>) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        message,
        "invalid_request_error",
        param.map_or(Value::Null, |p| Value::String(p.to_owned())),
    )
}

/// FastAPI's `{"detail": ...}` shape (404, 405).
fn detail_response(status: StatusCode, detail: &str) -> Reply {
    json_with_status(status, &json!({ "detail": detail }))
}

fn json_with_status(status: StatusCode, value: &Value) -> Reply {
    let mut response = Response::new(MockBody::full(value.to_string()));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// Adds the gateway metadata headers every successful answer carries.
fn add_success_headers(ctx: &Ctx<'_>, headers: &mut HeaderMap) {
    if let Ok(call_id) = HeaderValue::from_str(&format!("mock-call-{}", ctx.seq)) {
        headers.insert("x-litellm-call-id", call_id);
    }
    for (name, value) in [
        ("x-litellm-response-cost", "0.00042"),
        ("x-ratelimit-remaining-requests", "99"),
        ("x-ratelimit-remaining-tokens", "9999"),
        ("x-ratelimit-limit-requests", "100"),
        ("x-ratelimit-limit-tokens", "10000"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
}

/// A successful answer with a whole body.
pub(crate) fn ok_response(
    ctx: &Ctx<'_>,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> Reply {
    let mut response = Response::new(MockBody::full(body));
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    add_success_headers(ctx, response.headers_mut());
    response
}

/// A successful answer with a streamed (chunked) body.
pub(crate) fn streamed_response(
    ctx: &Ctx<'_>,
    content_type: &'static str,
    plan: StreamPlan,
) -> Reply {
    let mut response = Response::new(MockBody::stream(plan, ctx.tracker.clone()));
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    add_success_headers(ctx, response.headers_mut());
    response
}

/// A successful JSON answer.
pub(crate) fn json_response(ctx: &Ctx<'_>, value: &Value) -> Reply {
    ok_response(ctx, "application/json", value.to_string())
}

/// A successful SSE answer: each event is its own chunk `data: <json>\n\n`,
/// followed by `data: [DONE]\n\n`.
pub(crate) fn sse_response(ctx: &Ctx<'_>, events: &[Value]) -> Reply {
    let chunks = events
        .iter()
        .map(|event| Bytes::from(format!("data: {event}\n\n")))
        .chain(std::iter::once(Bytes::from_static(b"data: [DONE]\n\n")));
    let mut response = streamed_response(ctx, "text/event-stream", StreamPlan::chunks(chunks));
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// A successful SSE answer of named events, Anthropic's way: each event is its
/// own chunk `event: <name>\ndata: <json>\n\n`, with no `[DONE]` at the end.
pub(crate) fn named_sse_response(ctx: &Ctx<'_>, events: &[(&str, Value)]) -> Reply {
    let chunks = events
        .iter()
        .map(|(name, data)| Bytes::from(format!("event: {name}\ndata: {data}\n\n")));
    let mut response = streamed_response(ctx, "text/event-stream", StreamPlan::chunks(chunks));
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// The request body as a JSON object, or a `400`.
pub(crate) fn json_object(request: &RecordedRequest) -> Result<Map<String, Value>, ApiError> {
    match serde_json::from_slice::<Value>(&request.body) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(_) => Err(bad_request("The request body must be a JSON object", None)),
        Err(error) => Err(bad_request(
            format!("Invalid JSON payload received: {error}"),
            None,
        )),
    }
}

/// The non-empty string `model`, or a `400`.
pub(crate) fn required_model(body: &Map<String, Value>) -> Result<String, ApiError> {
    match body.get("model") {
        Some(Value::String(model)) if !model.is_empty() => Ok(model.clone()),
        _ => Err(bad_request(
            "Invalid model name passed in model=None. Call `/v1/models` to view available models for your key.",
            Some("model"),
        )),
    }
}

/// An optional positive integer parameter (absent or `null` → `default`).
pub(crate) fn count_param(
    body: &Map<String, Value>,
    name: &str,
    default: usize,
    max: usize,
) -> Result<usize, ApiError> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(default),
        Some(value) => value
            .as_u64()
            .and_then(|n| usize::try_from(n).ok())
            .filter(|n| (1..=max).contains(n))
            .ok_or_else(|| {
                bad_request(
                    format!("`{name}` must be an integer between 1 and {max}"),
                    Some(name),
                )
            }),
    }
}

/// An optional string parameter (absent or `null` → `None`), or a `400` when not a string.
pub(crate) fn string_param<'a>(
    body: &'a Map<String, Value>,
    name: &str,
) -> Result<Option<&'a str>, ApiError> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(bad_request(
            format!("`{name}` must be a string"),
            Some(name),
        )),
    }
}

/// `"stream": true`.
pub(crate) fn wants_stream(body: &Map<String, Value>) -> bool {
    body.get("stream").and_then(Value::as_bool) == Some(true)
}

/// `"stream_options": {"include_usage": true}`.
pub(crate) fn wants_stream_usage(body: &Map<String, Value>) -> bool {
    body.get("stream_options")
        .and_then(|options| options.get("include_usage"))
        .and_then(Value::as_bool)
        == Some(true)
}

/// The token count of the mock: whitespace-separated words.
pub(crate) fn words(text: &str) -> usize {
    text.split_whitespace().count()
}

/// `{"prompt_tokens","completion_tokens","total_tokens"}`.
pub(crate) fn usage(prompt_tokens: usize, completion_tokens: usize) -> Value {
    json!({
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    })
}

/// Splits text into streaming pieces, one per word, each word keeping the
/// whitespace before it: `"Hello world"` → `["Hello", " world"]`.
/// The pieces concatenate back to the input exactly.
pub(crate) fn stream_pieces(text: &str) -> Vec<String> {
    // A piece starts where a whitespace run that precedes a (non-first) word starts.
    let mut boundaries = vec![0];
    let mut run_start = None;
    let mut seen_word = false;
    for (i, c) in text.char_indices() {
        if c.is_whitespace() {
            run_start.get_or_insert(i);
        } else {
            if let Some(start) = run_start.take() {
                if seen_word {
                    boundaries.push(start);
                }
            }
            seen_word = true;
        }
    }
    boundaries.push(text.len());
    boundaries
        .windows(2)
        .filter_map(|w| text.get(w[0]..w[1]))
        .filter(|piece| !piece.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Round-robin merge of per-choice event lists (choice 0 step 0, choice 1 step 0, …),
/// so streams with several choices interleave like real ones.
pub(crate) fn interleave(lists: Vec<Vec<Value>>) -> Vec<Value> {
    let steps = lists.iter().map(Vec::len).max().unwrap_or(0);
    let mut iters: Vec<_> = lists.into_iter().map(Vec::into_iter).collect();
    let mut merged = Vec::new();
    for _ in 0..steps {
        merged.extend(iters.iter_mut().filter_map(Iterator::next));
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_with_and_without_v1() {
        assert_eq!(Route::from_path("/v1/chat/completions"), Some(Route::Chat));
        assert_eq!(Route::from_path("/chat/completions"), Some(Route::Chat));
        assert_eq!(Route::from_path("/v1/messages"), Some(Route::Messages));
        assert_eq!(Route::from_path("/messages"), Some(Route::Messages));
        assert_eq!(Route::from_path("/v1/v2/rerank"), Some(Route::Rerank));
        assert_eq!(Route::from_path("/v2/rerank"), Some(Route::Rerank));
        assert_eq!(
            Route::from_path("/v1/models/openai/gpt-4o"),
            Some(Route::Model("openai/gpt-4o".into()))
        );
        assert_eq!(Route::from_path("/v1"), None);
        assert_eq!(Route::from_path("/v1//chat/completions"), None);
        assert_eq!(Route::from_path("/v1/chat/completions/"), None);
        assert_eq!(
            Route::from_path("/files/image-3.png"),
            Some(Route::ImageFile)
        );
    }

    #[test]
    fn pieces_keep_spaces() {
        assert_eq!(stream_pieces("Hello world"), ["Hello", " world"]);
        assert_eq!(stream_pieces("  a  b "), ["  a", "  b "]);
        assert_eq!(stream_pieces(""), Vec::<String>::new());
        assert_eq!(stream_pieces("héllo\twörld").concat(), "héllo\twörld");
    }

    #[test]
    fn bearer_check() {
        let mut headers = HeaderMap::new();
        assert!(authorized(None, &headers));
        assert!(!authorized(Some("sk-1"), &headers));
        headers.insert(AUTHORIZATION, HeaderValue::from_static("Bearer sk-1"));
        assert!(authorized(Some("sk-1"), &headers));
        assert!(!authorized(Some("sk-2"), &headers));
        headers.insert(AUTHORIZATION, HeaderValue::from_static("sk-1"));
        assert!(!authorized(Some("sk-1"), &headers));
    }
}
