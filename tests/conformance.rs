//! Conformance: every endpoint through a real LiteLLM proxy on loopback.
//!
//! The chain is mishika client → LiteLLM proxy (127.0.0.1, offline) → `MockGateway`
//! (in this process, so each case can script the upstream and read what reached it).
//! Run by `scripts/conformance.sh`, which installs the proxy and sets `MISHIKA_LITELLM`.
//! Without that variable this binary says so and runs nothing.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::pin::Pin;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use mishika::{
    AudioFile, ChatMessage, ChatRequest, ChatStreamAccumulator, Client, CompletionRequest,
    EmbeddingRequest, EncodingFormat, ErrorKind, FinishReason, ImageRequest, ProviderSettings,
    RerankRequest, SpeechRequest, TimestampGranularity, Tool, TranscriptionFormat,
    TranscriptionRequest,
};
use mishika_mock::{MockGateway, RecordedRequest, ScriptedResponse, mock_embedding};
use serde_json::json;

/// A LiteLLM proxy process this suite started; stopped (and reaped) on drop.
struct Proxy {
    child: Child,
    base: String,
    key: String,
    log: PathBuf,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn random_key() -> String {
    let mut parts = String::from("sk-");
    for _ in 0..3 {
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0),
        );
        parts.push_str(&format!("{:016x}", hasher.finish()));
    }
    parts
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// `GET path` on 127.0.0.1:port; the status code, if anything answered.
fn http_status(port: u16, path: &str) -> Option<u16> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).ok()?;
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}

fn log_tail(path: &PathBuf) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

fn start_proxy(litellm: &str, config: &str, upstream: &str) -> Result<Proxy, String> {
    let key = random_key();
    let dir = std::env::temp_dir().join(format!("mishika-conformance-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let mut last_error = String::new();
    for attempt in 1..=3 {
        let port = free_port();
        let log = dir.join(format!("proxy-{attempt}.log"));
        let out = std::fs::File::create(&log).map_err(|e| e.to_string())?;
        let err = out.try_clone().map_err(|e| e.to_string())?;
        let mut command = Command::new(litellm);
        command
            .args([
                "--config",
                config,
                "--host",
                "127.0.0.1",
                "--port",
                &port.to_string(),
            ])
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        for variable in [
            "DATABASE_URL",
            "DIRECT_URL",
            "OPENAI_API_KEY",
            "OPENAI_BASE_URL",
            "OPENAI_API_BASE",
            "COHERE_API_KEY",
            "REQUEST_TIMEOUT",
            "LITELLM_LOG",
            "CONFIG_FILE_PATH",
        ] {
            command.env_remove(variable);
        }
        command
            .env("LITELLM_MASTER_KEY", &key)
            .env("LITELLM_MODE", "PRODUCTION")
            .env("LITELLM_LOCAL_MODEL_COST_MAP", "True")
            .env("LITELLM_LOCAL_ANTHROPIC_BETA_HEADERS", "True")
            .env("LITELLM_LOCAL_BLOG_POSTS", "True")
            .env("LITELLM_LOCAL_POLICY_TEMPLATES", "True")
            .env("LITELLM_LOCAL_AUTOROUTER_PRESETS", "True")
            .env("LITELLM_TELEMETRY_DISABLED", "true")
            .env("NO_PROXY", "127.0.0.1,localhost")
            .env("no_proxy", "127.0.0.1,localhost")
            // `/v1/messages` for an `openai/` model: translated to chat completions
            // upstream (the mock serves no Responses API, LiteLLM's default for openai/).
            .env(
                "LITELLM_USE_CHAT_COMPLETIONS_URL_FOR_ANTHROPIC_MESSAGES",
                "true",
            )
            .env("UPSTREAM_V1", format!("{upstream}/v1"))
            .env("UPSTREAM_BASE", upstream);
        let child = command
            .spawn()
            .map_err(|e| format!("could not start {litellm}: {e}"))?;
        if let Ok(pidfile) = std::env::var("MISHIKA_CONFORMANCE_PIDFILE") {
            let _ = std::fs::write(pidfile, child.id().to_string());
        }
        let mut proxy = Proxy {
            child,
            base: format!("http://127.0.0.1:{port}"),
            key: key.clone(),
            log: log.clone(),
        };
        // Readiness: poll the health route until it answers, with a hard deadline.
        let started = Instant::now();
        loop {
            if let Ok(Some(status)) = proxy.child.try_wait() {
                last_error = format!(
                    "the proxy exited ({status}) before it was ready:\n{}",
                    log_tail(&log)
                );
                break;
            }
            if http_status(port, "/health/liveliness") == Some(200) {
                println!(
                    "conformance: proxy ready on {} after {:.1}s",
                    proxy.base,
                    started.elapsed().as_secs_f64()
                );
                return Ok(proxy);
            }
            if started.elapsed() > Duration::from_secs(180) {
                return Err(format!(
                    "the proxy was not ready after 180s:\n{}",
                    log_tail(&log)
                ));
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        if !last_error.contains("address already in use") {
            return Err(last_error);
        }
        drop(proxy);
    }
    Err(last_error)
}

/// Which of mishika's backends the chat cases reach the proxy through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    /// `mishikallm_proxy/<model>`: the proxy provider.
    Proxy,
    /// `openai/<model>` with the proxy as the OpenAI-compatible server (`OPENAI_BASE_URL`
    /// style: the base with `/v1`).
    OpenAi,
}

struct Ctx {
    gateway: MockGateway,
    proxy_base: String,
    proxy_key: String,
    backend: Backend,
    client: Client,
}

impl Ctx {
    /// What reached the upstream on a path ending in `suffix` since the case began.
    fn upstream(&self, suffix: &str) -> Vec<RecordedRequest> {
        self.gateway
            .requests()
            .into_iter()
            .filter(|r| r.path_without_query().ends_with(suffix))
            .collect()
    }

    fn client_with(&self, retries: u32) -> Client {
        client_for(self.backend, &self.proxy_base, &self.proxy_key, retries)
    }

    /// A chat request for the proxy's `model` through this context's backend.
    fn ask(&self, model: &str, text: &str) -> ChatRequest {
        match self.backend {
            Backend::Proxy => ask(model, text),
            Backend::OpenAi => {
                ChatRequest::new(format!("openai/{model}"), [ChatMessage::user(text)])
            }
        }
    }

    /// This context with another backend (same proxy, same upstream).
    fn through(&self, backend: Backend) -> Ctx {
        Ctx {
            gateway: self.gateway.clone(),
            proxy_base: self.proxy_base.clone(),
            proxy_key: self.proxy_key.clone(),
            backend,
            client: client_for(backend, &self.proxy_base, &self.proxy_key, 2),
        }
    }
}

/// A client that reaches the proxy through `backend`, with the master key.
fn client_for(backend: Backend, base: &str, key: &str, retries: u32) -> Client {
    let builder = Client::builder().num_retries(retries);
    let builder = match backend {
        Backend::Proxy => builder.api_base(base).api_key(key),
        Backend::OpenAi => builder.provider_settings(
            "openai",
            ProviderSettings::new()
                .api_base(format!("{base}/v1"))
                .api_key(key),
        ),
    };
    builder.build().unwrap()
}

/// A client whose `anthropic/` backend points at the proxy's `/v1/messages`.
fn anthropic_client(ctx: &Ctx, retries: u32) -> Client {
    Client::builder()
        .num_retries(retries)
        .provider_settings(
            "anthropic",
            ProviderSettings::new()
                .api_base(&ctx.proxy_base)
                .api_key(ctx.proxy_key.as_str()),
        )
        .build()
        .unwrap()
}

fn ask(model: &str, text: &str) -> ChatRequest {
    ChatRequest::new(
        format!("mishikallm_proxy/{model}"),
        [ChatMessage::user(text)],
    )
}

type Case = fn(Arc<Ctx>) -> Pin<Box<dyn Future<Output = ()> + Send>>;

macro_rules! cases {
    ($($name:ident),* $(,)?) => {
        vec![$((stringify!($name), (|ctx| Box::pin($name(ctx))) as Case)),*]
    };
}

async fn chat_plain(ctx: Arc<Ctx>) {
    let response = ctx
        .client
        .chat(
            ctx.ask("gpt-4o-mini", "hello conformance")
                .temperature(0.3)
                .max_tokens(20)
                .seed(7)
                .user("u1")
                .extra("unknown_field_xyz", 1),
        )
        .await
        .unwrap();
    assert_eq!(response.content(), Some("hello conformance"));
    assert_eq!(response.model.as_deref(), Some("gpt-4o-mini"));
    assert!(
        response
            .metadata()
            .call_id()
            .is_some_and(|id| !id.is_empty())
    );
    assert!(
        response
            .metadata()
            .response_cost()
            .is_some_and(|cost| cost > 0.0),
        "{:?}",
        response.metadata().header("x-litellm-response-cost")
    );
    let upstream = ctx.upstream("/chat/completions");
    assert_eq!(upstream.len(), 1);
    assert_eq!(upstream[0].path, "/v1/chat/completions");
    let body = upstream[0].json().unwrap();
    for (field, value) in [
        ("model", json!("gpt-4o-mini")),
        ("temperature", json!(0.3)),
        ("max_tokens", json!(20)),
        ("seed", json!(7)),
        ("user", json!("u1")),
        ("unknown_field_xyz", json!(1)),
    ] {
        assert_eq!(body[field], value, "{field}");
    }
    // The proxy talks to the upstream with its own key, never ours.
    assert_eq!(
        upstream[0].header("authorization"),
        Some("Bearer sk-upstream-fake")
    );
}

async fn chat_stream(ctx: Arc<Ctx>) {
    let mut stream = ctx
        .client
        .chat_stream(ctx.ask("mock-chat", "one two three four"))
        .await
        .unwrap();
    let mut text = String::new();
    while let Some(chunk) = stream.next().await {
        text.push_str(chunk.unwrap().content().unwrap_or_default());
    }
    assert_eq!(text, "one two three four");
}

async fn chat_stream_with_usage(ctx: Arc<Ctx>) {
    let mut stream = ctx
        .client
        .chat_stream(
            ctx.ask("gpt-4o-mini", "count my tokens")
                .include_usage(true),
        )
        .await
        .unwrap();
    let mut usage_chunk = None;
    let mut accumulator = ChatStreamAccumulator::default();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.unwrap();
        accumulator.push(&chunk);
        if chunk.usage.is_some() {
            usage_chunk = Some(chunk);
        }
    }
    let usage_chunk = usage_chunk.expect("a usage chunk");
    // LiteLLM's usage chunk carries a cost and a non-empty choices list.
    let usage = usage_chunk.usage.as_ref().unwrap();
    assert!(
        usage
            .extra
            .get("cost")
            .and_then(|c| c.as_f64())
            .is_some_and(|c| c > 0.0),
        "{usage:?}"
    );
    assert_eq!(usage.prompt_tokens, Some(3));
    assert_eq!(usage.completion_tokens, Some(3));
    assert_eq!(accumulator.finish().content(), Some("count my tokens"));
}

async fn tools_plain_and_streamed(ctx: Arc<Ctx>) {
    let weather = Tool::function(
        "get_weather",
        "Current weather",
        json!({"type": "object", "properties": {"location": {"type": "string"}}}),
    );
    let plain = ctx
        .client
        .chat(
            ctx.ask("mock-chat", "what is the weather in Paris?")
                .tools([weather.clone()]),
        )
        .await
        .unwrap();
    let mut stream = ctx
        .client
        .chat_stream(
            ctx.ask("mock-chat", "what is the weather in Paris?")
                .tools([weather]),
        )
        .await
        .unwrap();
    let mut accumulator = ChatStreamAccumulator::default();
    while let Some(chunk) = stream.next().await {
        accumulator.push(&chunk.unwrap());
    }
    let streamed = accumulator.finish();
    for response in [&plain, &streamed] {
        let call = &response.tool_calls()[0];
        assert_eq!(call.function.name, "get_weather");
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&call.function.arguments).unwrap(),
            json!({"location": "Paris"})
        );
        assert_eq!(
            response.choices[0].finish_reason,
            Some(mishika::FinishReason::ToolCalls)
        );
    }
    let upstream = ctx.upstream("/chat/completions");
    assert_eq!(
        upstream[0].json().unwrap()["tools"][0]["function"]["name"],
        json!("get_weather")
    );
}

async fn text_completion_plain_and_streamed(ctx: Arc<Ctx>) {
    let response = ctx
        .client
        .text_completion(
            CompletionRequest::new(
                "mishikallm_proxy/gpt-3.5-turbo-instruct",
                "Say this is a test",
            )
            .max_tokens(7)
            .echo(true)
            .seed(3),
        )
        .await
        .unwrap();
    assert_eq!(response.text(), Some("Say this is a test"));
    let mut stream = ctx
        .client
        .text_completion_stream(CompletionRequest::new(
            "mishikallm_proxy/gpt-3.5-turbo-instruct",
            "streamed words here",
        ))
        .await
        .unwrap();
    let mut text = String::new();
    while let Some(chunk) = stream.next().await {
        text.push_str(chunk.unwrap().text().unwrap_or_default());
    }
    assert_eq!(text, "streamed words here");
    let upstream = ctx.upstream("/completions");
    assert!(
        upstream.iter().all(|r| r.path == "/v1/completions"),
        "never rewritten to chat"
    );
    assert!(ctx.upstream("/chat/completions").is_empty());
    let body = upstream[0].json().unwrap();
    assert_eq!(
        (
            body["max_tokens"].clone(),
            body["echo"].clone(),
            body["seed"].clone()
        ),
        (json!(7), json!(true), json!(3))
    );
}

async fn embeddings_float_and_base64(ctx: Arc<Ctx>) {
    let texts = vec!["alpha", "beta gamma"];
    let float = ctx
        .client
        .embedding(
            EmbeddingRequest::new("mishikallm_proxy/text-embedding-3-small", texts.clone())
                .dimensions(12),
        )
        .await
        .unwrap();
    let based = ctx
        .client
        .embedding(
            EmbeddingRequest::new("mishikallm_proxy/text-embedding-3-small", texts.clone())
                .dimensions(12)
                .encoding_format(EncodingFormat::Base64),
        )
        .await
        .unwrap();
    for (i, text) in texts.iter().enumerate() {
        let expected = mock_embedding(text.len(), i, 12);
        assert_eq!(float.vectors()[i], expected.as_slice());
        assert_eq!(based.vectors()[i], expected.as_slice());
    }
    let upstream = ctx.upstream("/embeddings");
    assert_eq!(
        upstream[1].json().unwrap()["encoding_format"],
        json!("base64")
    );
    assert_eq!(upstream[1].json().unwrap()["dimensions"], json!(12));
}

async fn images_url_and_b64(ctx: Arc<Ctx>) {
    let by_url = ctx
        .client
        .image_generation(
            ImageRequest::new("mishikallm_proxy/dall-e-3", "a lighthouse")
                .size("1024x1024")
                .quality("hd")
                .style("vivid"),
        )
        .await
        .unwrap();
    assert!(
        by_url.data[0]
            .url
            .as_deref()
            .is_some_and(|u| u.ends_with(".png"))
    );
    let by_b64 = ctx
        .client
        .image_generation(
            ImageRequest::new("mishikallm_proxy/dall-e-3", "a lighthouse")
                .response_format("b64_json"),
        )
        .await
        .unwrap();
    assert_eq!(by_b64.data[0].bytes().unwrap(), mishika_mock::PNG_1X1);
    let body = ctx.upstream("/images/generations")[0].json().unwrap();
    assert_eq!(
        (
            body["style"].clone(),
            body["quality"].clone(),
            body["size"].clone()
        ),
        (json!("vivid"), json!("hd"), json!("1024x1024"))
    );
}

async fn speech_to_a_file(ctx: Arc<Ctx>) {
    let path = std::env::temp_dir().join(format!("mishika-conformance-{}.mp3", std::process::id()));
    let audio = ctx
        .client
        .speech(
            SpeechRequest::new("mishikallm_proxy/tts-1", "hello speech", "alloy")
                .response_format("mp3")
                .speed(1.25)
                .instructions("cheerful"),
        )
        .await
        .unwrap();
    assert_eq!(audio.content_type(), Some("audio/mpeg"));
    assert_eq!(audio.save(&path).await.unwrap(), 12);
    assert_eq!(std::fs::read(&path).unwrap(), b"hello speech");
    std::fs::remove_file(&path).unwrap();
    let body = ctx.upstream("/audio/speech")[0].json().unwrap();
    assert_eq!(
        body,
        json!({"model": "tts-1", "input": "hello speech", "voice": "alloy", "response_format": "mp3", "speed": 1.25, "instructions": "cheerful"})
    );
}

async fn transcription_every_field(ctx: Arc<Ctx>) {
    let audio = AudioFile::new(b"RIFF0000WAVEfmt ".repeat(64), "greeting.wav");
    let response = ctx
        .client
        .transcription(
            TranscriptionRequest::new("mishikallm_proxy/whisper-1", audio.clone())
                .language("en")
                .prompt("a greeting")
                .response_format(TranscriptionFormat::VerboseJson)
                .temperature(0.2)
                .timestamp_granularities([
                    TimestampGranularity::Word,
                    TimestampGranularity::Segment,
                ]),
        )
        .await
        .unwrap();
    assert_eq!(
        response.text,
        "mock transcript of greeting.wav (1024 bytes)"
    );
    assert!(response.words.as_ref().is_some_and(|w| !w.is_empty()));
    let parts = ctx.upstream("/audio/transcriptions")[0]
        .multipart()
        .unwrap();
    let field = |name: &str| -> Vec<String> {
        parts
            .iter()
            .filter(|p| p.name == name)
            .map(|p| p.text())
            .collect()
    };
    assert_eq!(field("language"), ["en"]);
    assert_eq!(field("prompt"), ["a greeting"]);
    assert_eq!(field("response_format"), ["verbose_json"]);
    assert_eq!(field("temperature"), ["0.2"]);
    assert_eq!(field("timestamp_granularities[]"), ["word", "segment"]);
    let file = parts.iter().find(|p| p.name == "file").unwrap();
    assert_eq!(
        (file.filename.as_deref(), file.data.len()),
        (Some("greeting.wav"), 1024)
    );
    // Plain-text formats come back wrapped as {"text": …} through the proxy: still the text.
    let text = ctx
        .client
        .transcription(
            TranscriptionRequest::new("mishikallm_proxy/whisper-1", audio)
                .response_format(TranscriptionFormat::Srt),
        )
        .await
        .unwrap();
    assert!(
        text.text.starts_with("1\n00:00:00,000 --> "),
        "{:?}",
        text.text
    );
}

async fn rerank_top_n_and_documents(ctx: Arc<Ctx>) {
    let response = ctx
        .client
        .rerank(
            RerankRequest::new(
                "mishikallm_proxy/rerank-english-v3.0",
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
    let upstream = ctx.upstream("/rerank");
    assert_eq!(upstream[0].path, "/v2/rerank");
    let body = upstream[0].json().unwrap();
    assert_eq!(
        (body["top_n"].clone(), body["return_documents"].clone()),
        (json!(2), json!(true))
    );
}

async fn models_list(ctx: Arc<Ctx>) {
    let models = ctx.client.list_models("mishikallm_proxy").await.unwrap();
    for id in [
        "gpt-4o-mini",
        "mock-chat",
        "gpt-3.5-turbo-instruct",
        "text-embedding-3-small",
        "tts-1",
        "whisper-1",
        "dall-e-3",
        "rerank-english-v3.0",
    ] {
        assert!(
            models.ids().contains(&id),
            "{id} missing from {:?}",
            models.ids()
        );
    }
}

async fn missing_and_wrong_key(ctx: Arc<Ctx>) {
    let keyless = Client::builder().api_base(&ctx.proxy_base).build().unwrap();
    let error = keyless.chat(ask("mock-chat", "x")).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Authentication, "{error}");
    assert_eq!(error.status().map(|s| s.as_u16()), Some(401));
    // Without a database the proxy knows only its master key; any other is a 400.
    let wrong = Client::builder()
        .api_base(&ctx.proxy_base)
        .api_key("sk-wrong-key")
        .build()
        .unwrap();
    let error = wrong.chat(ask("mock-chat", "x")).await.unwrap_err();
    assert_eq!(
        (error.kind(), error.error_type()),
        (ErrorKind::BadRequest, Some("no_db_connection")),
        "{error}"
    );
    assert!(!format!("{error:?}").contains("sk-wrong-key"));
}

async fn unknown_model(ctx: Arc<Ctx>) {
    let error = ctx
        .client
        .chat(ask("no-such-model", "x"))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::BadRequest, "{error}");
    assert!(error.message().contains("Invalid model name"), "{error}");
    assert!(ctx.upstream("/chat/completions").is_empty());
}

async fn upstream_429_is_retried(ctx: Arc<Ctx>) {
    let limited = || {
        ScriptedResponse::error(
            429,
            "Rate limit reached for requests",
            "requests",
            "rate_limit_exceeded",
        )
        .header("retry-after", "1")
    };
    ctx.gateway
        .push_response_for("/chat/completions", limited());
    let started = Instant::now();
    let response = ctx
        .client
        .chat(ctx.ask("mock-chat", "after a 429"))
        .await
        .unwrap();
    assert_eq!(response.content(), Some("after a 429"));
    assert_eq!(ctx.upstream("/chat/completions").len(), 2);
    // The proxy passes the upstream's retry-after on as llm_provider-retry-after: honoured.
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "{:?}",
        started.elapsed()
    );

    ctx.gateway.clear_requests();
    for _ in 0..2 {
        ctx.gateway
            .push_response_for("/chat/completions", limited());
    }
    let error = ctx
        .client_with(1)
        .chat(ctx.ask("mock-chat", "x"))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::RateLimit, "{error}");
    assert_eq!(error.status().map(|s| s.as_u16()), Some(429));
    assert_eq!(ctx.upstream("/chat/completions").len(), 2);
}

async fn upstream_500(ctx: Arc<Ctx>) {
    ctx.gateway.push_response_for(
        "/chat/completions",
        ScriptedResponse::error(500, "The server had an error", "server_error", "500"),
    );
    let error = ctx
        .client_with(0)
        .chat(ctx.ask("mock-chat", "x"))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InternalServer, "{error}");
    assert!(error.is_retryable());
    assert_eq!(ctx.upstream("/chat/completions").len(), 1);
}

async fn upstream_context_window(ctx: Arc<Ctx>) {
    ctx.gateway.push_response_for(
        "/chat/completions",
        ScriptedResponse::error(400, "This model's maximum context length is 8192 tokens. However, your messages resulted in 9000 tokens.", "invalid_request_error", "context_length_exceeded"),
    );
    let error = ctx
        .client
        .chat(ctx.ask("mock-chat", "x"))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::ContextWindowExceeded, "{error}");
    assert!(!error.is_retryable());
    assert_eq!(ctx.upstream("/chat/completions").len(), 1);
}

async fn upstream_drop_mid_stream(ctx: Arc<Ctx>) {
    let first = r#"{"id":"c1","object":"chat.completion.chunk","created":1,"model":"mock-chat","choices":[{"index":0,"delta":{"role":"assistant","content":"Hello"}}]}"#;
    let second = r#"{"id":"c1","object":"chat.completion.chunk","created":1,"model":"mock-chat","choices":[{"index":0,"delta":{"content":" world"}}]}"#;
    ctx.gateway.push_response_for(
        "/chat/completions",
        ScriptedResponse::sse([first, second, "[DONE]"]).drop_after(first.len() + 8 + 10),
    );
    let items: Vec<_> = ctx
        .client
        .chat_stream(ctx.ask("mock-chat", "x"))
        .await
        .unwrap()
        .collect()
        .await;
    let texts: Vec<&str> = items
        .iter()
        .filter_map(|i| i.as_ref().ok())
        .filter_map(|c| c.content())
        .collect();
    assert_eq!(texts, ["Hello"]);
    let error = items.last().unwrap().as_ref().unwrap_err();
    // The proxy reports the broken upstream in-band ({"error": {"code": "500", …}}), then
    // ends the body without [DONE]: an error item after the chunks, never a clean end.
    assert!(
        matches!(
            error.kind(),
            ErrorKind::Connection | ErrorKind::InternalServer | ErrorKind::Stream
        ),
        "{error:?}"
    );
    assert!(
        error.message().contains("Connection error")
            || error.message().contains("APIConnectionError"),
        "{error}"
    );
}

// ---------------------------------------------------------------------------------------
// The anthropic/ backend against the proxy's Anthropic Messages route (`/v1/messages`).
// For `claude-mock` (litellm_params.model `anthropic/claude-mock`, api_base without /v1)
// the proxy forwards the Messages request natively to the MockGateway's `/v1/messages`;
// for `mock-chat` (an `openai/` model) it translates it to `/v1/chat/completions`, because
// LITELLM_USE_CHAT_COMPLETIONS_URL_FOR_ANTHROPIC_MESSAGES is set (without it LiteLLM
// would call the upstream's Responses API). See tests/conformance/ANTHROPIC_NOTES.md.
// ---------------------------------------------------------------------------------------

fn ask_claude(model: &str, text: &str) -> ChatRequest {
    ChatRequest::new(format!("anthropic/{model}"), [ChatMessage::user(text)]).max_tokens(100)
}

fn weather_tool() -> Tool {
    Tool::function(
        "get_weather",
        "Current weather",
        json!({"type": "object", "properties": {"location": {"type": "string"}}}),
    )
}

async fn anthropic_plain(ctx: Arc<Ctx>) {
    let client = anthropic_client(&ctx, 0);
    let response = client
        .chat(
            ChatRequest::new(
                "anthropic/claude-mock",
                [
                    ChatMessage::system("Be brief."),
                    ChatMessage::user("hello messages"),
                ],
            )
            .temperature(0.2)
            .max_tokens(50),
        )
        .await
        .unwrap();
    assert_eq!(response.content(), Some("hello messages"));
    assert_eq!(response.choices[0].finish_reason, Some(FinishReason::Stop));
    assert_eq!(response.model.as_deref(), Some("claude-mock"));
    let usage = response.usage.as_deref().unwrap();
    assert!(usage.prompt_tokens.is_some_and(|n| n > 0), "{usage:?}");
    assert!(
        response
            .metadata()
            .call_id()
            .is_some_and(|id| !id.is_empty())
    );
    let upstream = ctx.upstream("/messages");
    assert_eq!(upstream.len(), 1);
    assert_eq!(upstream[0].path, "/v1/messages");
    // The proxy calls the upstream with its own key, Anthropic's way.
    assert_eq!(upstream[0].header("x-api-key"), Some("sk-upstream-fake"));
    assert_eq!(upstream[0].header("anthropic-version"), Some("2023-06-01"));
    let body = upstream[0].json().unwrap();
    assert_eq!(
        body["system"],
        json!([{"type": "text", "text": "Be brief."}])
    );
    assert_eq!(body["max_tokens"], 50);
    assert_eq!(body["temperature"], json!(0.2));
    assert_eq!(
        body["messages"],
        json!([{"role": "user", "content": [{"type": "text", "text": "hello messages"}]}])
    );
}

async fn anthropic_streamed(ctx: Arc<Ctx>) {
    let client = anthropic_client(&ctx, 0);
    let mut stream = client
        .chat_stream(ask_claude("claude-mock", "one two three four"))
        .await
        .unwrap();
    let mut whole = ChatStreamAccumulator::default();
    let mut pieces = 0;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.unwrap();
        pieces += usize::from(chunk.content().is_some_and(|t| !t.is_empty()));
        whole.push(&chunk);
    }
    assert!(pieces >= 2, "{pieces}");
    let response = whole.finish();
    assert_eq!(response.content(), Some("one two three four"));
    assert_eq!(response.choices[0].finish_reason, Some(FinishReason::Stop));
    let usage = response.usage.as_deref().unwrap();
    assert_eq!(usage.completion_tokens, Some(4), "{usage:?}");
    let upstream = ctx.upstream("/messages");
    assert_eq!(upstream[0].json().unwrap()["stream"], true);
}

async fn anthropic_tools_plain_and_streamed(ctx: Arc<Ctx>) {
    let client = anthropic_client(&ctx, 0);
    let ask = || ask_claude("claude-mock", "what is the weather in Paris?").tools([weather_tool()]);
    let plain = client.chat(ask()).await.unwrap();
    assert_eq!(
        plain.choices[0].finish_reason,
        Some(FinishReason::ToolCalls)
    );
    let calls = plain.tool_calls().to_vec();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].function.name, "get_weather");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&calls[0].function.arguments).unwrap(),
        json!({"location": "Paris"})
    );

    let mut stream = client.chat_stream(ask()).await.unwrap();
    let mut whole = ChatStreamAccumulator::default();
    while let Some(chunk) = stream.next().await {
        whole.push(&chunk.unwrap());
    }
    let streamed = whole.finish();
    assert_eq!(streamed.tool_calls().len(), 1);
    assert_eq!(streamed.tool_calls()[0].function.name, "get_weather");
    assert_eq!(
        streamed.tool_calls()[0].function.arguments,
        calls[0].function.arguments
    );

    // The result goes back as a tool_result block, through the proxy, unchanged.
    let answer = client
        .chat(
            ChatRequest::new(
                "anthropic/claude-mock",
                [
                    ChatMessage::user("what is the weather in Paris?"),
                    ChatMessage::assistant_tool_calls(calls.clone()),
                    ChatMessage::tool(calls[0].id.clone(), "Sunny, 21 C"),
                ],
            )
            .tools([weather_tool()])
            .max_tokens(100),
        )
        .await
        .unwrap();
    assert_eq!(answer.content(), Some("Sunny, 21 C"));
    let last = ctx.upstream("/messages").pop().unwrap().json().unwrap();
    assert_eq!(
        last["messages"][2],
        json!({"role": "user", "content": [{"type": "tool_result", "tool_use_id": calls[0].id, "content": "Sunny, 21 C"}]})
    );
}

async fn anthropic_upstream_overloaded(ctx: Arc<Ctx>) {
    // LiteLLM answers an upstream 529 overloaded_error as 500 api_error: retryable.
    let overloaded = || ScriptedResponse::anthropic_error(529, "overloaded_error", "Overloaded");
    ctx.gateway.push_response_for("/messages", overloaded());
    let answer = anthropic_client(&ctx, 2)
        .chat(ask_claude("claude-mock", "after an overload"))
        .await
        .unwrap();
    assert_eq!(answer.content(), Some("after an overload"));
    assert_eq!(ctx.upstream("/messages").len(), 2);

    ctx.gateway.clear_requests();
    ctx.gateway.push_response_for("/messages", overloaded());
    let error = anthropic_client(&ctx, 0)
        .chat(ask_claude("claude-mock", "x"))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InternalServer, "{error}");
    assert_eq!(error.error_type(), Some("api_error"), "{error}");
    assert!(error.message().contains("Overloaded"), "{error}");
    assert!(error.is_retryable());
    assert_eq!(error.provider(), Some("anthropic"));
    assert_eq!(ctx.upstream("/messages").len(), 1);
}

async fn anthropic_context_window(ctx: Arc<Ctx>) {
    // The mock's real check: a 16-token window, answered as Anthropic does.
    let error = anthropic_client(&ctx, 2)
        .chat(ask_claude(
            "claude-mock-small-context",
            &"far too many words for so small a window ".repeat(4),
        ))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::ContextWindowExceeded, "{error}");
    assert_eq!(error.status().map(|s| s.as_u16()), Some(400));
    assert!(!error.is_retryable());
    assert_eq!(ctx.upstream("/messages").len(), 1, "not retried");
}

async fn anthropic_translated_to_chat_completions(ctx: Arc<Ctx>) {
    let client = anthropic_client(&ctx, 0);
    let response = client
        .chat(ask_claude("mock-chat", "translated words"))
        .await
        .unwrap();
    assert_eq!(response.content(), Some("translated words"));
    let mut stream = client
        .chat_stream(ask_claude("mock-chat", "translated stream"))
        .await
        .unwrap();
    let mut whole = ChatStreamAccumulator::default();
    while let Some(chunk) = stream.next().await {
        whole.push(&chunk.unwrap());
    }
    assert_eq!(whole.finish().content(), Some("translated stream"));
    assert!(ctx.upstream("/messages").is_empty());
    let upstream = ctx.upstream("/chat/completions");
    assert_eq!(upstream.len(), 2);
    assert_eq!(
        upstream[0].header("authorization"),
        Some("Bearer sk-upstream-fake")
    );
    assert_eq!(upstream[0].json().unwrap()["max_tokens"], 100);
}

async fn anthropic_wrong_key(ctx: Arc<Ctx>) {
    let wrong = Client::builder()
        .provider_settings(
            "anthropic",
            ProviderSettings::new()
                .api_base(&ctx.proxy_base)
                .api_key("sk-wrong-anthropic"),
        )
        .build()
        .unwrap();
    let error = wrong
        .chat(ask_claude("claude-mock", "x"))
        .await
        .unwrap_err();
    // Without a database the proxy knows only its master key: its own 400, in OpenAI's
    // envelope even on the Anthropic route.
    assert_eq!(error.kind(), ErrorKind::BadRequest, "{error}");
    assert!(!format!("{error} {error:?}").contains("sk-wrong-anthropic"));
    assert!(ctx.upstream("/messages").is_empty());
}

// ---------------------------------------------------------------------------------------
// A Router read from the very config.yaml that started the proxy: its deployments call
// the MockGateway directly (openai/ with the file's api_base), plus one deployment in code
// that goes through the real proxy.
// ---------------------------------------------------------------------------------------

async fn router_from_the_proxy_config(ctx: Arc<Ctx>) {
    use mishika::providers::{OpenAiCompatible, openai};
    use mishika::router::{Deployment, RouterBuilder};

    let path = std::env::var("MISHIKA_LITELLM_CONFIG").unwrap_or_else(|_| {
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/conformance/litellm_config.yaml"
        )
        .to_owned()
    });
    let yaml = std::fs::read_to_string(&path).unwrap();
    let upstream = ctx.gateway.base_url();
    let master = ctx.proxy_key.clone();
    let env = move |name: &str| match name {
        "UPSTREAM_V1" => Some(format!("{upstream}/v1")),
        "UPSTREAM_BASE" => Some(upstream.clone()),
        "LITELLM_MASTER_KEY" => Some(master.clone()),
        _ => None,
    };
    let builder =
        RouterBuilder::from_config_str_with_env(&yaml, "litellm_config.yaml", env).unwrap();
    assert!(
        !builder
            .ignored_config_keys()
            .iter()
            .any(|key| key.contains("disable_cooldowns") || key.contains("retry_policy")),
        "{:?}",
        builder.ignored_config_keys()
    );
    // The file disables cooldowns for the proxy; this router wants them back, to show one.
    let router = builder
        .disable_cooldowns(false)
        .deployment(
            Deployment::new("gpt-4o-mini", "mishikallm_proxy/gpt-4o-mini")
                .id("via-proxy")
                .api_base(&ctx.proxy_base)
                .api_key(ctx.proxy_key.as_str()),
        )
        .fallbacks("mock-chat", ["gpt-4o-mini"])
        .allowed_fails(0)
        .cooldown_time(Duration::from_secs(120))
        .seed(3)
        .build()
        .unwrap();
    // The file names providers mishika has no built-in for: register OpenAI-shaped ones.
    let client = Client::builder()
        .provider(
            "text-completion-openai",
            OpenAiCompatible::named("text-completion-openai", openai::SPEC),
        )
        .provider("cohere", OpenAiCompatible::named("cohere", openai::SPEC))
        .router(router)
        .build()
        .unwrap();

    // Both deployments of gpt-4o-mini answer: the file's, straight to the upstream, and
    // the one through the real proxy.
    let mut seen = std::collections::BTreeSet::new();
    for n in 0..16 {
        let answer = client
            .chat(ChatRequest::new(
                "gpt-4o-mini",
                [ChatMessage::user(format!("hello {n}"))],
            ))
            .await
            .unwrap();
        assert_eq!(answer.content(), Some(format!("hello {n}").as_str()));
        seen.insert(answer.metadata().route().unwrap().deployment.to_string());
    }
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert!(seen.contains("via-proxy"), "{seen:?}");

    // mock-chat's one deployment fails: it cools down at once and the call falls back.
    ctx.gateway.clear_requests();
    ctx.gateway.push_response_for(
        "/chat/completions",
        ScriptedResponse::error(500, "upstream broke", "server_error", "500"),
    );
    let answer = client
        .chat(ChatRequest::new(
            "mock-chat",
            [ChatMessage::user("fall back")],
        ))
        .await
        .unwrap();
    let route = answer.metadata().route().unwrap();
    assert_eq!(
        (&*route.group, route.attempts, route.fallbacks),
        ("gpt-4o-mini", 2, 1)
    );
    assert_eq!(answer.content(), Some("fall back"));
    // Cooling down: the next call goes to the fallback without touching mock-chat.
    ctx.gateway.clear_requests();
    let answer = client
        .chat(ChatRequest::new("mock-chat", [ChatMessage::user("again")]))
        .await
        .unwrap();
    let route = answer.metadata().route().unwrap();
    assert_eq!((route.attempts, route.fallbacks), (1, 1));
    let upstream = ctx.upstream("/chat/completions");
    assert_eq!(upstream.len(), 1);
    assert_eq!(upstream[0].json().unwrap()["model"], "gpt-4o-mini");
}

fn main() {
    let Ok(litellm) = std::env::var("MISHIKA_LITELLM") else {
        println!(
            "conformance: not run here: MISHIKA_LITELLM is unset (bash scripts/conformance.sh installs a LiteLLM proxy and runs this suite)"
        );
        return;
    };
    let config = std::env::var("MISHIKA_LITELLM_CONFIG").unwrap_or_else(|_| {
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/conformance/litellm_config.yaml"
        )
        .to_owned()
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let gateway = runtime.block_on(MockGateway::start()).unwrap();
    let proxy = match start_proxy(&litellm, &config, &gateway.base_url()) {
        Ok(proxy) => proxy,
        Err(reason) => {
            eprintln!("conformance: FAILED to start the LiteLLM proxy: {reason}");
            std::process::exit(1);
        }
    };
    let ctx = Arc::new(Ctx {
        gateway,
        proxy_base: proxy.base.clone(),
        proxy_key: proxy.key.clone(),
        backend: Backend::Proxy,
        client: client_for(Backend::Proxy, &proxy.base, &proxy.key, 2),
    });
    let openai = Arc::new(ctx.through(Backend::OpenAi));
    let mut cases: Vec<(&str, Case)> = cases![
        chat_plain,
        chat_stream,
        chat_stream_with_usage,
        tools_plain_and_streamed,
        text_completion_plain_and_streamed,
        embeddings_float_and_base64,
        images_url_and_b64,
        speech_to_a_file,
        transcription_every_field,
        rerank_top_n_and_documents,
        models_list,
        missing_and_wrong_key,
        unknown_model,
        upstream_429_is_retried,
        upstream_500,
        upstream_context_window,
        upstream_drop_mid_stream,
        anthropic_plain,
        anthropic_streamed,
        anthropic_tools_plain_and_streamed,
        anthropic_upstream_overloaded,
        anthropic_context_window,
        anthropic_translated_to_chat_completions,
        anthropic_wrong_key,
        router_from_the_proxy_config,
    ];
    // The chat cases again, through the openai/ backend pointed at the proxy.
    let through_openai: Vec<(&str, Case)> = cases![
        chat_plain,
        chat_stream,
        chat_stream_with_usage,
        tools_plain_and_streamed,
        upstream_429_is_retried,
        upstream_500,
        upstream_context_window,
        upstream_drop_mid_stream,
    ];
    let mut runs: Vec<(String, Case, Arc<Ctx>)> = cases
        .drain(..)
        .map(|(name, case)| (name.to_owned(), case, Arc::clone(&ctx)))
        .collect();
    runs.extend(
        through_openai
            .into_iter()
            .map(|(name, case)| (format!("openai/{name}"), case, Arc::clone(&openai))),
    );
    let (mut passed, mut failed) = (0, 0);
    for (name, case, ctx) in runs {
        ctx.gateway.clear_requests();
        ctx.gateway.clear_responses();
        let started = Instant::now();
        let task = runtime.spawn(case(Arc::clone(&ctx)));
        let outcome =
            runtime.block_on(async { tokio::time::timeout(Duration::from_secs(60), task).await });
        match outcome {
            Ok(Ok(())) => {
                passed += 1;
                println!(
                    "conformance {name} ... ok ({:.2}s)",
                    started.elapsed().as_secs_f64()
                );
            }
            Ok(Err(join)) => {
                failed += 1;
                let reason = join
                    .try_into_panic()
                    .ok()
                    .and_then(|p| {
                        p.downcast_ref::<String>()
                            .cloned()
                            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                    })
                    .unwrap_or_else(|| "cancelled".to_owned());
                println!("conformance {name} ... FAILED\n    {reason}");
            }
            Err(_) => {
                failed += 1;
                println!("conformance {name} ... FAILED (timed out after 60s)");
            }
        }
    }
    if failed > 0 {
        println!("--- proxy log tail ---\n{}", log_tail(&proxy.log));
    }
    drop(proxy);
    println!("conformance: {passed} passed, {failed} failed");
    if failed > 0 {
        std::process::exit(1);
    }
}
