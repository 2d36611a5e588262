//! Chat over real loopback HTTP: mishika's reqwest transport → `MockGateway`.
//! Every client sets base and key explicitly; environment tests are in `settings_env.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use futures_util::StreamExt;
use mishika::{ChatMessage, ChatRequest, ChatStreamAccumulator, Client, ErrorKind, Tool};
use mishika_mock::{MockGateway, ScriptedResponse};
use serde_json::json;

async fn keyed_gateway() -> MockGateway {
    MockGateway::builder()
        .api_key("sk-gateway-key")
        .start()
        .await
        .unwrap()
}

fn client_for(gateway: &MockGateway, key: Option<&str>) -> Client {
    let mut builder = Client::builder().api_base(gateway.base_url());
    if let Some(key) = key {
        builder = builder.api_key(key);
    }
    builder.build().unwrap()
}

fn ask(text: &str) -> ChatRequest {
    ChatRequest::new("mishikallm_proxy/gpt-4o", [ChatMessage::user(text)])
}

#[tokio::test]
async fn plain_chat_round_trip() {
    let gateway = keyed_gateway().await;
    let client = client_for(&gateway, Some("sk-gateway-key"));
    let response = client
        .chat(
            ask("hello from mishika")
                .temperature(0.0)
                .extra("metadata", json!({"k": "v"})),
        )
        .await
        .unwrap();
    assert_eq!(response.content(), Some("hello from mishika"));
    assert_eq!(response.model.as_deref(), Some("gpt-4o"));
    assert_eq!(response.usage.as_ref().unwrap().completion_tokens, Some(3));
    assert_eq!(response.metadata().call_id(), Some("mock-call-1"));
    assert_eq!(response.metadata().response_cost(), Some(0.00042));

    let seen = gateway.requests();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].method, http::Method::POST);
    assert_eq!(seen[0].path, "/v1/chat/completions");
    assert_eq!(
        seen[0].header("authorization"),
        Some("Bearer sk-gateway-key")
    );
    assert_eq!(
        seen[0].json().unwrap(),
        json!({
            "model": "gpt-4o",
            "messages": [{"role": "user", "content": "hello from mishika"}],
            "temperature": 0.0,
            "metadata": {"k": "v"}
        })
    );
}

#[tokio::test]
async fn streaming_chat_with_usage() {
    let gateway = keyed_gateway().await;
    let client = client_for(&gateway, Some("sk-gateway-key"));
    let mut stream = client
        .chat_stream(ask("one two three").include_usage(true))
        .await
        .unwrap();
    assert_eq!(
        stream.metadata().header("content-type"),
        Some("text/event-stream")
    );
    let mut accumulator = ChatStreamAccumulator::default();
    let mut deltas = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.unwrap();
        if let Some(text) = chunk.content().filter(|t| !t.is_empty()) {
            deltas.push(text.to_owned());
        }
        accumulator.push(&chunk);
    }
    assert_eq!(deltas, ["one", " two", " three"]);
    let response = accumulator.finish();
    assert_eq!(response.content(), Some("one two three"));
    assert_eq!(response.usage.unwrap().total_tokens, Some(6));
    assert_eq!(gateway.requests()[0].json().unwrap()["stream"], json!(true));
}

#[tokio::test]
async fn streamed_tool_calls_are_assembled() {
    let gateway = MockGateway::start().await.unwrap();
    let client = client_for(&gateway, None);
    let weather = Tool::function(
        "get_weather",
        "Current weather",
        json!({"type": "object", "properties": {"location": {"type": "string"}}}),
    );
    let mut stream = client
        .chat_stream(ask("what is the weather in Paris?").tools([weather.clone()]))
        .await
        .unwrap();
    let mut accumulator = ChatStreamAccumulator::default();
    while let Some(chunk) = stream.next().await {
        accumulator.push(&chunk.unwrap());
    }
    let streamed = accumulator.finish();
    let plain = client
        .chat(ask("what is the weather in Paris?").tools([weather]))
        .await
        .unwrap();
    for response in [&streamed, &plain] {
        let call = &response.tool_calls()[0];
        assert_eq!(call.function.name, "get_weather");
        let arguments: serde_json::Value = serde_json::from_str(&call.function.arguments).unwrap();
        assert_eq!(arguments, json!({"location": "Paris"}));
    }
    assert_eq!(streamed.tool_calls()[0].id, plain.tool_calls()[0].id);
}

#[tokio::test]
async fn keyless_client_sends_no_authorization() {
    let gateway = MockGateway::start().await.unwrap();
    let client = client_for(&gateway, None);
    client.chat(ask("hi")).await.unwrap();
    assert_eq!(gateway.requests()[0].header("authorization"), None);
}

#[tokio::test]
async fn wrong_key_is_an_authentication_error_without_the_key() {
    let gateway = keyed_gateway().await;
    let client = client_for(&gateway, Some("sk-wrong-key"));
    let error = client.chat(ask("hi")).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Authentication);
    assert_eq!(error.status().map(|s| s.as_u16()), Some(401));
    assert!(error.message().contains("Authentication Error"));
    let printed = format!("{error} {error:?} {client:?}");
    assert!(!printed.contains("sk-wrong-key"), "{printed}");
    // A missing key is the same kind, and the stream call fails the same way.
    let keyless = client_for(&gateway, None);
    let error = keyless.chat_stream(ask("hi")).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Authentication);
}

#[tokio::test]
async fn prefix_stripping_and_per_request_override() {
    let gateway = MockGateway::start().await.unwrap();
    let other = MockGateway::start().await.unwrap();
    let client = client_for(&gateway, Some("sk-client"));
    client
        .chat(
            ChatRequest::new("mishikallm_proxy/openai/gpt-4o", [ChatMessage::user("x")])
                .api_base(format!("{}/v1/", other.base_url()))
                .api_key("sk-request"),
        )
        .await
        .unwrap();
    assert_eq!(gateway.request_count(), 0);
    let seen = other.requests();
    assert_eq!(seen[0].json().unwrap()["model"], json!("openai/gpt-4o"));
    assert_eq!(seen[0].header("authorization"), Some("Bearer sk-request"));
}

#[tokio::test]
async fn unknown_prefix_lists_known_ones() {
    let gateway = MockGateway::start().await.unwrap();
    let error = client_for(&gateway, None)
        .chat(ChatRequest::new("nope/claude", [ChatMessage::user("x")]))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::UnknownProvider);
    assert!(
        error.message().contains("mishikallm_proxy"),
        "{}",
        error.message()
    );
    assert_eq!(gateway.request_count(), 0);
}

#[tokio::test]
async fn gateway_error_status_and_body_map_to_kinds() {
    let gateway = MockGateway::start().await.unwrap();
    let client = Client::builder()
        .api_base(gateway.base_url())
        .num_retries(0)
        .build()
        .unwrap();
    let cases = [
        (
            ScriptedResponse::error(
                429,
                "litellm.RateLimitError: too many",
                "rate_limit_error",
                "429",
            )
            .header("retry-after", "7"),
            ErrorKind::RateLimit,
        ),
        (
            ScriptedResponse::error(
                400,
                "litellm.BudgetExceededError: Budget has been exceeded!",
                "budget_exceeded",
                "400",
            ),
            ErrorKind::BudgetExceeded,
        ),
        (
            ScriptedResponse::error(500, "boom", "internal_error", "500"),
            ErrorKind::InternalServer,
        ),
        (
            ScriptedResponse::status(503)
                .body("<html>upstream unavailable</html>")
                .header("content-type", "text/html"),
            ErrorKind::ServiceUnavailable,
        ),
        (
            ScriptedResponse::status(404).json(json!({"detail": "Not Found"})),
            ErrorKind::NotFound,
        ),
    ];
    for (script, kind) in cases {
        gateway.push_response(script);
        let error = client.chat(ask("x")).await.unwrap_err();
        assert_eq!(error.kind(), kind, "{error}");
        assert!(error.body().is_some());
        if kind == ErrorKind::RateLimit {
            assert_eq!(error.retry_after(), Some(Duration::from_secs(7)));
            assert_eq!(error.error_type(), Some("rate_limit_error"));
        }
    }
}

#[tokio::test]
async fn in_band_stream_error_after_chunks() {
    let gateway = MockGateway::start().await.unwrap();
    gateway.push_response(ScriptedResponse::sse([
        r#"{"id":"c","choices":[{"index":0,"delta":{"content":"partial"}}]}"#,
        r#"{"error":{"message":"litellm.RateLimitError: upstream said 429","type":"None","param":"None","code":"429"}}"#,
    ]));
    let items: Vec<_> = client_for(&gateway, None)
        .chat_stream(ask("x"))
        .await
        .unwrap()
        .collect()
        .await;
    assert_eq!(items.len(), 2);
    assert_eq!(items[0].as_ref().unwrap().content(), Some("partial"));
    let error = items[1].as_ref().unwrap_err();
    assert_eq!(error.kind(), ErrorKind::RateLimit);
    assert!(error.message().contains("upstream said 429"));
}

#[tokio::test]
async fn early_eof_and_connection_drop_are_stream_errors() {
    let gateway = MockGateway::start().await.unwrap();
    let client = client_for(&gateway, None);
    // The body ends cleanly but without [DONE].
    gateway.push_response(ScriptedResponse::sse([
        r#"{"choices":[{"index":0,"delta":{"content":"a"}}]}"#,
    ]));
    let items: Vec<_> = client.chat_stream(ask("x")).await.unwrap().collect().await;
    assert_eq!(items.len(), 2);
    assert_eq!(items[1].as_ref().unwrap_err().kind(), ErrorKind::Stream);

    // The connection is cut in the middle of the second frame.
    let first = r#"{"choices":[{"index":0,"delta":{"content":"b"}}]}"#;
    gateway.push_response(
        ScriptedResponse::sse([
            first,
            r#"{"choices":[{"index":0,"delta":{"content":"never"}}]}"#,
            "[DONE]",
        ])
        .drop_after(first.len() + 8 + 20),
    );
    let items: Vec<_> = client.chat_stream(ask("x")).await.unwrap().collect().await;
    assert_eq!(items.len(), 2, "{items:?}");
    assert_eq!(items[0].as_ref().unwrap().content(), Some("b"));
    assert_eq!(items[1].as_ref().unwrap_err().kind(), ErrorKind::Stream);
}

#[tokio::test]
async fn dropping_a_stream_closes_the_connection() {
    let gateway = MockGateway::start().await.unwrap();
    gateway.push_response(
        ScriptedResponse::sse([r#"{"choices":[{"index":0,"delta":{"content":"first"}}]}"#])
            .hold_open(),
    );
    let mut stream = client_for(&gateway, None)
        .chat_stream(ask("x"))
        .await
        .unwrap();
    let first = stream.next().await.unwrap().unwrap();
    assert_eq!(first.content(), Some("first"));
    assert_eq!(gateway.dropped_streams(), 0);
    drop(stream);
    assert!(
        gateway
            .wait_for_dropped_streams(1, Duration::from_secs(10))
            .await,
        "the gateway never saw the connection close"
    );
}

#[tokio::test]
async fn stream_idle_timeout_fires_on_a_stalled_stream() {
    let gateway = MockGateway::start().await.unwrap();
    gateway.push_response(
        ScriptedResponse::sse([r#"{"choices":[{"index":0,"delta":{"content":"x"}}]}"#]).hold_open(),
    );
    let client = Client::builder()
        .api_base(gateway.base_url())
        .stream_idle_timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let items: Vec<_> = client.chat_stream(ask("x")).await.unwrap().collect().await;
    assert_eq!(items.len(), 2);
    let error = items[1].as_ref().unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Timeout);
    assert_eq!(
        error.timeout_phase(),
        Some(mishika::TimeoutPhase::StreamIdle)
    );
}

/// A JSON answer is read inside the call, under the whole-request deadline: a slow body is
/// not an idle stream. An audio body, handed to the caller, is watched.
#[tokio::test]
async fn slow_json_answers_are_not_idle_streams_but_audio_bodies_are() {
    let gateway = MockGateway::start().await.unwrap();
    let answer = json!({"choices": [{"index": 0, "message": {"role": "assistant", "content": "slow but whole"}}]});
    gateway.push_response(
        ScriptedResponse::status(200)
            .json(answer)
            .chunk_size(16)
            .chunk_delay(Duration::from_millis(120)),
    );
    let client = Client::builder()
        .api_base(gateway.base_url())
        .stream_idle_timeout(Duration::from_millis(50))
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let response = client.chat(ask("x")).await.unwrap();
    assert_eq!(response.content(), Some("slow but whole"));

    gateway.push_response(
        ScriptedResponse::status(200)
            .header("content-type", "audio/mpeg")
            .body(vec![7u8; 64])
            .chunk_size(16)
            .chunk_delay(Duration::from_millis(300)),
    );
    let speech = client
        .speech(mishika::SpeechRequest::new(
            "mishikallm_proxy/tts",
            "hi",
            "alloy",
        ))
        .await
        .unwrap();
    let error = speech.bytes(1 << 20).await.unwrap_err();
    assert_eq!(
        error.timeout_phase(),
        Some(mishika::TimeoutPhase::StreamIdle)
    );
}

#[tokio::test]
async fn per_request_stream_idle_timeout_beats_the_client() {
    let gateway = MockGateway::start().await.unwrap();
    gateway.push_response(
        ScriptedResponse::sse([r#"{"choices":[{"index":0,"delta":{"content":"x"}}]}"#]).hold_open(),
    );
    let client = Client::builder()
        .api_base(gateway.base_url())
        .stream_idle_timeout(None)
        .build()
        .unwrap();
    let started = std::time::Instant::now();
    let items: Vec<_> = client
        .chat_stream(ask("x").stream_idle_timeout(Duration::from_millis(200)))
        .await
        .unwrap()
        .collect()
        .await;
    assert_eq!(items.len(), 2);
    let error = items[1].as_ref().unwrap_err();
    assert_eq!(
        error.timeout_phase(),
        Some(mishika::TimeoutPhase::StreamIdle)
    );
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn request_timeout_fires_on_a_slow_head() {
    let gateway = MockGateway::start().await.unwrap();
    gateway.push_response(ScriptedResponse::status(200).delay(Duration::from_secs(5)));
    let client = client_for(&gateway, None);
    let started = std::time::Instant::now();
    let error = client
        .chat(ask("x").timeout(Duration::from_millis(200)))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Timeout);
    assert_eq!(error.timeout_phase(), Some(mishika::TimeoutPhase::Request));
    assert!(started.elapsed() < Duration::from_secs(4));
}

#[tokio::test]
async fn server_down_is_a_connection_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let client = Client::builder().api_base(base).build().unwrap();
    let error = client.chat(ask("x")).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Connection);
    assert!(error.is_retryable());
}
