//! `POST /v1/audio/speech` (streamed bytes) and `POST /v1/audio/transcriptions`
//! (multipart upload in, text out).

use bytes::Bytes;
use serde_json::{Value, json};

use super::{
    Ctx, Handled, bad_request, json_object, json_response, ok_response, required_model,
    streamed_response, string_param,
};
use crate::body::{ChunkSource, Ending, StreamPlan};
use crate::multipart::{self, MultipartField};
use crate::record::RecordedRequest;

/// Chunk size of generated `mock_audio_bytes` bodies.
const AUDIO_CHUNK: usize = 64 * 1024;

/// Speech bytes: the `input` text's UTF-8 bytes; or, when the extra field
/// `mock_audio_bytes: N` is present, exactly N bytes `byte[k] = (k % 251) as u8`
/// streamed in 64 KiB chunks.
pub(crate) fn speech(ctx: &Ctx<'_>, request: &RecordedRequest) -> Handled {
    let body = json_object(request)?;
    required_model(&body)?;
    let input = string_param(&body, "input")?
        .ok_or_else(|| bad_request("`input` is required", Some("input")))?;
    if body.get("voice").is_none_or(Value::is_null) {
        return Err(bad_request("`voice` is required", Some("voice")));
    }
    let content_type = match string_param(&body, "response_format")?.unwrap_or("mp3") {
        "mp3" => "audio/mpeg",
        "opus" => "audio/ogg",
        "aac" => "audio/aac",
        "flac" => "audio/flac",
        "wav" => "audio/wav",
        "pcm" => "audio/pcm",
        _ => {
            return Err(bad_request(
                "`response_format` must be one of mp3, opus, aac, flac, wav, pcm",
                Some("response_format"),
            ));
        }
    };
    let source = match body.get("mock_audio_bytes") {
        None | Some(Value::Null) => ChunkSource::list([Bytes::copy_from_slice(input.as_bytes())]),
        Some(value) => {
            let remaining = value.as_u64().ok_or_else(|| {
                bad_request(
                    "`mock_audio_bytes` must be a non-negative integer",
                    Some("mock_audio_bytes"),
                )
            })?;
            ChunkSource::Pattern {
                offset: 0,
                remaining,
                chunk_size: AUDIO_CHUNK,
            }
        }
    };
    let plan = StreamPlan {
        source,
        chunk_delay: None,
        drop_after: None,
        ending: Ending::Finish,
    };
    Ok(streamed_response(ctx, content_type, plan))
}

pub(crate) fn transcriptions(ctx: &Ctx<'_>, request: &RecordedRequest) -> Handled {
    let boundary = request
        .header("content-type")
        .and_then(multipart::boundary)
        .ok_or_else(|| bad_request("Expected a multipart/form-data body with a boundary", None))?;
    let fields = multipart::parse(&request.body, &boundary)
        .ok_or_else(|| bad_request("Malformed multipart/form-data body", None))?;
    let text_field = |name: &str| {
        fields
            .iter()
            .find(|field| field.name == name)
            .map(MultipartField::text)
    };

    let file = fields
        .iter()
        .find(|field| field.name == "file")
        .ok_or_else(|| bad_request("`file` is required", Some("file")))?;
    if text_field("model").is_none_or(|model| model.is_empty()) {
        return Err(bad_request("`model` is required", Some("model")));
    }
    let text = format!(
        "mock transcript of {} ({} bytes)",
        file.filename.as_deref().unwrap_or("file"),
        file.data.len()
    );
    let granularities: Vec<String> = fields
        .iter()
        .filter(|f| f.name == "timestamp_granularities[]" || f.name == "timestamp_granularities")
        .map(MultipartField::text)
        .collect();

    let format = text_field("response_format").unwrap_or_else(|| "json".to_owned());
    let reply = match format.as_str() {
        "json" => json_response(ctx, &json!({ "text": text })),
        "text" => ok_response(ctx, "text/plain; charset=utf-8", text),
        "srt" => ok_response(
            ctx,
            "text/plain; charset=utf-8",
            format!("1\n00:00:00,000 --> 00:00:01,000\n{text}\n\n"),
        ),
        "vtt" => ok_response(
            ctx,
            "text/vtt; charset=utf-8",
            format!("WEBVTT\n\n00:00:00.000 --> 00:00:01.000\n{text}\n\n"),
        ),
        "verbose_json" => {
            let language = text_field("language").filter(|l| !l.is_empty());
            json_response(ctx, &verbose(&text, language.as_deref(), &granularities))
        }
        _ => {
            return Err(bad_request(
                "`response_format` must be one of json, text, srt, verbose_json, vtt",
                Some("response_format"),
            ));
        }
    };
    Ok(reply)
}

/// `verbose_json`: segments when asked for (or when no granularity is given),
/// words (0.5 s each, in order) when asked for.
fn verbose(text: &str, language: Option<&str>, granularities: &[String]) -> Value {
    let wants = |g: &str| granularities.iter().any(|x| x == g);
    let mut out = json!({
        "task": "transcribe",
        "language": language.unwrap_or("english"),
        "duration": 1.0,
        "text": text,
    });
    if granularities.is_empty() || wants("segment") {
        out["segments"] = json!([{
            "id": 0,
            "seek": 0,
            "start": 0.0,
            "end": 1.0,
            "text": text,
            "tokens": [1, 2],
            "temperature": 0.0,
            "avg_logprob": -0.1,
            "compression_ratio": 1.0,
            "no_speech_prob": 0.01,
        }]);
    }
    if wants("word") {
        let words: Vec<Value> = text
            .split_whitespace()
            .enumerate()
            .map(|(i, word)| {
                json!({ "word": word, "start": i as f64 * 0.5, "end": (i + 1) as f64 * 0.5 })
            })
            .collect();
        out["words"] = Value::Array(words);
    }
    out
}
