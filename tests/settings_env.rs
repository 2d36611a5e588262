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

use mishika::core::reexports::async_trait;
use mishika::core::{AuthScheme, Call, ChatResponse, PathStyle, Provider, ProviderSpec};
use mishika::{ChatMessage, ChatRequest, Client, ErrorKind, ProviderSettings};
use mishika_mock::{MockGateway, RecordedRequest};

static SERIAL: Mutex<()> = Mutex::new(());

/// Take the lock and start from a clean slate: no env vars, no process-wide settings.
fn isolated() -> MutexGuard<'static, ()> {
    let guard = SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    set_env(None, None);
    for variable in OTHER_PROVIDER_VARIABLES {
        set_var(variable, None);
    }
    mishika::clear_process_settings();
    guard
}

/// Every other provider's variable, and the force-proxy switch: cleared by `isolated()`.
const OTHER_PROVIDER_VARIABLES: [&str; 7] = [
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "OPENAI_ORGANIZATION",
    "OPENAI_PROJECT",
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_BASE_URL",
    "MISHIKALLM_PROXY",
];

fn set_var(name: &str, value: Option<&str>) {
    // SAFETY: as in `set_env`: every test holds SERIAL while touching the environment.
    unsafe {
        match value {
            Some(value) => std::env::set_var(name, value),
            None => std::env::remove_var(name),
        }
    }
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
async fn a_blank_key_at_any_layer_passes_over_to_the_next() {
    let _guard = isolated();
    let gateway = MockGateway::start().await.unwrap();
    set_env(Some(&gateway.base_url()), Some("sk-from-env"));
    // Blank on the request and on the client: the environment's key goes out.
    let client = Client::builder().api_key("  ").build().unwrap();
    client.chat(ask().api_key("")).await.unwrap();
    // Blank process-wide: the environment's too.
    mishika::set_api_key("");
    mishika::completion(ask()).await.unwrap();
    // Blank everywhere: no header at all, never `Authorization: Bearer ` with nothing after.
    set_env(Some(&gateway.base_url()), None);
    client.chat(ask()).await.unwrap();
    mishika::completion(ask().api_key(" ")).await.unwrap();
    let sent: Vec<Option<String>> = gateway
        .requests()
        .iter()
        .map(|request| request.header("authorization").map(str::to_owned))
        .collect();
    let env = Some("Bearer sk-from-env".to_owned());
    assert_eq!(sent, [env.clone(), env, None, None]);
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

/// A provider of the user's own over the OpenAI chat path, with its own variables.
#[derive(Debug)]
struct Custom;

const CUSTOM_SPEC: ProviderSpec = ProviderSpec::new()
    .env_api_base("CUSTOM_BASE_NEVER_SET")
    .env_api_key("CUSTOM_KEY_NEVER_SET")
    .auth(AuthScheme::Header("x-custom-key"))
    .paths(PathStyle::V1);

#[async_trait]
impl Provider for Custom {
    fn name(&self) -> &str {
        "custom"
    }

    fn spec(&self) -> ProviderSpec {
        CUSTOM_SPEC
    }

    async fn chat(&self, call: &Call, request: ChatRequest) -> mishika::Result<ChatResponse> {
        call.send_json(call.json_request("chat/completions", &request)?)
            .await
    }
}

/// Every credential-bearing header a request carried, by name.
fn credentials(request: &RecordedRequest) -> Vec<(String, String)> {
    let names = [
        "authorization",
        "x-api-key",
        "x-custom-key",
        "openai-organization",
        "openai-project",
        "anthropic-version",
        "x-proxy-team",
    ];
    names
        .iter()
        .filter_map(|name| Some((name.to_string(), request.header(name)?.to_owned())))
        .collect()
}

fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected
        .iter()
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect()
}

async fn one_of_each(gateways: &[&MockGateway; 4], call: impl AsyncFn(&str) -> ()) {
    for model in [
        "mishikallm_proxy/p-model",
        "openai/mock-chat",
        "anthropic/claude-mock",
        "custom/c-model",
    ] {
        call(model).await;
    }
    for gateway in gateways {
        assert_eq!(gateway.request_count(), 1, "{gateway:?}");
    }
}

#[tokio::test]
async fn every_provider_gets_exactly_its_own_credentials() {
    let _guard = isolated();
    let gateways = [
        MockGateway::start().await.unwrap(),
        MockGateway::start().await.unwrap(),
        MockGateway::start().await.unwrap(),
        MockGateway::start().await.unwrap(),
    ];
    let [proxy, openai, anthropic, custom] = &gateways;
    // The proxy and OpenAI from the environment; Anthropic from the client; the custom
    // provider from the request.
    set_env(Some(&proxy.base_url()), Some("sk-proxy-env"));
    set_var("OPENAI_BASE_URL", Some(&openai.url("/v1")));
    set_var("OPENAI_API_KEY", Some("sk-openai-env"));
    set_var("OPENAI_ORGANIZATION", Some("org-env"));
    set_var("ANTHROPIC_API_KEY", Some("sk-anthropic-env-must-lose"));
    let client = Client::builder()
        .header("x-proxy-team", "search")
        .provider_settings(
            "anthropic",
            ProviderSettings::new()
                .api_base(anthropic.base_url())
                .api_key("sk-anthropic-client"),
        )
        .provider("custom", Custom)
        .provider_settings(
            "custom",
            ProviderSettings::new().api_base(custom.base_url()),
        )
        .build()
        .unwrap();
    let ask_model = |model: &str| {
        let request = ChatRequest::new(model, [ChatMessage::user("hi")]).max_tokens(16);
        if model.starts_with("custom/") {
            request.api_key("sk-custom-request")
        } else {
            request
        }
    };
    one_of_each(&[proxy, openai, anthropic, custom], async |model| {
        client.chat(ask_model(model)).await.unwrap();
    })
    .await;
    assert_eq!(
        credentials(&proxy.requests()[0]),
        pairs(&[
            ("authorization", "Bearer sk-proxy-env"),
            ("x-proxy-team", "search")
        ])
    );
    assert_eq!(
        credentials(&openai.requests()[0]),
        pairs(&[
            ("authorization", "Bearer sk-openai-env"),
            ("openai-organization", "org-env")
        ])
    );
    assert_eq!(
        credentials(&anthropic.requests()[0]),
        pairs(&[
            ("x-api-key", "sk-anthropic-client"),
            ("anthropic-version", "2023-06-01")
        ])
    );
    assert_eq!(
        credentials(&custom.requests()[0]),
        pairs(&[("x-custom-key", "sk-custom-request")])
    );
    assert_eq!(proxy.requests()[0].path, "/v1/chat/completions");
    assert_eq!(openai.requests()[0].path, "/v1/chat/completions");
    assert_eq!(anthropic.requests()[0].path, "/v1/messages");
    assert_eq!(custom.requests()[0].path, "/v1/chat/completions");
    for gateway in &gateways {
        gateway.clear_requests();
    }

    // The free functions: the proxy from the environment, OpenAI process-wide (beating its
    // environment), Anthropic from the environment, the custom provider is not registered
    // on the process-wide client, so a request-level base and key for OpenAI's model stand
    // in for "per request".
    mishika::set_provider_settings(
        "openai",
        ProviderSettings::new()
            .api_base(openai.url("/v1"))
            .api_key("sk-openai-process")
            .header("OpenAI-Project", "proj-process"),
    )
    .unwrap();
    set_var("ANTHROPIC_BASE_URL", Some(&anthropic.base_url()));
    set_var("ANTHROPIC_API_KEY", Some("sk-anthropic-env"));
    for model in [
        "mishikallm_proxy/p-model",
        "openai/mock-chat",
        "anthropic/claude-mock",
    ] {
        mishika::completion(ChatRequest::new(model, [ChatMessage::user("hi")]))
            .await
            .unwrap();
    }
    mishika::completion(
        ChatRequest::new("openai/mock-chat", [ChatMessage::user("hi")])
            .api_base(custom.url("/v1"))
            .api_key("sk-openai-request"),
    )
    .await
    .unwrap();
    assert_eq!(
        credentials(&proxy.requests()[0]),
        pairs(&[("authorization", "Bearer sk-proxy-env")])
    );
    assert_eq!(
        credentials(&openai.requests()[0]),
        pairs(&[
            ("authorization", "Bearer sk-openai-process"),
            ("openai-organization", "org-env"),
            ("openai-project", "proj-process"),
        ])
    );
    assert_eq!(
        credentials(&anthropic.requests()[0]),
        pairs(&[
            ("x-api-key", "sk-anthropic-env"),
            ("anthropic-version", "2023-06-01")
        ])
    );
    assert_eq!(
        credentials(&custom.requests()[0]),
        pairs(&[
            ("authorization", "Bearer sk-openai-request"),
            ("openai-organization", "org-env"),
            ("openai-project", "proj-process"),
        ])
    );
    set_env(None, None);
}

#[tokio::test]
async fn no_provider_reads_another_providers_variables() {
    let _guard = isolated();
    let gateway = MockGateway::start().await.unwrap();
    // Only OpenAI's variables: the proxy has no base and sends no key.
    set_var("OPENAI_BASE_URL", Some(&gateway.url("/v1")));
    set_var("OPENAI_API_KEY", Some("sk-openai-env"));
    let error = Client::new().unwrap().chat(ask()).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Config);
    assert!(!error.message().contains("OPENAI"), "{}", error.message());
    let client = Client::builder()
        .api_base(gateway.base_url())
        .build()
        .unwrap();
    client.chat(ask()).await.unwrap();
    assert_eq!(gateway.requests()[0].header("authorization"), None);

    // Only the proxy's variables: openai/ goes to OpenAI's default base, not the proxy's,
    // and sends none of the proxy's key.
    set_var("OPENAI_BASE_URL", None);
    set_var("OPENAI_API_KEY", None);
    set_env(Some(&gateway.base_url()), Some("sk-proxy-env"));
    let call = Client::new()
        .unwrap()
        .call_for("openai", &mishika::RequestOptions::default())
        .unwrap();
    assert_eq!(call.api_base(), Some("https://api.openai.com/v1"));
    assert!(call.api_key().is_none());
    let client = Client::builder()
        .provider_settings(
            "openai",
            ProviderSettings::new().api_base(gateway.url("/v1")),
        )
        .build()
        .unwrap();
    gateway.clear_requests();
    client
        .chat(ChatRequest::new(
            "openai/mock-chat",
            [ChatMessage::user("hi")],
        ))
        .await
        .unwrap();
    assert_eq!(gateway.requests()[0].header("authorization"), None);
    set_env(None, None);
}

#[tokio::test]
async fn the_environment_switch_forces_the_proxy() {
    let _guard = isolated();
    let gateway = MockGateway::start().await.unwrap();
    set_env(Some(&gateway.base_url()), Some("sk-proxy-env"));
    set_var("OPENAI_API_KEY", Some("sk-openai-env"));
    set_var("MISHIKALLM_PROXY", Some("true"));
    Client::new()
        .unwrap()
        .chat(ChatRequest::new("openai/gpt-4o", [ChatMessage::user("hi")]))
        .await
        .unwrap();
    let seen = gateway.requests();
    assert_eq!(seen[0].path, "/v1/chat/completions");
    assert_eq!(seen[0].json().unwrap()["model"], "openai/gpt-4o");
    assert_eq!(seen[0].header("authorization"), Some("Bearer sk-proxy-env"));
    set_var("MISHIKALLM_PROXY", Some("false"));
    let call = Client::new()
        .unwrap()
        .route(ChatRequest::new("openai/gpt-4o", [ChatMessage::user("hi")]));
    let (provider, _, request) = call.unwrap();
    assert_eq!(
        (provider.name(), request.model.as_str()),
        ("openai", "gpt-4o")
    );
    set_env(None, None);
}
