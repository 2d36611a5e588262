//! Key check, recording, scripted answers and stream lifecycle, over real
//! loopback HTTP. No test sleeps to wait for the server.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use common::{
    TIMEOUT, exchange, get, parse_response, post_json, request_bytes, send, sse_payloads,
};
use mishika_mock::{MockGateway, ScriptedResponse};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn chat_body() -> serde_json::Value {
    json!({"model": "mock-chat", "messages": [{"role": "user", "content": "ping"}]})
}

#[tokio::test]
async fn key_check_answers_401_without_echoing_the_key() {
    let gateway = MockGateway::builder()
        .api_key("sk-very-secret")
        .start()
        .await
        .unwrap();
    let addr = gateway.addr();

    let missing = post_json(addr, "/v1/chat/completions", &[], &chat_body()).await;
    let wrong = post_json(
        addr,
        "/v1/chat/completions",
        &[("authorization", "Bearer sk-wrong")],
        &chat_body(),
    )
    .await;
    for response in [&missing, &wrong] {
        assert_eq!(response.status, 401);
        let error = &response.json()["error"];
        assert!(
            error["message"]
                .as_str()
                .unwrap()
                .starts_with("Authentication Error, Invalid proxy server token passed.")
        );
        assert_eq!(error["type"], "auth_error");
        assert_eq!(error["param"], "None");
        assert_eq!(error["code"], "401");
        let raw = format!("{:?}{}", response.headers, response.text());
        assert!(!raw.contains("sk-very-secret") && !raw.contains("sk-wrong"));
    }

    let ok = post_json(
        addr,
        "/v1/chat/completions",
        &[("authorization", "Bearer sk-very-secret")],
        &chat_body(),
    )
    .await;
    assert_eq!(ok.status, 200);
    assert_eq!(ok.json()["choices"][0]["message"]["content"], "ping");
    assert!(!format!("{gateway:?}").contains("sk-very-secret"));

    // Every attempt is recorded, with the header the client sent.
    let requests = gateway.requests();
    assert_eq!(requests.len(), 3);
    assert_eq!(requests[0].header("authorization"), None);
    assert_eq!(
        requests[2].header("Authorization"),
        Some("Bearer sk-very-secret")
    );
}

#[tokio::test]
async fn requests_are_recorded_in_order() {
    let gateway = MockGateway::start().await.unwrap();
    let addr = gateway.addr();
    assert_eq!(gateway.request_count(), 0);
    let _ = post_json(
        addr,
        "/v1/embeddings",
        &[("x-trace", "one")],
        &json!({"model": "e", "input": "a"}),
    )
    .await;
    let _ = get(addr, "/v1/models?limit=2").await;
    let _ = get(addr, "/nowhere").await;
    gateway.push_response(ScriptedResponse::status(503));
    let _ = post_json(addr, "/v1/chat/completions", &[], &chat_body()).await;

    assert!(gateway.wait_for_requests(4, TIMEOUT).await);
    let requests = gateway.requests();
    assert_eq!(gateway.request_count(), 4);
    let summary: Vec<(String, String)> = requests
        .iter()
        .map(|r| (r.method.to_string(), r.path.clone()))
        .collect();
    assert_eq!(
        summary,
        [
            ("POST".to_owned(), "/v1/embeddings".to_owned()),
            ("GET".to_owned(), "/v1/models?limit=2".to_owned()),
            ("GET".to_owned(), "/nowhere".to_owned()),
            ("POST".to_owned(), "/v1/chat/completions".to_owned()),
        ]
    );
    assert_eq!(requests[1].path_without_query(), "/v1/models");
    assert_eq!(requests[0].header("x-trace"), Some("one"));
    assert_eq!(requests[0].header("content-type"), Some("application/json"));
    assert_eq!(requests[0].json().unwrap()["input"], "a");
    assert_eq!(&requests[0].body[..], br#"{"input":"a","model":"e"}"#);
    assert_eq!(requests[1].json(), None);
    assert_eq!(gateway.last_request().unwrap().path, "/v1/chat/completions");

    gateway.clear_requests();
    assert_eq!(gateway.request_count(), 0);
    // Ids keep counting after a clear.
    let body = post_json(addr, "/v1/chat/completions", &[], &chat_body())
        .await
        .json();
    assert_eq!(body["id"], "chatcmpl-mock-5");
    assert_eq!(gateway.requests().len(), 1);
}

#[tokio::test]
async fn scripted_answers_are_fifo_then_normal() {
    let gateway = MockGateway::builder()
        .api_key("sk-1")
        .start()
        .await
        .unwrap();
    let addr = gateway.addr();
    gateway.push_responses([
        ScriptedResponse::error(429, "Rate limit reached", "rate_limit_error", "429")
            .header("retry-after", "1")
            .header("x-extra", "a")
            .header("x-extra", "b"),
        ScriptedResponse::status(200)
            .header("content-type", "text/plain")
            .body("plain"),
    ]);
    assert_eq!(gateway.pending_responses(), 2);

    // Scripts answer before the key check, on any path.
    let limited = post_json(addr, "/v1/anything", &[], &chat_body()).await;
    assert_eq!(limited.status, 429);
    assert_eq!(limited.header("retry-after"), Some("1"));
    assert_eq!(limited.header("content-type"), Some("application/json"));
    let extras: Vec<&str> = limited
        .headers
        .iter()
        .filter(|(n, _)| n == "x-extra")
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(extras, ["a", "b"]);
    assert_eq!(
        limited.json(),
        json!({"error": {"message": "Rate limit reached", "type": "rate_limit_error",
                         "param": null, "code": "429"}})
    );

    let plain = get(addr, "/health").await;
    assert_eq!((plain.status, plain.text().as_str()), (200, "plain"));
    assert_eq!(plain.header("content-type"), Some("text/plain"));

    let normal = post_json(
        addr,
        "/v1/chat/completions",
        &[("authorization", "Bearer sk-1")],
        &chat_body(),
    )
    .await;
    assert_eq!(normal.status, 200);
    assert_eq!(gateway.pending_responses(), 0);
}

#[tokio::test]
async fn scripted_answers_per_path() {
    let gateway = MockGateway::start().await.unwrap();
    let addr = gateway.addr();
    gateway.push_response_for("/embeddings", ScriptedResponse::status(500).body("boom"));
    let chat = post_json(addr, "/v1/chat/completions", &[], &chat_body()).await;
    assert_eq!(chat.status, 200);
    let embeddings = post_json(
        addr,
        "/embeddings",
        &[],
        &json!({"model": "e", "input": "x"}),
    )
    .await;
    assert_eq!(
        (embeddings.status, embeddings.text().as_str()),
        (500, "boom")
    );
    let again = post_json(
        addr,
        "/v1/embeddings",
        &[],
        &json!({"model": "e", "input": "x"}),
    )
    .await;
    assert_eq!(again.status, 200);
}

#[tokio::test]
async fn scripted_sse_chunking_and_delays() {
    let gateway = MockGateway::start().await.unwrap();
    let addr = gateway.addr();
    gateway.push_response(ScriptedResponse::sse([r#"{"a":1}"#, "[DONE]"]));
    let response = post_json(addr, "/v1/chat/completions", &[], &chat_body()).await;
    assert_eq!(response.header("content-type"), Some("text/event-stream"));
    assert_eq!(
        response.chunks.unwrap(),
        [
            b"data: {\"a\":1}\n\n".to_vec(),
            b"data: [DONE]\n\n".to_vec()
        ]
    );

    // chunk_size splits the concatenated frames (a multi-byte char straddles chunks).
    gateway.push_response(ScriptedResponse::sse(["\"é\"", "[DONE]"]).chunk_size(7));
    let response = post_json(addr, "/v1/chat/completions", &[], &chat_body()).await;
    let chunks = response.chunks.clone().unwrap();
    assert!(chunks.iter().all(|c| c.len() <= 7));
    assert_eq!(chunks[0], b"data: \"");
    assert_eq!(sse_payloads(&response.body), ["\"é\"", "[DONE]"]);

    let delay = Duration::from_millis(150);
    gateway.push_response(ScriptedResponse::status(202).delay(delay));
    let started = Instant::now();
    let response = get(addr, "/v1/models").await;
    assert_eq!(response.status, 202);
    assert!(started.elapsed() >= delay);

    gateway.push_response(
        ScriptedResponse::status(200)
            .body("abcdefghij")
            .chunk_size(3)
            .chunk_delay(Duration::from_millis(20)),
    );
    let started = Instant::now();
    let response = get(addr, "/v1/models").await;
    assert_eq!(response.text(), "abcdefghij");
    assert_eq!(response.chunks.unwrap().len(), 4);
    assert!(started.elapsed() >= Duration::from_millis(60));
    assert_eq!(gateway.dropped_streams(), 0);
}

#[tokio::test]
async fn drop_after_ends_in_a_client_error() {
    let gateway = MockGateway::start().await.unwrap();
    let addr = gateway.addr();
    gateway.push_response(
        ScriptedResponse::sse([r#"{"first":true}"#, r#"{"second":true}"#, "[DONE]"]).drop_after(24),
    );
    let (raw, read_error) = exchange(
        addr,
        &request_bytes("POST", "/v1/chat/completions", &[], b"{}"),
    )
    .await;
    // Either the read itself failed or the chunked body is incomplete: never a clean end.
    let parsed = parse_response(&raw);
    assert!(
        read_error.is_some() || parsed.is_err(),
        "clean end: {parsed:?}"
    );
    let text = String::from_utf8_lossy(&raw);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.contains("data: {\"first\":true}\n\n"), "{text}");
    assert!(!text.contains("second"));

    // Same through the helper: an error, not a short success.
    gateway.push_response(
        ScriptedResponse::status(200)
            .body("0123456789")
            .drop_after(4),
    );
    assert!(send(addr, "GET", "/v1/models", &[], b"").await.is_err());
    // The planned abort is not a client drop.
    assert_eq!(gateway.dropped_streams(), 0);
}

#[tokio::test]
async fn client_dropping_a_held_stream_is_counted() {
    let gateway = MockGateway::start().await.unwrap();
    gateway.push_response(ScriptedResponse::sse([r#"{"partial":1}"#]).hold_open());
    assert!(
        !gateway
            .wait_for_dropped_streams(1, Duration::from_millis(1))
            .await
    );

    let mut tcp = TcpStream::connect(gateway.addr()).await.unwrap();
    tcp.write_all(&request_bytes("POST", "/v1/chat/completions", &[], b"{}"))
        .await
        .unwrap();
    // Read until the first frame arrived: the stream is open and held.
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&received).contains("{\"partial\":1}\n\n") {
        let n = tokio::time::timeout(TIMEOUT, tcp.read(&mut buf))
            .await
            .expect("frame within timeout")
            .unwrap();
        assert!(n > 0, "server closed a held stream");
        received.extend_from_slice(&buf[..n]);
    }
    assert_eq!(gateway.dropped_streams(), 0);

    drop(tcp);
    assert!(gateway.wait_for_dropped_streams(1, TIMEOUT).await);
    assert_eq!(gateway.dropped_streams(), 1);
}

#[tokio::test]
async fn shutdown_closes_held_streams_and_stops_serving() {
    let gateway = MockGateway::start().await.unwrap();
    let watcher = gateway.clone();
    gateway.push_response(ScriptedResponse::sse([r#"{"x":1}"#]).hold_open());
    let mut tcp = TcpStream::connect(gateway.addr()).await.unwrap();
    tcp.write_all(&request_bytes("GET", "/v1/models", &[], b""))
        .await
        .unwrap();
    let mut first = [0u8; 1];
    tcp.read_exact(&mut first).await.unwrap();

    gateway.shutdown();
    // The held connection is torn down: the read ends (EOF or reset).
    let mut rest = Vec::new();
    let _ = tokio::time::timeout(TIMEOUT, tcp.read_to_end(&mut rest))
        .await
        .expect("connection closed after shutdown");
    assert!(watcher.wait_for_dropped_streams(1, TIMEOUT).await);
}

#[tokio::test]
async fn oversized_bodies_get_413() {
    let gateway = MockGateway::start().await.unwrap();
    let declared = (mishika_mock::MAX_REQUEST_BODY_BYTES + 1).to_string();
    let head = format!(
        "POST /v1/embeddings HTTP/1.1\r\nhost: mock\r\nconnection: close\r\n\
         content-type: application/json\r\ncontent-length: {declared}\r\n\r\n"
    );
    let (raw, _) = exchange(gateway.addr(), head.as_bytes()).await;
    let response = parse_response(&raw).unwrap();
    assert_eq!(response.status, 413);
    assert_eq!(response.json()["error"]["code"], "413");
    assert_eq!(gateway.request_count(), 1);
    assert!(gateway.requests()[0].body.is_empty());
}
