//! `POST /v1/messages`: Anthropic's Messages API. Answers like the chat route —
//! echoes the text of the last user turn, or calls the first tool when that
//! turn mentions the weather — in Anthropic's shapes: a `message` object, or
//! named SSE events (`message_start` … `message_stop`). Errors use Anthropic's
//! envelope `{"type":"error","error":{"type":..,"message":..}}`.
//!
//! Like Anthropic's API, the route wants an `anthropic-version` header (any
//! value; LiteLLM always sends `2023-06-01` upstream) and answers `400`
//! without one.

use http::header::AUTHORIZATION;
use http::{HeaderMap, StatusCode};
use serde_json::{Map, Value, json};

use super::chat::{TOOL_ARGUMENT_PIECES, TOOL_ARGUMENTS, content_text, mentions_weather};
use super::{
    Ctx, Reply, context_window, json_response, json_with_status, named_sse_response, stream_pieces,
    wants_stream, words,
};
use crate::record::RecordedRequest;

/// `{"type":"error","error":{"type":..,"message":..}}` — Anthropic's error shape.
pub(crate) fn anthropic_error_envelope(error_type: &str, message: &str) -> Value {
    json!({
        "type": "error",
        "error": { "type": error_type, "message": message },
    })
}

/// An error answer in Anthropic's envelope.
#[derive(Debug)]
struct MessagesError {
    status: StatusCode,
    error_type: &'static str,
    message: String,
}

impl MessagesError {
    /// A `400 invalid_request_error`.
    fn invalid(message: impl Into<String>) -> Self {
        MessagesError {
            status: StatusCode::BAD_REQUEST,
            error_type: "invalid_request_error",
            message: message.into(),
        }
    }

    fn into_reply(self) -> Reply {
        json_with_status(
            self.status,
            &anthropic_error_envelope(self.error_type, &self.message),
        )
    }
}

/// The `401 authentication_error` for a missing or wrong key.
pub(crate) fn unauthorized(headers: &HeaderMap) -> Reply {
    let presented = headers.contains_key("x-api-key") || headers.contains_key(AUTHORIZATION);
    let message = if presented {
        "invalid x-api-key"
    } else {
        "x-api-key header is required"
    };
    MessagesError {
        status: StatusCode::UNAUTHORIZED,
        error_type: "authentication_error",
        message: message.to_owned(),
    }
    .into_reply()
}

enum Answer {
    Text(String),
    ToolUse { name: String },
}

impl Answer {
    /// Output tokens: words of the reply, or of the tool input.
    fn tokens(&self) -> usize {
        match self {
            Answer::Text(text) => words(text),
            Answer::ToolUse { .. } => words(TOOL_ARGUMENTS),
        }
    }

    fn stop_reason(&self) -> &'static str {
        match self {
            Answer::Text(_) => "end_turn",
            Answer::ToolUse { .. } => "tool_use",
        }
    }
}

/// Answers a `POST /v1/messages` whose key was accepted.
pub(crate) fn messages(ctx: &Ctx<'_>, request: &RecordedRequest) -> Reply {
    answer(ctx, request).unwrap_or_else(MessagesError::into_reply)
}

fn answer(ctx: &Ctx<'_>, request: &RecordedRequest) -> Result<Reply, MessagesError> {
    if !request.headers.contains_key("anthropic-version") {
        return Err(MessagesError::invalid(
            "anthropic-version: header is required",
        ));
    }
    let body = match serde_json::from_slice::<Value>(&request.body) {
        Ok(Value::Object(body)) => body,
        Ok(_) => return Err(MessagesError::invalid("request body must be a JSON object")),
        Err(error) => {
            return Err(MessagesError::invalid(format!(
                "There was an error parsing the body: {error}"
            )));
        }
    };
    let model = match body.get("model") {
        None | Some(Value::Null) => return Err(MessagesError::invalid("model: Field required")),
        Some(Value::String(model)) if !model.is_empty() => model.clone(),
        Some(_) => {
            return Err(MessagesError::invalid(
                "model: Input should be a non-empty string",
            ));
        }
    };
    match body.get("max_tokens") {
        None | Some(Value::Null) => {
            return Err(MessagesError::invalid("max_tokens: Field required"));
        }
        Some(value) if value.as_u64().is_some_and(|n| n >= 1) => {}
        Some(_) => {
            return Err(MessagesError::invalid(
                "max_tokens: Input should be an integer greater than or equal to 1",
            ));
        }
    }
    let messages = match body.get("messages") {
        None | Some(Value::Null) => {
            return Err(MessagesError::invalid("messages: Field required"));
        }
        Some(Value::Array(messages)) if !messages.is_empty() => messages,
        Some(Value::Array(_)) => {
            return Err(MessagesError::invalid(
                "messages: at least one message is required",
            ));
        }
        Some(_) => {
            return Err(MessagesError::invalid(
                "messages: Input should be a valid list",
            ));
        }
    };

    let input_tokens = words(&system_text(&body))
        + messages
            .iter()
            .map(|message| words(&turn_text(message)))
            .sum::<usize>();
    let window = context_window(&model);
    if input_tokens > window {
        return Err(MessagesError::invalid(format!(
            "prompt is too long: {input_tokens} tokens > {window} maximum"
        )));
    }

    let last_user_turn = messages
        .iter()
        .rev()
        .find(|m| m.get("role").and_then(Value::as_str) == Some("user"))
        .map(turn_text)
        .unwrap_or_default();
    let answer = match first_tool_name(&body) {
        Some(name) if mentions_weather(&last_user_turn) => Answer::ToolUse { name },
        _ => Answer::Text(last_user_turn),
    };
    let id = format!("msg_mock_{}", ctx.seq);
    let tool_use_id = format!("toolu_mock_{}", ctx.seq);

    if wants_stream(&body) {
        return Ok(stream(
            ctx,
            &id,
            &tool_use_id,
            &model,
            &answer,
            input_tokens,
        ));
    }

    let block = match &answer {
        Answer::Text(text) => json!({ "type": "text", "text": text }),
        Answer::ToolUse { name } => json!({
            "type": "tool_use",
            "id": tool_use_id,
            "name": name,
            "input": tool_input(),
        }),
    };
    Ok(json_response(
        ctx,
        &json!({
            "id": id,
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [block],
            "stop_reason": answer.stop_reason(),
            "stop_sequence": null,
            "usage": { "input_tokens": input_tokens, "output_tokens": answer.tokens() },
        }),
    ))
}

/// The events of a streamed answer, in Anthropic's order: `message_start`,
/// `content_block_start`, `ping`, the deltas, `content_block_stop`,
/// `message_delta`, `message_stop`.
fn stream(
    ctx: &Ctx<'_>,
    id: &str,
    tool_use_id: &str,
    model: &str,
    answer: &Answer,
    input_tokens: usize,
) -> Reply {
    let mut events: Vec<(&str, Value)> = vec![(
        "message_start",
        json!({
            "type": "message_start",
            "message": {
                "id": id,
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": [],
                "stop_reason": null,
                "stop_sequence": null,
                "usage": { "input_tokens": input_tokens, "output_tokens": 1 },
            },
        }),
    )];
    let (block, deltas): (Value, Vec<Value>) = match answer {
        Answer::Text(text) => (
            json!({ "type": "text", "text": "" }),
            stream_pieces(text)
                .into_iter()
                .map(|piece| json!({ "type": "text_delta", "text": piece }))
                .collect(),
        ),
        Answer::ToolUse { name } => (
            json!({ "type": "tool_use", "id": tool_use_id, "name": name, "input": {} }),
            TOOL_ARGUMENT_PIECES
                .iter()
                .map(|piece| json!({ "type": "input_json_delta", "partial_json": piece }))
                .collect(),
        ),
    };
    events.push((
        "content_block_start",
        json!({ "type": "content_block_start", "index": 0, "content_block": block }),
    ));
    events.push(("ping", json!({ "type": "ping" })));
    for delta in deltas {
        events.push((
            "content_block_delta",
            json!({ "type": "content_block_delta", "index": 0, "delta": delta }),
        ));
    }
    events.push((
        "content_block_stop",
        json!({ "type": "content_block_stop", "index": 0 }),
    ));
    events.push((
        "message_delta",
        json!({
            "type": "message_delta",
            "delta": { "stop_reason": answer.stop_reason(), "stop_sequence": null },
            "usage": { "output_tokens": answer.tokens() },
        }),
    ));
    events.push(("message_stop", json!({ "type": "message_stop" })));
    named_sse_response(ctx, &events)
}

/// The `input` of a `tool_use` block: [`TOOL_ARGUMENTS`] parsed.
fn tool_input() -> Value {
    serde_json::from_str(TOOL_ARGUMENTS).unwrap_or(Value::Null)
}

/// The top-level `system` prompt's text: a string, or its text blocks.
fn system_text(body: &Map<String, Value>) -> String {
    body.get("system").map(content_text).unwrap_or_default()
}

/// A turn's text: a string content, or the text of its `text` blocks and of
/// its `tool_result` blocks' content, joined with one space. So a turn that
/// only returns a tool result is answered with that result.
fn turn_text(message: &Value) -> String {
    match message.get("content") {
        Some(Value::Array(blocks)) => blocks
            .iter()
            .filter_map(|block| match block.get("type").and_then(Value::as_str) {
                Some("text") => block.get("text").and_then(Value::as_str).map(str::to_owned),
                Some("tool_result") => block.get("content").map(content_text),
                _ => None,
            })
            .filter(|text| !text.is_empty())
            .collect::<Vec<_>>()
            .join(" "),
        Some(content) => content_text(content),
        None => String::new(),
    }
}

/// The `name` of the first entry of `tools`.
fn first_tool_name(body: &Map<String, Value>) -> Option<String> {
    let tool = body.get("tools")?.as_array()?.first()?;
    Some(tool.get("name")?.as_str()?.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_input_is_the_chat_arguments() {
        assert_eq!(tool_input(), json!({"location": "Paris"}));
        assert_eq!(tool_input().to_string(), TOOL_ARGUMENTS);
    }

    #[test]
    fn text_of_turns() {
        let plain = json!({"role": "user", "content": "a  b"});
        assert_eq!(turn_text(&plain), "a  b");
        let blocks = json!({"role": "user", "content": [
            {"type": "text", "text": "a b"},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": ""}},
            {"type": "text", "text": "c"},
        ]});
        assert_eq!(turn_text(&blocks), "a b c");
        let result = json!({"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_1", "content": "Sunny"},
            {"type": "tool_result", "tool_use_id": "toolu_2",
             "content": [{"type": "text", "text": "21 C"}]},
        ]});
        assert_eq!(turn_text(&result), "Sunny 21 C");
        assert_eq!(turn_text(&json!({"role": "user"})), "");
    }
}
