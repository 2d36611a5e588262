//! `POST /v1/messages`, Anthropic's Messages API: answers, streams, keys,
//! validation, context window and scripted errors, over real loopback HTTP.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{RawResponse, named_sse_events, post_json, send};
use mishika_mock::{MockGateway, SMALL_CONTEXT_WINDOW_TOKENS, ScriptedResponse};
use serde_json::{Value, json};

const VERSION: (&str, &str) = ("anthropic-version", "2023-06-01");

fn hello() -> Value {
    json!({
        "model": "claude-mock",
        "max_tokens": 64,
        "system": "be brief",
        "messages": [
            {"role": "user", "content": "first question"},
            {"role": "assistant", "content": "ok"},
            {"role": "user", "content": [
                {"type": "text", "text": "Hello"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AA=="}},
                {"type": "text", "text": "world"}
            ]}
        ]
    })
}

fn weather() -> Value {
    json!({
        "model": "claude-mock",
        "max_tokens": 64,
        "messages": [{"role": "user", "content": "What's the weather in Paris?"}],
        "tools": [{
            "name": "get_weather",
            "description": "Current weather",
            "input_schema": {"type": "object", "properties": {"location": {"type": "string"}}}
        }]
    })
}

fn streamed(mut body: Value) -> Value {
    body["stream"] = json!(true);
    body
}

async fn post(gateway: &MockGateway, body: &Value) -> RawResponse {
    post_json(gateway.addr(), "/v1/messages", &[VERSION], body).await
}

fn names(events: &[(String, Value)]) -> Vec<&str> {
    events.iter().map(|(name, _)| name.as_str()).collect()
}

#[tokio::test]
async fn plain_answer_echoes_the_last_user_turn() {
    let gateway = MockGateway::start().await.unwrap();
    let response = post(&gateway, &hello()).await;
    assert_eq!(response.status, 200);
    assert_eq!(response.header("content-type"), Some("application/json"));
    assert_eq!(response.header("x-litellm-call-id"), Some("mock-call-1"));
    // input: system 2 + 2 + 1 + 2 words; output: 2 words.
    assert_eq!(
        response.json(),
        json!({
            "id": "msg_mock_1",
            "type": "message",
            "role": "assistant",
            "model": "claude-mock",
            "content": [{"type": "text", "text": "Hello world"}],
            "stop_reason": "end_turn",
            "stop_sequence": null,
            "usage": {"input_tokens": 7, "output_tokens": 2}
        })
    );

    // The chat route answers the same text.
    let chat = post_json(
        gateway.addr(),
        "/v1/chat/completions",
        &[],
        &json!({"model": "m", "messages": hello()["messages"]}),
    )
    .await
    .json();
    assert_eq!(chat["choices"][0]["message"]["content"], "Hello world");

    // Without the /v1 prefix too.
    let bare = post_json(gateway.addr(), "/messages", &[VERSION], &hello()).await;
    assert_eq!(bare.status, 200);
    assert_eq!(bare.json()["id"], "msg_mock_3");
    assert_eq!(bare.json()["content"][0]["text"], "Hello world");
}

#[tokio::test]
async fn tool_use_when_the_last_turn_asks_for_the_weather() {
    let gateway = MockGateway::start().await.unwrap();
    let response = post(&gateway, &weather()).await;
    assert_eq!(response.status, 200);
    assert_eq!(
        response.json(),
        json!({
            "id": "msg_mock_1",
            "type": "message",
            "role": "assistant",
            "model": "claude-mock",
            "content": [{
                "type": "tool_use",
                "id": "toolu_mock_1",
                "name": "get_weather",
                "input": {"location": "Paris"}
            }],
            "stop_reason": "tool_use",
            "stop_sequence": null,
            "usage": {"input_tokens": 5, "output_tokens": 1}
        })
    );

    // Without tools, the same turn is echoed.
    let mut no_tools = weather();
    no_tools.as_object_mut().unwrap().remove("tools");
    let text = post(&gateway, &no_tools).await.json();
    assert_eq!(text["stop_reason"], "end_turn");
    assert_eq!(text["content"][0]["text"], "What's the weather in Paris?");

    // A tool_result turn is answered with the result's text.
    let mut result = weather();
    result["messages"] = json!([
        {"role": "user", "content": "What's the weather in Paris?"},
        {"role": "assistant", "content": [{
            "type": "tool_use", "id": "toolu_mock_1", "name": "get_weather",
            "input": {"location": "Paris"}
        }]},
        {"role": "user", "content": [{
            "type": "tool_result", "tool_use_id": "toolu_mock_1",
            "content": [{"type": "text", "text": "Sunny, 21 C"}]
        }]}
    ]);
    let answer = post(&gateway, &result).await.json();
    assert_eq!(answer["stop_reason"], "end_turn");
    assert_eq!(
        answer["content"],
        json!([{"type": "text", "text": "Sunny, 21 C"}])
    );
    assert_eq!(
        answer["usage"],
        json!({"input_tokens": 8, "output_tokens": 3})
    );
}

#[tokio::test]
async fn stream_sends_anthropic_events_in_order() {
    let gateway = MockGateway::start().await.unwrap();
    let plain = post(&gateway, &hello()).await.json();
    let response = post(&gateway, &streamed(hello())).await;
    assert_eq!(response.status, 200);
    assert_eq!(response.header("content-type"), Some("text/event-stream"));
    assert_eq!(response.header("cache-control"), Some("no-cache"));
    let events = named_sse_events(&response.body);
    // One network chunk per event.
    let chunks = response.chunks.clone().expect("chunked body");
    assert_eq!(chunks.len(), events.len());
    assert!(chunks[0].starts_with(b"event: message_start\ndata: {"));
    assert_eq!(
        names(&events),
        [
            "message_start",
            "content_block_start",
            "ping",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop",
        ]
    );
    for (name, data) in &events {
        assert_eq!(data["type"], name.as_str());
    }
    assert_eq!(
        events[0].1,
        json!({"type": "message_start", "message": {
            "id": "msg_mock_2",
            "type": "message",
            "role": "assistant",
            "model": "claude-mock",
            "content": [],
            "stop_reason": null,
            "stop_sequence": null,
            "usage": {"input_tokens": 7, "output_tokens": 1}
        }})
    );
    assert_eq!(
        events[1].1,
        json!({"type": "content_block_start", "index": 0,
               "content_block": {"type": "text", "text": ""}})
    );
    assert_eq!(
        events[3].1,
        json!({"type": "content_block_delta", "index": 0,
               "delta": {"type": "text_delta", "text": "Hello"}})
    );
    let text: String = events
        .iter()
        .filter(|(name, _)| name == "content_block_delta")
        .map(|(_, data)| data["delta"]["text"].as_str().unwrap())
        .collect();
    assert_eq!(text, plain["content"][0]["text"].as_str().unwrap());
    assert_eq!(
        events[5].1,
        json!({"type": "content_block_stop", "index": 0})
    );
    assert_eq!(
        events[6].1,
        json!({"type": "message_delta",
               "delta": {"stop_reason": "end_turn", "stop_sequence": null},
               "usage": {"output_tokens": 2}})
    );
    assert_eq!(events[7].1, json!({"type": "message_stop"}));
    assert!(!response.text().contains("[DONE]"));
}

#[tokio::test]
async fn streamed_tool_use_sends_the_input_in_pieces() {
    let gateway = MockGateway::start().await.unwrap();
    let response = post(&gateway, &streamed(weather())).await;
    let events = named_sse_events(&response.body);
    let kinds: Vec<&str> = names(&events)
        .into_iter()
        .filter(|name| *name != "content_block_delta")
        .collect();
    assert_eq!(
        kinds,
        [
            "message_start",
            "content_block_start",
            "ping",
            "content_block_stop",
            "message_delta",
            "message_stop",
        ]
    );
    assert_eq!(
        events[1].1["content_block"],
        json!({"type": "tool_use", "id": "toolu_mock_1", "name": "get_weather", "input": {}})
    );
    let pieces: Vec<&str> = events
        .iter()
        .filter(|(name, _)| name == "content_block_delta")
        .map(|(_, data)| {
            assert_eq!(data["delta"]["type"], "input_json_delta");
            data["delta"]["partial_json"].as_str().unwrap()
        })
        .collect();
    assert!(pieces.len() >= 2, "{pieces:?}");
    let input: Value = serde_json::from_str(&pieces.concat()).unwrap();
    assert_eq!(input, json!({"location": "Paris"}));
    let delta = &events[events.len() - 2].1;
    assert_eq!(delta["delta"]["stop_reason"], "tool_use");
    assert_eq!(delta["usage"]["output_tokens"], 1);
}

#[tokio::test]
async fn key_in_x_api_key_or_bearer() {
    let gateway = MockGateway::builder()
        .api_key("sk-ant-secret")
        .start()
        .await
        .unwrap();
    let addr = gateway.addr();
    let with = |headers: &'static [(&'static str, &'static str)]| {
        let body = hello();
        async move { post_json(addr, "/v1/messages", headers, &body).await }
    };

    let by_x_api_key = with(&[("x-api-key", "sk-ant-secret"), VERSION]).await;
    assert_eq!(by_x_api_key.status, 200);
    let by_bearer = with(&[("authorization", "Bearer sk-ant-secret"), VERSION]).await;
    assert_eq!(by_bearer.status, 200);
    assert_eq!(by_bearer.json()["content"][0]["text"], "Hello world");

    let missing = with(&[VERSION]).await;
    assert_eq!(missing.status, 401);
    assert_eq!(
        missing.json(),
        json!({"type": "error", "error": {
            "type": "authentication_error", "message": "x-api-key header is required"
        }})
    );
    let wrong = with(&[("x-api-key", "sk-wrong"), VERSION]).await;
    let wrong_bearer = with(&[("authorization", "Bearer sk-wrong"), VERSION]).await;
    for response in [&wrong, &wrong_bearer] {
        assert_eq!(response.status, 401);
        assert_eq!(
            response.json(),
            json!({"type": "error", "error": {
                "type": "authentication_error", "message": "invalid x-api-key"
            }})
        );
        assert!(!response.text().contains("sk-"));
    }

    // Other routes still want the bearer token.
    let chat = post_json(
        addr,
        "/v1/chat/completions",
        &[("x-api-key", "sk-ant-secret")],
        &json!({"model": "m", "messages": [{"role": "user", "content": "x"}]}),
    )
    .await;
    assert_eq!(chat.status, 401);
    assert_eq!(chat.json()["error"]["type"], "auth_error");
}

#[tokio::test]
async fn validation_errors_use_anthropics_envelope() {
    let gateway = MockGateway::start().await.unwrap();
    let invalid = |message: &str| json!({"type": "error", "error": {"type": "invalid_request_error", "message": message}});
    let cases = [
        ("max_tokens", Value::Null, "max_tokens: Field required"),
        (
            "max_tokens",
            json!(0),
            "max_tokens: Input should be an integer greater than or equal to 1",
        ),
        (
            "max_tokens",
            json!("64"),
            "max_tokens: Input should be an integer greater than or equal to 1",
        ),
        ("model", Value::Null, "model: Field required"),
        ("messages", Value::Null, "messages: Field required"),
        (
            "messages",
            json!([]),
            "messages: at least one message is required",
        ),
        (
            "messages",
            json!("hi"),
            "messages: Input should be a valid list",
        ),
    ];
    for (field, value, message) in cases {
        let mut body = hello();
        if value.is_null() {
            body.as_object_mut().unwrap().remove(field);
        } else {
            body[field] = value;
        }
        let response = post(&gateway, &body).await;
        assert_eq!(response.status, 400, "{field}");
        assert_eq!(response.header("content-type"), Some("application/json"));
        assert_eq!(response.json(), invalid(message), "{field}");
    }

    let malformed = send(
        gateway.addr(),
        "POST",
        "/v1/messages",
        &[("content-type", "application/json"), VERSION],
        b"{\"model\":",
    )
    .await
    .unwrap();
    assert_eq!(malformed.status, 400);
    assert_eq!(malformed.json()["type"], "error");
    assert_eq!(malformed.json()["error"]["type"], "invalid_request_error");

    let no_version = post_json(gateway.addr(), "/v1/messages", &[], &hello()).await;
    assert_eq!(no_version.status, 400);
    assert_eq!(
        no_version.json(),
        invalid("anthropic-version: header is required")
    );

    let wrong_method = common::get(gateway.addr(), "/v1/messages").await;
    assert_eq!(wrong_method.status, 405);
}

#[tokio::test]
async fn prompt_too_long_for_the_context_window() {
    let gateway = MockGateway::start().await.unwrap();
    let long = vec!["word"; SMALL_CONTEXT_WINDOW_TOKENS + 1].join(" ");
    let mut body = hello();
    body["model"] = json!("mock-small-context");
    body["system"] = json!(long);
    let response = post(&gateway, &body).await;
    assert_eq!(response.status, 400);
    assert_eq!(
        response.json(),
        json!({"type": "error", "error": {
            "type": "invalid_request_error",
            "message": "prompt is too long: 22 tokens > 16 maximum"
        }})
    );
    // Streams are refused before they start.
    let streamed = post(&gateway, &streamed(body)).await;
    assert_eq!(streamed.status, 400);
    assert_eq!(streamed.json()["error"]["type"], "invalid_request_error");

    // Exactly the window fits.
    let fits = json!({
        "model": "mock-small-context",
        "max_tokens": 1,
        "messages": [{"role": "user", "content": vec!["w"; SMALL_CONTEXT_WINDOW_TOKENS].join(" ")}]
    });
    assert_eq!(post(&gateway, &fits).await.status, 200);
}

#[tokio::test]
async fn scripted_overloaded_error() {
    let gateway = MockGateway::start().await.unwrap();
    gateway.push_response_for(
        "/messages",
        ScriptedResponse::anthropic_error(529, "overloaded_error", "Overloaded"),
    );
    let response = post(&gateway, &hello()).await;
    assert_eq!(response.status, 529);
    assert_eq!(response.header("content-type"), Some("application/json"));
    assert_eq!(
        response.json(),
        json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
    );
    // The script is used once; the request was recorded all the same.
    assert_eq!(post(&gateway, &hello()).await.status, 200);
    assert_eq!(gateway.request_count(), 2);
}

#[tokio::test]
async fn scripted_error_inside_a_stream() {
    let gateway = MockGateway::start().await.unwrap();
    gateway.push_response(ScriptedResponse::anthropic_stream_error(
        "Hel",
        "overloaded_error",
        "Overloaded",
    ));
    let response = post(&gateway, &streamed(hello())).await;
    assert_eq!(response.status, 200);
    assert_eq!(response.header("content-type"), Some("text/event-stream"));
    let events = named_sse_events(&response.body);
    assert_eq!(
        names(&events),
        [
            "message_start",
            "content_block_start",
            "content_block_delta",
            "error"
        ]
    );
    assert_eq!(events[0].1["message"]["id"], "msg_mock_scripted");
    assert_eq!(
        events[2].1["delta"],
        json!({"type": "text_delta", "text": "Hel"})
    );
    assert_eq!(
        events[3].1,
        json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
    );
    assert_eq!(response.chunks.unwrap().len(), 4);

    // Any named events can be scripted.
    gateway.push_response(ScriptedResponse::sse_events([(
        "ping",
        r#"{"type":"ping"}"#,
    )]));
    let raw = post(&gateway, &streamed(hello())).await;
    assert_eq!(raw.text(), "event: ping\ndata: {\"type\":\"ping\"}\n\n");
}

#[tokio::test]
async fn requests_are_recorded_with_their_headers() {
    let gateway = MockGateway::builder()
        .api_key("sk-ant-secret")
        .start()
        .await
        .unwrap();
    let _ = post_json(
        gateway.addr(),
        "/v1/messages?beta=true",
        &[
            ("x-api-key", "sk-ant-secret"),
            VERSION,
            ("anthropic-beta", "tools-2024-04-04"),
        ],
        &weather(),
    )
    .await;
    let request = gateway.last_request().unwrap();
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, "/v1/messages?beta=true");
    assert_eq!(request.header("x-api-key"), Some("sk-ant-secret"));
    assert_eq!(request.header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(request.header("anthropic-beta"), Some("tools-2024-04-04"));
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert_eq!(request.json().unwrap(), weather());
}
