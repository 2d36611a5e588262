//! Chat through the proxy provider over mockall's `MockTransport`: the exact request on the
//! wire and the parsed answer. Every client here sets its base URL and key explicitly, so
//! the environment cannot leak in (environment tests live in `settings_env.rs`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use futures_util::StreamExt;
use mishika::core::MockTransport;
use mishika::{
    ChatMessage, ChatRequest, ContentPart, ErrorKind, FinishReason, ResponseFormat, Role, Tool,
    ToolChoice,
};
use serde_json::{Value, json};

mod support;

use support::{client, mock};

const CHAT_OK: &str = r#"{"id":"chatcmpl-1","object":"chat.completion","created":1700000000,"model":"gpt-4o","choices":[{"index":0,"message":{"role":"assistant","content":"Hello there"},"finish_reason":"stop"}],"usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7},"x_gateway":"kept"}"#;

#[tokio::test]
async fn every_base_url_form_reaches_v1_chat_completions() {
    for base in [
        "http://h:4000",
        "http://h:4000/",
        "http://h:4000/v1",
        "http://h:4000/v1/",
    ] {
        let (transport, captured) = mock(200, &[], CHAT_OK);
        let response = client(transport, base)
            .chat(ChatRequest::new(
                "mishikallm_proxy/gpt-4o",
                [ChatMessage::user("hi")],
            ))
            .await
            .unwrap();
        assert_eq!(response.content(), Some("Hello there"));
        let requests = captured.lock().unwrap();
        assert_eq!(requests.len(), 1);
        assert_eq!(requests[0].method(), http::Method::POST);
        assert_eq!(
            requests[0].uri().to_string(),
            "http://h:4000/v1/chat/completions",
            "base {base}"
        );
    }
}

#[tokio::test]
async fn exact_request_headers_and_body() {
    let (transport, captured) = mock(200, &[], CHAT_OK);
    let request = ChatRequest::new(
        "mishikallm_proxy/openai/gpt-4o",
        [
            ChatMessage::system("be brief"),
            ChatMessage::user(vec![
                ContentPart::text("what is in this image?"),
                ContentPart::image_url("https://example.invalid/cat.png"),
            ]),
        ],
    )
    .temperature(0.25)
    .top_p(0.5)
    .max_tokens(100)
    .max_completion_tokens(120)
    .stop("END")
    .n(1)
    .seed(42)
    .user("user-7")
    .tools([Tool::function(
        "get_weather",
        "Weather for a city",
        json!({"type": "object", "properties": {"location": {"type": "string"}}}),
    )])
    .tool_choice(ToolChoice::Auto)
    .response_format(ResponseFormat::JsonObject)
    .extra("metadata", json!({"trace": "abc"}))
    .extra("mock_response", "ignored by gateways that do not know it")
    .header("x-request-tag", "t1");
    client(transport, "http://h:4000")
        .chat(request)
        .await
        .unwrap();

    let requests = captured.lock().unwrap();
    let request = &requests[0];
    let headers = request.headers();
    assert_eq!(headers["authorization"], "Bearer sk-test-123");
    assert!(headers["authorization"].is_sensitive());
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(headers["accept"], "application/json");
    assert_eq!(headers["x-request-tag"], "t1");
    let body: Value = serde_json::from_slice(request.body()).unwrap();
    assert_eq!(
        body,
        json!({
            "model": "openai/gpt-4o",
            "messages": [
                {"role": "system", "content": "be brief"},
                {"role": "user", "content": [
                    {"type": "text", "text": "what is in this image?"},
                    {"type": "image_url", "image_url": {"url": "https://example.invalid/cat.png"}}
                ]}
            ],
            "temperature": 0.25,
            "top_p": 0.5,
            "max_tokens": 100,
            "max_completion_tokens": 120,
            "stop": "END",
            "n": 1,
            "seed": 42,
            "user": "user-7",
            "tools": [{"type": "function", "function": {
                "name": "get_weather", "description": "Weather for a city",
                "parameters": {"type": "object", "properties": {"location": {"type": "string"}}}
            }}],
            "tool_choice": "auto",
            "response_format": {"type": "json_object"},
            "metadata": {"trace": "abc"},
            "mock_response": "ignored by gateways that do not know it"
        })
    );
}

#[tokio::test]
async fn per_request_base_and_key_beat_the_client() {
    let (transport, captured) = mock(200, &[], CHAT_OK);
    client(transport, "http://client:4000")
        .chat(
            ChatRequest::new("mishikallm_proxy/m", [ChatMessage::user("x")])
                .api_base("http://request:5000/v1")
                .api_key("sk-request"),
        )
        .await
        .unwrap();
    let requests = captured.lock().unwrap();
    assert_eq!(
        requests[0].uri().to_string(),
        "http://request:5000/v1/chat/completions"
    );
    assert_eq!(requests[0].headers()["authorization"], "Bearer sk-request");
}

#[tokio::test]
async fn response_is_parsed_with_metadata_and_unknown_fields() {
    let (transport, _) = mock(
        200,
        &[
            ("x-litellm-call-id", "call-123"),
            ("x-litellm-response-cost", "0.00042"),
            ("x-litellm-model-id", "deploy-1"),
            ("x-ratelimit-remaining-requests", "99"),
            ("x-ratelimit-remaining-tokens", "9999"),
            ("x-ratelimit-limit-requests", "100"),
            ("x-ratelimit-limit-tokens", "10000"),
            ("content-type", "application/json"),
        ],
        CHAT_OK,
    );
    let response = client(transport, "http://h:4000")
        .chat(ChatRequest::new(
            "mishikallm_proxy/gpt-4o",
            [ChatMessage::user("hi")],
        ))
        .await
        .unwrap();
    assert_eq!(response.id.as_deref(), Some("chatcmpl-1"));
    assert_eq!(response.model.as_deref(), Some("gpt-4o"));
    assert_eq!(response.choices[0].message.role, Some(Role::Assistant));
    assert_eq!(response.choices[0].finish_reason, Some(FinishReason::Stop));
    assert_eq!(response.usage.as_ref().unwrap().total_tokens, Some(7));
    assert_eq!(response.extra["x_gateway"], json!("kept"));
    let meta = response.metadata();
    assert_eq!(meta.status, 200);
    assert_eq!(meta.call_id(), Some("call-123"));
    assert_eq!(meta.response_cost(), Some(0.00042));
    assert_eq!(meta.model_id(), Some("deploy-1"));
    assert_eq!(meta.remaining_requests(), Some(99));
    assert_eq!(meta.remaining_tokens(), Some(9999));
    assert_eq!(meta.limit_requests(), Some(100));
    assert_eq!(meta.limit_tokens(), Some(10000));
}

#[tokio::test]
async fn lenient_decoding_of_a_drifting_gateway() {
    let (transport, _) = mock(
        200,
        &[],
        r#"{"id":null,"choices":[{"index":0,"message":{"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{}"}}]},"finish_reason":""},{"index":1,"message":{"content":"x"},"finish_reason":"brand_new_reason"}],"usage":null,"provider_specific":{"a":1}}"#,
    );
    let response = client(transport, "http://h:4000")
        .chat(ChatRequest::new(
            "mishikallm_proxy/m",
            [ChatMessage::user("hi")],
        ))
        .await
        .unwrap();
    assert_eq!(response.id, None);
    assert_eq!(response.usage, None);
    assert_eq!(response.choices[0].finish_reason, None);
    assert_eq!(response.tool_calls()[0].function.name, "f");
    assert_eq!(
        response.choices[1].finish_reason,
        Some(FinishReason::Other("brand_new_reason".into()))
    );
    assert_eq!(response.extra["provider_specific"], json!({"a": 1}));
}

#[tokio::test]
async fn error_envelope_becomes_a_typed_error() {
    let (transport, _) = mock(
        400,
        &[("content-type", "application/json")],
        r#"{"error":{"message":"litellm.ContextWindowExceededError: This model's maximum context length is 8192 tokens","type":"invalid_request_error","param":"messages","code":"400"}}"#,
    );
    let error = client(transport, "http://h:4000")
        .chat(ChatRequest::new(
            "mishikallm_proxy/m",
            [ChatMessage::user("hi")],
        ))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::ContextWindowExceeded);
    assert_eq!(error.status().map(|s| s.as_u16()), Some(400));
    assert_eq!(error.error_type(), Some("invalid_request_error"));
    assert_eq!(error.param(), Some("messages"));
    assert_eq!(error.code(), Some("400"));
    assert!(error.body().unwrap().contains("maximum context length"));
    assert!(!format!("{error:?} {error}").contains("sk-test-123"));
}

#[tokio::test]
async fn stream_sends_stream_true_and_yields_typed_chunks() {
    let (transport, captured) = mock(
        200,
        &[
            ("content-type", "text/event-stream"),
            ("x-litellm-call-id", "s-1"),
        ],
        "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n\
         : keep-alive\n\n\
         data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"}}]}\r\n\r\n\
         data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"lo\"},\"finish_reason\":\"stop\"}]}\n\n\
         data: {\"id\":\"c\",\"choices\":[],\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2,\"total_tokens\":3}}\n\n\
         data: [DONE]\n\n",
    );
    let mut stream = client(transport, "http://h:4000")
        .chat_stream(
            ChatRequest::new("mishikallm_proxy/gpt-4o", [ChatMessage::user("hi")])
                .include_usage(true),
        )
        .await
        .unwrap();
    assert_eq!(stream.metadata().call_id(), Some("s-1"));
    let mut text = String::new();
    let mut usage = None;
    let mut count = 0;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.unwrap();
        count += 1;
        text.push_str(chunk.content().unwrap_or_default());
        if chunk.usage.is_some() {
            usage = chunk.usage;
        }
    }
    assert_eq!((count, text.as_str()), (4, "Hello"));
    assert_eq!(usage.unwrap().total_tokens, Some(3));
    let requests = captured.lock().unwrap();
    assert_eq!(requests[0].headers()["accept"], "text/event-stream");
    let body: Value = serde_json::from_slice(requests[0].body()).unwrap();
    assert_eq!(body["stream"], json!(true));
    assert_eq!(body["stream_options"], json!({"include_usage": true}));
    assert_eq!(body["model"], json!("gpt-4o"));
}

#[tokio::test]
async fn stream_http_error_is_the_err_of_the_call() {
    let (transport, _) = mock(
        429,
        &[("retry-after", "3")],
        r#"{"error":{"message":"litellm.RateLimitError: slow down","type":"rate_limit_error","code":"429"}}"#,
    );
    let error = client(transport, "http://h:4000")
        .chat_stream(ChatRequest::new(
            "mishikallm_proxy/m",
            [ChatMessage::user("x")],
        ))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::RateLimit);
    assert_eq!(error.retry_after(), Some(std::time::Duration::from_secs(3)));
    assert!(error.is_retryable());
}

#[tokio::test]
async fn stream_faults_are_error_items() {
    // In-band error frame, then no [DONE] (what the real gateway sends on an upstream drop).
    let (transport, _) = mock(
        200,
        &[],
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"par\"}}]}\n\n\
         data: {\"error\":{\"message\":\"upstream dropped\",\"type\":null,\"code\":\"500\"}}\n\n",
    );
    let items: Vec<_> = client(transport, "http://h:4000")
        .chat_stream(ChatRequest::new(
            "mishikallm_proxy/m",
            [ChatMessage::user("x")],
        ))
        .await
        .unwrap()
        .collect()
        .await;
    assert_eq!(items.len(), 2);
    assert_eq!(items[0].as_ref().unwrap().content(), Some("par"));
    let error = items[1].as_ref().unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InternalServer);
    assert!(error.message().contains("upstream dropped"));

    // Early end: chunks, then the body ends without [DONE].
    let (transport, _) = mock(
        200,
        &[],
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}}]}\n\n",
    );
    let items: Vec<_> = client(transport, "http://h:4000")
        .chat_stream(ChatRequest::new(
            "mishikallm_proxy/m",
            [ChatMessage::user("x")],
        ))
        .await
        .unwrap()
        .collect()
        .await;
    assert_eq!(items.len(), 2);
    assert_eq!(items[1].as_ref().unwrap_err().kind(), ErrorKind::Stream);

    // A frame that is not JSON.
    let (transport, _) = mock(200, &[], "data: {not json\n\ndata: [DONE]\n\n");
    let items: Vec<_> = client(transport, "http://h:4000")
        .chat_stream(ChatRequest::new(
            "mishikallm_proxy/m",
            [ChatMessage::user("x")],
        ))
        .await
        .unwrap()
        .collect()
        .await;
    assert_eq!(items.len(), 1);
    let error = items[0].as_ref().unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Decode);
    assert!(error.message().contains("{not json"));
}

#[tokio::test]
async fn unknown_prefix_and_bad_header_are_errors_before_any_io() {
    let mut transport = MockTransport::new();
    transport.expect_send().never();
    let client = client(transport, "http://h:4000");
    let error = client
        .chat(ChatRequest::new("nope/gpt-4o", [ChatMessage::user("x")]))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::UnknownProvider);
    assert!(error.message().contains("mishikallm_proxy"));
    let error = client
        .chat(
            ChatRequest::new("mishikallm_proxy/m", [ChatMessage::user("x")])
                .header("bad header", "v"),
        )
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Config);
}

#[tokio::test]
async fn the_key_never_prints() {
    let (transport, _) = mock(200, &[], CHAT_OK);
    let client = client(transport, "http://h:4000");
    let request = ChatRequest::new("mishikallm_proxy/m", [ChatMessage::user("x")])
        .api_key("sk-request-secret");
    let printed = format!("{client:?} {request:?}");
    assert!(!printed.contains("sk-test-123"), "{printed}");
    assert!(!printed.contains("sk-request-secret"), "{printed}");
    assert!(printed.contains("ApiKey(***)"));
}
