//! Secrets kept out of every printout and log. In a test binary of its own: tracing caches
//! each callsite's interest process-wide, and another test thread registering the retry
//! layer's callsite while no subscriber is set could make this thread's subscriber miss
//! the retry event (a race seen about once in 50 runs when this test shared a binary).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use mishika::router::RouterBuilder;
use mishika::{ChatMessage, ChatRequest, Client, ErrorKind, RetryPolicy};
use mishika_mock::{MockGateway, ScriptedResponse};

#[path = "support/capture.rs"]
mod capture;
use capture::Capture;

/// Fast backoff so the test measures policy, not patience.
fn quick_policy(retries: u32) -> RetryPolicy {
    RetryPolicy::default()
        .max_retries(retries)
        .initial_backoff(Duration::from_millis(20))
        .max_backoff(Duration::from_millis(80))
        .max_retry_after(Duration::from_secs(5))
}

fn ask(text: &str) -> ChatRequest {
    ChatRequest::new("mishikallm_proxy/m", [ChatMessage::user(text)])
}

#[test]
fn the_key_appears_in_no_printout_and_no_log() {
    const KEY: &str = "sk-very-secret-key-1234";
    let log = Arc::new(Mutex::new(String::new()));
    let _subscriber = tracing::subscriber::set_default(Capture(Arc::clone(&log)));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let printed = runtime.block_on(async {
        let gateway = MockGateway::builder()
            .api_key("sk-other")
            .start()
            .await
            .unwrap();
        gateway.push_response(ScriptedResponse::error(503, "down", "unavailable", "503"));
        let builder = Client::builder()
            .api_base(gateway.base_url())
            .api_key(KEY)
            .retry_policy(quick_policy(1));
        let builder_debug = format!("{builder:?}");
        let client = builder.build().unwrap();
        let request = ask("x").api_key(KEY).header("x-trace", "1");
        let request_debug = format!("{request:?}");
        let error = client.chat(request).await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Authentication);
        let call = client
            .call_for(mishika::proxy::PREFIX, &mishika::RequestOptions::default())
            .unwrap();
        format!(
            "{builder_debug}\n{client:?}\n{request_debug}\n{error}\n{error:?}\n{call:?}\n{:?}",
            error.headers()
        )
    });
    let log = log.lock().unwrap().clone();
    assert!(
        log.contains("mishika::retry"),
        "the retry was logged: {log}"
    );
    assert!(
        log.contains("method=POST") && log.contains("path=/v1/chat/completions"),
        "the retry log names the call: {log}"
    );
    assert!(!printed.contains(KEY), "{printed}");
    assert!(!log.contains(KEY), "{log}");
    assert!(printed.contains("ApiKey(***)"));
}

#[test]
fn ignored_keys_are_logged_as_warnings_without_their_values() {
    let log = Arc::new(Mutex::new(String::new()));
    let _subscriber = tracing::subscriber::set_default(Capture(Arc::clone(&log)));
    let yaml = r#"
model_list:
  - model_name: g
    litellm_params: {model: openai/g, drop_params: true}
general_settings:
  master_key: sk-master-secret
"#;
    let builder =
        RouterBuilder::from_config_str_with_env(yaml, "proxy.yaml", |_: &str| None).unwrap();
    assert_eq!(
        builder.ignored_config_keys(),
        [
            "model_list[0].litellm_params.drop_params",
            "general_settings.master_key"
        ]
    );
    let log = log.lock().unwrap();
    for key in builder.ignored_config_keys() {
        assert!(
            log.lines().any(|line| line.starts_with("mishika::router ")
                && line.contains(key.as_str())
                && line.contains("proxy.yaml")),
            "{key} in {log}"
        );
    }
    assert!(!log.contains("sk-master-secret"), "{log}");
}
