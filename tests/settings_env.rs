//! Configuration precedence: request > client (or process-wide) > environment.
//!
//! These tests change environment variables and process-wide settings, so they live in
//! their own test binary (their own process) and take one lock each, never racing.

#![allow(clippy::unwrap_used, clippy::expect_used)]
// Rust 2024 makes changing the environment `unsafe`; this binary serialises it (see `SERIAL`).
#![allow(unsafe_code)]
// Each #[tokio::test] runs its own runtime on its own thread: holding the std lock across
// awaits is exactly what serialises them.
#![allow(clippy::await_holding_lock)]

use std::sync::{Mutex, MutexGuard};

use mishika::{ChatMessage, ChatRequest, Client, ErrorKind};
use mishika_mock::MockGateway;

static SERIAL: Mutex<()> = Mutex::new(());

/// Take the lock and start from a clean slate: no env vars, no process-wide settings.
fn isolated() -> MutexGuard<'static, ()> {
    let guard = SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    set_env(None, None);
    mishika::clear_process_settings();
    guard
}

fn set_env(base: Option<&str>, key: Option<&str>) {
    // SAFETY: every test in this binary holds SERIAL while touching the environment, and
    // nothing else in this process reads it concurrently.
    unsafe {
        match base {
            Some(base) => std::env::set_var("MISHIKALLM_PROXY_API_BASE", base),
            None => std::env::remove_var("MISHIKALLM_PROXY_API_BASE"),
        }
        match key {
            Some(key) => std::env::set_var("MISHIKALLM_PROXY_API_KEY", key),
            None => std::env::remove_var("MISHIKALLM_PROXY_API_KEY"),
        }
    }
}

fn ask() -> ChatRequest {
    ChatRequest::new("mishikallm_proxy/gpt-4o", [ChatMessage::user("hi")])
}

#[tokio::test]
async fn environment_is_the_last_resort() {
    let _guard = isolated();
    let env_gateway = MockGateway::start().await.unwrap();
    set_env(
        Some(&format!("{}/v1", env_gateway.base_url())),
        Some("sk-env"),
    );
    Client::new().unwrap().chat(ask()).await.unwrap();
    let seen = env_gateway.requests();
    assert_eq!(seen[0].path, "/v1/chat/completions");
    assert_eq!(seen[0].header("authorization"), Some("Bearer sk-env"));
    set_env(None, None);
}

#[tokio::test]
async fn request_beats_client_beats_environment() {
    let _guard = isolated();
    let (env_gw, client_gw, request_gw) = (
        MockGateway::start().await.unwrap(),
        MockGateway::start().await.unwrap(),
        MockGateway::start().await.unwrap(),
    );
    set_env(Some(&env_gw.base_url()), Some("sk-env"));
    let client = Client::builder()
        .api_base(client_gw.base_url())
        .api_key("sk-client")
        .build()
        .unwrap();

    client.chat(ask()).await.unwrap();
    assert_eq!(
        client_gw.requests()[0].header("authorization"),
        Some("Bearer sk-client")
    );

    client
        .chat(ask().api_base(request_gw.base_url()).api_key("sk-request"))
        .await
        .unwrap();
    assert_eq!(
        request_gw.requests()[0].header("authorization"),
        Some("Bearer sk-request")
    );

    // Only the base on the request: the key still comes from the client.
    client
        .chat(ask().api_base(request_gw.base_url()))
        .await
        .unwrap();
    assert_eq!(
        request_gw.requests()[1].header("authorization"),
        Some("Bearer sk-client")
    );

    // A client without a key falls back to the environment's key.
    let keyless = Client::builder()
        .api_base(client_gw.base_url())
        .build()
        .unwrap();
    keyless.chat(ask()).await.unwrap();
    assert_eq!(
        client_gw.requests()[1].header("authorization"),
        Some("Bearer sk-env")
    );
    assert_eq!(env_gw.request_count(), 0);
    set_env(None, None);
}

#[tokio::test]
async fn process_wide_settings_drive_the_free_functions() {
    let _guard = isolated();
    let (env_gw, global_gw, request_gw) = (
        MockGateway::start().await.unwrap(),
        MockGateway::start().await.unwrap(),
        MockGateway::start().await.unwrap(),
    );
    set_env(Some(&env_gw.base_url()), Some("sk-env"));
    mishika::set_api_base(global_gw.base_url());
    mishika::set_api_key("sk-global");

    let response = mishika::completion(ask()).await.unwrap();
    assert_eq!(response.content(), Some("hi"));
    assert_eq!(
        global_gw.requests()[0].header("authorization"),
        Some("Bearer sk-global")
    );

    let mut stream = mishika::completion_stream(ask().api_base(request_gw.base_url()))
        .await
        .unwrap();
    while futures_util::StreamExt::next(&mut stream).await.is_some() {}
    assert_eq!(
        request_gw.requests()[0].header("authorization"),
        Some("Bearer sk-global")
    );

    // Cleared process-wide settings fall back to the environment.
    mishika::clear_process_settings();
    mishika::completion(ask()).await.unwrap();
    assert_eq!(
        env_gw.requests()[0].header("authorization"),
        Some("Bearer sk-env")
    );
    set_env(None, None);
}

#[tokio::test]
async fn missing_base_names_every_way_to_set_it() {
    let _guard = isolated();
    let error = Client::new().unwrap().chat(ask()).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Config);
    let message = error.message();
    for way in [
        ".api_base(",
        "Client::builder().api_base(",
        "mishika::set_api_base(",
        "MISHIKALLM_PROXY_API_BASE",
    ] {
        assert!(message.contains(way), "{message} lacks {way}");
    }
    let error = mishika::completion(ask()).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Config);
}

#[tokio::test]
async fn no_key_anywhere_means_no_authorization_header() {
    let _guard = isolated();
    let gateway = MockGateway::start().await.unwrap();
    set_env(Some(&gateway.base_url()), None);
    Client::new().unwrap().chat(ask()).await.unwrap();
    mishika::completion(ask()).await.unwrap();
    for request in gateway.requests() {
        assert_eq!(request.header("authorization"), None);
    }
    set_env(None, None);
}

#[tokio::test]
async fn blank_environment_values_count_as_unset() {
    let _guard = isolated();
    set_env(Some("   "), Some(""));
    let error = Client::new().unwrap().chat(ask()).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Config);
    set_env(None, None);
}

#[tokio::test]
async fn environment_key_reaches_every_endpoint() {
    use mishika::{
        AudioFile, CompletionRequest, EmbeddingRequest, ImageRequest, RerankRequest, SpeechRequest,
        TranscriptionRequest,
    };
    let _guard = isolated();
    let gateway = MockGateway::builder()
        .api_key("sk-env-only")
        .start()
        .await
        .unwrap();
    set_env(Some(&gateway.base_url()), Some("sk-env-only"));
    // The free functions, with nothing configured but the environment.
    mishika::completion(ask()).await.unwrap();
    mishika::text_completion(CompletionRequest::new("mishikallm_proxy/t", "x"))
        .await
        .unwrap();
    mishika::embedding(EmbeddingRequest::new("mishikallm_proxy/e", "x"))
        .await
        .unwrap();
    mishika::image_generation(ImageRequest::new("mishikallm_proxy/i", "x"))
        .await
        .unwrap();
    let audio = mishika::speech(SpeechRequest::new("mishikallm_proxy/s", "x", "alloy"))
        .await
        .unwrap();
    assert_eq!(audio.bytes(1024).await.unwrap(), "x");
    mishika::transcription(TranscriptionRequest::new(
        "mishikallm_proxy/w",
        AudioFile::new(&b"x"[..], "a.wav"),
    ))
    .await
    .unwrap();
    mishika::rerank(RerankRequest::new("mishikallm_proxy/r", "q", ["d"]))
        .await
        .unwrap();
    mishika::list_models().await.unwrap();
    let seen = gateway.requests();
    assert_eq!(seen.len(), 8);
    for request in &seen {
        assert_eq!(
            request.header("authorization"),
            Some("Bearer sk-env-only"),
            "{}",
            request.path
        );
    }
    set_env(None, None);
}
