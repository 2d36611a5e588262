//! The canned answers, shaped like OpenAI's (so async-openai's strict types accept them)
//! and serialised once at server start: the server only clones `Bytes`.

use base64::Engine as _;
use bytes::Bytes;

use crate::{EMBEDDING_DIM, EMBEDDING_INPUTS, STREAM_CHUNKS};

/// The text of the chat answer.
pub const ANSWER: &str =
    "Hamlet feigns madness to avenge his father; nearly everyone dies in the final duel.";

const TOKENS: [&str; 16] = [
    " Prince",
    " Ham",
    "let",
    " feigns",
    " madness",
    " to",
    " avenge",
    " his",
    " father's",
    " murder",
    ",",
    " while",
    " Claud",
    "ius",
    " rules",
    " Denmark.",
];

const CREATED: u64 = 1_764_214_800;
const MODEL_VERSION: &str = "gpt-4o-mini-2024-07-18";
const FINGERPRINT: &str = "fp_560af6e559";

/// Every answer the server sends, pre-serialised.
#[derive(Debug, Clone)]
pub struct Canned {
    /// A `chat.completion` of about 600 bytes.
    pub chat: Bytes,
    /// `STREAM_CHUNKS` SSE data events, then `data: [DONE]`.
    pub events: Vec<Bytes>,
    /// All of `events` in one buffer.
    pub burst: Bytes,
    /// An embeddings answer with the vectors as JSON numbers.
    pub embedding_float: Bytes,
    /// The same vectors as base64 of little-endian f32.
    pub embedding_base64: Bytes,
}

impl Canned {
    /// Build every answer.
    pub fn new() -> Canned {
        let events = stream_events();
        let burst = Bytes::from(events.concat());
        Canned {
            chat: chat_body(),
            events,
            burst,
            embedding_float: embedding_body(false),
            embedding_base64: embedding_body(true),
        }
    }
}

impl Default for Canned {
    fn default() -> Canned {
        Canned::new()
    }
}

/// JSON of a string (quoted and escaped).
fn quoted(text: &str) -> String {
    serde_json::to_string(text).expect("a string serialises")
}

// The bodies are written out by hand rather than with `json!`, which would sort the keys:
// OpenAI sends `id` first and `choices` in the middle, and key order changes parse work.

fn chat_body() -> Bytes {
    Bytes::from(format!(
        concat!(
            r#"{{"id":"chatcmpl-BmHkQ2ZQ8cVb6Yk1PpXnS3c4a5d6e","object":"chat.completion","#,
            r#""created":{created},"model":"{model}","choices":[{{"index":0,"message":"#,
            r#"{{"role":"assistant","content":{content},"refusal":null,"annotations":[]}},"#,
            r#""logprobs":null,"finish_reason":"stop"}}],"usage":{{"prompt_tokens":24,"#,
            r#""completion_tokens":31,"total_tokens":55,"prompt_tokens_details":"#,
            r#"{{"cached_tokens":0,"audio_tokens":0}},"completion_tokens_details":"#,
            r#"{{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"#,
            r#""rejected_prediction_tokens":0}}}},"service_tier":"default","#,
            r#""system_fingerprint":"{fingerprint}"}}"#,
        ),
        created = CREATED,
        model = MODEL_VERSION,
        content = quoted(ANSWER),
        fingerprint = FINGERPRINT,
    ))
}

/// One SSE event carrying a `chat.completion.chunk` as OpenAI sends it today (with the
/// `obfuscation` padding that hides the token's length).
fn chunk(delta: &str, finish_reason: &str, obfuscation: &str) -> Bytes {
    Bytes::from(format!(
        concat!(
            r#"data: {{"id":"chatcmpl-BmHkQ2ZQ8cVb6Yk1PpXnS3c4a5d6e","#,
            r#""object":"chat.completion.chunk","created":{created},"model":"{model}","#,
            r#""service_tier":"default","system_fingerprint":"{fingerprint}","#,
            r#""choices":[{{"index":0,"delta":{delta},"logprobs":null,"#,
            r#""finish_reason":{finish_reason}}}],"usage":null,"obfuscation":"{obfuscation}"}}"#,
            "\n\n",
        ),
        created = CREATED,
        model = MODEL_VERSION,
        fingerprint = FINGERPRINT,
        delta = delta,
        finish_reason = finish_reason,
        obfuscation = obfuscation,
    ))
}

fn stream_events() -> Vec<Bytes> {
    const PAD: &str = "aZ3kQ9xLm2Pw";
    let mut events = Vec::with_capacity(STREAM_CHUNKS + 1);
    events.push(chunk(
        r#"{"role":"assistant","content":"","refusal":null}"#,
        "null",
        "Xq7",
    ));
    for i in 1..STREAM_CHUNKS - 1 {
        let token = TOKENS[i % TOKENS.len()];
        // The pad's length varies from chunk to chunk, as OpenAI's does.
        let pad = &PAD[..(i * 7) % PAD.len() + 1];
        events.push(chunk(
            &format!(r#"{{"content":{}}}"#, quoted(token)),
            "null",
            pad,
        ));
    }
    events.push(chunk("{}", r#""stop""#, "T2"));
    events.push(Bytes::from_static(b"data: [DONE]\n\n"));
    events
}

/// The vector the server sends for input `index`: deterministic values of the size real
/// embeddings have (|x| < 0.08), so their JSON has the usual 9-10 significant digits.
pub fn embedding_vector(index: usize) -> Vec<f32> {
    let mut state =
        0x9E37_79B9_7F4A_7C15_u64 ^ (index as u64 + 1).wrapping_mul(0xD1B5_4A32_D192_ED03);
    (0..EMBEDDING_DIM)
        .map(|_| {
            // xorshift64*: cheap, deterministic, good enough to look like noise.
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            let bits = state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 40; // 24 bits
            (bits as f32 / (1u32 << 24) as f32 - 0.5) * 0.16
        })
        .collect()
}

fn embedding_body(base64: bool) -> Bytes {
    let mut body = String::from(r#"{"object":"list","data":["#);
    for index in 0..EMBEDDING_INPUTS {
        let vector = embedding_vector(index);
        let embedding = if base64 {
            let bytes: Vec<u8> = vector.iter().flat_map(|x| x.to_le_bytes()).collect();
            quoted(&base64::engine::general_purpose::STANDARD.encode(bytes))
        } else {
            // serde_json writes an f32 in its shortest round-trip form, as OpenAI does.
            serde_json::to_string(&vector).expect("floats serialise")
        };
        if index > 0 {
            body.push(',');
        }
        body.push_str(&format!(
            r#"{{"object":"embedding","index":{index},"embedding":{embedding}}}"#
        ));
    }
    body.push_str(
        r#"],"model":"text-embedding-3-small","usage":{"prompt_tokens":160,"total_tokens":160}}"#,
    );
    Bytes::from(body)
}

/// The inputs of one embedding request.
pub fn embedding_inputs() -> Vec<String> {
    (0..EMBEDDING_INPUTS)
        .map(|i| format!("The food was delicious and the waiter was friendly, review #{i}."))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_json_of_the_intended_size() {
        let canned = Canned::new();
        let chat: serde_json::Value = serde_json::from_slice(&canned.chat).unwrap();
        assert_eq!(chat["choices"][0]["message"]["content"], ANSWER);
        assert!(
            (550..700).contains(&canned.chat.len()),
            "{}",
            canned.chat.len()
        );

        assert_eq!(canned.events.len(), STREAM_CHUNKS + 1);
        for event in &canned.events[..STREAM_CHUNKS] {
            let json = event
                .strip_prefix(b"data: ")
                .unwrap()
                .strip_suffix(b"\n\n")
                .unwrap();
            let chunk: serde_json::Value = serde_json::from_slice(json).unwrap();
            assert_eq!(chunk["object"], "chat.completion.chunk");
        }
        assert_eq!(&canned.events[STREAM_CHUNKS][..], b"data: [DONE]\n\n");
        assert_eq!(
            canned.burst.len(),
            canned.events.iter().map(Bytes::len).sum::<usize>()
        );
    }

    #[test]
    fn both_embedding_formats_carry_the_same_vectors() {
        let canned = Canned::new();
        let float: serde_json::Value = serde_json::from_slice(&canned.embedding_float).unwrap();
        let base64: serde_json::Value = serde_json::from_slice(&canned.embedding_base64).unwrap();
        for index in [0, EMBEDDING_INPUTS - 1] {
            let expected = embedding_vector(index);
            let numbers: Vec<f32> = float["data"][index]["embedding"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap() as f32)
                .collect();
            assert_eq!(numbers, expected);
            let text = base64["data"][index]["embedding"].as_str().unwrap();
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(text)
                .unwrap();
            let decoded: Vec<f32> = bytes
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            assert_eq!(decoded, expected);
        }
        // About 9-10 significant digits per float, as OpenAI's answers have.
        let per_float = canned.embedding_float.len() / (EMBEDDING_INPUTS * EMBEDDING_DIM);
        assert!(
            (10..=14).contains(&per_float),
            "{per_float} bytes per float"
        );
    }
}
