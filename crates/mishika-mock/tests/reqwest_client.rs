//! The gateway seen through reqwest (the transport mishika-http uses):
//! abrupt drops are errors, dropping a stream is noticed. (The workspace's
//! reqwest has no `json` feature, so bodies are serialised by hand.)

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use mishika_mock::{MockGateway, ScriptedResponse};
use serde_json::{Value, json};

const TIMEOUT: Duration = Duration::from_secs(10);

fn client() -> reqwest::Client {
    // With mishika-http's default `rustls-ring` in the same build, reqwest has rustls but no
    // crypto provider of its own (`rustls-no-provider`): a reqwest client built directly, as
    // here, needs a process-wide one, or reqwest panics. (Already installed: fine.)
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().timeout(TIMEOUT).build().unwrap()
}

#[tokio::test]
async fn chat_with_bearer_key() {
    let gateway = MockGateway::builder()
        .api_key("sk-r")
        .start()
        .await
        .unwrap();
    let response = client()
        .post(gateway.url("/v1/chat/completions"))
        .bearer_auth("sk-r")
        .header("content-type", "application/json")
        .body(
            json!({"model": "mock-chat", "messages": [{"role": "user", "content": "hi there"}]})
                .to_string(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["x-litellm-call-id"].to_str().unwrap(),
        "mock-call-1"
    );
    let body: Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
    assert_eq!(body["choices"][0]["message"]["content"], "hi there");
}

#[tokio::test]
async fn sse_arrives_frame_by_frame() {
    let gateway = MockGateway::start().await.unwrap();
    let mut response = client()
        .post(gateway.url("/chat/completions"))
        .header("content-type", "application/json")
        .body(
            json!({"model": "m", "stream": true,
                      "messages": [{"role": "user", "content": "one two three"}]})
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    let mut text = String::new();
    let mut reads = 0;
    while let Some(chunk) = response.chunk().await.unwrap() {
        reads += 1;
        text.push_str(std::str::from_utf8(&chunk).unwrap());
    }
    assert!(text.ends_with("data: [DONE]\n\n"));
    assert_eq!(text.matches("data: ").count(), 6);
    assert!(reads >= 2, "a stream should not arrive as one read");
}

#[tokio::test]
async fn drop_after_is_an_error_for_reqwest() {
    let gateway = MockGateway::start().await.unwrap();
    gateway.push_response(ScriptedResponse::sse([r#"{"a":1}"#, "[DONE]"]).drop_after(12));
    let mut response = client()
        .post(gateway.url("/v1/chat/completions"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut received = Vec::new();
    let outcome = loop {
        match response.chunk().await {
            Ok(Some(chunk)) => received.extend_from_slice(&chunk),
            Ok(None) => break Ok(()),
            Err(error) => break Err(error),
        }
    };
    assert!(outcome.is_err(), "expected a body error, got a clean end");
    assert_eq!(received, b"data: {\"a\":1");
}

#[tokio::test]
async fn dropping_a_reqwest_stream_is_counted() {
    let gateway = MockGateway::start().await.unwrap();
    gateway.push_response(ScriptedResponse::sse([r#"{"a":1}"#]).hold_open());
    let mut response = client()
        .post(gateway.url("/v1/chat/completions"))
        .body("{}")
        .send()
        .await
        .unwrap();
    let first = response.chunk().await.unwrap().unwrap();
    assert_eq!(&first[..], b"data: {\"a\":1}\n\n");
    assert_eq!(gateway.dropped_streams(), 0);
    drop(response);
    assert!(gateway.wait_for_dropped_streams(1, TIMEOUT).await);
}

#[tokio::test]
async fn large_speech_streams_in_chunks() {
    let gateway = MockGateway::start().await.unwrap();
    let n: usize = 5 * 1024 * 1024;
    let mut response = client()
        .post(gateway.url("/v1/audio/speech"))
        .header("content-type", "application/json")
        .body(
            json!({"model": "mock-tts", "input": "x", "voice": "alloy", "mock_audio_bytes": n})
                .to_string(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["content-type"], "audio/mpeg");
    let mut total = 0usize;
    while let Some(chunk) = response.chunk().await.unwrap() {
        assert!(
            chunk
                .iter()
                .enumerate()
                .all(|(k, b)| *b == ((total + k) % 251) as u8)
        );
        total += chunk.len();
    }
    assert_eq!(total, n);
}
