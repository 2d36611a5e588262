//! Requests read back from the JSON they are sent as (a batch file, a replay): serialise,
//! deserialise, serialise again gives the same bytes, `extra` fields included; the
//! per-request settings that never go on the wire are not read.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use mishika_core::chat::ImageUrl;
use mishika_core::{
    ChatMessage, ChatRequest, CompletionRequest, ContentPart, EmbeddingRequest, EncodingFormat,
    ImageRequest, RerankRequest, ResponseFormat, SpeechRequest, Tool, ToolCall, ToolChoice,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;

/// `request` serialised, read back, and serialised again: the same bytes. Returns the copy.
fn round_trip<T: Serialize + DeserializeOwned>(request: &T) -> T {
    let first = serde_json::to_vec(request).unwrap();
    let read: T = serde_json::from_slice(&first).unwrap();
    let second = serde_json::to_vec(&read).unwrap();
    assert_eq!(
        String::from_utf8(second).unwrap(),
        String::from_utf8(first).unwrap()
    );
    read
}

fn tool_call() -> ToolCall {
    serde_json::from_value(
        json!({"id": "call_1", "type": "function", "function": {"name": "look", "arguments": "{}"}}),
    )
    .unwrap()
}

#[test]
fn a_chat_request_with_every_field_reads_back_byte_identical() {
    let mut request = ChatRequest::new(
        "mishikallm_proxy/gpt-4o",
        [
            ChatMessage::system("be brief"),
            ChatMessage::user(vec![
                ContentPart::text("what is this?"),
                ContentPart::image_url("data:image/png;base64,AAAA"),
            ]),
            ChatMessage::assistant_tool_calls(vec![tool_call()]),
            ChatMessage::tool("call_1", "a cat").name("looker"),
            ChatMessage::assistant("It is a cat."),
        ],
    )
    .temperature(0.2)
    .top_p(0.9)
    .max_tokens(10)
    .max_completion_tokens(20)
    .stop(vec!["\n", "END"])
    .n(2)
    .seed(-7)
    .user("u1")
    .tools([Tool::function("look", "Look", json!({"type": "object"}))])
    .tool_choice(ToolChoice::Function("look".into()))
    .response_format(ResponseFormat::json_schema(
        "answer",
        json!({"type": "object"}),
    ))
    .include_usage(true)
    .extra("metadata", json!({"tag": 1, "nested": [1.5, null, "x"]}))
    .extra("zzz_last", true)
    .api_key("sk-never-on-the-wire")
    .api_base("http://elsewhere:4000")
    .header("x-team", "search")
    .timeout(Duration::from_secs(3))
    .num_retries(5);
    request.logit_bias = Some(
        [("50256".to_owned(), -100.0), ("1".to_owned(), 2.5)]
            .into_iter()
            .collect(),
    );
    request.presence_penalty = Some(0.5);
    request.frequency_penalty = Some(-0.25);
    request.logprobs = Some(true);
    request.top_logprobs = Some(3);
    request.parallel_tool_calls = Some(false);
    let read = round_trip(&request);
    assert_eq!(read.messages, request.messages);
    assert_eq!(read.extra, request.extra);
    assert_eq!(read.tool_choice, request.tool_choice);
    // Per-request settings are not on the wire, so not read.
    let options = read.options();
    assert!(options.api_key.is_none() && options.api_base.is_none());
    assert!(options.headers.is_empty());
    assert_eq!((options.timeout, options.num_retries), (None, None));

    for choice in [ToolChoice::None, ToolChoice::Auto, ToolChoice::Required] {
        let read = round_trip(&ChatRequest::new("m", []).tool_choice(choice.clone()));
        assert_eq!(read.tool_choice, Some(choice));
    }
    for format in [ResponseFormat::Text, ResponseFormat::JsonObject] {
        round_trip(&ChatRequest::new("m", []).response_format(format));
    }
}

#[test]
fn wire_json_from_elsewhere_reads_into_a_chat_request() {
    let line = json!({
        "model": "mishikallm_proxy/gpt-4o",
        "messages": [{"role": "developer", "content": "terse"},
                     {"role": "user", "content": [{"type": "image_url",
                         "image_url": {"url": "https://x/y.png", "detail": "low"}}]}],
        "tool_choice": "required",
        "reasoning_effort": "low"
    });
    let request: ChatRequest = serde_json::from_value(line.clone()).unwrap();
    assert_eq!(request.model, "mishikallm_proxy/gpt-4o");
    assert_eq!(request.tool_choice, Some(ToolChoice::Required));
    assert_eq!(request.extra["reasoning_effort"], "low");
    let mut url = ImageUrl::new("https://x/y.png");
    url.detail = Some("low".into());
    assert_eq!(
        request.messages[1].content,
        Some(vec![ContentPart::ImageUrl { image_url: url }].into())
    );
    assert_eq!(serde_json::to_value(&request).unwrap(), line);

    for bad in [
        json!("sometimes"),
        json!({"type": "web", "function": {"name": "f"}}),
    ] {
        let error = serde_json::from_value::<ChatRequest>(
            json!({"model": "m", "messages": [], "tool_choice": bad}),
        )
        .unwrap_err();
        assert!(error.to_string().contains("unknown tool_choice"), "{error}");
    }
}

#[test]
fn every_other_json_request_reads_back_byte_identical() {
    let mut completion = CompletionRequest::new("m", vec!["a", "b"])
        .suffix("end")
        .max_tokens(7)
        .temperature(0.0)
        .echo(true)
        .stop("\n")
        .logit_bias([("50256".to_owned(), -100.0), ("13".to_owned(), 1.0)])
        .include_usage(true)
        .extra("guided_json", json!({"type": "object"}))
        .api_key("sk-x");
    completion.stream = Some(true);
    let read = round_trip(&completion);
    assert!(read.options().api_key.is_none());
    round_trip(&CompletionRequest::new("m", vec![vec![1u32, 2], vec![3]]));
    round_trip(&CompletionRequest::new("m", vec![1u32, 2, 3]));

    let read = round_trip(
        &EmbeddingRequest::new("m", "one text")
            .dimensions(256)
            .encoding_format(EncodingFormat::Base64)
            .user("u")
            .extra("input_type", "query")
            .timeout(Duration::from_secs(1)),
    );
    assert_eq!(read.encoding_format, Some(EncodingFormat::Base64));
    assert!(read.options().timeout.is_none());

    round_trip(
        &ImageRequest::new("m", "a lighthouse")
            .n(1)
            .size("1024x1024")
            .quality("hd")
            .style("vivid")
            .response_format("b64_json")
            .background("transparent")
            .output_format("png")
            .output_compression(80)
            .moderation("low")
            .user("u")
            .extra("seed", 3),
    );
    round_trip(
        &SpeechRequest::new("m", "Hello!", "alloy")
            .response_format("mp3")
            .speed(1.25)
            .instructions("calm")
            .extra("stream_format", "audio"),
    );
    let mut object = serde_json::Map::new();
    object.insert("title".into(), json!("Paris"));
    let read = round_trip(
        &RerankRequest::new("m", "capital of France", ["Paris.", "Berlin."])
            .top_n(1)
            .return_documents(true)
            .rank_fields(["title"])
            .max_chunks_per_doc(2)
            .max_tokens_per_doc(100)
            .extra("priority", 1),
    );
    assert_eq!(read.documents.len(), 2);
    round_trip(&RerankRequest::new("m", "q", [object]));
}
