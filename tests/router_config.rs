//! A Router read from the `config.yaml` a LiteLLM proxy reads (mishika's `config` feature):
//! groups, deployments and settings as the file gives them, checked by behaviour over
//! loopback and with providers that answer without I/O; ignored keys listed and logged;
//! errors naming the file, the entry and the key.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use mishika::core::reexports::async_trait;
use mishika::core::{Call, ChatRequest, ChatResponse, Error, ErrorKind, Provider, Result};
use mishika::router::{Router, RouterBuilder};
use mishika::{ChatMessage, Client};
use mishika_mock::{MockGateway, ScriptedResponse};
use serde_json::json;

/// A realistic proxy config: several groups, `os.environ/` keys, fallbacks in LiteLLM's
/// list-of-maps form, a retry policy, router_settings and litellm_settings, and keys
/// mishika does not use.
const REALISTIC: &str = r#"
environment_variables:
  BACKUP_KEY: sk-backup-from-the-file

model_list:
  - model_name: gpt-4o
    litellm_params:
      model: litellm_proxy/gpt-4o
      api_base: os.environ/PRIMARY_BASE
      api_key: os.environ/PRIMARY_KEY
      rpm: 600
      timeout: 30
      max_retries: 0
      drop_params: true
    model_info:
      id: primary-gpt-4o
      max_input_tokens: 1000
      mode: chat
  - model_name: claude
    litellm_params:
      model: litellm_proxy/claude-3-5-haiku
      api_base: os.environ/BACKUP_BASE
      api_key: os.environ/BACKUP_KEY
      tpm: 100000
      weight: 2
    model_info: {id: backup-claude, max_tokens: 8192}
  - model_name: gpt-4o-mini
    litellm_params:
      model: openai/gpt-4o-mini
      api_key: os.environ/OPENAI_API_KEY
      temperature: 0.2
    rpm: 60
  - model_name: gpt-4o-mini
    litellm_params: {model: gpt-4o-mini, custom_llm_provider: azure, api_version: "2024-06-01"}
  - model_name: haiku
    litellm_params: {model: claude-3-5-haiku-latest}
  - model_name: "*"
    litellm_params: {model: "*"}

router_settings:
  routing_strategy: usage-based-routing-v2
  num_retries: 1
  allowed_fails: 2
  cooldown_time: 0.5
  retry_policy:
    RateLimitErrorRetries: 3
    BadRequestErrorRetries: 0
    InternalServerErrorRetries: 0
    ServiceUnavailableErrorRetries: 2
  allowed_fails_policy: {TimeoutErrorAllowedFails: 5}
  fallbacks: [{"gpt-4o": ["claude"]}, {"gpt-4o-mini": ["gpt-4o", "claude"]}]
  context_window_fallbacks: [{"gpt-4o": ["claude"]}]
  enable_pre_call_checks: true
  timeout: 45
  redis_host: os.environ/REDIS_HOST

litellm_settings:
  num_retries: 5
  request_timeout: 600
  content_policy_fallbacks: [{"claude": ["gpt-4o"]}]
  default_fallbacks: ["haiku"]
  drop_params: true
  success_callback: ["langfuse"]

general_settings:
  master_key: os.environ/LITELLM_MASTER_KEY
"#;

/// An environment of `pairs` for `os.environ/` lookups.
fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
        .collect();
    move |name| map.get(name).cloned()
}

fn ask(group: &str) -> ChatRequest {
    ChatRequest::new(group, [ChatMessage::user("hi")])
}

fn models(router: &Router, group: &str) -> Vec<String> {
    router
        .deployments(group)
        .iter()
        .map(|deployment| deployment.model().to_owned())
        .collect()
}

/// A provider that answers (registered as `up/`) or fails with a 500 (as `down/`),
/// counting calls per model in a count shared by both.
#[derive(Debug, Clone, Default)]
struct UpDown {
    fails: bool,
    calls: Arc<Mutex<HashMap<String, usize>>>,
}

impl UpDown {
    fn down(&self) -> UpDown {
        UpDown {
            fails: true,
            calls: Arc::clone(&self.calls),
        }
    }

    fn calls(&self, model: &str) -> usize {
        self.calls.lock().unwrap().get(model).copied().unwrap_or(0)
    }
}

#[async_trait]
impl Provider for UpDown {
    fn name(&self) -> &str {
        if self.fails { "down" } else { "up" }
    }

    async fn chat(&self, _call: &Call, request: ChatRequest) -> Result<ChatResponse> {
        let model = format!("{}/{}", self.name(), request.model);
        *self.calls.lock().unwrap().entry(model.clone()).or_default() += 1;
        if self.fails {
            return Err(Error::new(ErrorKind::InternalServer, "down"));
        }
        Ok(serde_json::from_value(json!({
            "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": format!("from {model}")}, "finish_reason": "stop"}],
        }))
        .unwrap())
    }
}

#[tokio::test]
async fn a_litellm_config_loads_into_groups_deployments_and_settings() {
    let primary = MockGateway::start().await.unwrap();
    let backup = MockGateway::start().await.unwrap();
    let environment = env(&[
        ("PRIMARY_BASE", primary.base_url().as_str()),
        ("PRIMARY_KEY", "sk-primary"),
        ("BACKUP_BASE", backup.base_url().as_str()),
        // The file's environment_variables win, as the proxy sets them at start.
        ("BACKUP_KEY", "sk-backup-from-the-process"),
        ("OPENAI_API_KEY", "sk-openai"),
    ]);
    let builder =
        RouterBuilder::from_config_str_with_env(REALISTIC, "config.yaml", environment).unwrap();
    assert_eq!(
        builder.ignored_config_keys(),
        [
            "model_list[0].litellm_params.drop_params",
            "model_list[0].model_info.mode",
            "model_list[2].litellm_params.temperature",
            "model_list[3].litellm_params.api_version",
            "router_settings.redis_host",
            "litellm_settings.num_retries",
            "litellm_settings.request_timeout",
            "litellm_settings.drop_params",
            "litellm_settings.success_callback",
            "general_settings.master_key",
        ]
    );
    let router = builder.build().unwrap();
    assert_eq!(
        router.groups(),
        ["*", "claude", "gpt-4o", "gpt-4o-mini", "haiku"]
    );
    // The wildcard group: every model no group is named after.
    assert_eq!(models(&router, "*"), ["openai/*"]);
    assert_eq!(models(&router, "gpt-4o"), ["mishikallm_proxy/gpt-4o"]);
    assert_eq!(
        models(&router, "claude"),
        ["mishikallm_proxy/claude-3-5-haiku"]
    );
    assert_eq!(
        models(&router, "gpt-4o-mini"),
        ["openai/gpt-4o-mini", "azure/gpt-4o-mini"]
    );
    assert_eq!(
        models(&router, "haiku"),
        ["anthropic/claude-3-5-haiku-latest"]
    );
    assert_eq!(router.deployment_id("gpt-4o", 0), Some("primary-gpt-4o"));
    assert_eq!(router.deployment_id("claude", 0), Some("backup-claude"));
    assert_eq!(
        router.deployment_id("gpt-4o-mini", 1),
        Some("gpt-4o-mini-1")
    );

    // `azure/` is no provider mishika has: the client says so, until one is registered.
    let error = Client::builder()
        .router(router.clone())
        .build()
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Config);
    assert!(error.message().contains("azure/gpt-4o-mini"), "{error}");
    let client = Client::builder()
        .provider("azure", UpDown::default())
        .router(router.clone())
        .build()
        .unwrap();

    // The primary fails with a 500; the retry policy gives InternalServer no retry, so the
    // call falls back to `claude` as the file says, with each deployment's base and key.
    primary.push_response(ScriptedResponse::error(
        500,
        "boom",
        "internal_error",
        "500",
    ));
    let answer = client.chat(ask("gpt-4o")).await.unwrap();
    let route = answer.metadata().route().unwrap();
    assert_eq!(
        (
            &*route.group,
            &*route.deployment,
            route.attempts,
            route.fallbacks
        ),
        ("claude", "backup-claude", 2, 1)
    );
    let first = primary.last_request().unwrap();
    assert_eq!(first.header("authorization"), Some("Bearer sk-primary"));
    assert_eq!(first.json().unwrap()["model"], "gpt-4o");
    let second = backup.last_request().unwrap();
    assert_eq!(
        second.header("authorization"),
        Some("Bearer sk-backup-from-the-file")
    );
    assert_eq!(second.json().unwrap()["model"], "claude-3-5-haiku");
    assert_eq!((primary.request_count(), backup.request_count()), (1, 1));

    // Pre-call checks with the file's context window: a prompt of more than 1000
    // estimated tokens skips gpt-4o for its context-window fallback, without a request.
    let long = ChatRequest::new("gpt-4o", [ChatMessage::user("x".repeat(8000))]);
    let answer = client.chat(long.mock_response("fits")).await.unwrap();
    let route = answer.metadata().route().unwrap();
    assert_eq!((&*route.group, route.fallbacks), ("claude", 1));
    assert_eq!(primary.request_count(), 1);
}

#[tokio::test]
async fn litellm_settings_fallbacks_apply_where_router_settings_has_none() {
    let yaml = r#"
model_list:
  - {model_name: broken, litellm_params: {model: down/a}}
  - {model_name: spare, litellm_params: {model: up/b}}
  - {model_name: last-resort, litellm_params: {model: up/c}}
litellm_settings:
  num_retries: 2
  fallbacks: [{"broken": ["spare"]}, {"*": ["last-resort"]}]
router_settings:
  num_retries: 0
"#;
    let builder = RouterBuilder::from_config_str_with_env(yaml, "inline", env(&[])).unwrap();
    assert_eq!(
        builder.ignored_config_keys(),
        ["litellm_settings.num_retries"]
    );
    let router = builder.build().unwrap();
    let provider = UpDown::default();
    let client = Client::builder()
        .provider("up", provider.clone())
        .provider("down", provider.down())
        .router(router)
        .build()
        .unwrap();
    let answer = client.chat(ask("broken")).await.unwrap();
    assert_eq!(answer.content(), Some("from up/b"));
    let route = answer.metadata().route().unwrap();
    assert_eq!((route.attempts, route.fallbacks), (2, 1));
    assert_eq!(
        provider.calls("down/a"),
        1,
        "router_settings.num_retries: 0 won"
    );

    // `"*"` is the default fallbacks: a group without its own goes there.
    let yaml = yaml.replace("model: up/b", "model: down/b");
    let router = Router::from_config_str(&yaml, "inline").unwrap();
    let client = Client::builder()
        .provider("up", provider.clone())
        .provider("down", provider.down())
        .router(router)
        .build()
        .unwrap();
    let answer = client.chat(ask("spare")).await.unwrap();
    assert_eq!(answer.content(), Some("from up/c"));
}

#[test]
fn the_conformance_proxy_config_loads() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/conformance/litellm_config.yaml"
    );
    let yaml = std::fs::read_to_string(path).unwrap();
    let environment = env(&[
        ("UPSTREAM_V1", "http://127.0.0.1:9/v1"),
        ("UPSTREAM_BASE", "http://127.0.0.1:9"),
    ]);
    let builder = RouterBuilder::from_config_str_with_env(&yaml, path, environment).unwrap();
    assert_eq!(
        builder.ignored_config_keys(),
        [
            "model_list[4].model_info.mode",
            "model_list[5].model_info.mode",
            "model_list[6].model_info.mode",
            "model_list[9].model_info.mode",
            "litellm_settings.num_retries",
            "litellm_settings.telemetry",
            "litellm_settings.drop_params",
            "general_settings.master_key",
        ]
    );
    let router = builder.build().unwrap();
    assert_eq!(router.groups().len(), 10);
    assert_eq!(models(&router, "gpt-4o-mini"), ["openai/gpt-4o-mini"]);
    assert_eq!(models(&router, "claude-mock"), ["anthropic/claude-mock"]);
    assert_eq!(
        models(&router, "gpt-3.5-turbo-instruct"),
        ["text-completion-openai/gpt-3.5-turbo-instruct"]
    );
    assert_eq!(
        models(&router, "rerank-english-v3.0"),
        ["cohere/rerank-english-v3.0"]
    );
}

// ---------------------------------------------------------------------------------------
// Errors: the file, the entry, the key.
// ---------------------------------------------------------------------------------------

fn load_error(yaml: &str) -> Error {
    let error = RouterBuilder::from_config_str_with_env(yaml, "config.yaml", env(&[]))
        .expect_err("the config is wrong");
    assert_eq!(error.kind(), ErrorKind::Config, "{error}");
    error
}

const TWO_MODELS: &str = r#"
model_list:
  - model_name: claude
    litellm_params: {model: anthropic/claude-3-5-haiku-latest}
  - model_name: gpt-4o
    litellm_params:
      model: openai/gpt-4o
      api_key: KEY
      rpm: RPM
"#;

#[test]
fn a_missing_environment_variable_names_the_file_the_entry_and_the_key() {
    let yaml = TWO_MODELS
        .replace("KEY", "os.environ/MISHIKA_TEST_SURELY_UNSET_KEY")
        .replace("RPM", "60");
    let error = load_error(&yaml);
    assert_eq!(
        error.message(),
        "config.yaml: model_list[1] (gpt-4o): litellm_params.api_key: the environment \
         variable `MISHIKA_TEST_SURELY_UNSET_KEY` is not set (the value is \
         os.environ/MISHIKA_TEST_SURELY_UNSET_KEY)"
    );
    // The same through the process environment and a file on disk.
    let dir = std::env::temp_dir().join(format!("mishika-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("config.yaml");
    std::fs::write(&path, &yaml).unwrap();
    let error = Router::from_config_file(&path).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Config);
    assert!(
        error
            .message()
            .starts_with(&format!("{}: model_list[1] (gpt-4o)", path.display())),
        "{error}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn wrong_types_name_the_key_and_what_was_there() {
    let yaml = TWO_MODELS.replace("KEY", "sk").replace("RPM", "fast");
    assert_eq!(
        load_error(&yaml).message(),
        r#"config.yaml: model_list[1] (gpt-4o): litellm_params.rpm: expected a number, got "fast""#
    );
    let yaml = TWO_MODELS.replace("KEY", "sk").replace("RPM", "1.5");
    assert_eq!(
        load_error(&yaml).message(),
        "config.yaml: model_list[1] (gpt-4o): litellm_params.rpm: expected a whole number, \
         got 1.5"
    );
    // A variable's value is never shown: it may be a secret.
    let yaml = TWO_MODELS
        .replace("KEY", "sk")
        .replace("RPM", "os.environ/RPM");
    let error =
        RouterBuilder::from_config_str_with_env(&yaml, "config.yaml", env(&[("RPM", "s3cret")]))
            .unwrap_err();
    assert_eq!(
        error.message(),
        "config.yaml: model_list[1] (gpt-4o): litellm_params.rpm: expected a number, got the \
         value of os.environ/RPM"
    );
    // A number from a variable is read.
    RouterBuilder::from_config_str_with_env(&yaml, "config.yaml", env(&[("RPM", "90")])).unwrap();

    for (settings, message) in [
        (
            "router_settings: {cooldown_time: [1]}",
            "config.yaml: router_settings: cooldown_time: expected a number, got a list",
        ),
        (
            "router_settings: {num_retries: -1}",
            "config.yaml: router_settings: num_retries: expected a number of at least 0, got -1",
        ),
        (
            "router_settings: {enable_pre_call_checks: maybe}",
            r#"config.yaml: router_settings: enable_pre_call_checks: expected true or false, got "maybe""#,
        ),
        (
            "router_settings: {routing_strategy: cost-based-routing}",
            r#"config.yaml: router_settings: routing_strategy: "cost-based-routing" is not a strategy mishika has (simple-shuffle, least-busy, latency-based-routing, usage-based-routing, usage-based-routing-v2)"#,
        ),
        (
            "litellm_settings: {fallbacks: [claude]}",
            r#"config.yaml: litellm_settings: fallbacks[0]: expected a map of a model group to the groups it falls back to ({"gpt-4o": ["claude"]}), got "claude""#,
        ),
        (
            "router_settings: {fallbacks: [{claude: [{model: x}]}]}",
            "config.yaml: router_settings: fallbacks[0].claude[0]: expected a group name, got a map",
        ),
        (
            "router_settings: {retry_policy: {RateLimitErrorRetries: lots}}",
            r#"config.yaml: router_settings: retry_policy.RateLimitErrorRetries: expected a number, got "lots""#,
        ),
        (
            "router_settings: [1, 2]",
            "config.yaml: router_settings: expected a map, got a list",
        ),
    ] {
        let yaml = format!(
            "{}\n{settings}\n",
            TWO_MODELS.replace("KEY", "sk").replace("RPM", "6")
        );
        assert_eq!(load_error(&yaml).message(), message);
    }

    for (model_list, message) in [
        (
            "model_list: [{litellm_params: {model: openai/x}}]",
            "config.yaml: model_list[0]: model_name: missing: every model needs a model_name",
        ),
        (
            "model_list: [{model_name: x}]",
            "config.yaml: model_list[0] (x): litellm_params: missing: every model needs \
             litellm_params with its model",
        ),
        (
            "model_list: [{model_name: x, litellm_params: {api_key: k}}]",
            "config.yaml: model_list[0] (x): litellm_params.model: missing: the provider model \
             to call (openai/gpt-4o, litellm_proxy/gpt-4o …)",
        ),
        (
            "model_list: [{model_name: x, litellm_params: {model: openai/x}, model_info: {max_input_tokens: big}}]",
            r#"config.yaml: model_list[0] (x): model_info.max_input_tokens: expected a number, got "big""#,
        ),
        (
            "model_list: {gpt-4o: openai/gpt-4o}",
            "config.yaml: model_list: expected a list of models, got a map",
        ),
        (
            "- just a list",
            "config.yaml: expected a map of sections (model_list, router_settings …), got a list",
        ),
    ] {
        assert_eq!(load_error(model_list).message(), message);
    }
}

#[test]
fn a_yaml_syntax_error_keeps_its_line_and_column() {
    let yaml = "model_list:\n  - model_name: gpt-4o\n    litellm_params: {model: openai/gpt-4o\n";
    let error = load_error(yaml);
    assert!(
        error
            .message()
            .starts_with("config.yaml: not valid YAML at line "),
        "{error}"
    );
    let source = std::error::Error::source(&error).expect("the YAML error");
    assert!(source.to_string().contains("line"), "{source}");

    let error = load_error("model_list:\n  - model_name: a\n   bad: indentation\n");
    assert!(error.message().contains("line 3"), "{error}");
}

#[test]
fn a_file_that_cannot_be_read_or_a_bad_fallback_is_a_config_error_naming_it() {
    let error = RouterBuilder::from_config_file("/nonexistent/mishika/config.yaml").unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Config);
    assert!(
        error
            .message()
            .starts_with("/nonexistent/mishika/config.yaml: the config file cannot be read"),
        "{error}"
    );
    assert!(std::error::Error::source(&error).is_some());

    let yaml = "model_list: [{model_name: a, litellm_params: {model: openai/a}}]\n\
                router_settings: {fallbacks: [{a: [nowhere]}]}\n";
    let error = Router::from_config_str(yaml, "fallbacks.yaml").unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Config);
    assert!(error.message().starts_with("fallbacks.yaml: "), "{error}");
    assert!(error.message().contains("nowhere"), "{error}");
}

// ---------------------------------------------------------------------------------------
// disable_cooldowns, model_group_alias, model_group_retry_policy, wildcard groups.
// ---------------------------------------------------------------------------------------

/// A client of `yaml`'s router with the `up/` and `down/` providers of `provider`.
fn up_down_client(yaml: &str, provider: &UpDown) -> Client {
    let router = Router::from_config_str(yaml, "config.yaml").unwrap();
    Client::builder()
        .provider("up", provider.clone())
        .provider("down", provider.down())
        .router(router)
        .build()
        .unwrap()
}

#[tokio::test]
async fn disable_cooldowns_keeps_a_failing_deployment_in_play() {
    let yaml = r#"
model_list:
  - {model_name: solo, litellm_params: {model: down/a}}
router_settings:
  num_retries: 0
  allowed_fails: 0
  cooldown_time: 600
  disable_cooldowns: DISABLE
"#;
    // Cooldowns on: the first failure cools the only deployment down, and the next call
    // is a rate limit without a call.
    let provider = UpDown::default();
    let client = up_down_client(&yaml.replace("DISABLE", "false"), &provider);
    for _ in 0..3 {
        let _ = client.chat(ask("solo")).await.unwrap_err();
    }
    let error = client.chat(ask("solo")).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::RateLimit);
    assert_eq!(provider.calls("down/a"), 1);

    // Cooldowns off: every call reaches it and fails as it does.
    let provider = UpDown::default();
    let client = up_down_client(&yaml.replace("DISABLE", "true"), &provider);
    for _ in 0..4 {
        let error = client.chat(ask("solo")).await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::InternalServer);
    }
    assert_eq!(provider.calls("down/a"), 4);
}

#[tokio::test]
async fn model_group_alias_sends_an_alias_to_its_group() {
    let yaml = r#"
model_list:
  - {model_name: gpt-4o, litellm_params: {model: up/four}}
router_settings:
  model_group_alias:
    gpt4: gpt-4o
    legacy: {model: gpt-4o, hidden: true, colour: blue}
"#;
    let builder = RouterBuilder::from_config_str_with_env(yaml, "config.yaml", env(&[])).unwrap();
    assert_eq!(
        builder.ignored_config_keys(),
        ["router_settings.model_group_alias.legacy.colour"]
    );
    let provider = UpDown::default();
    let client = up_down_client(yaml, &provider);
    for alias in ["gpt4", "legacy", "gpt-4o"] {
        let answer = client.chat(ask(alias)).await.unwrap();
        assert_eq!(answer.content(), Some("from up/four"), "{alias}");
        assert_eq!(&*answer.metadata().route().unwrap().group, "gpt-4o");
    }
    assert_eq!(provider.calls("up/four"), 3);

    // An alias of a group without deployments, or one without its group, names the file
    // and the key.
    let bad = yaml.replace("gpt4: gpt-4o", "gpt4: gpt-5");
    let error = Router::from_config_str(&bad, "config.yaml").unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Config);
    assert!(error.message().starts_with("config.yaml: "), "{error}");
    assert!(error.message().contains("`gpt4`") && error.message().contains("`gpt-5`"));
    let bad = yaml.replace(
        "{model: gpt-4o, hidden: true, colour: blue}",
        "{hidden: true}",
    );
    let error = RouterBuilder::from_config_str_with_env(&bad, "config.yaml", env(&[])).unwrap_err();
    assert_eq!(
        error.message(),
        "config.yaml: router_settings: model_group_alias.legacy.model: missing: the model \
         group it names"
    );
}

#[tokio::test]
async fn model_group_retry_policy_replaces_the_retry_policy_for_its_group() {
    let yaml = r#"
model_list:
  - {model_name: patient, litellm_params: {model: down/p}}
  - {model_name: plain, litellm_params: {model: down/q}}
router_settings:
  num_retries: 5
  disable_cooldowns: true
  retry_policy: {InternalServerErrorRetries: 1, RateLimitErrorRetries: 4}
  model_group_retry_policy:
    patient: {InternalServerErrorRetries: 3, TeapotErrorRetries: 1}
"#;
    let builder = RouterBuilder::from_config_str_with_env(yaml, "config.yaml", env(&[])).unwrap();
    assert_eq!(
        builder.ignored_config_keys(),
        ["router_settings.model_group_retry_policy.patient.TeapotErrorRetries"]
    );
    let provider = UpDown::default();
    let client = up_down_client(yaml, &provider);
    let error = client.chat(ask("patient")).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InternalServer);
    assert_eq!(
        provider.calls("down/p"),
        4,
        "the group's own policy: 3 retries"
    );
    let _ = client.chat(ask("plain")).await.unwrap_err();
    assert_eq!(provider.calls("down/q"), 2, "the router's policy: 1 retry");

    let bad = yaml.replace(
        "InternalServerErrorRetries: 3",
        "InternalServerErrorRetries: lots",
    );
    let error = RouterBuilder::from_config_str_with_env(&bad, "config.yaml", env(&[])).unwrap_err();
    assert_eq!(
        error.message(),
        "config.yaml: router_settings: model_group_retry_policy.patient.\
         InternalServerErrorRetries: expected a number, got \"lots\""
    );
    // A policy for a group without deployments is an error when the router is built.
    let bad = yaml.replace("    patient: {", "    patience: {");
    let error = Router::from_config_str(&bad, "config.yaml").unwrap_err();
    assert!(error.message().contains("`patience`"), "{error}");
}

#[tokio::test]
async fn default_retries_in_a_retry_policy_counts_for_the_classes_it_does_not_name() {
    let yaml = r#"
model_list:
  - {model_name: plain, litellm_params: {model: down/q}}
  - {model_name: patient, litellm_params: {model: down/p}}
router_settings:
  num_retries: 5
  disable_cooldowns: true
  retry_policy: {RateLimitErrorRetries: 4, DefaultRetries: 2}
  model_group_retry_policy:
    patient: {DefaultRetries: 0}
"#;
    let builder = RouterBuilder::from_config_str_with_env(yaml, "config.yaml", env(&[])).unwrap();
    assert!(builder.ignored_config_keys().is_empty());
    let provider = UpDown::default();
    let client = up_down_client(yaml, &provider);
    let _ = client.chat(ask("plain")).await.unwrap_err();
    assert_eq!(
        provider.calls("down/q"),
        3,
        "DefaultRetries: 2, not num_retries: 5"
    );
    let _ = client.chat(ask("patient")).await.unwrap_err();
    assert_eq!(provider.calls("down/p"), 1, "the group's DefaultRetries: 0");

    let bad = yaml.replace("DefaultRetries: 2", "DefaultRetries: -1");
    let error = RouterBuilder::from_config_str_with_env(&bad, "config.yaml", env(&[])).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Config);
    assert!(
        error
            .message()
            .starts_with("config.yaml: router_settings: retry_policy.DefaultRetries: "),
        "{error}"
    );
}

#[tokio::test]
async fn wildcard_groups_route_matching_models_with_the_star_filled_in() {
    let yaml = r#"
model_list:
  - {model_name: "openai/*", litellm_params: {model: "up/*"}}
  - {model_name: "openai/gpt-4*", litellm_params: {model: "up/four-*"}}
  - {model_name: "openai/exact", litellm_params: {model: up/named}}
  - {model_name: "fixed-*", litellm_params: {model: up/fixed}}
"#;
    let builder = RouterBuilder::from_config_str_with_env(yaml, "config.yaml", env(&[])).unwrap();
    assert!(builder.ignored_config_keys().is_empty());
    let provider = UpDown::default();
    let client = up_down_client(yaml, &provider);
    for (asked, called, group) in [
        // The most specific pattern first: the longer one.
        ("openai/gpt-4o", "up/four-o", "openai/gpt-4*"),
        ("openai/o1-mini", "up/o1-mini", "openai/*"),
        // A group named after the model beats every pattern.
        ("openai/exact", "up/named", "openai/exact"),
        // A deployment model without `*` is called as written.
        ("fixed-anything", "up/fixed", "fixed-*"),
    ] {
        let answer = client.chat(ask(asked)).await.unwrap();
        assert_eq!(
            answer.content(),
            Some(format!("from {called}").as_str()),
            "{asked}"
        );
        let route = answer.metadata().route().unwrap();
        assert_eq!((&*route.group, &*route.model), (group, called), "{asked}");
        assert_eq!(provider.calls(called), 1, "{asked}");
    }
}
