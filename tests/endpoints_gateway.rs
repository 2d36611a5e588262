//! Every non-chat endpoint over real loopback HTTP: reqwest transport → `MockGateway`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::pin::Pin;
use std::task::{Context, Poll};

use futures_util::StreamExt;
use mishika::{
    AudioFile, Client, CompletionRequest, EmbeddingRequest, EncodingFormat, ErrorKind,
    ImageRequest, RerankRequest, SpeechRequest, TimestampGranularity, TranscriptionFormat,
    TranscriptionRequest,
};
use mishika_mock::{MockGateway, ScriptedResponse, mock_embedding};
use serde_json::json;

async fn setup() -> (MockGateway, Client) {
    let gateway = MockGateway::builder()
        .api_key("sk-loopback")
        .start()
        .await
        .unwrap();
    let client = Client::builder()
        .api_base(format!("{}/v1", gateway.base_url()))
        .api_key("sk-loopback")
        .build()
        .unwrap();
    (gateway, client)
}

#[tokio::test]
async fn text_completion_plain_and_streamed() {
    let (gateway, client) = setup().await;
    let response = client
        .text_completion(
            CompletionRequest::new("mishikallm_proxy/mock-text", "Say this is a test")
                .max_tokens(7),
        )
        .await
        .unwrap();
    assert_eq!(response.text(), Some("Say this is a test"));
    let mut stream = client
        .text_completion_stream(CompletionRequest::new(
            "mishikallm_proxy/mock-text",
            "one two three",
        ))
        .await
        .unwrap();
    let mut text = String::new();
    while let Some(chunk) = stream.next().await {
        text.push_str(chunk.unwrap().text().unwrap_or_default());
    }
    assert_eq!(text, "one two three");
    let seen = gateway.requests();
    assert_eq!(seen[0].path, "/v1/completions");
    assert_eq!(seen[0].json().unwrap()["max_tokens"], json!(7));
    assert_eq!(seen[1].json().unwrap()["stream"], json!(true));
    assert!(
        seen.iter()
            .all(|r| r.header("authorization") == Some("Bearer sk-loopback"))
    );
}

#[tokio::test]
async fn embeddings_float_and_base64_agree() {
    let (gateway, client) = setup().await;
    let texts = vec!["alpha", "beta gamma"];
    let float = client
        .embedding(
            EmbeddingRequest::new("mishikallm_proxy/mock-embed", texts.clone()).dimensions(16),
        )
        .await
        .unwrap();
    let based = client
        .embedding(
            EmbeddingRequest::new("mishikallm_proxy/mock-embed", texts.clone())
                .dimensions(16)
                .encoding_format(EncodingFormat::Base64),
        )
        .await
        .unwrap();
    assert_eq!(float.vectors(), based.vectors());
    for (i, text) in texts.iter().enumerate() {
        assert_eq!(
            float.vectors()[i],
            mock_embedding(text.len(), i, 16).as_slice()
        );
    }
    let seen = gateway.requests();
    assert_eq!(seen[1].json().unwrap()["encoding_format"], json!("base64"));
    assert!(!seen[1].body.is_empty());
}

#[tokio::test]
async fn image_generation_url_and_b64() {
    let (gateway, client) = setup().await;
    let by_url = client
        .image_generation(
            ImageRequest::new("mishikallm_proxy/mock-image", "a cat")
                .n(2)
                .style("natural"),
        )
        .await
        .unwrap();
    assert_eq!(by_url.data.len(), 2);
    assert!(
        by_url.data[0]
            .url
            .as_deref()
            .unwrap()
            .starts_with(&gateway.base_url())
    );
    let by_b64 = client
        .image_generation(
            ImageRequest::new("mishikallm_proxy/mock-image", "a cat").response_format("b64_json"),
        )
        .await
        .unwrap();
    assert_eq!(by_b64.data[0].bytes().unwrap(), mishika_mock::PNG_1X1);
    assert_eq!(by_b64.data[0].revised_prompt.as_deref(), Some("a cat"));
    assert_eq!(
        gateway.requests()[0].json().unwrap()["style"],
        json!("natural")
    );
}

/// An `AsyncWrite` that keeps only counts: how many writes, the largest, the total.
#[derive(Default)]
struct CountingWriter {
    writes: usize,
    largest: usize,
    total: usize,
    checksum: u64,
}

impl tokio::io::AsyncWrite for CountingWriter {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let offset = self.total;
        self.writes += 1;
        self.largest = self.largest.max(buf.len());
        self.total += buf.len();
        // Check the content as it passes: byte k of the mock's audio is k % 251.
        for (i, byte) in buf.iter().enumerate() {
            if *byte != ((offset + i) % 251) as u8 {
                self.checksum += 1;
            }
        }
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[tokio::test]
async fn speech_streams_megabytes_in_bounded_chunks() {
    let (gateway, client) = setup().await;
    const SIZE: usize = 8 * 1024 * 1024;
    let audio = client
        .speech(
            SpeechRequest::new("mishikallm_proxy/mock-tts", "long text", "alloy")
                .response_format("wav")
                .extra("mock_audio_bytes", SIZE),
        )
        .await
        .unwrap();
    assert_eq!(audio.content_type(), Some("audio/wav"));
    let mut sink = CountingWriter::default();
    let written = audio.write_to(&mut sink).await.unwrap();
    assert_eq!(written as usize, SIZE);
    assert_eq!((sink.total, sink.checksum), (SIZE, 0));
    // Never held whole: many writes, none bigger than a network read.
    assert!(sink.writes >= 32, "{} writes", sink.writes);
    assert!(
        sink.largest <= 1024 * 1024,
        "largest write {}",
        sink.largest
    );
    assert_eq!(
        gateway.requests()[0].header("authorization"),
        Some("Bearer sk-loopback")
    );

    // save(): the same bytes in a file.
    let path = std::env::temp_dir().join(format!("mishika-speech-{}.wav", std::process::id()));
    let audio = client
        .speech(
            SpeechRequest::new("mishikallm_proxy/mock-tts", "hi", "alloy")
                .extra("mock_audio_bytes", 300_000),
        )
        .await
        .unwrap();
    assert_eq!(audio.save(&path).await.unwrap(), 300_000);
    let bytes = std::fs::read(&path).unwrap();
    assert!(bytes.iter().enumerate().all(|(k, b)| *b == (k % 251) as u8));
    std::fs::remove_file(&path).unwrap();
}

/// The names in `dir`, sorted.
fn entries(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn speech_cut_mid_body_is_an_error_and_leaves_the_old_file_untouched() {
    let (gateway, client) = setup().await;
    let dir = std::env::temp_dir().join(format!("mishika-cut-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("speech.mp3");
    let old: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    for existed in [true, false] {
        if existed {
            std::fs::write(&path, &old).unwrap();
        }
        gateway.push_response(
            ScriptedResponse::status(200)
                .header("content-type", "audio/mpeg")
                .body(vec![7u8; 200_000])
                .chunk_size(10_000)
                .drop_after(50_000),
        );
        let audio = client
            .speech(SpeechRequest::new(
                "mishikallm_proxy/mock-tts",
                "x",
                "alloy",
            ))
            .await
            .unwrap();
        let error = audio.save(&path).await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Stream);
        if existed {
            // Neither deleted nor truncated: byte-identical, and nothing else in the directory.
            assert_eq!(std::fs::read(&path).unwrap(), old);
            assert_eq!(entries(&dir), ["speech.mp3"]);
            std::fs::remove_file(&path).unwrap();
        } else {
            assert!(entries(&dir).is_empty(), "{:?}", entries(&dir));
        }
    }

    // A whole body replaces the old file with exactly its bytes, through the same path.
    std::fs::write(&path, &old).unwrap();
    let audio = client
        .speech(
            SpeechRequest::new("mishikallm_proxy/mock-tts", "hi", "alloy")
                .extra("mock_audio_bytes", 30_000),
        )
        .await
        .unwrap();
    assert_eq!(audio.save(&path).await.unwrap(), 30_000);
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(bytes.len(), 30_000);
    assert!(bytes.iter().enumerate().all(|(k, b)| *b == (k % 251) as u8));
    assert_eq!(entries(&dir), ["speech.mp3"]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn transcription_every_field_reaches_the_gateway() {
    let (gateway, client) = setup().await;
    let wav = b"RIFF\x24\x00\x00\x00WAVEfmt ".repeat(100);
    let response = client
        .transcription(
            TranscriptionRequest::new(
                "mishikallm_proxy/mock-whisper",
                AudioFile::new(wav.clone(), "hello.wav"),
            )
            .language("en")
            .prompt("a greeting")
            .response_format(TranscriptionFormat::VerboseJson)
            .temperature(0.2)
            .timestamp_granularities([TimestampGranularity::Word, TimestampGranularity::Segment]),
        )
        .await
        .unwrap();
    assert_eq!(
        response.text,
        format!("mock transcript of hello.wav ({} bytes)", wav.len())
    );
    assert_eq!(response.language.as_deref(), Some("en"));
    assert!(response.words.as_ref().is_some_and(|w| !w.is_empty()));
    assert!(response.segments.as_ref().is_some_and(|s| !s.is_empty()));

    let parts = gateway.requests()[0].multipart().unwrap();
    let fields: Vec<(String, String)> = parts
        .iter()
        .filter(|p| p.filename.is_none())
        .map(|p| (p.name.clone(), p.text()))
        .collect();
    let expected: Vec<(String, String)> = [
        ("model", "mock-whisper"),
        ("language", "en"),
        ("prompt", "a greeting"),
        ("response_format", "verbose_json"),
        ("temperature", "0.2"),
        ("timestamp_granularities[]", "word"),
        ("timestamp_granularities[]", "segment"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(fields, expected);
    let file = parts.iter().find(|p| p.name == "file").unwrap();
    assert_eq!(file.filename.as_deref(), Some("hello.wav"));
    assert_eq!(file.content_type.as_deref(), Some("audio/wav"));
    assert_eq!(&file.data[..], &wav[..]);

    for (format, starts) in [
        (TranscriptionFormat::Text, "mock transcript"),
        (TranscriptionFormat::Srt, "1\n00:00:00,000"),
        (TranscriptionFormat::Vtt, "WEBVTT"),
    ] {
        let response = client
            .transcription(
                TranscriptionRequest::new(
                    "mishikallm_proxy/mock-whisper",
                    AudioFile::new(&b"abc"[..], "a.mp3"),
                )
                .response_format(format),
            )
            .await
            .unwrap();
        assert!(response.text.starts_with(starts), "{:?}", response.text);
    }
}

#[tokio::test]
async fn rerank_best_first_with_documents() {
    let (gateway, client) = setup().await;
    let response = client
        .rerank(
            RerankRequest::new(
                "mishikallm_proxy/mock-rerank",
                "capital of France",
                [
                    "Berlin is in Germany",
                    "Paris is the capital of France",
                    "France is big",
                ],
            )
            .top_n(2)
            .return_documents(true),
        )
        .await
        .unwrap();
    let order: Vec<u32> = response.results.iter().map(|r| r.index).collect();
    assert_eq!(order, [1, 2]);
    assert_eq!(
        response.results[0]
            .document
            .as_ref()
            .unwrap()
            .text
            .as_deref(),
        Some("Paris is the capital of France")
    );
    assert!(response.meta.unwrap().billed_units.is_some());
    assert_eq!(gateway.requests()[0].path, "/v1/rerank");
}

#[tokio::test]
async fn models_and_errors_on_every_endpoint() {
    let (gateway, client) = setup().await;
    let models = client.list_models("mishikallm_proxy").await.unwrap();
    assert!(models.ids().contains(&"mock-chat"));

    // A wrong key is an Authentication error on every endpoint, speech included.
    let wrong = Client::builder()
        .api_base(gateway.base_url())
        .api_key("sk-wrong")
        .build()
        .unwrap();
    let kinds = vec![
        wrong
            .speech(SpeechRequest::new("mishikallm_proxy/t", "x", "alloy"))
            .await
            .err()
            .map(|e| e.kind()),
        wrong
            .embedding(EmbeddingRequest::new("mishikallm_proxy/e", "x"))
            .await
            .err()
            .map(|e| e.kind()),
        wrong
            .rerank(RerankRequest::new("mishikallm_proxy/r", "q", ["d"]))
            .await
            .err()
            .map(|e| e.kind()),
        wrong
            .transcription(TranscriptionRequest::new(
                "mishikallm_proxy/w",
                AudioFile::new(&b"x"[..], "a.wav"),
            ))
            .await
            .err()
            .map(|e| e.kind()),
        wrong
            .list_models("mishikallm_proxy")
            .await
            .err()
            .map(|e| e.kind()),
    ];
    assert!(
        kinds.iter().all(|k| *k == Some(ErrorKind::Authentication)),
        "{kinds:?}"
    );
}
