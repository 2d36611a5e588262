//! `POST /v1/rerank`, `/rerank`, `/v2/rerank`, `/v1/v2/rerank` (Cohere shape).
//!
//! Score of document `i`: the fraction of the distinct query words (lowercased,
//! split on non-alphanumeric characters) that occur among the document's words,
//! minus `i * 1e-6` as a deterministic tie-breaker. A document's text is the
//! string itself, or for an object the `rank_fields` values joined with a
//! space (when `rank_fields` is given), else its `"text"` field. Results are
//! sorted by descending score and cut to `top_n`.

use std::collections::HashSet;

use serde_json::{Value, json};

use super::{
    Ctx, Handled, bad_request, count_param, json_object, json_response, required_model, words,
};
use crate::record::RecordedRequest;

const MAX_DOCUMENTS: usize = 10_000;

/// Lowercased alphanumeric words.
fn terms(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
        .map(str::to_lowercase)
}

/// The relevance score the gateway gives `document` (at position `index`) for
/// `query`: the fraction of distinct query words (lowercased, split on
/// non-alphanumerics) found among the document's words, minus `index * 1e-6`.
///
/// ```
/// assert_eq!(mishika_mock::mock_rerank_score("capital of France", "Paris, capital of France", 0), 1.0);
/// assert_eq!(mishika_mock::mock_rerank_score("capital France", "the capital", 2), 0.5 - 2e-6);
/// ```
pub fn mock_rerank_score(query: &str, document: &str, index: usize) -> f64 {
    let query: HashSet<String> = terms(query).collect();
    let document: HashSet<String> = terms(document).collect();
    let fraction = if query.is_empty() {
        0.0
    } else {
        query.intersection(&document).count() as f64 / query.len() as f64
    };
    fraction - index as f64 * 1e-6
}

pub(crate) fn rerank(ctx: &Ctx<'_>, request: &RecordedRequest) -> Handled {
    let body = json_object(request)?;
    required_model(&body)?;
    let query = match body.get("query") {
        Some(Value::String(query)) => query.as_str(),
        _ => return Err(bad_request("`query` must be a string", Some("query"))),
    };
    let documents = match body.get("documents") {
        Some(Value::Array(documents)) if documents.len() <= MAX_DOCUMENTS => documents,
        _ => {
            return Err(bad_request(
                "`documents` must be an array of strings or objects",
                Some("documents"),
            ));
        }
    };
    let rank_fields: Vec<&str> = body
        .get("rank_fields")
        .and_then(Value::as_array)
        .map(|fields| fields.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let texts: Vec<String> = documents
        .iter()
        .map(|document| document_text(document, &rank_fields))
        .collect::<Option<_>>()
        .ok_or_else(|| {
            bad_request(
                "`documents` must be an array of strings or objects",
                Some("documents"),
            )
        })?;
    let top_n = count_param(&body, "top_n", documents.len(), usize::MAX)?;
    let return_documents = body.get("return_documents").and_then(Value::as_bool) == Some(true);

    let mut scored: Vec<(usize, f64)> = texts
        .iter()
        .enumerate()
        .map(|(index, text)| (index, mock_rerank_score(query, text, index)))
        .collect();
    scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    scored.truncate(top_n);

    let results: Vec<Value> = scored
        .into_iter()
        .map(|(index, relevance)| {
            let mut result = json!({ "index": index, "relevance_score": relevance });
            if return_documents {
                result["document"] = match &documents[index] {
                    Value::String(text) => json!({ "text": text }),
                    other => other.clone(),
                };
            }
            result
        })
        .collect();
    let input_tokens = words(query) + texts.iter().map(|text| words(text)).sum::<usize>();
    Ok(json_response(
        ctx,
        &json!({
            "id": format!("rerank-mock-{}", ctx.seq),
            "results": results,
            "meta": {
                "billed_units": { "search_units": 1 },
                "tokens": { "input_tokens": input_tokens, "output_tokens": 0 },
            },
        }),
    ))
}

fn document_text(document: &Value, rank_fields: &[&str]) -> Option<String> {
    match document {
        Value::String(text) => Some(text.clone()),
        Value::Object(object) if !rank_fields.is_empty() => Some(
            rank_fields
                .iter()
                .filter_map(|field| object.get(*field).map(value_text))
                .collect::<Vec<_>>()
                .join(" "),
        ),
        Value::Object(object) => Some(object.get("text").map(value_text).unwrap_or_default()),
        _ => None,
    }
}

fn value_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scoring() {
        assert_eq!(
            mock_rerank_score("Capital of France?", "Paris is the capital of France", 0),
            1.0
        );
        assert_eq!(
            mock_rerank_score("capital france", "the capital", 2),
            0.5 - 2e-6
        );
        assert_eq!(mock_rerank_score("", "x", 0), 0.0);
    }
}
