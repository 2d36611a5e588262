//! Providers own their wire: a provider written against `mishika-core` alone (a non-OpenAI
//! JSON API with an NDJSON stream), the `openai/` backend, credential isolation between
//! providers, and the force-proxy switch on every endpoint — all over loopback through the
//! real reqwest transport and `MockGateway`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use futures_util::StreamExt;
use mishika::core::reexports::async_trait;
use mishika::core::{
    AuthScheme, Call, ChatChunk, ChatRequest, ChatResponse, ChatStream, Error, ErrorKind,
    ErrorRules, LineStream, PathStyle, Provider, ProviderSpec, ResponseMetadata, ResponseStream,
    Result,
};
use mishika::{
    AudioFile, ChatMessage, ChatStreamAccumulator, Client, CompletionRequest, EmbeddingRequest,
    ImageRequest, ProviderSettings, RerankRequest, RetryPolicy, SpeechRequest, TimeoutPhase,
    TranscriptionRequest,
};
use mishika_mock::{MockGateway, RecordedRequest, ScriptedResponse};
use serde_json::json;

// ---------------------------------------------------------------------------------------
// A provider for a JSON API that is not OpenAI's, written against mishika-core alone.
//
// Wire: `POST {base}/generate` with `{"prompt": …, "stream": bool}`; the key goes in
// `x-lines-key`. A plain answer is `{"text": …}`; a stream is NDJSON, one `{"delta": …}` per
// line and `{"done": true}` last. Errors are `{"failure": {"reason": …, "retry": bool}}`,
// and the server says itself whether an error is worth retrying — on any status.
// ---------------------------------------------------------------------------------------

/// The "lines" API provider.
#[derive(Debug)]
struct Lines;

fn lines_error(status: http::StatusCode, _: &http::HeaderMap, body: &[u8]) -> Error {
    let failure = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|value| value.get("failure").cloned());
    let reason = failure
        .as_ref()
        .and_then(|f| f.get("reason")?.as_str().map(str::to_owned))
        .unwrap_or_else(|| format!("HTTP {status}"));
    let retry = failure
        .as_ref()
        .and_then(|f| f.get("retry")?.as_bool())
        .unwrap_or(false);
    let kind = if retry {
        ErrorKind::ServiceUnavailable
    } else {
        ErrorKind::BadRequest
    };
    Error::new(kind, reason)
}

const LINES_SPEC: ProviderSpec = ProviderSpec::new()
    .env_api_base("LINES_API_BASE_NEVER_SET")
    .env_api_key("LINES_API_KEY_NEVER_SET")
    .auth(AuthScheme::Header("x-lines-key"))
    .paths(PathStyle::AsGiven)
    // Any failure status may be retryable: the body says.
    .errors(ErrorRules::new(lines_error, |status| {
        status.is_client_error() || status.is_server_error()
    }));

fn prompt(request: &ChatRequest) -> String {
    request
        .messages
        .iter()
        .filter_map(|message| message.content.as_ref().map(|content| content.text()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// One NDJSON line of the stream as a chunk; `None` for the closing `{"done": true}`.
fn chunk_of(model: &str, line: &[u8]) -> Result<Option<ChatChunk>> {
    let value: serde_json::Value = serde_json::from_slice(line)
        .map_err(|e| Error::decode("a stream line is not JSON").with_source(e))?;
    if value.get("done").and_then(|done| done.as_bool()) == Some(true) {
        return Ok(None);
    }
    let delta = value.get("delta").and_then(|d| d.as_str()).unwrap_or("");
    let chunk: ChatChunk = serde_json::from_value(json!({
        "model": model,
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": {"content": delta}}],
    }))
    .map_err(|e| Error::decode("chunk").with_source(e))?;
    Ok(Some(chunk))
}

#[async_trait]
impl Provider for Lines {
    fn name(&self) -> &str {
        "lines"
    }

    fn spec(&self) -> ProviderSpec {
        LINES_SPEC
    }

    async fn chat(&self, call: &Call, request: ChatRequest) -> Result<ChatResponse> {
        let body = json!({"prompt": prompt(&request), "stream": false});
        let answer = call
            .send_checked(call.json_request("generate", &body)?)
            .await?;
        let (parts, body) = answer.into_parts();
        let bytes = body.collect(call.limits().max_response_bytes).await?;
        let value: serde_json::Value = serde_json::from_slice(&bytes)
            .map_err(|e| Error::decode("answer is not JSON").with_source(e))?;
        let mut response: ChatResponse = serde_json::from_value(json!({
            "model": request.model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": value["text"]}}],
        }))
        .map_err(|e| Error::decode("answer").with_source(e))?;
        response.metadata = ResponseMetadata::new(parts.status, parts.headers);
        Ok(response)
    }

    async fn chat_stream(&self, call: &Call, request: ChatRequest) -> Result<ChatStream> {
        let body = json!({"prompt": prompt(&request), "stream": true});
        let answer = call
            .send_streamed(call.json_request("generate", &body)?)
            .await?;
        let (parts, body) = answer.into_parts();
        let model = request.model.clone();
        let lines = LineStream::new(body, call.limits().max_sse_line);
        // Each line becomes a chunk as it arrives; the stream must close with its marker.
        let frames = futures_util::stream::unfold(
            (lines, model, false),
            |(mut lines, model, done)| async move {
                if done {
                    return None;
                }
                match lines.next().await {
                    None => Some((
                        Err(Error::stream("the stream ended before {\"done\": true}")),
                        (lines, model, true),
                    )),
                    Some(Err(error)) => Some((Err(error), (lines, model, true))),
                    Some(Ok(line)) => match chunk_of(&model, &line) {
                        Ok(Some(chunk)) => Some((Ok(chunk), (lines, model, false))),
                        Ok(None) => None,
                        Err(error) => Some((Err(error), (lines, model, true))),
                    },
                }
            },
        );
        Ok(ResponseStream::from_stream(
            ResponseMetadata::new(parts.status, parts.headers),
            frames,
        ))
    }
}

fn quick_retries(retries: u32) -> RetryPolicy {
    RetryPolicy::default()
        .max_retries(retries)
        .initial_backoff(Duration::from_millis(5))
        .max_backoff(Duration::from_millis(20))
}

/// A client with the proxy on one gateway and `lines/` on another, each with its own key.
async fn proxy_and_lines() -> (Client, MockGateway, MockGateway) {
    let proxy = MockGateway::start().await.unwrap();
    let lines = MockGateway::start().await.unwrap();
    let client = Client::builder()
        .api_base(proxy.base_url())
        .api_key("sk-proxy-only")
        .header("x-proxy-team", "search")
        .provider("lines", Lines)
        .provider_settings(
            "lines",
            ProviderSettings::new()
                .api_base(lines.base_url())
                .api_key("sk-lines-only")
                .header("x-lines-tenant", "t1"),
        )
        .retry_policy(quick_retries(2))
        .build()
        .unwrap();
    (client, proxy, lines)
}

fn ndjson(lines: &[serde_json::Value]) -> String {
    lines.iter().map(|line| format!("{line}\n")).collect()
}

#[tokio::test]
async fn a_core_only_provider_gets_its_own_settings_and_wire() {
    let (client, proxy, lines) = proxy_and_lines().await;
    lines.push_response(ScriptedResponse::status(200).json(json!({"text": "plain words"})));
    let answer = client
        .chat(ChatRequest::new("lines/l-1", [ChatMessage::user("hi")]))
        .await
        .unwrap();
    assert_eq!(answer.content(), Some("plain words"));
    assert_eq!(answer.model.as_deref(), Some("l-1"));

    let seen = lines.requests();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].method, http::Method::POST);
    assert_eq!(
        seen[0].path, "/generate",
        "the provider's own path, joined as given"
    );
    assert_eq!(seen[0].header("x-lines-key"), Some("sk-lines-only"));
    assert_eq!(seen[0].header("x-lines-tenant"), Some("t1"));
    assert_eq!(seen[0].header("authorization"), None, "no proxy key");
    assert_eq!(seen[0].header("x-proxy-team"), None, "no proxy header");
    assert_eq!(
        seen[0].json(),
        Some(json!({"prompt": "hi", "stream": false}))
    );

    client
        .chat(ChatRequest::new(
            "mishikallm_proxy/m",
            [ChatMessage::user("hi")],
        ))
        .await
        .unwrap();
    let seen = proxy.requests();
    assert_eq!(seen.len(), 1);
    assert_eq!(
        seen[0].header("authorization"),
        Some("Bearer sk-proxy-only")
    );
    assert_eq!(seen[0].header("x-proxy-team"), Some("search"));
    assert_eq!(seen[0].header("x-lines-key"), None);
    assert_eq!(seen[0].header("x-lines-tenant"), None);
}

#[tokio::test]
async fn a_core_only_provider_is_retried_by_its_own_classification() {
    let (client, _proxy, lines) = proxy_and_lines().await;
    // 418 is never retried on the OpenAI wire; this API says it may be.
    lines.push_responses([
        ScriptedResponse::status(418)
            .json(json!({"failure": {"reason": "warming up", "retry": true}})),
        ScriptedResponse::status(200).json(json!({"text": "ready"})),
    ]);
    let answer = client
        .chat(ChatRequest::new("lines/l-1", [ChatMessage::user("hi")]))
        .await
        .unwrap();
    assert_eq!(answer.content(), Some("ready"));
    assert_eq!(lines.request_count(), 2);

    // 503 is retried on the OpenAI wire; this API says this one is final.
    lines.clear_requests();
    lines.push_response(
        ScriptedResponse::status(503)
            .json(json!({"failure": {"reason": "quota gone", "retry": false}})),
    );
    let error = client
        .chat(ChatRequest::new("lines/l-1", [ChatMessage::user("hi")]))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::BadRequest);
    assert_eq!(error.message(), "quota gone");
    assert_eq!(error.provider(), Some("lines"));
    assert_eq!(lines.request_count(), 1, "not retried");

    // Retryable every time: the first try and two retries, then the last error.
    lines.clear_requests();
    for _ in 0..3 {
        lines.push_response(
            ScriptedResponse::status(500)
                .json(json!({"failure": {"reason": "flaky", "retry": true}})),
        );
    }
    let error = client
        .chat(ChatRequest::new("lines/l-1", [ChatMessage::user("hi")]))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::ServiceUnavailable);
    assert_eq!(error.message(), "flaky");
    assert_eq!(lines.request_count(), 3);
}

#[tokio::test]
async fn a_core_only_provider_streams_ndjson_without_a_re_encode() {
    let (client, _proxy, lines) = proxy_and_lines().await;
    lines.push_response(
        ScriptedResponse::status(200)
            .header("content-type", "application/x-ndjson")
            .body(ndjson(&[
                json!({"delta": "Hel"}),
                json!({"delta": "lo, "}),
                json!({"delta": "wörld"}),
                json!({"done": true}),
            ]))
            .chunk_size(7),
    );
    let mut stream = client
        .chat_stream(ChatRequest::new("lines/l-1", [ChatMessage::user("hi")]))
        .await
        .unwrap();
    assert_eq!(
        stream.metadata().content_type(),
        Some("application/x-ndjson")
    );
    let mut whole = ChatStreamAccumulator::default();
    let mut deltas = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.unwrap();
        deltas.push(chunk.content().unwrap_or_default().to_owned());
        whole.push(&chunk);
    }
    assert_eq!(deltas, ["Hel", "lo, ", "wörld"]);
    assert_eq!(whole.finish().content(), Some("Hello, wörld"));
    let seen = lines.requests();
    assert_eq!(
        seen[0].json(),
        Some(json!({"prompt": "hi", "stream": true}))
    );

    // A stream cut before its marker is an error item, then the end.
    lines.push_response(ScriptedResponse::status(200).body(ndjson(&[json!({"delta": "partial"})])));
    let mut stream = client
        .chat_stream(ChatRequest::new("lines/l-1", [ChatMessage::user("hi")]))
        .await
        .unwrap();
    assert_eq!(
        stream.next().await.unwrap().unwrap().content(),
        Some("partial")
    );
    let error = stream.next().await.unwrap().unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Stream);
    assert!(stream.next().await.is_none());
}

#[tokio::test]
async fn the_deadline_and_the_idle_timeout_fire_for_a_core_only_provider() {
    let (client, _proxy, lines) = proxy_and_lines().await;
    lines.push_response(
        ScriptedResponse::status(200)
            .json(json!({"text": "late"}))
            .delay(Duration::from_secs(5)),
    );
    let error = client
        .chat(
            ChatRequest::new("lines/l-1", [ChatMessage::user("hi")])
                .timeout(Duration::from_millis(200))
                .num_retries(0),
        )
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Timeout);
    assert_eq!(error.timeout_phase(), Some(TimeoutPhase::Request));

    lines.push_response(
        ScriptedResponse::status(200)
            .body(ndjson(&[json!({"delta": "first"})]))
            .hold_open(),
    );
    let mut stream = client
        .chat_stream(
            ChatRequest::new("lines/l-1", [ChatMessage::user("hi")])
                .stream_idle_timeout(Duration::from_millis(200)),
        )
        .await
        .unwrap();
    assert_eq!(
        stream.next().await.unwrap().unwrap().content(),
        Some("first")
    );
    let error = stream.next().await.unwrap().unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Timeout);
    assert_eq!(error.timeout_phase(), Some(TimeoutPhase::StreamIdle));
    assert!(stream.next().await.is_none());
}

// ---------------------------------------------------------------------------------------
// The openai/ backend.
// ---------------------------------------------------------------------------------------

/// A client whose `openai/` points at `gateway` (base with `/v1`, as OPENAI_BASE_URL is
/// written) and whose proxy points at `proxy`.
fn openai_client(gateway: &MockGateway, proxy: &MockGateway) -> Client {
    Client::builder()
        .api_base(proxy.base_url())
        .api_key("sk-proxy-only")
        .provider_settings(
            "openai",
            ProviderSettings::new()
                .api_base(format!("{}/v1", gateway.base_url()))
                .api_key("sk-openai-only")
                .header("OpenAI-Organization", "org-1")
                .header("OpenAI-Project", "proj-1"),
        )
        .build()
        .unwrap()
}

fn assert_openai_wire(request: &RecordedRequest, path: &str) {
    assert_eq!(request.path, path);
    assert_eq!(
        request.header("authorization"),
        Some("Bearer sk-openai-only")
    );
    assert_eq!(request.header("openai-organization"), Some("org-1"));
    assert_eq!(request.header("openai-project"), Some("proj-1"));
}

#[tokio::test]
async fn the_openai_backend_serves_every_openai_endpoint_with_its_own_credentials() {
    let gateway = MockGateway::start().await.unwrap();
    let proxy = MockGateway::start().await.unwrap();
    let client = openai_client(&gateway, &proxy);

    let chat = client
        .chat(ChatRequest::new(
            "openai/mock-chat",
            [ChatMessage::user("hello there")],
        ))
        .await
        .unwrap();
    assert!(chat.content().is_some());
    let mut stream = client
        .chat_stream(ChatRequest::new(
            "openai/mock-chat",
            [ChatMessage::user("hello")],
        ))
        .await
        .unwrap();
    let mut whole = ChatStreamAccumulator::default();
    while let Some(chunk) = stream.next().await {
        whole.push(&chunk.unwrap());
    }
    assert!(whole.finish().content().is_some());
    client
        .text_completion(CompletionRequest::new("openai/mock-text", "Once"))
        .await
        .unwrap();
    client
        .embedding(EmbeddingRequest::new("openai/mock-embed", "words"))
        .await
        .unwrap();
    client
        .image_generation(ImageRequest::new("openai/mock-image", "a cat"))
        .await
        .unwrap();
    let speech = client
        .speech(SpeechRequest::new("openai/mock-tts", "hi", "alloy"))
        .await
        .unwrap();
    assert!(!speech.bytes(1 << 20).await.unwrap().is_empty());
    client
        .transcription(TranscriptionRequest::new(
            "openai/mock-whisper",
            AudioFile::new(b"RIFF....WAVE".to_vec(), "a.wav"),
        ))
        .await
        .unwrap();
    let models = client.list_models("openai").await.unwrap();
    assert!(!models.data.is_empty());

    let seen = gateway.requests();
    let paths = [
        "/v1/chat/completions",
        "/v1/chat/completions",
        "/v1/completions",
        "/v1/embeddings",
        "/v1/images/generations",
        "/v1/audio/speech",
        "/v1/audio/transcriptions",
        "/v1/models",
    ];
    assert_eq!(seen.len(), paths.len());
    for (request, path) in seen.iter().zip(paths) {
        assert_openai_wire(request, path);
    }
    assert_eq!(seen[0].json().unwrap()["model"], "mock-chat");
    assert_eq!(proxy.request_count(), 0, "nothing reached the proxy");

    let error = client
        .rerank(RerankRequest::new("openai/rerank-1", "q", ["a", "b"]))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Unsupported);
    assert_eq!(error.provider(), Some("openai"));
    assert_eq!(error.endpoint(), Some("rerank"));
    assert_eq!(
        gateway.request_count(),
        paths.len(),
        "no request for rerank"
    );
}

// ---------------------------------------------------------------------------------------
// Force-proxy: every endpoint, client-wide and per request.
// ---------------------------------------------------------------------------------------

/// The model each recorded request named, from its JSON body or its multipart form.
fn model_sent(request: &RecordedRequest) -> Option<String> {
    if let Some(json) = request.json() {
        return json["model"].as_str().map(str::to_owned);
    }
    request.multipart()?.into_iter().find_map(|field| {
        (field.name == "model").then(|| String::from_utf8_lossy(&field.data).into_owned())
    })
}

/// Call every endpoint once with `model`, each request marked by `mark`.
async fn every_endpoint(client: &Client, model: &str, mark: impl Fn(&mut mishika::RequestOptions)) {
    let mut chat = ChatRequest::new(model, [ChatMessage::user("hi")]);
    mark(chat.options_mut());
    client.chat(chat.clone()).await.unwrap();
    let mut stream = client.chat_stream(chat).await.unwrap();
    while let Some(chunk) = stream.next().await {
        chunk.unwrap();
    }
    let mut completion = CompletionRequest::new(model, "Once");
    mark(completion.options_mut());
    client.text_completion(completion.clone()).await.unwrap();
    let mut stream = client.text_completion_stream(completion).await.unwrap();
    while let Some(chunk) = stream.next().await {
        chunk.unwrap();
    }
    let mut embedding = EmbeddingRequest::new(model, "words");
    mark(embedding.options_mut());
    client.embedding(embedding).await.unwrap();
    let mut image = ImageRequest::new(model, "a cat");
    mark(image.options_mut());
    client.image_generation(image).await.unwrap();
    let mut speech = SpeechRequest::new(model, "hi", "alloy");
    mark(speech.options_mut());
    client
        .speech(speech)
        .await
        .unwrap()
        .bytes(1 << 20)
        .await
        .unwrap();
    let mut transcription =
        TranscriptionRequest::new(model, AudioFile::new(b"RIFF....WAVE".to_vec(), "a.wav"));
    mark(transcription.options_mut());
    client.transcription(transcription).await.unwrap();
    let mut rerank = RerankRequest::new(model, "q", ["a", "b"]);
    mark(rerank.options_mut());
    client.rerank(rerank).await.unwrap();
}

const FORCED_PATHS: [&str; 9] = [
    "/v1/chat/completions",
    "/v1/chat/completions",
    "/v1/completions",
    "/v1/completions",
    "/v1/embeddings",
    "/v1/images/generations",
    "/v1/audio/speech",
    "/v1/audio/transcriptions",
    "/v1/rerank",
];

fn assert_forced(proxy: &MockGateway, model: &str) {
    let seen = proxy.requests();
    assert_eq!(seen.len(), FORCED_PATHS.len());
    for (request, path) in seen.iter().zip(FORCED_PATHS) {
        assert_eq!(request.path, path);
        assert_eq!(model_sent(request).as_deref(), Some(model), "{path}");
        assert_eq!(
            request.header("authorization"),
            Some("Bearer sk-proxy-only")
        );
    }
    proxy.clear_requests();
}

#[tokio::test]
async fn force_proxy_sends_every_endpoint_to_the_proxy_with_the_model_unchanged() {
    let proxy = MockGateway::start().await.unwrap();
    let elsewhere = MockGateway::start().await.unwrap();
    let forced = Client::builder()
        .api_base(proxy.base_url())
        .api_key("sk-proxy-only")
        .provider_settings(
            "openai",
            ProviderSettings::new()
                .api_base(elsewhere.url("/v1"))
                .api_key("sk-openai-only"),
        )
        .force_proxy(true)
        .build()
        .unwrap();
    for model in [
        "openai/gpt-4o",
        "anthropic/claude-3-5-haiku",
        "unknown-prefix/m",
        "bare-model",
    ] {
        every_endpoint(&forced, model, |_| {}).await;
        assert_forced(&proxy, model);
    }
    // The proxy's own prefix is still the proxy's: it alone is stripped.
    every_endpoint(&forced, "mishikallm_proxy/openai/gpt-4o", |_| {}).await;
    assert_forced(&proxy, "openai/gpt-4o");
    forced
        .list_models_with("openai", &mishika::RequestOptions::default())
        .await
        .unwrap();
    assert_eq!(proxy.requests()[0].path, "/v1/models");
    proxy.clear_requests();

    // Per request, on a client that routes by prefix.
    let routed = Client::builder()
        .api_base(proxy.base_url())
        .api_key("sk-proxy-only")
        .provider_settings(
            "openai",
            ProviderSettings::new()
                .api_base(elsewhere.url("/v1"))
                .api_key("sk-openai-only"),
        )
        .build()
        .unwrap();
    every_endpoint(&routed, "openai/gpt-4o", |options| {
        options.force_proxy = Some(true)
    })
    .await;
    assert_forced(&proxy, "openai/gpt-4o");
    assert_eq!(elsewhere.request_count(), 0, "nothing went to openai/");

    // And a request may opt out of a forcing client.
    forced
        .chat(ChatRequest::new("openai/mock-chat", [ChatMessage::user("hi")]).force_proxy(false))
        .await
        .unwrap();
    assert_eq!(proxy.request_count(), 0);
    let seen = elsewhere.requests();
    assert_eq!(seen.len(), 1);
    assert_eq!(
        seen[0].header("authorization"),
        Some("Bearer sk-openai-only")
    );
    assert_eq!(model_sent(&seen[0]).as_deref(), Some("mock-chat"));
}

#[test]
fn registering_a_prefix_twice_or_an_empty_one_and_settings_for_no_provider_are_errors() {
    let twice = Client::builder()
        .provider("lines", Lines)
        .provider("lines/", Lines)
        .build()
        .unwrap_err();
    assert_eq!(twice.kind(), ErrorKind::Config);
    assert!(twice.message().contains("`lines`"), "{twice}");

    let empty = Client::builder().provider("", Lines).build().unwrap_err();
    assert_eq!(empty.kind(), ErrorKind::Config);

    let nobody = Client::builder()
        .provider_settings("nobody", ProviderSettings::new().api_key("sk-x"))
        .build()
        .unwrap_err();
    assert_eq!(nobody.kind(), ErrorKind::UnknownProvider);
    assert!(nobody.message().contains("nobody"), "{nobody}");
    assert!(!format!("{nobody} {nobody:?}").contains("sk-x"));

    // Replacing a built-in is allowed: the user's provider answers under that prefix.
    let replaced = Client::builder().provider("openai", Lines).build().unwrap();
    let (provider, _, request) = replaced
        .route(ChatRequest::new("openai/m", [ChatMessage::user("x")]))
        .unwrap();
    assert_eq!((provider.name(), request.model.as_str()), ("lines", "m"));

    let bad_header = Client::builder()
        .provider_settings("openai", ProviderSettings::new().header("bad header", "v"))
        .build()
        .unwrap_err();
    assert_eq!(bad_header.kind(), ErrorKind::Config);
}
