//! `POST /v1/embeddings`: deterministic vectors.
//!
//! For input `i` (0-based) of length `L_i` — UTF-8 bytes for a string input,
//! number of ids for a token-id input — component `j` (0-based) is
//! `(L_i + i + j) as f32 / 100.0`. The dimension is `dimensions` (default 8).
//! With `encoding_format: "base64"` each vector is the standard padded base64
//! of its little-endian `f32` bytes. Prompt tokens: words of string inputs,
//! ids of token inputs.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use super::{
    Ctx, Handled, bad_request, count_param, json_object, json_response, required_model,
    string_param, words,
};
use crate::record::RecordedRequest;

const DEFAULT_DIMENSIONS: usize = 8;
const MAX_DIMENSIONS: usize = 16_384;

/// One input: its length `L` and its token count.
struct Input {
    len: usize,
    tokens: usize,
}

/// The embedding the gateway returns for input number `index` (0-based) whose
/// length is `len` (UTF-8 bytes of a string input, or number of token ids):
/// component `j` is `(len + index + j) as f32 / 100.0`.
///
/// ```
/// assert_eq!(mishika_mock::mock_embedding(5, 1, 3), [0.06, 0.07, 0.08]);
/// ```
pub fn mock_embedding(len: usize, index: usize, dimensions: usize) -> Vec<f32> {
    (0..dimensions)
        .map(|j| (len + index + j) as f32 / 100.0)
        .collect()
}

pub(crate) fn embeddings(ctx: &Ctx<'_>, request: &RecordedRequest) -> Handled {
    let body = json_object(request)?;
    let model = required_model(&body)?;
    let inputs = body.get("input").and_then(parse_inputs).ok_or_else(|| {
        bad_request(
            "`input` must be a string, a non-empty array of strings, an array of token ids or an array of arrays of token ids",
            Some("input"),
        )
    })?;
    let dimensions = count_param(&body, "dimensions", DEFAULT_DIMENSIONS, MAX_DIMENSIONS)?;
    let base64 = match string_param(&body, "encoding_format")? {
        None | Some("float") => false,
        Some("base64") => true,
        Some(_) => {
            return Err(bad_request(
                "`encoding_format` must be \"float\" or \"base64\"",
                Some("encoding_format"),
            ));
        }
    };

    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(index, input)| {
            let values = mock_embedding(input.len, index, dimensions);
            let embedding = if base64 {
                let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
                Value::String(STANDARD.encode(bytes))
            } else {
                json!(values)
            };
            json!({ "object": "embedding", "index": index, "embedding": embedding })
        })
        .collect();
    let prompt_tokens: usize = inputs.iter().map(|input| input.tokens).sum();
    Ok(json_response(
        ctx,
        &json!({
            "object": "list",
            "data": data,
            "model": model,
            "usage": { "prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens },
        }),
    ))
}

/// string | [string] | [int] | [[int]].
fn parse_inputs(value: &Value) -> Option<Vec<Input>> {
    let text = |text: &str| Input {
        len: text.len(),
        tokens: words(text),
    };
    let ids = |ids: &[Value]| {
        ids.iter()
            .all(|id| id.is_i64() || id.is_u64())
            .then_some(Input {
                len: ids.len(),
                tokens: ids.len(),
            })
    };
    match value {
        Value::String(s) => Some(vec![text(s)]),
        Value::Array(items) if items.is_empty() => None,
        Value::Array(items) if items.iter().all(Value::is_string) => {
            items.iter().map(|item| item.as_str().map(text)).collect()
        }
        Value::Array(items) if items.iter().all(Value::is_number) => ids(items).map(|i| vec![i]),
        Value::Array(items) if items.iter().all(Value::is_array) => items
            .iter()
            .map(|item| item.as_array().and_then(|a| ids(a)))
            .collect(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula() {
        assert_eq!(mock_embedding(5, 1, 3), [0.06, 0.07, 0.08]);
    }
}
