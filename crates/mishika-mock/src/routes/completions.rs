//! `POST /v1/completions` (legacy text completion): echoes each prompt.

use serde_json::{Value, json};

use super::{
    Ctx, Handled, bad_request, count_param, interleave, json_object, json_response, required_model,
    sse_response, stream_pieces, usage, wants_stream, wants_stream_usage, words,
};
use crate::record::RecordedRequest;

const MAX_CHOICES: usize = 128;

/// One prompt: its echo text and its prompt-token count.
struct Prompt {
    text: String,
    tokens: usize,
}

pub(crate) fn completions(ctx: &Ctx<'_>, request: &RecordedRequest) -> Handled {
    let body = json_object(request)?;
    let model = required_model(&body)?;
    let prompts = body.get("prompt").and_then(parse_prompts).ok_or_else(|| {
        bad_request(
            "`prompt` must be a string, an array of strings, an array of token ids or an array of arrays of token ids",
            Some("prompt"),
        )
    })?;
    let n = count_param(&body, "n", 1, MAX_CHOICES)?;

    // Choice `p * n + k` is the k-th completion of prompt p (OpenAI's order).
    let texts: Vec<&str> = prompts
        .iter()
        .flat_map(|prompt| std::iter::repeat_n(prompt.text.as_str(), n))
        .collect();
    let prompt_tokens: usize = prompts.iter().map(|p| p.tokens).sum();
    let completion_tokens: usize = texts.iter().map(|text| words(text)).sum();
    let usage = usage(prompt_tokens, completion_tokens);
    let id = format!("cmpl-mock-{}", ctx.seq);
    let envelope = |choices: Value| {
        json!({
            "id": id,
            "object": "text_completion",
            "created": ctx.created,
            "model": model,
            "choices": choices,
        })
    };

    if wants_stream(&body) {
        let per_choice = texts
            .iter()
            .enumerate()
            .map(|(index, text)| {
                let mut events: Vec<Value> = stream_pieces(text)
                    .into_iter()
                    .map(|piece| choice(index, &piece, None))
                    .collect();
                events.push(choice(index, "", Some("stop")));
                events
            })
            .collect();
        let mut events: Vec<Value> = interleave(per_choice)
            .into_iter()
            .map(|c| envelope(json!([c])))
            .collect();
        if wants_stream_usage(&body) {
            let mut last = envelope(json!([]));
            last["usage"] = usage;
            events.push(last);
        }
        return Ok(sse_response(ctx, &events));
    }

    let choices: Vec<Value> = texts
        .iter()
        .enumerate()
        .map(|(index, text)| choice(index, text, Some("stop")))
        .collect();
    let mut response = envelope(Value::Array(choices));
    response["usage"] = usage;
    Ok(json_response(ctx, &response))
}

fn choice(index: usize, text: &str, finish_reason: Option<&str>) -> Value {
    json!({ "text": text, "index": index, "logprobs": null, "finish_reason": finish_reason })
}

/// string | [string] | [int] | [[int]]; token ids become their decimal values
/// joined with single spaces.
fn parse_prompts(value: &Value) -> Option<Vec<Prompt>> {
    let text_prompt = |text: &str| Prompt {
        text: text.to_owned(),
        tokens: words(text),
    };
    match value {
        Value::String(text) => Some(vec![text_prompt(text)]),
        Value::Array(items) if items.is_empty() => None,
        Value::Array(items) if items.iter().all(Value::is_string) => items
            .iter()
            .map(|item| item.as_str().map(text_prompt))
            .collect(),
        Value::Array(items) if items.iter().all(Value::is_number) => {
            token_prompt(items).map(|prompt| vec![prompt])
        }
        Value::Array(items) if items.iter().all(Value::is_array) => items
            .iter()
            .map(|item| item.as_array().and_then(|ids| token_prompt(ids)))
            .collect(),
        _ => None,
    }
}

fn token_prompt(ids: &[Value]) -> Option<Prompt> {
    let ids: Vec<String> = ids
        .iter()
        .map(|id| {
            id.as_i64()
                .map(|n| n.to_string())
                .or_else(|| id.as_u64().map(|n| n.to_string()))
        })
        .collect::<Option<_>>()?;
    Some(Prompt {
        tokens: ids.len(),
        text: ids.join(" "),
    })
}
