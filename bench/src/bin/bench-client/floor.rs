//! The floor: what a careful hand-written loop costs. One reqwest client, requests
//! serialised from borrowed structs, answers parsed with serde_json into structs holding
//! only what is used; for streams, a minimal SSE line split.

use std::any::Any;

use base64::Engine as _;
use futures_util::StreamExt;
use mishika_bench::payload::embedding_inputs;
use mishika_bench::{CHAT_MODEL, EMBEDDING_MODEL, PROMPT};
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use serde::{Deserialize, Serialize};

use crate::BenchClient;

pub(crate) struct Floor {
    client: reqwest::Client,
    chat_url: String,
    embeddings_url: String,
    authorization: HeaderValue,
}

#[derive(Serialize)]
struct ChatBody<'a> {
    model: &'a str,
    messages: [Message<'a>; 1],
    #[serde(skip_serializing_if = "Option::is_none")]
    stream: Option<bool>,
}

#[derive(Serialize)]
struct Message<'a> {
    role: &'a str,
    content: &'a str,
}

/// A chat answer, parsed into the least a caller needs.
#[derive(Deserialize)]
pub(crate) struct ChatAnswer {
    choices: Vec<AnswerChoice>,
}

#[derive(Deserialize)]
struct AnswerChoice {
    message: AnswerMessage,
}

#[derive(Deserialize)]
struct AnswerMessage {
    content: Option<String>,
}

#[derive(Deserialize)]
struct Chunk {
    choices: Vec<ChunkChoice>,
}

#[derive(Deserialize)]
struct ChunkChoice {
    delta: Delta,
}

#[derive(Deserialize)]
struct Delta {
    content: Option<String>,
}

#[derive(Serialize)]
struct EmbeddingBody<'a> {
    model: &'a str,
    input: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    encoding_format: Option<&'a str>,
}

#[derive(Deserialize)]
struct Embeddings<T> {
    data: Vec<EmbeddingItem<T>>,
}

#[derive(Deserialize)]
struct EmbeddingItem<T> {
    embedding: T,
}

impl Floor {
    pub(crate) fn new(base: &str, http2: bool) -> Floor {
        Floor {
            client: mishika_bench::http_client(http2),
            chat_url: format!("{base}/v1/chat/completions"),
            embeddings_url: format!("{base}/v1/embeddings"),
            authorization: HeaderValue::from_static("Bearer sk-bench"),
        }
    }

    async fn post(&self, url: &str, body: Vec<u8>, accept: &'static str) -> reqwest::Response {
        let response = self
            .client
            .post(url)
            .header(AUTHORIZATION, self.authorization.clone())
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .header(ACCEPT, HeaderValue::from_static(accept))
            .body(body)
            .send()
            .await
            .expect("floor request");
        assert!(
            response.status().is_success(),
            "status {}",
            response.status()
        );
        response
    }

    async fn open_stream(&self) -> reqwest::Response {
        let body = ChatBody {
            model: CHAT_MODEL,
            messages: [Message {
                role: "user",
                content: PROMPT,
            }],
            stream: Some(true),
        };
        let body = serde_json::to_vec(&body).expect("request serialises");
        self.post(&self.chat_url, body, "text/event-stream").await
    }
}

/// Minimal SSE: network chunks appended to one buffer, split at `\n`, `data: ` lines parsed
/// as they complete; returns the chunks it decoded and whether `[DONE]` was seen.
#[derive(Default)]
struct SseSplit {
    buffer: Vec<u8>,
}

impl SseSplit {
    fn push(&mut self, bytes: &[u8], on_chunk: &mut impl FnMut(Chunk)) -> bool {
        self.buffer.extend_from_slice(bytes);
        let mut start = 0;
        let mut done = false;
        while let Some(end) = memchr::memchr(b'\n', &self.buffer[start..]) {
            let line = &self.buffer[start..start + end];
            start += end + 1;
            let Some(data) = line.strip_prefix(b"data: ") else {
                continue; // blank separator lines, comments
            };
            if data == b"[DONE]" {
                done = true;
                break;
            }
            on_chunk(serde_json::from_slice(data).expect("floor chunk"));
        }
        self.buffer.drain(..start);
        done
    }
}

impl BenchClient for Floor {
    type Answer = ChatAnswer;

    /// One chat answer, parsed into the least a caller needs.
    async fn answer(&self) -> ChatAnswer {
        let body = ChatBody {
            model: CHAT_MODEL,
            messages: [Message {
                role: "user",
                content: PROMPT,
            }],
            stream: None,
        };
        let body = serde_json::to_vec(&body).expect("request serialises");
        let bytes = self
            .post(&self.chat_url, body, "application/json")
            .await
            .bytes()
            .await
            .expect("floor body");
        serde_json::from_slice(&bytes).expect("floor answer")
    }

    fn answer_length(answer: &ChatAnswer) -> usize {
        answer.choices[0]
            .message
            .content
            .as_deref()
            .map_or(0, str::len)
    }

    async fn stream(&self) -> usize {
        let mut body = self.open_stream().await.bytes_stream();
        let mut split = SseSplit::default();
        let mut chunks = 0;
        let mut on_chunk = |chunk: Chunk| {
            std::hint::black_box(
                chunk
                    .choices
                    .first()
                    .and_then(|c| c.delta.content.as_deref()),
            );
            chunks += 1;
        };
        // Read to the body's end (it follows [DONE] at once) so the connection goes back
        // to the pool instead of being closed.
        let mut done = false;
        while let Some(bytes) = body.next().await {
            done |= split.push(&bytes.expect("floor stream"), &mut on_chunk);
        }
        assert!(done, "floor stream ended before [DONE]");
        chunks
    }

    async fn open_idle(&self) -> Box<dyn Any> {
        let mut body = self.open_stream().await.bytes_stream();
        let mut split = SseSplit::default();
        let mut first = false;
        while !first {
            let bytes = body
                .next()
                .await
                .expect("a first chunk")
                .expect("floor stream");
            split.push(&bytes, &mut |chunk| {
                std::hint::black_box(chunk);
                first = true;
            });
        }
        Box::new((body, split))
    }

    async fn embed(&self, base64: bool) -> Vec<Vec<f32>> {
        let inputs = embedding_inputs();
        let body = EmbeddingBody {
            model: EMBEDDING_MODEL,
            input: &inputs,
            encoding_format: base64.then_some("base64"),
        };
        let body = serde_json::to_vec(&body).expect("request serialises");
        let response = self
            .post(&self.embeddings_url, body, "application/json")
            .await;
        let bytes = response.bytes().await.expect("floor body");
        if base64 {
            let answer: Embeddings<String> = serde_json::from_slice(&bytes).expect("floor answer");
            answer
                .data
                .into_iter()
                .map(|item| {
                    let raw = base64::engine::general_purpose::STANDARD
                        .decode(item.embedding)
                        .expect("base64 embedding");
                    raw.chunks_exact(4)
                        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                        .collect()
                })
                .collect()
        } else {
            let answer: Embeddings<Vec<f32>> =
                serde_json::from_slice(&bytes).expect("floor answer");
            answer.data.into_iter().map(|item| item.embedding).collect()
        }
    }
}
