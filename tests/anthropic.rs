//! The `anthropic/` backend over loopback: the real reqwest transport against
//! `MockGateway`'s Anthropic Messages route — the exact request on the wire, plain and
//! streamed answers, tool calls both ways, Anthropic's errors and their retries.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use futures_util::StreamExt;
use mishika::{
    ChatMessage, ChatRequest, ChatStreamAccumulator, Client, EmbeddingRequest, ErrorKind,
    FinishReason, ProviderSettings, RetryPolicy, Tool, ToolCall, ToolChoice,
};
use mishika_mock::{MockGateway, ScriptedResponse};
use serde_json::json;

fn quick_retries(retries: u32) -> RetryPolicy {
    RetryPolicy::default()
        .max_retries(retries)
        .initial_backoff(Duration::from_millis(5))
        .max_backoff(Duration::from_millis(20))
}

async fn gateway_and_client() -> (MockGateway, Client) {
    let gateway = MockGateway::builder()
        .api_key("sk-ant-test")
        .start()
        .await
        .unwrap();
    let client = Client::builder()
        .provider_settings(
            "anthropic",
            ProviderSettings::new()
                .api_base(gateway.base_url())
                .api_key("sk-ant-test"),
        )
        .retry_policy(quick_retries(2))
        .build()
        .unwrap();
    (gateway, client)
}

fn weather_tool() -> Tool {
    Tool::function(
        "get_weather",
        "The weather in a city",
        json!({"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]}),
    )
}

#[tokio::test]
async fn a_plain_chat_goes_out_on_the_messages_wire() {
    let (gateway, client) = gateway_and_client().await;
    let response = client
        .chat(
            ChatRequest::new(
                "anthropic/claude-mock",
                [
                    ChatMessage::system("Be brief."),
                    ChatMessage::user("Hello there"),
                ],
            )
            .temperature(0.5)
            .stop("STOP"),
        )
        .await
        .unwrap();
    assert_eq!(response.content(), Some("Hello there"));
    assert_eq!(response.choices[0].finish_reason, Some(FinishReason::Stop));
    let usage = response.usage.as_deref().unwrap();
    assert!(usage.prompt_tokens.unwrap() > 0);
    assert_eq!(
        usage.total_tokens,
        Some(usage.prompt_tokens.unwrap() + usage.completion_tokens.unwrap())
    );
    assert_eq!(response.model.as_deref(), Some("claude-mock"));

    let seen = gateway.requests();
    assert_eq!(seen.len(), 1);
    let request = &seen[0];
    assert_eq!(request.method, http::Method::POST);
    assert_eq!(request.path, "/v1/messages");
    assert_eq!(request.header("x-api-key"), Some("sk-ant-test"));
    assert_eq!(request.header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(request.header("authorization"), None);
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert_eq!(
        request.json().unwrap(),
        json!({
            "model": "claude-mock",
            "max_tokens": mishika::providers::anthropic::DEFAULT_MAX_TOKENS,
            "system": [{"type": "text", "text": "Be brief."}],
            "messages": [{"role": "user", "content": [{"type": "text", "text": "Hello there"}]}],
            "temperature": 0.5,
            "stop_sequences": ["STOP"],
        })
    );
}

#[tokio::test]
async fn a_streamed_chat_reads_anthropics_named_events() {
    let (gateway, client) = gateway_and_client().await;
    let request = ChatRequest::new(
        "anthropic/claude-mock",
        [ChatMessage::user("one two three four")],
    )
    .max_tokens(64);
    let plain = client.chat(request.clone()).await.unwrap();
    let mut stream = client.chat_stream(request).await.unwrap();
    assert_eq!(stream.metadata().content_type(), Some("text/event-stream"));
    let mut whole = ChatStreamAccumulator::default();
    let mut pieces = 0;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.unwrap();
        pieces += usize::from(chunk.content().is_some_and(|text| !text.is_empty()));
        whole.push(&chunk);
    }
    assert!(pieces >= 2, "the text came in pieces: {pieces}");
    let streamed = whole.finish();
    assert_eq!(streamed.content(), plain.content());
    assert_eq!(streamed.choices[0].finish_reason, Some(FinishReason::Stop));
    let usage = streamed.usage.as_deref().unwrap();
    assert_eq!(
        usage.prompt_tokens,
        plain.usage.as_deref().unwrap().prompt_tokens
    );
    assert_eq!(
        usage.completion_tokens,
        plain.usage.as_deref().unwrap().completion_tokens
    );
    let sent = gateway.requests()[1].json().unwrap();
    assert_eq!(sent["stream"], true);
    assert_eq!(sent["max_tokens"], 64);
    assert_eq!(
        gateway.requests()[1].header("accept"),
        Some("text/event-stream")
    );
}

#[tokio::test]
async fn tool_calls_round_trip_plain_and_streamed() {
    let (gateway, client) = gateway_and_client().await;
    let ask = ChatRequest::new(
        "anthropic/claude-mock",
        [ChatMessage::user("What is the weather in Paris?")],
    )
    .tools([weather_tool()])
    .tool_choice(ToolChoice::Auto);
    let plain = client.chat(ask.clone()).await.unwrap();
    let calls: &[ToolCall] = plain.tool_calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].function.name, "get_weather");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&calls[0].function.arguments).unwrap(),
        json!({"location": "Paris"})
    );
    assert!(calls[0].id.starts_with("toolu_"));
    assert_eq!(
        plain.choices[0].finish_reason,
        Some(FinishReason::ToolCalls)
    );
    let sent = gateway.requests()[0].json().unwrap();
    assert_eq!(
        sent["tools"],
        json!([{
            "name": "get_weather",
            "description": "The weather in a city",
            "input_schema": {"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]},
        }])
    );
    assert_eq!(sent["tool_choice"], json!({"type": "auto"}));

    // Streamed: the accumulator assembles the same call from input_json_delta pieces.
    let mut stream = client.chat_stream(ask.clone()).await.unwrap();
    let mut whole = ChatStreamAccumulator::default();
    while let Some(chunk) = stream.next().await {
        whole.push(&chunk.unwrap());
    }
    let streamed = whole.finish();
    let streamed_calls = streamed.tool_calls();
    assert_eq!(streamed_calls.len(), 1);
    assert_eq!(streamed_calls[0].function.name, "get_weather");
    assert_eq!(
        streamed_calls[0].function.arguments,
        calls[0].function.arguments
    );
    assert_eq!(
        streamed.choices[0].finish_reason,
        Some(FinishReason::ToolCalls)
    );

    // The tool's result goes back as a tool_result block in a user turn.
    let follow_up = ChatRequest::new(
        "anthropic/claude-mock",
        [
            ChatMessage::user("What is the weather in Paris?"),
            ChatMessage::assistant_tool_calls(calls.to_vec()),
            ChatMessage::tool(calls[0].id.clone(), "18 degrees and sunny"),
        ],
    )
    .tools([weather_tool()]);
    let answer = client.chat(follow_up).await.unwrap();
    assert_eq!(answer.content(), Some("18 degrees and sunny"));
    let sent = gateway.requests().last().unwrap().json().unwrap();
    assert_eq!(
        sent["messages"],
        json!([
            {"role": "user", "content": [{"type": "text", "text": "What is the weather in Paris?"}]},
            {"role": "assistant", "content": [{
                "type": "tool_use", "id": calls[0].id, "name": "get_weather",
                "input": {"location": "Paris"},
            }]},
            {"role": "user", "content": [{
                "type": "tool_result", "tool_use_id": calls[0].id, "content": "18 degrees and sunny",
            }]},
        ])
    );
}

#[tokio::test]
async fn anthropic_errors_map_to_kinds_and_overloaded_is_retried() {
    let (gateway, client) = gateway_and_client().await;
    let ask = || ChatRequest::new("anthropic/claude-mock", [ChatMessage::user("hi")]);

    // 529 overloaded: retried, then answered.
    gateway.push_responses([
        ScriptedResponse::anthropic_error(529, "overloaded_error", "Overloaded"),
        ScriptedResponse::anthropic_error(529, "overloaded_error", "Overloaded"),
    ]);
    let answer = client.chat(ask()).await.unwrap();
    assert_eq!(answer.content(), Some("hi"));
    assert_eq!(gateway.request_count(), 3);

    // Overloaded every time: the last 529 as ServiceUnavailable, with Anthropic's type.
    gateway.clear_requests();
    for _ in 0..3 {
        gateway.push_response(ScriptedResponse::anthropic_error(
            529,
            "overloaded_error",
            "Overloaded",
        ));
    }
    let error = client.chat(ask()).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::ServiceUnavailable);
    assert_eq!(error.status().map(|s| s.as_u16()), Some(529));
    assert_eq!(error.error_type(), Some("overloaded_error"));
    assert_eq!(error.message(), "Overloaded");
    assert_eq!(error.provider(), Some("anthropic"));
    assert!(error.is_retryable());
    assert_eq!(gateway.request_count(), 3);

    // A rate limit keeps its retry-after; invalid requests are final at once.
    gateway.clear_requests();
    gateway.push_response(
        ScriptedResponse::anthropic_error(429, "rate_limit_error", "Slow down")
            .header("retry-after", "0"),
    );
    client.chat(ask()).await.unwrap();
    assert_eq!(gateway.request_count(), 2);
    for (status, error_type, kind) in [
        (400, "invalid_request_error", ErrorKind::BadRequest),
        (401, "authentication_error", ErrorKind::Authentication),
        (403, "permission_error", ErrorKind::PermissionDenied),
        (404, "not_found_error", ErrorKind::NotFound),
    ] {
        gateway.clear_requests();
        gateway.push_response(ScriptedResponse::anthropic_error(status, error_type, "no"));
        let error = client.chat(ask()).await.unwrap_err();
        assert_eq!(error.kind(), kind, "{error_type}");
        assert_eq!(error.error_type(), Some(error_type));
        assert_eq!(gateway.request_count(), 1, "{error_type} is not retried");
    }

    // The mock's real context-window check, as Anthropic words it.
    let error = client
        .chat(ChatRequest::new(
            "anthropic/claude-small-context",
            [ChatMessage::user(
                "far too many words for a sixteen token window ".repeat(4),
            )],
        ))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::ContextWindowExceeded);
    assert_eq!(error.status().map(|s| s.as_u16()), Some(400));

    // A wrong key.
    let wrong = Client::builder()
        .provider_settings(
            "anthropic",
            ProviderSettings::new()
                .api_base(gateway.base_url())
                .api_key("sk-ant-wrong"),
        )
        .build()
        .unwrap();
    let error = wrong.chat(ask()).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Authentication);
    assert!(!format!("{error} {error:?}").contains("sk-ant-wrong"));
}

#[tokio::test]
async fn an_error_event_inside_a_stream_is_an_err_item() {
    let (gateway, client) = gateway_and_client().await;
    gateway.push_response(ScriptedResponse::anthropic_stream_error(
        "Partial answ",
        "overloaded_error",
        "Overloaded",
    ));
    let mut stream = client
        .chat_stream(ChatRequest::new(
            "anthropic/claude-mock",
            [ChatMessage::user("hi")],
        ))
        .await
        .unwrap();
    let mut text = String::new();
    let error = loop {
        match stream.next().await.unwrap() {
            Ok(chunk) => text.push_str(chunk.content().unwrap_or_default()),
            Err(error) => break error,
        }
    };
    assert_eq!(text, "Partial answ");
    assert_eq!(error.kind(), ErrorKind::ServiceUnavailable);
    assert_eq!(error.message(), "Overloaded");
    assert!(
        stream.next().await.is_none(),
        "the stream ends after its error"
    );

    // A stream cut before message_stop is an error, not a short answer.
    gateway.push_response(
        ScriptedResponse::status(200)
            .header("content-type", "text/event-stream")
            .body(
                "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"model\":\"m\",\"usage\":{\"input_tokens\":3}}}\n\n\
                 event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"cut\"}}\n\n",
            ),
    );
    let mut stream = client
        .chat_stream(ChatRequest::new(
            "anthropic/claude-mock",
            [ChatMessage::user("hi")],
        ))
        .await
        .unwrap();
    let mut items = Vec::new();
    while let Some(item) = stream.next().await {
        items.push(item);
    }
    let last = items.pop().unwrap().unwrap_err();
    assert_eq!(last.kind(), ErrorKind::Stream);
    assert!(items.iter().all(Result::is_ok));
}

#[tokio::test]
async fn endpoints_anthropic_lacks_answer_unsupported_without_io() {
    let (gateway, client) = gateway_and_client().await;
    let error = client
        .embedding(EmbeddingRequest::new("anthropic/claude-mock", "x"))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Unsupported);
    assert_eq!(error.provider(), Some("anthropic"));
    assert_eq!(error.endpoint(), Some("embedding"));
    assert_eq!(gateway.request_count(), 0);
}
