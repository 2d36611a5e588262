//! Reliability over real loopback sockets: what is retried and what is not, how long it
//! waits, deadlines, hostile answers, many concurrent streams, and secrets kept out of
//! every printout and log.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::StreamExt;
use mishika::{
    AudioFile, Body, ChatMessage, ChatRequest, Client, ErrorKind, Limits, RetryPolicy,
    TranscriptionRequest, Transport, TransportFuture,
};
use mishika_mock::{MockGateway, ScriptedResponse};

/// Fast backoff so the tests measure policy, not patience.
fn quick_policy(retries: u32) -> RetryPolicy {
    RetryPolicy::default()
        .max_retries(retries)
        .initial_backoff(Duration::from_millis(20))
        .max_backoff(Duration::from_millis(80))
        .max_retry_after(Duration::from_secs(5))
}

fn client(gateway: &MockGateway, policy: RetryPolicy) -> Client {
    Client::builder()
        .api_base(gateway.base_url())
        .retry_policy(policy)
        .build()
        .unwrap()
}

fn ask(text: &str) -> ChatRequest {
    ChatRequest::new("mishikallm_proxy/m", [ChatMessage::user(text)])
}

fn chat_attempts(gateway: &MockGateway) -> usize {
    gateway
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/chat/completions"))
        .count()
}

#[tokio::test]
async fn every_retryable_status_is_retried_once_then_succeeds() {
    for status in [408u16, 409, 429, 500, 502, 503, 504] {
        let gateway = MockGateway::start().await.unwrap();
        gateway.push_response(ScriptedResponse::error(
            status,
            "try again",
            "transient",
            status.to_string(),
        ));
        let response = client(&gateway, quick_policy(1))
            .chat(ask("recovered"))
            .await
            .unwrap();
        assert_eq!(response.content(), Some("recovered"), "status {status}");
        assert_eq!(chat_attempts(&gateway), 2, "status {status}");
    }
}

#[tokio::test]
async fn every_attempt_sends_the_same_request() {
    // Three attempts: the original, then the kept copy twice. A request with few headers
    // keeps them inline, one with many keeps a map: both must resend everything.
    for extra_headers in [1usize, 6] {
        let gateway = MockGateway::start().await.unwrap();
        for _ in 0..2 {
            gateway.push_response(ScriptedResponse::error(503, "busy", "busy", "503"));
        }
        let mut builder = Client::builder()
            .api_base(gateway.base_url())
            .api_key("sk-retry")
            .retry_policy(quick_policy(2));
        for i in 0..extra_headers {
            builder = builder.header(format!("x-team-{i}"), format!("search-{i}"));
        }
        let response = builder
            .build()
            .unwrap()
            .chat(ask("third time"))
            .await
            .unwrap();
        assert_eq!(response.content(), Some("third time"));
        let seen = gateway.requests();
        assert_eq!(seen.len(), 3);
        for attempt in &seen {
            assert_eq!(attempt.method, "POST");
            assert_eq!(attempt.path, "/v1/chat/completions");
            assert_eq!(attempt.header("authorization"), Some("Bearer sk-retry"));
            for i in 0..extra_headers {
                let expected = format!("search-{i}");
                assert_eq!(
                    attempt.header(&format!("x-team-{i}")),
                    Some(expected.as_str())
                );
            }
            assert_eq!(attempt.header("content-type"), Some("application/json"));
            assert_eq!(attempt.header("accept"), Some("application/json"));
            assert_eq!(
                attempt.json().unwrap()["messages"][0]["content"],
                "third time"
            );
            assert_eq!(attempt.body, seen[0].body);
            assert_eq!(attempt.headers.len(), seen[0].headers.len());
        }
    }
}

#[tokio::test]
async fn client_errors_are_never_retried() {
    let cases = [
        (400u16, ErrorKind::BadRequest),
        (401, ErrorKind::Authentication),
        (403, ErrorKind::PermissionDenied),
        (404, ErrorKind::NotFound),
        (422, ErrorKind::UnprocessableEntity),
    ];
    for (status, kind) in cases {
        let gateway = MockGateway::start().await.unwrap();
        gateway.push_response(ScriptedResponse::error(
            status,
            "no",
            "client_error",
            status.to_string(),
        ));
        let error = client(&gateway, quick_policy(3))
            .chat(ask("x"))
            .await
            .unwrap_err();
        assert_eq!(error.kind(), kind);
        assert!(!error.is_retryable());
        assert_eq!(chat_attempts(&gateway), 1, "status {status}");
    }
}

#[tokio::test]
async fn quota_exhaustion_is_not_retried() {
    let gateway = MockGateway::start().await.unwrap();
    gateway.push_response(ScriptedResponse::error(
        429,
        "You exceeded your current quota, please check your plan and billing details.",
        "insufficient_quota",
        "insufficient_quota",
    ));
    let error = client(&gateway, quick_policy(3))
        .chat(ask("x"))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::BudgetExceeded);
    assert_eq!(error.status().map(|s| s.as_u16()), Some(429));
    assert_eq!(chat_attempts(&gateway), 1);
}

#[tokio::test]
async fn exhausted_retries_give_the_last_error() {
    let gateway = MockGateway::start().await.unwrap();
    for _ in 0..3 {
        gateway.push_response(
            ScriptedResponse::status(503)
                .body("<html>deploying</html>")
                .header("content-type", "text/html"),
        );
    }
    let started = Instant::now();
    let error = client(&gateway, quick_policy(2))
        .chat(ask("x"))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::ServiceUnavailable);
    assert!(error.body().unwrap().contains("deploying"));
    assert_eq!(chat_attempts(&gateway), 3);
    // Two backoffs of at most 20 ms and 40 ms.
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn retry_after_is_honoured_and_capped() {
    let gateway = MockGateway::start().await.unwrap();
    gateway.push_response(
        ScriptedResponse::error(429, "slow down", "rate_limit", "429")
            .header("retry-after-ms", "300"),
    );
    let started = Instant::now();
    client(&gateway, quick_policy(1))
        .chat(ask("x"))
        .await
        .unwrap();
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(300), "{waited:?}");
    assert!(waited < Duration::from_secs(3), "{waited:?}");

    // A server asking for 30 s is capped by max_retry_after.
    gateway.push_response(
        ScriptedResponse::error(429, "slow down", "rate_limit", "429").header("retry-after", "30"),
    );
    let policy = quick_policy(1).max_retry_after(Duration::from_millis(100));
    let started = Instant::now();
    client(&gateway, policy).chat(ask("x")).await.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn retry_deadline_stops_waiting_and_reports_the_answer() {
    let gateway = MockGateway::start().await.unwrap();
    gateway.push_response(
        ScriptedResponse::error(429, "slow down", "rate_limit", "429").header("retry-after", "2"),
    );
    let started = Instant::now();
    let error = client(&gateway, quick_policy(3))
        .chat(ask("x").retry_deadline(Duration::from_millis(300)))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::RateLimit);
    assert_eq!(error.retry_after(), Some(Duration::from_secs(2)));
    assert_eq!(chat_attempts(&gateway), 1);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn per_request_retry_count_beats_the_client() {
    let gateway = MockGateway::start().await.unwrap();
    for _ in 0..2 {
        gateway.push_response(ScriptedResponse::error(500, "boom", "server_error", "500"));
    }
    let client = client(&gateway, quick_policy(0));
    let response = client.chat(ask("third time").num_retries(2)).await.unwrap();
    assert_eq!(response.content(), Some("third time"));
    assert_eq!(chat_attempts(&gateway), 3);
}

/// Counts what goes through, then forwards to the reqwest transport.
#[derive(Debug)]
struct Counting {
    inner: Arc<dyn Transport>,
    sent: AtomicUsize,
}

impl Transport for Counting {
    fn send(&self, request: http::Request<Bytes>) -> TransportFuture<'_> {
        self.sent.fetch_add(1, Ordering::SeqCst);
        self.inner.send(request)
    }
}

#[tokio::test]
async fn connection_failures_are_retried_through_a_user_transport() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let counting = Arc::new(Counting {
        inner: Arc::new(mishika::HttpTransport::new().unwrap()),
        sent: AtomicUsize::new(0),
    });
    let client = Client::builder()
        .api_base(base)
        .transport(counting.clone())
        .retry_policy(quick_policy(2))
        .build()
        .unwrap();
    let error = client.chat(ask("x")).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Connection);
    assert_eq!(counting.sent.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn retry_policy_none_makes_exactly_one_attempt() {
    let gateway = MockGateway::start().await.unwrap();
    gateway.push_response(ScriptedResponse::error(503, "busy", "busy", "503"));
    let error = client(&gateway, RetryPolicy::none())
        .chat(ask("x"))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::ServiceUnavailable);
    assert_eq!(chat_attempts(&gateway), 1);

    // A refused connection, counted below the retry layer.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let counting = Arc::new(Counting {
        inner: Arc::new(mishika::HttpTransport::new().unwrap()),
        sent: AtomicUsize::new(0),
    });
    let client = Client::builder()
        .api_base(base)
        .transport(counting.clone())
        .retry_policy(RetryPolicy::none())
        .build()
        .unwrap();
    let error = client.chat(ask("x")).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Connection);
    assert_eq!(counting.sent.load(Ordering::SeqCst), 1);
}

/// A transport that cannot send anything, as a stack refusing a request would.
#[derive(Debug, Default)]
struct Refusing {
    sent: AtomicUsize,
}

impl Transport for Refusing {
    fn send(&self, _request: http::Request<Bytes>) -> TransportFuture<'_> {
        self.sent.fetch_add(1, Ordering::SeqCst);
        Box::pin(std::future::ready(Err(mishika::TransportError::new(
            mishika::TransportErrorKind::Other,
            "this stack cannot send that",
        ))))
    }
}

#[tokio::test]
async fn a_failure_that_is_not_retryable_is_sent_exactly_once() {
    let refusing = Arc::new(Refusing::default());
    let client = Client::builder()
        .api_base("http://127.0.0.1:9")
        .transport(refusing.clone())
        .retry_policy(quick_policy(5))
        .build()
        .unwrap();
    let error = client.chat(ask("x")).await.unwrap_err();
    assert_eq!(refusing.sent.load(Ordering::SeqCst), 1);
    assert_eq!(error.kind(), ErrorKind::Config);
    assert!(!error.is_retryable(), "the error agrees: {error}");
    assert_eq!(error.message(), "this stack cannot send that");
}

#[tokio::test]
async fn a_long_error_body_is_inspected_up_to_64_kib_and_kept_to_8() {
    let gateway = MockGateway::start().await.unwrap();
    for _ in 0..2 {
        gateway.push_response(
            ScriptedResponse::status(503)
                .body(vec![b'x'; 100 * 1024])
                .chunk_size(16 * 1024),
        );
    }
    let error = client(&gateway, quick_policy(1))
        .chat(ask("x"))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::ServiceUnavailable);
    assert_eq!(chat_attempts(&gateway), 2);
    let body = error.body().unwrap();
    assert_eq!(
        body,
        format!("{}… (65536 bytes in all)", "x".repeat(8 * 1024))
    );
}

#[tokio::test]
async fn streams_retry_before_the_body_and_never_after() {
    let gateway = MockGateway::start().await.unwrap();
    let client = client(&gateway, quick_policy(2));
    gateway.push_response(ScriptedResponse::error(
        503,
        "warming up",
        "unavailable",
        "503",
    ));
    let items: Vec<_> = client
        .chat_stream(ask("streamed after retry"))
        .await
        .unwrap()
        .collect()
        .await;
    let text: String = items
        .iter()
        .map(|i| i.as_ref().unwrap().content().unwrap_or_default())
        .collect();
    assert_eq!(text, "streamed after retry");
    assert_eq!(chat_attempts(&gateway), 2);

    gateway.clear_requests();
    let first = r#"{"choices":[{"index":0,"delta":{"content":"partial"}}]}"#;
    gateway.push_response(
        ScriptedResponse::sse([first, first, "[DONE]"]).drop_after(first.len() + 8 + 5),
    );
    let items: Vec<_> = client.chat_stream(ask("x")).await.unwrap().collect().await;
    assert_eq!(items.len(), 2);
    assert_eq!(items[1].as_ref().unwrap_err().kind(), ErrorKind::Stream);
    assert_eq!(
        chat_attempts(&gateway),
        1,
        "a started stream is never retried"
    );
}

#[tokio::test]
async fn multipart_is_resent_byte_identical() {
    let gateway = MockGateway::start().await.unwrap();
    gateway.push_response(ScriptedResponse::error(
        502,
        "bad gateway",
        "bad_gateway",
        "502",
    ));
    let audio: Vec<u8> = (0..50_000u32).map(|i| (i % 253) as u8).collect();
    let response = client(&gateway, quick_policy(1))
        .transcription(
            TranscriptionRequest::new("mishikallm_proxy/w", AudioFile::new(audio, "a.wav"))
                .language("en"),
        )
        .await
        .unwrap();
    assert!(response.text.contains("a.wav (50000 bytes)"));
    let seen = gateway.requests();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].body, seen[1].body);
    assert_eq!(
        seen[0].header("content-type"),
        seen[1].header("content-type")
    );
}

/// Answers every request from one shared buffer, as hyper does: the answer's header
/// values and body are slices of the connection's read buffer.
#[derive(Debug)]
struct OneReadBuffer {
    buffer: Bytes,
}

const READ_BUFFER_HEAD: &str = "application/jsoncall-7";
const READ_BUFFER_BODY: &str =
    r#"{"choices":[{"index":0,"message":{"role":"assistant","content":"kept"}}]}"#;

impl Transport for OneReadBuffer {
    fn send(&self, _request: http::Request<Bytes>) -> TransportFuture<'_> {
        let slice = |range: std::ops::Range<usize>| self.buffer.slice(range);
        let head = READ_BUFFER_HEAD.len();
        let mut response =
            http::Response::new(Body::from_bytes(slice(head..head + READ_BUFFER_BODY.len())));
        let headers = response.headers_mut();
        let value = |range| http::HeaderValue::from_maybe_shared(slice(range)).unwrap();
        headers.insert("content-type", value(0..16));
        headers.insert("x-litellm-call-id", value(16..head));
        Box::pin(std::future::ready(Ok(response)))
    }
}

#[tokio::test]
async fn a_kept_answer_does_not_keep_the_connection_buffer() {
    let mut buffer = format!("{READ_BUFFER_HEAD}{READ_BUFFER_BODY}").into_bytes();
    buffer.resize(8192, b' ');
    let buffer = Bytes::from(buffer);
    let client = Client::builder()
        .api_base("http://127.0.0.1:9")
        .transport(Arc::new(OneReadBuffer {
            buffer: buffer.clone(),
        }))
        .build()
        .unwrap();
    let response = client.chat(ask("anything")).await.unwrap();
    drop(client);
    assert_eq!(response.content(), Some("kept"));
    assert_eq!(response.metadata().call_id(), Some("call-7"));
    assert_eq!(
        response.metadata().header("content-type"),
        Some("application/json")
    );
    // Nothing of the answer still points into the 8 KiB buffer.
    assert!(buffer.is_unique());
}

#[tokio::test]
async fn hostile_answers_are_typed_errors() {
    let gateway = MockGateway::start().await.unwrap();
    let client = Client::builder()
        .api_base(gateway.base_url())
        .num_retries(0)
        .limits(
            Limits::default()
                .max_response_bytes(256 * 1024)
                .max_sse_line(1024),
        )
        .build()
        .unwrap();
    let nested = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let cases: Vec<(ScriptedResponse, &str)> = vec![
        (
            ScriptedResponse::status(200)
                .body(vec![b' '; 300_000])
                .header("content-type", "application/json"),
            "exceeds the limit",
        ),
        (
            ScriptedResponse::status(200)
                .body("<html><body>Login</body></html>")
                .header("content-type", "text/html"),
            "text/html",
        ),
        (ScriptedResponse::status(200), "empty"),
        (
            ScriptedResponse::status(200)
                .body(&b"{\"choices\":[{\"message\":{\"content\":\"\xff\xfe\"}}]}"[..]),
            "not the expected JSON",
        ),
        (
            ScriptedResponse::status(200).body(nested),
            "not the expected JSON",
        ),
        (
            ScriptedResponse::status(200).body(r#"{"created": 1e999, "choices": []}"#),
            "not the expected JSON",
        ),
        (
            ScriptedResponse::status(200).body(r#"{"choices": "many"}"#),
            "not the expected JSON",
        ),
    ];
    for (script, says) in cases {
        gateway.push_response(script);
        let error = client.chat(ask("x")).await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Decode, "{error}");
        assert!(error.message().contains(says), "{error}");
    }
    // A JSON answer under the wrong content type is still read: gateways mislabel.
    gateway.push_response(
        ScriptedResponse::status(200)
            .body(r#"{"choices":[{"message":{"content":"ok"}}]}"#)
            .header("content-type", "text/plain"),
    );
    assert_eq!(client.chat(ask("x")).await.unwrap().content(), Some("ok"));

    // One SSE line over the cap: an error item, memory bounded by the cap.
    let long = format!(
        r#"{{"choices":[{{"index":0,"delta":{{"content":"{}"}}}}]}}"#,
        "a".repeat(5000)
    );
    gateway.push_response(ScriptedResponse::sse([long.as_str(), "[DONE]"]).chunk_size(512));
    let items: Vec<_> = client.chat_stream(ask("x")).await.unwrap().collect().await;
    assert_eq!(items.len(), 1);
    let error = items[0].as_ref().unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Decode);
    assert!(error.message().contains("SSE line exceeds"), "{error}");
}

#[tokio::test]
async fn two_hundred_concurrent_streams_complete_exactly() {
    let gateway = MockGateway::start().await.unwrap();
    let client = client(&gateway, quick_policy(0));
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let client = client.clone();
            tokio::spawn(async move {
                let expected = format!("stream number {i} says hello");
                let mut stream = client.chat_stream(ask(&expected)).await.unwrap();
                let mut text = String::new();
                while let Some(chunk) = stream.next().await {
                    text.push_str(chunk.unwrap().content().unwrap_or_default());
                }
                (expected, text)
            })
        })
        .collect();
    for task in tasks {
        let (expected, text) = task.await.unwrap();
        assert_eq!(text, expected);
    }
    assert_eq!(chat_attempts(&gateway), 200);
}

#[tokio::test]
async fn base_urls_are_checked_before_anything_is_sent() {
    let gateway = MockGateway::start().await.unwrap();
    let port = gateway.addr().port();
    for (base, says) in [
        (
            "http://127.0.0.1:99999".to_owned(),
            "the port `99999` is not a number from 1 to 65535",
        ),
        (
            format!("{}/?team=search", gateway.base_url()),
            "must not have a query or a fragment",
        ),
        (
            format!("{}/v1#top", gateway.base_url()),
            "must not have a query or a fragment",
        ),
        (
            format!("http://user:pw@127.0.0.1:{port}"),
            "must not carry user info",
        ),
        (format!("ftp://127.0.0.1:{port}"), "must start with http://"),
    ] {
        let client = Client::builder()
            .api_base(&base)
            .retry_policy(quick_policy(3))
            .build()
            .unwrap();
        let error = client.chat(ask("x")).await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Config, "{base}: {error}");
        assert!(!error.is_retryable());
        assert!(error.message().contains(says), "{base}: {error}");
    }
    assert_eq!(gateway.request_count(), 0);
    // The scheme in any case reaches the gateway.
    let upper = gateway.base_url().replacen("http://", "HTTP://", 1);
    let client = Client::builder().api_base(upper).build().unwrap();
    assert_eq!(
        client.chat(ask("upper")).await.unwrap().content(),
        Some("upper")
    );
    assert_eq!(gateway.requests()[0].path, "/v1/chat/completions");
}

#[tokio::test]
async fn a_success_status_with_an_error_body_is_that_error() {
    let gateway = MockGateway::start().await.unwrap();
    let client = client(&gateway, quick_policy(0));
    gateway.push_response(ScriptedResponse::status(200).json(serde_json::json!({
        "error": {"message": "litellm.RateLimitError: slow down", "type": "rate_limit", "code": "429"}
    })));
    let error = client.chat(ask("x")).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::RateLimit);
    assert_eq!(error.message(), "litellm.RateLimitError: slow down");
    assert_eq!(error.status().map(|s| s.as_u16()), Some(200));
    assert_eq!(error.error_type(), Some("rate_limit"));
    // An embedding answer too, where the body would not even decode as one.
    gateway.push_response(
        ScriptedResponse::status(200).json(serde_json::json!({"error": "no such model"})),
    );
    let error = client
        .embedding(mishika::EmbeddingRequest::new("mishikallm_proxy/e", "hi"))
        .await
        .unwrap_err();
    assert_eq!(
        (error.kind(), error.message()),
        (ErrorKind::ApiStatus, "no such model")
    );
    // `"error": null` beside the answer is no error.
    gateway.push_response(ScriptedResponse::status(200).json(serde_json::json!({
        "error": null, "choices": [{"index": 0, "message": {"content": "fine"}}]
    })));
    assert_eq!(client.chat(ask("x")).await.unwrap().content(), Some("fine"));
}

#[tokio::test]
async fn a_stream_answered_with_json_keeps_what_the_server_said() {
    let gateway = MockGateway::start().await.unwrap();
    let client = client(&gateway, quick_policy(0));
    // An error envelope with a 200, pretty-printed and cut into small pieces.
    let envelope = serde_json::json!({"error": {
        "message": "Invalid model name passed in model=gpt-9", "type": "invalid_request_error", "code": "400"
    }});
    gateway.push_response(
        ScriptedResponse::status(200)
            .body(serde_json::to_string_pretty(&envelope).unwrap())
            .header("content-type", "application/json")
            .chunk_size(7),
    );
    let items: Vec<_> = client.chat_stream(ask("x")).await.unwrap().collect().await;
    assert_eq!(items.len(), 1);
    let error = items[0].as_ref().unwrap_err();
    assert_eq!(error.kind(), ErrorKind::BadRequest);
    assert_eq!(error.message(), "Invalid model name passed in model=gpt-9");
    // A whole answer from a gateway that ignored `stream`: said so, with its start.
    let answer = r#"{"id":"c1","choices":[{"index":0,"message":{"content":"not streamed"}}]}"#;
    gateway.push_response(
        ScriptedResponse::status(200)
            .body(answer)
            .header("content-type", "application/json"),
    );
    let items: Vec<_> = client.chat_stream(ask("x")).await.unwrap().collect().await;
    let error = items[0].as_ref().unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Decode);
    assert_eq!(
        error.message(),
        format!(
            "the server answered JSON instead of an event stream (did the gateway ignore \
             `\"stream\": true`?): {answer}"
        )
    );
}

#[tokio::test]
async fn stream_decoding_edges_over_the_wire() {
    let gateway = MockGateway::start().await.unwrap();
    let client = Client::builder()
        .api_base(gateway.base_url())
        .num_retries(0)
        .limits(Limits::default().max_sse_event(4096))
        .build()
        .unwrap();
    let frame = |text: &str| {
        format!(r#"{{"choices":[{{"index":0,"delta":{{"content":"{text}"}}}}],"error":null}}"#)
    };
    // A byte order mark, split over the first chunks, and `"error": null` on every chunk.
    let body = format!(
        "\u{feff}data: {}\n\ndata: {}\n\ndata: [DONE]\n\n",
        frame("first"),
        frame(" second")
    );
    gateway.push_response(
        ScriptedResponse::status(200)
            .body(body)
            .header("content-type", "text/event-stream")
            .chunk_size(2),
    );
    let mut stream = client.chat_stream(ask("x")).await.unwrap();
    let mut text = String::new();
    while let Some(chunk) = stream.next().await {
        text.push_str(chunk.unwrap().content().unwrap_or_default());
    }
    assert_eq!(text, "first second");

    // One event of many data lines over its cap (each line is far under the line cap).
    let lines = vec![r#""xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx","#; 100];
    let event = format!(
        "{{\"choices\":[\ndata: {}\ndata: 1]}}",
        lines.join("\ndata: ")
    );
    gateway.push_response(ScriptedResponse::sse([event.as_str(), "[DONE]"]).chunk_size(100));
    let items: Vec<_> = client.chat_stream(ask("x")).await.unwrap().collect().await;
    assert_eq!(items.len(), 1);
    let error = items[0].as_ref().unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Decode);
    assert_eq!(error.message(), "SSE event exceeds the limit of 4096 bytes");

    // A choice index out of range names the index.
    gateway.push_response(ScriptedResponse::sse([
        r#"{"choices":[{"index":-1,"delta":{"content":"x"}}]}"#,
        "[DONE]",
    ]));
    let items: Vec<_> = client.chat_stream(ask("x")).await.unwrap().collect().await;
    let error = items[0].as_ref().unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Decode);
    assert!(
        error.message().contains("index -1 is out of range"),
        "{error}"
    );
    gateway.push_response(ScriptedResponse::status(200).json(serde_json::json!({
        "choices": [{"index": 1e23, "message": {"content": "x"}}]
    })));
    let error = client.chat(ask("x")).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Decode);
    assert!(
        error
            .message()
            .contains("index 100000000000000000000000 is out of range"),
        "{error}"
    );
}
