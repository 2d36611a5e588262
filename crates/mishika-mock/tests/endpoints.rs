//! The normal (unscripted) answers of every endpoint, over real loopback HTTP.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use common::{get, post_json, send, sse_payloads};
use mishika_mock::{
    CONTEXT_WINDOW_TOKENS, MockGateway, PNG_1X1, SMALL_CONTEXT_WINDOW_TOKENS, mock_embedding,
    mock_rerank_score,
};
use serde_json::{Value, json};

#[tokio::test]
async fn chat_echoes_last_user_message_with_metadata_headers() {
    let gateway = MockGateway::start().await.unwrap();
    let response = post_json(
        gateway.addr(),
        "/v1/chat/completions",
        &[],
        &json!({
            "model": "mock-chat",
            "messages": [
                {"role": "system", "content": "be brief"},
                {"role": "user", "content": "first question"},
                {"role": "assistant", "content": "ok"},
                {"role": "user", "content": [
                    {"type": "text", "text": "Hello"},
                    {"type": "image_url", "image_url": {"url": "data:,"}},
                    {"type": "text", "text": "world"}
                ]}
            ]
        }),
    )
    .await;
    assert_eq!(response.status, 200);
    assert_eq!(response.header("content-type"), Some("application/json"));
    assert_eq!(response.header("x-litellm-call-id"), Some("mock-call-1"));
    assert_eq!(response.header("x-litellm-response-cost"), Some("0.00042"));
    assert_eq!(
        response.header("x-ratelimit-remaining-requests"),
        Some("99")
    );
    assert_eq!(
        response.header("x-ratelimit-remaining-tokens"),
        Some("9999")
    );
    assert_eq!(response.header("x-ratelimit-limit-requests"), Some("100"));
    assert_eq!(response.header("x-ratelimit-limit-tokens"), Some("10000"));
    let body = response.json();
    assert_eq!(body["id"], "chatcmpl-mock-1");
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(body["model"], "mock-chat");
    assert!(body["created"].as_u64().unwrap() > 1_600_000_000);
    assert_eq!(
        body["choices"],
        json!([{
            "index": 0,
            "message": {"role": "assistant", "content": "Hello world"},
            "finish_reason": "stop"
        }])
    );
    // prompt: 2 + 2 + 1 + 2 words; completion: 2 words.
    assert_eq!(
        body["usage"],
        json!({"prompt_tokens": 7, "completion_tokens": 2, "total_tokens": 9})
    );
}

#[tokio::test]
async fn chat_without_v1_prefix_and_with_n() {
    let gateway = MockGateway::start().await.unwrap();
    let body = post_json(
        gateway.addr(),
        "/chat/completions",
        &[],
        &json!({"model": "m", "n": 3, "messages": [{"role": "user", "content": "a b"}]}),
    )
    .await
    .json();
    let choices = body["choices"].as_array().unwrap();
    assert_eq!(choices.len(), 3);
    for (i, choice) in choices.iter().enumerate() {
        assert_eq!(choice["index"], i);
        assert_eq!(choice["message"]["content"], "a b");
    }
    assert_eq!(body["usage"]["completion_tokens"], 6);
}

#[tokio::test]
async fn chat_stream_frames_are_separate_chunks() {
    let gateway = MockGateway::start().await.unwrap();
    let response = post_json(
        gateway.addr(),
        "/v1/chat/completions",
        &[],
        &json!({
            "model": "mock-chat",
            "stream": true,
            "stream_options": {"include_usage": true},
            "messages": [{"role": "user", "content": "Hello world"}]
        }),
    )
    .await;
    assert_eq!(response.status, 200);
    assert_eq!(response.header("content-type"), Some("text/event-stream"));
    assert_eq!(response.header("x-litellm-call-id"), Some("mock-call-1"));
    let chunks = response.chunks.clone().expect("chunked body");
    let payloads = sse_payloads(&response.body);
    // One network chunk per SSE frame.
    assert_eq!(chunks.len(), payloads.len());
    for (chunk, payload) in chunks.iter().zip(&payloads) {
        assert_eq!(chunk, format!("data: {payload}\n\n").as_bytes());
    }
    assert_eq!(payloads.len(), 6);
    let events: Vec<Value> = payloads[..5]
        .iter()
        .map(|p| serde_json::from_str(p).unwrap())
        .collect();
    for event in &events {
        assert_eq!(event["id"], "chatcmpl-mock-1");
        assert_eq!(event["object"], "chat.completion.chunk");
        assert_eq!(event["model"], "mock-chat");
    }
    assert_eq!(
        events[0]["choices"],
        json!([{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": null}])
    );
    assert_eq!(
        events[1]["choices"][0]["delta"],
        json!({"content": "Hello"})
    );
    assert_eq!(
        events[2]["choices"][0]["delta"],
        json!({"content": " world"})
    );
    assert_eq!(
        events[3]["choices"],
        json!([{"index": 0, "delta": {}, "finish_reason": "stop"}])
    );
    assert_eq!(events[4]["choices"], json!([]));
    assert_eq!(
        events[4]["usage"],
        json!({"prompt_tokens": 2, "completion_tokens": 2, "total_tokens": 4})
    );
    assert_eq!(payloads[5], "[DONE]");
    // Without include_usage there is no usage chunk.
    let plain = post_json(
        gateway.addr(),
        "/v1/chat/completions",
        &[],
        &json!({"model": "m", "stream": true, "messages": [{"role": "user", "content": "x"}]}),
    )
    .await;
    let payloads = sse_payloads(&plain.body);
    assert_eq!(payloads.len(), 4);
    assert!(!payloads.iter().any(|p| p.contains("usage")));
}

#[tokio::test]
async fn chat_tool_call_plain_and_streamed() {
    let gateway = MockGateway::start().await.unwrap();
    let request = json!({
        "model": "mock-chat",
        "messages": [{"role": "user", "content": "What's the weather in Paris?"}],
        "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {}}}]
    });
    let body = post_json(gateway.addr(), "/v1/chat/completions", &[], &request)
        .await
        .json();
    let choice = &body["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls");
    assert_eq!(choice["message"]["content"], Value::Null);
    assert_eq!(
        choice["message"]["tool_calls"],
        json!([{
            "id": "call_mock_1",
            "type": "function",
            "function": {"name": "get_weather", "arguments": "{\"location\":\"Paris\"}"}
        }])
    );

    let mut streamed = request.clone();
    streamed["stream"] = json!(true);
    let response = post_json(gateway.addr(), "/v1/chat/completions", &[], &streamed).await;
    let payloads = sse_payloads(&response.body);
    assert_eq!(payloads.last().unwrap(), "[DONE]");
    let events: Vec<Value> = payloads[..payloads.len() - 1]
        .iter()
        .map(|p| serde_json::from_str(p).unwrap())
        .collect();
    let first = &events[0]["choices"][0]["delta"]["tool_calls"][0];
    assert_eq!(first["id"], "call_mock_1");
    assert_eq!(first["function"]["name"], "get_weather");
    assert_eq!(first["function"]["arguments"], "");
    let arguments: String = events[1..events.len() - 1]
        .iter()
        .map(|e| {
            e["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert!(events.len() >= 4);
    assert_eq!(arguments, "{\"location\":\"Paris\"}");
    assert_eq!(
        events.last().unwrap()["choices"][0]["finish_reason"],
        "tool_calls"
    );
}

#[tokio::test]
async fn chat_answers_a_tool_result_with_its_text() {
    let gateway = MockGateway::start().await.unwrap();
    let body = post_json(
        gateway.addr(),
        "/v1/chat/completions",
        &[],
        &json!({
            "model": "mock-chat",
            "messages": [
                {"role": "user", "content": "What's the weather in Paris?"},
                {"role": "assistant", "content": null, "tool_calls": [{
                    "id": "call_mock_1", "type": "function",
                    "function": {"name": "get_weather", "arguments": "{\"location\":\"Paris\"}"}
                }]},
                {"role": "tool", "tool_call_id": "call_mock_1", "content": "Sunny, 21 C"}
            ],
            "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {}}}]
        }),
    )
    .await
    .json();
    assert_eq!(
        body["choices"][0]["message"],
        json!({"role": "assistant", "content": "Sunny, 21 C"})
    );
    assert_eq!(body["choices"][0]["finish_reason"], "stop");
    // prompt: 5 + 0 + 3 words.
    assert_eq!(body["usage"]["prompt_tokens"], 8);
}

#[tokio::test]
async fn chat_validation_errors() {
    let gateway = MockGateway::start().await.unwrap();
    let addr = gateway.addr();
    let malformed = send(
        addr,
        "POST",
        "/v1/chat/completions",
        &[("content-type", "application/json")],
        b"{\"model\":",
    )
    .await
    .unwrap();
    assert_eq!(malformed.status, 400);
    assert_eq!(malformed.json()["error"]["type"], "invalid_request_error");
    assert_eq!(malformed.json()["error"]["code"], "400");

    let no_model = post_json(
        addr,
        "/v1/chat/completions",
        &[],
        &json!({"messages": [{"role": "user", "content": "x"}]}),
    )
    .await;
    assert_eq!(no_model.status, 400);
    assert_eq!(no_model.json()["error"]["param"], "model");

    let unknown = get(addr, "/v1/unknown").await;
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.json(), json!({"detail": "Not Found"}));

    let wrong_method = get(addr, "/v1/chat/completions").await;
    assert_eq!(wrong_method.status, 405);
}

#[tokio::test]
async fn chat_prompt_longer_than_the_context_window() {
    let gateway = MockGateway::start().await.unwrap();
    let words = |n: usize| vec!["w"; n].join(" ");
    let body = |n: usize| {
        json!({
            "model": "mock-small-context",
            "messages": [
                {"role": "system", "content": "be brief"},
                {"role": "user", "content": words(n)}
            ]
        })
    };
    let too_long = post_json(
        gateway.addr(),
        "/v1/chat/completions",
        &[],
        &body(SMALL_CONTEXT_WINDOW_TOKENS - 1),
    )
    .await;
    assert_eq!(too_long.status, 400);
    assert_eq!(
        too_long.json(),
        json!({"error": {
            "message": "This model's maximum context length is 16 tokens. However, your messages \
                        resulted in 17 tokens. Please reduce the length of the messages.",
            "type": "invalid_request_error",
            "param": "messages",
            "code": "context_length_exceeded"
        }})
    );
    let fits = post_json(
        gateway.addr(),
        "/v1/chat/completions",
        &[],
        &body(SMALL_CONTEXT_WINDOW_TOKENS - 2),
    )
    .await;
    assert_eq!(fits.status, 200);
    // Other models have a large window.
    let mut large = body(CONTEXT_WINDOW_TOKENS - 2);
    large["model"] = json!("mock-chat");
    let response = post_json(gateway.addr(), "/v1/chat/completions", &[], &large).await;
    assert_eq!(response.status, 200);
    large["messages"][1]["content"] = json!(words(CONTEXT_WINDOW_TOKENS - 1));
    let response = post_json(gateway.addr(), "/v1/chat/completions", &[], &large).await;
    assert_eq!(response.status, 400);
    assert_eq!(response.json()["error"]["code"], "context_length_exceeded");
}

#[tokio::test]
async fn text_completions_echo_prompts() {
    let gateway = MockGateway::start().await.unwrap();
    let addr = gateway.addr();
    let body = post_json(
        addr,
        "/v1/completions",
        &[],
        &json!({"model": "mock-text", "prompt": "Say this is a test"}),
    )
    .await
    .json();
    assert_eq!(body["id"], "cmpl-mock-1");
    assert_eq!(body["object"], "text_completion");
    assert_eq!(
        body["choices"],
        json!([{"text": "Say this is a test", "index": 0, "logprobs": null, "finish_reason": "stop"}])
    );
    assert_eq!(
        body["usage"],
        json!({"prompt_tokens": 5, "completion_tokens": 5, "total_tokens": 10})
    );

    let body = post_json(
        addr,
        "/completions",
        &[],
        &json!({"model": "mock-text", "prompt": [[1, 2, 3], [42]]}),
    )
    .await
    .json();
    assert_eq!(body["choices"][0]["text"], "1 2 3");
    assert_eq!(body["choices"][1]["text"], "42");
    assert_eq!(body["choices"][1]["index"], 1);
    assert_eq!(body["usage"]["prompt_tokens"], 4);

    let body = post_json(
        addr,
        "/v1/completions",
        &[],
        &json!({"model": "mock-text", "prompt": [7, 8]}),
    )
    .await
    .json();
    assert_eq!(body["choices"].as_array().unwrap().len(), 1);
    assert_eq!(body["choices"][0]["text"], "7 8");

    let streamed = post_json(
        addr,
        "/v1/completions",
        &[],
        &json!({"model": "mock-text", "prompt": "a b", "stream": true,
                "stream_options": {"include_usage": true}}),
    )
    .await;
    let payloads = sse_payloads(&streamed.body);
    let texts: Vec<Value> = payloads[..payloads.len() - 1]
        .iter()
        .map(|p| serde_json::from_str::<Value>(p).unwrap())
        .collect();
    assert_eq!(texts[0]["choices"][0]["text"], "a");
    assert_eq!(texts[1]["choices"][0]["text"], " b");
    assert_eq!(texts[2]["choices"][0]["finish_reason"], "stop");
    assert_eq!(texts[3]["usage"]["total_tokens"], 4);
    assert_eq!(payloads.last().unwrap(), "[DONE]");

    let bad = post_json(
        addr,
        "/v1/completions",
        &[],
        &json!({"model": "mock-text", "prompt": [1.5]}),
    )
    .await;
    assert_eq!(bad.status, 400);
}

#[tokio::test]
async fn embeddings_float_and_base64_round_trip() {
    let gateway = MockGateway::start().await.unwrap();
    let addr = gateway.addr();
    let body = post_json(
        addr,
        "/v1/embeddings",
        &[],
        &json!({"model": "mock-embed", "input": ["hello", "hi there"]}),
    )
    .await
    .json();
    assert_eq!(body["object"], "list");
    assert_eq!(body["model"], "mock-embed");
    assert_eq!(
        body["usage"],
        json!({"prompt_tokens": 3, "total_tokens": 3})
    );
    for (i, text) in ["hello", "hi there"].iter().enumerate() {
        let datum = &body["data"][i];
        assert_eq!(datum["object"], "embedding");
        assert_eq!(datum["index"], i);
        let values: Vec<f32> = datum["embedding"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap() as f32)
            .collect();
        assert_eq!(values, mock_embedding(text.len(), i, 8));
    }

    let body = post_json(
        addr,
        "/embeddings",
        &[],
        &json!({"model": "mock-embed", "input": [[1, 2, 3], [4]],
                "encoding_format": "base64", "dimensions": 5}),
    )
    .await
    .json();
    for (i, len) in [3usize, 1].into_iter().enumerate() {
        let bytes = STANDARD
            .decode(body["data"][i]["embedding"].as_str().unwrap())
            .unwrap();
        let values: Vec<f32> = bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        assert_eq!(values, mock_embedding(len, i, 5));
    }
    assert_eq!(body["usage"]["prompt_tokens"], 4);
    assert_eq!(mock_embedding(3, 0, 2), [0.03, 0.04]);
}

#[tokio::test]
async fn images_url_is_served_and_b64_decodes() {
    let gateway = MockGateway::start().await.unwrap();
    let addr = gateway.addr();
    let body = post_json(
        addr,
        "/v1/images/generations",
        &[],
        &json!({"model": "mock-image", "prompt": "a red fox", "n": 2, "size": "1024x1024",
                "quality": "high", "background": "transparent"}),
    )
    .await
    .json();
    let data = body["data"].as_array().unwrap();
    assert_eq!(data.len(), 2);
    assert_eq!(data[1]["revised_prompt"], "a red fox");
    let url = data[1]["url"].as_str().unwrap();
    let path = url.strip_prefix(&gateway.base_url()).unwrap();
    assert_eq!(path, "/files/image-1.png");
    let png = get(addr, path).await;
    assert_eq!(png.status, 200);
    assert_eq!(png.header("content-type"), Some("image/png"));
    assert_eq!(png.body, PNG_1X1);
    assert_eq!(body["usage"]["input_tokens"], 3);

    let body = post_json(
        addr,
        "/images/generations",
        &[],
        &json!({"model": "mock-image", "prompt": "x", "response_format": "b64_json"}),
    )
    .await
    .json();
    let decoded = STANDARD
        .decode(body["data"][0]["b64_json"].as_str().unwrap())
        .unwrap();
    assert_eq!(decoded, PNG_1X1);
}

#[tokio::test]
async fn speech_bytes_and_large_streamed_body() {
    let gateway = MockGateway::start().await.unwrap();
    let addr = gateway.addr();
    let response = post_json(
        addr,
        "/v1/audio/speech",
        &[],
        &json!({"model": "mock-tts", "input": "Hello there", "voice": "alloy",
                "response_format": "opus"}),
    )
    .await;
    assert_eq!(response.status, 200);
    assert_eq!(response.header("content-type"), Some("audio/ogg"));
    assert_eq!(response.header("transfer-encoding"), Some("chunked"));
    assert_eq!(response.body, b"Hello there");

    let n = 3 * 1024 * 1024 + 7;
    let response = post_json(
        addr,
        "/audio/speech",
        &[],
        &json!({"model": "mock-tts", "input": "x", "voice": "alloy", "mock_audio_bytes": n}),
    )
    .await;
    assert_eq!(response.header("content-type"), Some("audio/mpeg"));
    assert_eq!(response.body.len(), n);
    assert!(
        response
            .body
            .iter()
            .enumerate()
            .all(|(i, b)| *b == (i % 251) as u8)
    );
    let chunks = response.chunks.unwrap();
    assert!(chunks.iter().all(|c| c.len() <= 64 * 1024));
    assert_eq!(chunks.len(), n.div_ceil(64 * 1024));
    assert_eq!(gateway.dropped_streams(), 0);

    let bad = post_json(
        addr,
        "/v1/audio/speech",
        &[],
        &json!({"model": "mock-tts", "input": "x", "voice": "alloy", "response_format": "ogg"}),
    )
    .await;
    assert_eq!(bad.status, 400);
}

fn multipart_body(boundary: &str, parts: &[(&str, Option<&str>, &[u8])]) -> Vec<u8> {
    let mut body = Vec::new();
    for (name, filename, data) in parts {
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        match filename {
            Some(filename) => body.extend_from_slice(
                format!(
                    "Content-Disposition: form-data; name=\"{name}\"; filename=\"{filename}\"\r\n\
                     Content-Type: application/octet-stream\r\n\r\n"
                )
                .as_bytes(),
            ),
            None => body.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes(),
            ),
        }
        body.extend_from_slice(data);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    body
}

#[tokio::test]
async fn transcription_multipart_parse_and_formats() {
    let gateway = MockGateway::start().await.unwrap();
    let addr = gateway.addr();
    let audio: &[u8] = b"RIFF\x00\x01\r\n--not-the-boundary\xff";
    let body = multipart_body(
        "mishika-boundary-42",
        &[
            ("file", Some("speech.wav"), audio),
            ("model", None, b"mock-whisper"),
            ("language", None, b"fr"),
            ("response_format", None, b"verbose_json"),
            ("timestamp_granularities[]", None, b"word"),
            ("timestamp_granularities[]", None, b"segment"),
        ],
    );
    let response = send(
        addr,
        "POST",
        "/v1/audio/transcriptions",
        &[(
            "content-type",
            "multipart/form-data; boundary=\"mishika-boundary-42\"",
        )],
        &body,
    )
    .await
    .unwrap();
    assert_eq!(response.status, 200);
    let json = response.json();
    let text = format!("mock transcript of speech.wav ({} bytes)", audio.len());
    assert_eq!(json["text"], text);
    assert_eq!(json["task"], "transcribe");
    assert_eq!(json["language"], "fr");
    assert_eq!(json["duration"], 1.0);
    assert_eq!(json["segments"][0]["text"], text);
    assert_eq!(
        json["words"][0],
        json!({"word": "mock", "start": 0.0, "end": 0.5})
    );

    // The recorded request parses back into the same fields.
    let fields = gateway.requests()[0].multipart().unwrap();
    assert_eq!(fields.len(), 6);
    assert_eq!(fields[0].name, "file");
    assert_eq!(fields[0].filename.as_deref(), Some("speech.wav"));
    assert_eq!(
        fields[0].content_type.as_deref(),
        Some("application/octet-stream")
    );
    assert_eq!(&fields[0].data[..], audio);
    let granularities: Vec<String> = fields
        .iter()
        .filter(|f| f.name == "timestamp_granularities[]")
        .map(|f| f.text())
        .collect();
    assert_eq!(granularities, ["word", "segment"]);

    let content_type = ("content-type", "multipart/form-data; boundary=b");
    for (format, expected_type, expected_body) in [
        (
            "text",
            "text/plain; charset=utf-8",
            "mock transcript of a.mp3 (3 bytes)".to_owned(),
        ),
        (
            "srt",
            "text/plain; charset=utf-8",
            "1\n00:00:00,000 --> 00:00:01,000\nmock transcript of a.mp3 (3 bytes)\n\n".to_owned(),
        ),
        (
            "vtt",
            "text/vtt; charset=utf-8",
            "WEBVTT\n\n00:00:00.000 --> 00:00:01.000\nmock transcript of a.mp3 (3 bytes)\n\n"
                .to_owned(),
        ),
        (
            "json",
            "application/json",
            "{\"text\":\"mock transcript of a.mp3 (3 bytes)\"}".to_owned(),
        ),
    ] {
        let body = multipart_body(
            "b",
            &[
                ("model", None, b"w"),
                ("file", Some("a.mp3"), b"abc"),
                ("response_format", None, format.as_bytes()),
            ],
        );
        let response = send(
            addr,
            "POST",
            "/audio/transcriptions",
            &[content_type],
            &body,
        )
        .await
        .unwrap();
        assert_eq!(response.status, 200, "{format}");
        assert_eq!(response.header("content-type"), Some(expected_type));
        assert_eq!(response.text(), expected_body);
    }

    // verbose_json without granularities: segments, no words.
    let body = multipart_body(
        "b",
        &[
            ("model", None, b"w"),
            ("file", Some("a.mp3"), b"abc"),
            ("response_format", None, b"verbose_json"),
        ],
    );
    let json = send(
        addr,
        "POST",
        "/v1/audio/transcriptions",
        &[content_type],
        &body,
    )
    .await
    .unwrap()
    .json();
    assert!(json["segments"].is_array());
    assert!(json.get("words").is_none());
    assert_eq!(json["language"], "english");

    let no_file = multipart_body("b", &[("model", None, b"w")]);
    let response = send(
        addr,
        "POST",
        "/v1/audio/transcriptions",
        &[content_type],
        &no_file,
    )
    .await
    .unwrap();
    assert_eq!(response.status, 400);
    assert_eq!(response.json()["error"]["param"], "file");

    let garbage = send(
        addr,
        "POST",
        "/v1/audio/transcriptions",
        &[content_type],
        b"--b\r\nx",
    )
    .await
    .unwrap();
    assert_eq!(garbage.status, 400);
}

#[tokio::test]
async fn rerank_orders_by_word_overlap() {
    let gateway = MockGateway::start().await.unwrap();
    let request = json!({
        "model": "mock-rerank",
        "query": "capital of France",
        "documents": [
            "Berlin is the capital of Germany",
            {"text": "Paris is the capital of France", "id": "doc-1"},
            "Bananas are yellow",
            "The capital of France is Paris"
        ],
        "top_n": 3,
        "return_documents": true
    });
    for path in ["/v1/rerank", "/rerank", "/v2/rerank", "/v1/v2/rerank"] {
        let body = post_json(gateway.addr(), path, &[], &request).await.json();
        assert!(body["id"].as_str().unwrap().starts_with("rerank-mock-"));
        let results = body["results"].as_array().unwrap();
        let order: Vec<u64> = results
            .iter()
            .map(|r| r["index"].as_u64().unwrap())
            .collect();
        // 1 and 3 both match every query word; the tie-breaker keeps index order.
        assert_eq!(order, [1, 3, 0], "{path}");
        assert_eq!(
            results[0]["relevance_score"].as_f64().unwrap(),
            mock_rerank_score("capital of France", "Paris is the capital of France", 1)
        );
        assert_eq!(results[0]["relevance_score"], 1.0 - 1e-6);
        assert_eq!(
            results[0]["document"],
            json!({"text": "Paris is the capital of France", "id": "doc-1"})
        );
        assert_eq!(
            results[1]["document"],
            json!({"text": "The capital of France is Paris"})
        );
        assert_eq!(body["meta"]["billed_units"]["search_units"], 1);
        assert_eq!(body["meta"]["tokens"]["input_tokens"], 3 + 6 + 6 + 3 + 6);
    }

    let fields = post_json(
        gateway.addr(),
        "/v1/rerank",
        &[],
        &json!({"model": "r", "query": "red", "rank_fields": ["title"],
                "documents": [{"title": "blue"}, {"title": "red"}]}),
    )
    .await
    .json();
    assert_eq!(fields["results"][0]["index"], 1);
    assert!(fields["results"][0].get("document").is_none());
}

#[tokio::test]
async fn models_and_health() {
    let gateway = MockGateway::builder()
        .api_key("sk-secret")
        .models(["a", "b/c"])
        .start()
        .await
        .unwrap();
    let addr = gateway.addr();
    let auth = [("authorization", "Bearer sk-secret")];
    let list = send(addr, "GET", "/v1/models", &auth, b"").await.unwrap();
    assert_eq!(
        list.json(),
        json!({"object": "list", "data": [
            {"id": "a", "object": "model", "created": 0, "owned_by": "mishika-mock"},
            {"id": "b/c", "object": "model", "created": 0, "owned_by": "mishika-mock"}
        ]})
    );
    let one = send(addr, "GET", "/models/b/c", &auth, b"").await.unwrap();
    assert_eq!(one.json()["id"], "b/c");
    let missing = send(addr, "GET", "/v1/models/zzz", &auth, b"")
        .await
        .unwrap();
    assert_eq!(missing.status, 404);

    // Health checks need no key.
    for path in ["/health/liveliness", "/health"] {
        let health = get(addr, path).await;
        assert_eq!(health.status, 200);
        assert_eq!(health.json(), json!("I'm alive!"));
    }

    let default = MockGateway::start().await.unwrap();
    let ids: Vec<Value> = get(default.addr(), "/models").await.json()["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].clone())
        .collect();
    assert_eq!(
        ids,
        json!(mishika_mock::DEFAULT_MODELS)
            .as_array()
            .unwrap()
            .clone()
    );
}
