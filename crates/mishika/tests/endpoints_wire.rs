//! Every non-chat endpoint over mockall's `MockTransport`: path for every base-URL form,
//! method, headers (the Bearer key on every endpoint, speech included), the exact body, the
//! parsed answer, and an error answer mapped to its kind.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use base64::Engine;
use futures_util::StreamExt;
use mishika::{
    AudioFile, CompletionRequest, EmbeddingRequest, EncodingFormat, ErrorKind, FinishReason,
    ImageRequest, RerankDocument, RerankRequest, SpeechRequest, TimestampGranularity,
    TranscriptionFormat, TranscriptionRequest,
};
use serde_json::{Value, json};
use support::{Captured, client, mock};

const BASES: [&str; 4] = [
    "http://h:4000",
    "http://h:4000/",
    "http://h:4000/v1",
    "http://h:4000/v1/",
];

fn single(captured: &Captured) -> http::Request<bytes::Bytes> {
    let mut requests = captured.lock().unwrap();
    assert_eq!(requests.len(), 1);
    requests.pop().unwrap()
}

fn json_body(request: &http::Request<bytes::Bytes>) -> Value {
    serde_json::from_slice(request.body()).unwrap()
}

fn assert_head(request: &http::Request<bytes::Bytes>, method: &str, url: &str) {
    assert_eq!(request.method().as_str(), method);
    assert_eq!(request.uri().to_string(), url);
    assert_eq!(request.headers()["authorization"], "Bearer sk-test-123");
}

const ERROR_429: &str = r#"{"error":{"message":"litellm.RateLimitError: slow down","type":"throttling_error","param":null,"code":"429"}}"#;

#[tokio::test]
async fn text_completion_is_native_with_every_parameter() {
    const ANSWER: &str = r#"{"id":"cmpl-1","object":"text_completion","created":1,"model":"gpt-3.5-turbo-instruct","choices":[{"text":" completed","index":0,"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":2,"completion_tokens":1,"total_tokens":3},"system_fingerprint":null}"#;
    for base in BASES {
        let (transport, captured) = mock(200, &[("x-litellm-call-id", "c-1")], ANSWER);
        let mut logit_bias = std::collections::HashMap::new();
        logit_bias.insert("50256".to_owned(), -100.0);
        let response = client(transport, base)
            .text_completion(
                CompletionRequest::new("mishikallm_proxy/gpt-3.5-turbo-instruct", "Say")
                    .suffix("END")
                    .max_tokens(5)
                    .temperature(0.5)
                    .top_p(1.0)
                    .n(1)
                    .stop(vec!["\n"])
                    .echo(true)
                    .logprobs(2)
                    .best_of(2)
                    .presence_penalty(0.5)
                    .frequency_penalty(0.25)
                    .logit_bias(logit_bias)
                    .seed(42)
                    .user("u1")
                    .extra("custom", 1),
            )
            .await
            .unwrap();
        assert_eq!(response.text(), Some(" completed"));
        assert_eq!(response.choices[0].finish_reason, Some(FinishReason::Stop));
        assert_eq!(response.usage.as_ref().unwrap().total_tokens, Some(3));
        assert_eq!(response.metadata().call_id(), Some("c-1"));
        let request = single(&captured);
        assert_head(&request, "POST", "http://h:4000/v1/completions");
        assert_eq!(
            json_body(&request),
            json!({
                "model": "gpt-3.5-turbo-instruct", "prompt": "Say", "suffix": "END",
                "max_tokens": 5, "temperature": 0.5, "top_p": 1.0, "n": 1, "logprobs": 2,
                "echo": true, "stop": ["\n"], "presence_penalty": 0.5,
                "frequency_penalty": 0.25, "best_of": 2, "logit_bias": {"50256": -100.0},
                "seed": 42, "user": "u1", "custom": 1
            })
        );
    }
}

#[tokio::test]
async fn text_completion_prompt_forms() {
    let forms: [(mishika::Prompt, Value); 4] = [
        ("one".into(), json!("one")),
        (vec!["a", "b"].into(), json!(["a", "b"])),
        (vec![1u32, 2, 3].into(), json!([1, 2, 3])),
        (vec![vec![1u32], vec![2, 3]].into(), json!([[1], [2, 3]])),
    ];
    for (prompt, expected) in forms {
        let (transport, captured) = mock(200, &[], r#"{"choices":[]}"#);
        client(transport, "http://h:4000")
            .text_completion(CompletionRequest::new("mishikallm_proxy/m", prompt))
            .await
            .unwrap();
        assert_eq!(json_body(&single(&captured))["prompt"], expected);
    }
}

#[tokio::test]
async fn text_completion_stream_yields_typed_chunks() {
    let (transport, captured) = mock(
        200,
        &[("content-type", "text/event-stream")],
        "data: {\"id\":\"c\",\"object\":\"text_completion\",\"choices\":[{\"index\":0,\"text\":\" com\"}],\"usage\":{\"completion_tokens\":0,\"prompt_tokens\":0,\"total_tokens\":0}}\n\n\
         data: {\"id\":\"c\",\"object\":\"text_completion\",\"choices\":[{\"index\":0,\"text\":\"pleted\"}]}\n\n\
         data: {\"id\":\"c\",\"object\":\"text_completion\",\"choices\":[{\"finish_reason\":\"stop\",\"index\":0}]}\n\n\
         data: [DONE]\n\n",
    );
    let chunks: Vec<_> = client(transport, "http://h:4000")
        .text_completion_stream(
            CompletionRequest::new("mishikallm_proxy/m", "x").include_usage(true),
        )
        .await
        .unwrap()
        .collect()
        .await;
    let chunks: Vec<_> = chunks.into_iter().map(Result::unwrap).collect();
    let text: String = chunks.iter().filter_map(|c| c.text()).collect();
    assert_eq!(text, " completed");
    assert_eq!(chunks[2].choices[0].finish_reason, Some(FinishReason::Stop));
    let request = single(&captured);
    assert_eq!(request.headers()["accept"], "text/event-stream");
    let body = json_body(&request);
    assert_eq!(body["stream"], json!(true));
    assert_eq!(body["stream_options"], json!({"include_usage": true}));
}

#[tokio::test]
async fn embeddings_float_and_base64_and_every_input_form() {
    let values = [0.5f32, -0.25, 0.125];
    let b64 = base64::engine::general_purpose::STANDARD.encode(
        values
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect::<Vec<u8>>(),
    );
    let float_answer = r#"{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.5,-0.25,0.125]}],"model":"m","usage":{"prompt_tokens":2,"total_tokens":2}}"#;
    let b64_answer = format!(
        r#"{{"object":"list","data":[{{"object":"embedding","index":0,"embedding":"{b64}"}}],"model":"m"}}"#
    );
    for base in BASES {
        let (transport, captured) = mock(200, &[], float_answer);
        let response = client(transport, base)
            .embedding(
                EmbeddingRequest::new("mishikallm_proxy/text-embedding-3-small", "hello")
                    .dimensions(3)
                    .user("u")
                    .encoding_format(EncodingFormat::Float),
            )
            .await
            .unwrap();
        assert_eq!(response.data[0].embedding, values);
        assert_eq!(response.usage.as_ref().unwrap().prompt_tokens, Some(2));
        let request = single(&captured);
        assert_head(&request, "POST", "http://h:4000/v1/embeddings");
        assert_eq!(
            json_body(&request),
            json!({"model": "text-embedding-3-small", "input": "hello", "dimensions": 3,
                   "encoding_format": "float", "user": "u"})
        );
    }
    // Base64 asked for by the client default, decoded to the same f32s.
    let (transport, captured) = mock(200, &[], b64_answer);
    let client_b64 = mishika::Client::builder()
        .api_base("http://h:4000")
        .api_key("sk-test-123")
        .num_retries(0)
        .embedding_encoding(EncodingFormat::Base64)
        .transport(std::sync::Arc::new(transport))
        .build()
        .unwrap();
    let response = client_b64
        .embedding(EmbeddingRequest::new(
            "mishikallm_proxy/m",
            vec![vec![1u32, 2], vec![3]],
        ))
        .await
        .unwrap();
    assert_eq!(response.vectors(), [&values[..]]);
    let body = json_body(&single(&captured));
    assert_eq!(body["encoding_format"], json!("base64"));
    assert_eq!(body["input"], json!([[1, 2], [3]]));
}

#[tokio::test]
async fn malformed_base64_embedding_is_a_decode_error() {
    for bad in ["\"@@not-base64@@\"", "\"AAEC\""] {
        let answer = format!(r#"{{"data":[{{"index":0,"embedding":{bad}}}]}}"#);
        let (transport, _) = mock(200, &[], answer);
        let error = client(transport, "http://h:4000")
            .embedding(EmbeddingRequest::new("mishikallm_proxy/m", vec!["a", "b"]))
            .await
            .unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Decode, "{error}");
    }
}

#[tokio::test]
async fn image_generation_fields_and_b64_helpers() {
    let png = mishika_mock::PNG_1X1;
    let b64 = base64::engine::general_purpose::STANDARD.encode(png);
    let answer = format!(
        r#"{{"created":1,"data":[{{"b64_json":"{b64}","revised_prompt":"a red lighthouse","url":null}}],"usage":{{"input_tokens":3,"output_tokens":1,"total_tokens":4}},"background":null}}"#
    );
    for base in BASES {
        let (transport, captured) = mock(200, &[], answer.clone());
        let response = client(transport, base)
            .image_generation(
                ImageRequest::new("mishikallm_proxy/gpt-image-1", "a lighthouse")
                    .n(1)
                    .size("1024x1024")
                    .quality("high")
                    .style("vivid")
                    .response_format("b64_json")
                    .background("transparent")
                    .output_format("png")
                    .output_compression(80)
                    .moderation("low")
                    .user("u"),
            )
            .await
            .unwrap();
        let image = &response.data[0];
        assert_eq!(image.bytes().unwrap(), png);
        assert_eq!(image.revised_prompt.as_deref(), Some("a red lighthouse"));
        assert_eq!(response.usage.as_ref().unwrap().total_tokens, Some(4));
        let request = single(&captured);
        assert_head(&request, "POST", "http://h:4000/v1/images/generations");
        assert_eq!(
            json_body(&request),
            json!({"model": "gpt-image-1", "prompt": "a lighthouse", "n": 1, "size": "1024x1024",
                   "quality": "high", "style": "vivid", "response_format": "b64_json",
                   "background": "transparent", "output_format": "png",
                   "output_compression": 80, "moderation": "low", "user": "u"})
        );
    }
    let dir = std::env::temp_dir().join(format!("mishika-image-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (transport, _) = mock(200, &[], answer);
    let response = client(transport, "http://h:4000")
        .image_generation(ImageRequest::new("mishikallm_proxy/m", "x"))
        .await
        .unwrap();
    let path = dir.join("out.png");
    std::fs::write(&path, b"an older, longer file at the same path").unwrap();
    assert_eq!(response.data[0].save(&path).await.unwrap(), png.len());
    assert_eq!(std::fs::read(&path).unwrap(), png);
    let blocking = dir.join("blocking.png");
    assert_eq!(
        response.data[0].save_blocking(&blocking).unwrap(),
        png.len()
    );
    assert_eq!(std::fs::read(&blocking).unwrap(), png);
    // No temporary file left beside them.
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 2);
    std::fs::remove_dir_all(&dir).unwrap();
    // A URL-only image has no bytes to decode: a typed error, not a panic.
    let url_only = mishika::Image::from_url("http://x/y.png");
    let error = url_only.bytes().unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Config);
    assert!(
        error
            .message()
            .contains(r#"request `.response_format("b64_json")`"#),
        "{error}"
    );
    assert!(
        error.message().contains("download `url` yourself"),
        "{error}"
    );
    // save() says the same before touching any file.
    let path = std::env::temp_dir().join(format!("mishika-url-only-{}.png", std::process::id()));
    let error = url_only.save(&path).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Config);
    assert!(error.message().contains("b64_json"), "{error}");
    assert!(!path.exists());
}

#[tokio::test]
async fn speech_sends_the_key_and_streams_bytes() {
    let audio: Vec<u8> = (0..=255u8).cycle().take(10_000).collect();
    for base in BASES {
        let (transport, captured) = mock(200, &[("content-type", "audio/mpeg")], audio.clone());
        let response = client(transport, base)
            .speech(
                SpeechRequest::new("mishikallm_proxy/tts-1", "Hello!", "alloy")
                    .response_format("mp3")
                    .speed(1.25)
                    .instructions("cheerful"),
            )
            .await
            .unwrap();
        assert_eq!(response.content_type(), Some("audio/mpeg"));
        assert_eq!(response.bytes(1 << 20).await.unwrap(), audio);
        let request = single(&captured);
        assert_head(&request, "POST", "http://h:4000/v1/audio/speech");
        assert_eq!(request.headers()["accept"], "*/*");
        assert_eq!(
            json_body(&request),
            json!({"model": "tts-1", "input": "Hello!", "voice": "alloy",
                   "response_format": "mp3", "speed": 1.25, "instructions": "cheerful"})
        );
    }
}

#[tokio::test]
async fn transcription_multipart_byte_for_byte() {
    for base in BASES {
        let (transport, captured) = mock(200, &[], r#"{"text":"hello world"}"#);
        let response = client(transport, base)
            .transcription(
                TranscriptionRequest::new(
                    "mishikallm_proxy/whisper-1",
                    AudioFile::new(&b"RIFF....WAVE"[..], "greeting.wav"),
                )
                .language("en")
                .prompt("a greeting")
                .response_format(TranscriptionFormat::VerboseJson)
                .temperature(0.2)
                .timestamp_granularities([
                    TimestampGranularity::Word,
                    TimestampGranularity::Segment,
                ])
                .extra("custom_field", "x"),
            )
            .await
            .unwrap();
        assert_eq!(response.text, "hello world");
        let request = single(&captured);
        assert_head(&request, "POST", "http://h:4000/v1/audio/transcriptions");
        let content_type = request.headers()["content-type"].to_str().unwrap();
        let boundary = content_type
            .strip_prefix("multipart/form-data; boundary=")
            .unwrap();
        let field = |name: &str, value: &str| {
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
        };
        let expected = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"greeting.wav\"\r\nContent-Type: audio/wav\r\n\r\nRIFF....WAVE\r\n{}{}{}{}{}{}{}{}--{boundary}--\r\n",
            field("model", "whisper-1"),
            field("language", "en"),
            field("prompt", "a greeting"),
            field("response_format", "verbose_json"),
            field("temperature", "0.2"),
            field("timestamp_granularities[]", "word"),
            field("timestamp_granularities[]", "segment"),
            field("custom_field", "x"),
        );
        assert_eq!(std::str::from_utf8(request.body()).unwrap(), expected);
    }
}

#[tokio::test]
async fn transcription_answers_in_every_format() {
    let cases = [
        (
            r#"{"text":"hello world","usage":{"type":"duration","seconds":1}}"#,
            "hello world",
        ),
        // The proxy wraps text/srt/vtt as JSON …
        (
            r#"{"text":"1\n00:00:00,000 --> 00:00:01,000\nhello\n\n","usage":null}"#,
            "1\n00:00:00,000 --> 00:00:01,000\nhello\n\n",
        ),
        // … a plain gateway sends them as they are.
        (
            "WEBVTT\n\n00:00:00.000 --> 00:00:01.000\nhello\n\n",
            "WEBVTT\n\n00:00:00.000 --> 00:00:01.000\nhello\n\n",
        ),
        ("hello world\n", "hello world\n"),
    ];
    for (body, text) in cases {
        let (transport, _) = mock(200, &[], body);
        let response = client(transport, "http://h:4000")
            .transcription(TranscriptionRequest::new(
                "mishikallm_proxy/w",
                AudioFile::new(&b"x"[..], "a.mp3"),
            ))
            .await
            .unwrap();
        assert_eq!(response.text, text);
    }
    let verbose = r#"{"task":"transcribe","language":"english","duration":1.5,"text":"hello world","segments":[{"id":0,"seek":0,"start":0.0,"end":1.5,"text":"hello world","tokens":[1,2],"avg_logprob":-0.1}],"words":[{"word":"hello","start":0.0,"end":0.5},{"word":"world","start":0.5,"end":1.0}]}"#;
    let (transport, _) = mock(200, &[], verbose);
    let response = client(transport, "http://h:4000")
        .transcription(TranscriptionRequest::new(
            "mishikallm_proxy/w",
            AudioFile::new(&b"x"[..], "a.mp3"),
        ))
        .await
        .unwrap();
    assert_eq!(response.language.as_deref(), Some("english"));
    assert_eq!(response.duration, Some(1.5));
    let segments = response.segments.unwrap();
    assert_eq!(segments[0].end, Some(1.5));
    assert_eq!(segments[0].extra["avg_logprob"], json!(-0.1));
    let words = response.words.unwrap();
    assert_eq!(
        (words[1].word.as_str(), words[1].start),
        ("world", Some(0.5))
    );
    // Invalid UTF-8 as a plain-text transcript is a Decode error.
    let (transport, _) = mock(200, &[], &b"\xff\xfe"[..]);
    let error = client(transport, "http://h:4000")
        .transcription(TranscriptionRequest::new(
            "mishikallm_proxy/w",
            AudioFile::new(&b"x"[..], "a.mp3"),
        ))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Decode);
}

#[tokio::test]
async fn rerank_fields_and_results() {
    let answer = r#"{"id":"rr-1","results":[{"index":1,"relevance_score":0.9,"document":{"text":"Paris"}},{"index":0,"relevance_score":0.1}],"meta":{"api_version":{"version":"2"},"billed_units":{"search_units":1},"tokens":{"input_tokens":7,"output_tokens":0}}}"#;
    for base in BASES {
        let (transport, captured) = mock(200, &[], answer);
        let mut object = serde_json::Map::new();
        object.insert("title".into(), json!("Capital"));
        object.insert("text".into(), json!("Paris"));
        let response = client(transport, base)
            .rerank(
                RerankRequest::new(
                    "mishikallm_proxy/rerank-english-v3.0",
                    "capital of France",
                    [
                        RerankDocument::from("Berlin"),
                        RerankDocument::Object(object),
                    ],
                )
                .top_n(2)
                .return_documents(true)
                .rank_fields(["title", "text"])
                .max_chunks_per_doc(3)
                .max_tokens_per_doc(512),
            )
            .await
            .unwrap();
        assert_eq!(response.results[0].index, 1);
        assert_eq!(response.results[0].relevance_score, 0.9);
        assert_eq!(
            response.results[0]
                .document
                .as_ref()
                .unwrap()
                .text
                .as_deref(),
            Some("Paris")
        );
        assert_eq!(response.results[1].document, None);
        let meta = response.meta.unwrap();
        assert_eq!(meta.billed_units.unwrap()["search_units"], json!(1));
        assert_eq!(meta.tokens.unwrap()["input_tokens"], json!(7));
        let request = single(&captured);
        assert_head(&request, "POST", "http://h:4000/v1/rerank");
        assert_eq!(
            json_body(&request),
            json!({"model": "rerank-english-v3.0", "query": "capital of France",
                   "documents": ["Berlin", {"title": "Capital", "text": "Paris"}],
                   "top_n": 2, "return_documents": true, "rank_fields": ["title", "text"],
                   "max_chunks_per_doc": 3, "max_tokens_per_doc": 512})
        );
    }
    // return_documents is sent only when set.
    let (transport, captured) = mock(200, &[], r#"{"results":[]}"#);
    client(transport, "http://h:4000")
        .rerank(RerankRequest::new("mishikallm_proxy/r", "q", ["d"]))
        .await
        .unwrap();
    assert_eq!(
        json_body(&single(&captured)),
        json!({"model": "r", "query": "q", "documents": ["d"]})
    );
}

#[tokio::test]
async fn models_list() {
    for base in BASES {
        let (transport, captured) = mock(
            200,
            &[],
            r#"{"object":"list","data":[{"id":"gpt-4o","object":"model","created":1,"owned_by":"openai","mode":"chat"},{"id":"tts-1"}]}"#,
        );
        let models = client(transport, base)
            .list_models("mishikallm_proxy")
            .await
            .unwrap();
        assert_eq!(models.ids(), ["gpt-4o", "tts-1"]);
        assert_eq!(models.data[0].extra["mode"], json!("chat"));
        let request = single(&captured);
        assert_head(&request, "GET", "http://h:4000/v1/models");
        assert!(request.body().is_empty());
    }
}

#[tokio::test]
async fn every_endpoint_maps_an_error_answer() {
    macro_rules! expect_rate_limit {
        ($call:expr) => {{
            let (transport, _) = mock(429, &[("retry-after", "2")], ERROR_429);
            let client = client(transport, "http://h:4000");
            let error = $call(client).await.err().expect("an error");
            assert_eq!(error.kind(), ErrorKind::RateLimit);
            assert_eq!(error.retry_after(), Some(std::time::Duration::from_secs(2)));
            assert_eq!(error.error_type(), Some("throttling_error"));
        }};
    }
    expect_rate_limit!(|c: mishika::Client| async move {
        c.text_completion(CompletionRequest::new("mishikallm_proxy/m", "x"))
            .await
            .map(|_| ())
    });
    expect_rate_limit!(|c: mishika::Client| async move {
        c.text_completion_stream(CompletionRequest::new("mishikallm_proxy/m", "x"))
            .await
            .map(|_| ())
    });
    expect_rate_limit!(|c: mishika::Client| async move {
        c.embedding(EmbeddingRequest::new("mishikallm_proxy/m", "x"))
            .await
            .map(|_| ())
    });
    expect_rate_limit!(|c: mishika::Client| async move {
        c.image_generation(ImageRequest::new("mishikallm_proxy/m", "x"))
            .await
            .map(|_| ())
    });
    expect_rate_limit!(|c: mishika::Client| async move {
        c.speech(SpeechRequest::new("mishikallm_proxy/m", "x", "alloy"))
            .await
            .map(|_| ())
    });
    expect_rate_limit!(|c: mishika::Client| async move {
        c.transcription(TranscriptionRequest::new(
            "mishikallm_proxy/m",
            AudioFile::new(&b"x"[..], "a.wav"),
        ))
        .await
        .map(|_| ())
    });
    expect_rate_limit!(|c: mishika::Client| async move {
        c.rerank(RerankRequest::new("mishikallm_proxy/m", "q", ["d"]))
            .await
            .map(|_| ())
    });
    expect_rate_limit!(|c: mishika::Client| async move {
        c.list_models("mishikallm_proxy").await.map(|_| ())
    });
}

#[tokio::test]
async fn local_file_failures_are_io_errors() {
    let missing = std::env::temp_dir().join("mishika-no-such-dir/audio.wav");
    for error in [
        AudioFile::from_path(&missing).await.unwrap_err(),
        AudioFile::from_path_blocking(&missing).unwrap_err(),
    ] {
        assert_eq!(error.kind(), ErrorKind::Io);
        assert!(error.message().contains("audio.wav"), "{error}");
    }
    let b64 = base64::engine::general_purpose::STANDARD.encode(b"png");
    let image = mishika::Image::from_b64_json(b64);
    assert_eq!(
        image.save(&missing).await.unwrap_err().kind(),
        ErrorKind::Io
    );
    assert_eq!(
        image.save_blocking(&missing).unwrap_err().kind(),
        ErrorKind::Io
    );
    assert_eq!(
        AudioFile::new(&b"x"[..], "clip.M4A").content_type,
        "audio/mp4"
    );
    assert_eq!(
        AudioFile::new(&b"x"[..], "noext").content_type,
        "application/octet-stream"
    );
}
