//! `POST /v1/chat/completions`: echoes the last user message (or the result
//! of a `tool` message that comes after it, so tool loops end), or calls the
//! first tool when that text mentions the weather. A prompt longer than the
//! model's context window gets OpenAI's `400 context_length_exceeded`.

use serde_json::{Map, Value, json};

use super::{
    Ctx, Handled, Reply, bad_request, context_window, count_param, interleave, json_object,
    json_response, required_model, sse_response, stream_pieces, usage, wants_stream,
    wants_stream_usage, words,
};
use crate::record::RecordedRequest;

const MAX_CHOICES: usize = 128;
const TOOL_CALL_ID: &str = "call_mock_1";
/// The arguments of every mock tool call (also the `input` of the Messages
/// route's `tool_use` blocks).
pub(crate) const TOOL_ARGUMENTS: &str = r#"{"location":"Paris"}"#;
/// `TOOL_ARGUMENTS` as it is streamed.
pub(crate) const TOOL_ARGUMENT_PIECES: [&str; 3] = [r#"{"loc"#, r#"ation":"Pa"#, r#"ris"}"#];

enum Answer {
    Text(String),
    ToolCall { name: String },
}

impl Answer {
    /// Completion tokens of one choice: words of the reply, or of the tool arguments.
    fn tokens(&self) -> usize {
        match self {
            Answer::Text(text) => words(text),
            Answer::ToolCall { .. } => words(TOOL_ARGUMENTS),
        }
    }

    fn finish_reason(&self) -> &'static str {
        match self {
            Answer::Text(_) => "stop",
            Answer::ToolCall { .. } => "tool_calls",
        }
    }
}

pub(crate) fn chat(ctx: &Ctx<'_>, request: &RecordedRequest) -> Handled {
    let body = json_object(request)?;
    let model = required_model(&body)?;
    let messages = match body.get("messages") {
        Some(Value::Array(messages)) if !messages.is_empty() => messages,
        _ => {
            return Err(bad_request(
                "`messages` is required and must be a non-empty array",
                Some("messages"),
            ));
        }
    };
    let n = count_param(&body, "n", 1, MAX_CHOICES)?;

    let prompt_tokens: usize = messages.iter().map(|m| words(&message_text(m))).sum();
    let window = context_window(&model);
    if prompt_tokens > window {
        return Err(bad_request(
            format!(
                "This model's maximum context length is {window} tokens. However, your \
                 messages resulted in {prompt_tokens} tokens. Please reduce the length of \
                 the messages."
            ),
            Some("messages"),
        )
        .with_code("context_length_exceeded"));
    }
    let reply = messages
        .iter()
        .rev()
        .find(|m| matches!(m.get("role").and_then(Value::as_str), Some("user" | "tool")))
        .map(message_text)
        .unwrap_or_default();
    let answer = match first_tool_name(&body) {
        Some(name) if mentions_weather(&reply) => Answer::ToolCall { name },
        _ => Answer::Text(reply),
    };
    let usage = usage(prompt_tokens, n * answer.tokens());
    let id = format!("chatcmpl-mock-{}", ctx.seq);

    if wants_stream(&body) {
        let usage = wants_stream_usage(&body).then_some(usage);
        return Ok(stream(ctx, &id, &model, &answer, n, usage));
    }

    let message = match &answer {
        Answer::Text(text) => json!({ "role": "assistant", "content": text }),
        Answer::ToolCall { name } => json!({
            "role": "assistant",
            "content": null,
            "tool_calls": [{
                "id": TOOL_CALL_ID,
                "type": "function",
                "function": { "name": name, "arguments": TOOL_ARGUMENTS },
            }],
        }),
    };
    let choices: Vec<Value> = (0..n)
        .map(|index| {
            json!({
                "index": index,
                "message": message,
                "finish_reason": answer.finish_reason(),
            })
        })
        .collect();
    Ok(json_response(
        ctx,
        &json!({
            "id": id,
            "object": "chat.completion",
            "created": ctx.created,
            "model": model,
            "choices": choices,
            "usage": usage,
        }),
    ))
}

fn stream(
    ctx: &Ctx<'_>,
    id: &str,
    model: &str,
    answer: &Answer,
    n: usize,
    usage: Option<Value>,
) -> Reply {
    let chunk = |choices: Value| {
        json!({
            "id": id,
            "object": "chat.completion.chunk",
            "created": ctx.created,
            "model": model,
            "choices": choices,
        })
    };
    let per_choice = (0..n).map(|index| choice_deltas(answer, index)).collect();
    let mut events: Vec<Value> = interleave(per_choice)
        .into_iter()
        .map(|choice| chunk(json!([choice])))
        .collect();
    if let Some(usage) = usage {
        let mut last = chunk(json!([]));
        last["usage"] = usage;
        events.push(last);
    }
    sse_response(ctx, &events)
}

/// The streamed `choices[]` entries of one choice: role, content pieces, finish.
fn choice_deltas(answer: &Answer, index: usize) -> Vec<Value> {
    let delta = |delta: Value| json!({ "index": index, "delta": delta, "finish_reason": null });
    let mut deltas = Vec::new();
    match answer {
        Answer::Text(text) => {
            deltas.push(delta(json!({ "role": "assistant", "content": "" })));
            for piece in stream_pieces(text) {
                deltas.push(delta(json!({ "content": piece })));
            }
        }
        Answer::ToolCall { name } => {
            deltas.push(delta(json!({
                "role": "assistant",
                "content": null,
                "tool_calls": [{
                    "index": 0,
                    "id": TOOL_CALL_ID,
                    "type": "function",
                    "function": { "name": name, "arguments": "" },
                }],
            })));
            for piece in TOOL_ARGUMENT_PIECES {
                deltas.push(delta(json!({
                    "tool_calls": [{ "index": 0, "function": { "arguments": piece } }],
                })));
            }
        }
    }
    deltas.push(json!({ "index": index, "delta": {}, "finish_reason": answer.finish_reason() }));
    deltas
}

/// A message's text: a string content, or the `text` of its `type: "text"`
/// parts joined with one space; anything else is empty.
fn message_text(message: &Value) -> String {
    message.get("content").map(content_text).unwrap_or_default()
}

/// The text of a `content` value: the string itself, or the `text` of its
/// `type: "text"` parts joined with one space; anything else is empty.
pub(crate) fn content_text(content: &Value) -> String {
    match content {
        Value::String(text) => text.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter(|part| part.get("type").and_then(Value::as_str) == Some("text"))
            .filter_map(|part| part.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join(" "),
        _ => String::new(),
    }
}

fn first_tool_name(body: &Map<String, Value>) -> Option<String> {
    let tool = body.get("tools")?.as_array()?.first()?;
    Some(tool.get("function")?.get("name")?.as_str()?.to_owned())
}

/// Whether `text` contains the word "weather" (any case).
pub(crate) fn mentions_weather(text: &str) -> bool {
    text.split(|c: char| !c.is_alphanumeric())
        .any(|word| word.eq_ignore_ascii_case("weather"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_pieces_join_to_arguments() {
        assert_eq!(TOOL_ARGUMENT_PIECES.concat(), TOOL_ARGUMENTS);
    }

    #[test]
    fn text_of_parts() {
        let message = json!({"role": "user", "content": [
            {"type": "text", "text": "a b"},
            {"type": "image_url", "image_url": {"url": "x"}},
            {"type": "text", "text": "c"},
        ]});
        assert_eq!(message_text(&message), "a b c");
        assert!(mentions_weather("What's the Weather?"));
        assert!(!mentions_weather("weathering"));
    }
}
