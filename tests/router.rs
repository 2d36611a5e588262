//! The Router: model groups over scripted deployments. Most tests use `sim/`, a provider
//! answering from a shared script with no I/O (so thousands of calls stay fast and time is
//! a `ManualClock`); the wire cases run against `MockGateway` over loopback.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use mishika::core::reexports::{async_trait, bytes::Bytes, http};
use mishika::core::{
    AudioFile, Body, Call, ChatRequest, ChatResponse, ChatStream, Error, ErrorKind, Provider,
    ResponseMetadata, ResponseStream, Result, SpeechRequest, SpeechResponse, TranscriptionRequest,
    TranscriptionResponse, Transport, TransportFuture,
};
use mishika::router::{
    Deployment, InMemoryState, Load, ManualClock, MinuteLimits, Router, RouterBuilder, RouterState,
    Strategy, Timestamp,
};
use mishika::{ChatMessage, ChatStreamAccumulator, Client, FinishReason, ProviderSettings};
use mishika_mock::{MockGateway, ScriptedResponse};
use serde_json::json;

// ---------------------------------------------------------------------------------------
// `sim/`: answers by a script of what each model does next.
// ---------------------------------------------------------------------------------------

/// What a `sim/` model does on its next calls: each failure once, then answers.
#[derive(Debug, Default)]
struct Script {
    failures: HashMap<String, Vec<ErrorKind>>,
    always_failing: HashMap<String, ErrorKind>,
    calls: HashMap<String, usize>,
}

#[derive(Debug, Clone, Default)]
struct Sim(Arc<Mutex<Script>>);

impl Sim {
    fn fail_next(&self, model: &str, kinds: &[ErrorKind]) {
        let mut script = self.0.lock().unwrap();
        script
            .failures
            .entry(model.to_owned())
            .or_default()
            .extend(kinds);
    }

    fn always_fail(&self, model: &str, kind: ErrorKind) {
        self.0
            .lock()
            .unwrap()
            .always_failing
            .insert(model.to_owned(), kind);
    }

    fn heal(&self, model: &str) {
        self.0.lock().unwrap().always_failing.remove(model);
    }

    fn calls(&self, model: &str) -> usize {
        self.0
            .lock()
            .unwrap()
            .calls
            .get(model)
            .copied()
            .unwrap_or(0)
    }

    /// The outcome of the next call to `model`.
    fn next(&self, model: &str) -> std::result::Result<(), ErrorKind> {
        let mut script = self.0.lock().unwrap();
        *script.calls.entry(model.to_owned()).or_default() += 1;
        if let Some(kind) = script.always_failing.get(model) {
            return Err(*kind);
        }
        match script.failures.get_mut(model) {
            Some(kinds) if !kinds.is_empty() => Err(kinds.remove(0)),
            _ => Ok(()),
        }
    }
}

fn sim_error(kind: ErrorKind) -> Error {
    let status = match kind {
        ErrorKind::RateLimit => 429,
        ErrorKind::Authentication => 401,
        ErrorKind::BadRequest | ErrorKind::ContextWindowExceeded => 400,
        ErrorKind::ServiceUnavailable => 503,
        _ => 500,
    };
    Error::new(kind, format!("sim {kind}")).with_status(http::StatusCode::from_u16(status).unwrap())
}

fn answer(model: &str) -> ChatResponse {
    serde_json::from_value(json!({
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": format!("from {model}")}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
    }))
    .unwrap()
}

#[async_trait]
impl Provider for Sim {
    fn name(&self) -> &str {
        "sim"
    }

    async fn chat(&self, _call: &Call, request: ChatRequest) -> Result<ChatResponse> {
        self.next(&request.model).map_err(sim_error)?;
        Ok(answer(&request.model))
    }

    async fn chat_stream(&self, _call: &Call, request: ChatRequest) -> Result<ChatStream> {
        let failure = self.next(&request.model).err();
        let model = request.model.clone();
        let chunk = |text: &str| {
            serde_json::from_value(json!({
                "model": model,
                "choices": [{"index": 0, "delta": {"content": text}}],
            }))
            .unwrap()
        };
        // A failure shows before the first chunk: the stream opened, then broke.
        let items: Vec<Result<mishika::ChatChunk>> = match failure {
            Some(kind) => vec![Err(sim_error(kind))],
            None => vec![Ok(chunk("from ")), Ok(chunk(&model))],
        };
        Ok(ResponseStream::from_stream(
            ResponseMetadata::default(),
            futures_util::stream::iter(items),
        ))
    }
}

/// A transport that must never be used: counts what reaches it and fails.
#[derive(Debug, Default)]
struct NoNetwork(AtomicUsize);

impl Transport for NoNetwork {
    fn send(&self, _request: http::Request<Bytes>) -> TransportFuture<'_> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Box::pin(async {
            Err(mishika::TransportError::new(
                mishika::TransportErrorKind::Connect,
                "no network in this test",
            ))
        })
    }
}

fn client(router: Router, sim: &Sim) -> Client {
    Client::builder()
        .provider("sim", sim.clone())
        .transport(Arc::new(NoNetwork::default()))
        .router(router)
        .build()
        .unwrap()
}

fn ask(group: &str) -> ChatRequest {
    ChatRequest::new(group, [ChatMessage::user("hi")])
}

fn deployment_of(response: &ChatResponse) -> String {
    response.metadata().route().unwrap().deployment.to_string()
}

// ---------------------------------------------------------------------------------------
// Strategies.
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn simple_shuffle_follows_the_weights() {
    let sim = Sim::default();
    let router = Router::builder()
        .deployment(Deployment::new("g", "sim/a").id("a").weight(1.0))
        .deployment(Deployment::new("g", "sim/b").id("b").weight(3.0))
        .deployment(Deployment::new("g", "sim/c").id("c").weight(6.0))
        .seed(7)
        .build()
        .unwrap();
    let client = client(router, &sim);
    let mut counts: HashMap<String, usize> = HashMap::new();
    for _ in 0..10_000 {
        let response = client.chat(ask("g")).await.unwrap();
        *counts.entry(deployment_of(&response)).or_default() += 1;
    }
    for (id, share) in [("a", 0.1), ("b", 0.3), ("c", 0.6)] {
        let got = counts[id] as f64 / 10_000.0;
        assert!(
            (got - share).abs() <= share * 0.05,
            "{id}: {got} of the picks, want {share} ± 5 %"
        );
    }

    // Without weights, rpm weighs; without rpm, tpm; without either, all alike.
    let by_rpm = Router::builder()
        .deployment(Deployment::new("g", "sim/a").id("a").rpm(100_000))
        .deployment(Deployment::new("g", "sim/b").id("b").rpm(300_000))
        .seed(3)
        .build()
        .unwrap();
    let client = self::client(by_rpm, &sim);
    let mut b = 0;
    for _ in 0..4_000 {
        b += usize::from(deployment_of(&client.chat(ask("g")).await.unwrap()) == "b");
    }
    let share = b as f64 / 4_000.0;
    assert!((share - 0.75).abs() <= 0.75 * 0.05, "{share}");
}

#[tokio::test]
async fn a_seed_makes_the_picks_repeat() {
    let picks = |seed| async move {
        let sim = Sim::default();
        let router = Router::builder()
            .deployment(Deployment::new("g", "sim/a").id("a"))
            .deployment(Deployment::new("g", "sim/b").id("b"))
            .deployment(Deployment::new("g", "sim/c").id("c"))
            .seed(seed)
            .build()
            .unwrap();
        let client = client(router, &sim);
        let mut ids = Vec::new();
        for _ in 0..50 {
            ids.push(deployment_of(&client.chat(ask("g")).await.unwrap()));
        }
        ids
    };
    assert_eq!(picks(11).await, picks(11).await);
    assert_ne!(picks(11).await, picks(12).await);
}

#[tokio::test]
async fn least_busy_picks_the_deployment_with_fewest_calls_in_flight() {
    let slow = MockGateway::start().await.unwrap();
    let fast = MockGateway::start().await.unwrap();
    // The slow deployment's answers wait; while one is in flight, calls go to the other.
    for _ in 0..3 {
        slow.push_response(
            ScriptedResponse::status(200)
                .json(json!({"choices": [{"index": 0, "message": {"role": "assistant", "content": "slow"}}]}))
                .delay(Duration::from_millis(800)),
        );
    }
    let router = Router::builder()
        .deployment(
            Deployment::new("g", "mishikallm_proxy/m")
                .id("slow")
                .api_base(slow.base_url()),
        )
        .deployment(
            Deployment::new("g", "openai/m")
                .id("fast")
                .api_base(fast.url("/v1")),
        )
        .strategy(Strategy::LeastBusy)
        .seed(1)
        .build()
        .unwrap();
    let client = Client::builder()
        .provider_settings("openai", ProviderSettings::new().api_key("sk-x"))
        .router(router)
        .build()
        .unwrap();
    // Find which one the first call took; a second call made while it is in flight must
    // take the other.
    let first = tokio::spawn({
        let client = client.clone();
        async move { client.chat(ask("g")).await.unwrap() }
    });
    // Wait until the first call is in flight somewhere.
    loop {
        if slow.request_count() + fast.request_count() >= 1 {
            break;
        }
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let first_went_slow = slow.request_count() == 1;
    if first_went_slow {
        let second = client.chat(ask("g")).await.unwrap();
        assert_eq!(deployment_of(&second), "fast");
        assert_eq!(deployment_of(&first.await.unwrap()), "slow");
    } else {
        // The fast one answered at once; the next tie is broken at random: keep asking
        // until the slow one holds a call, then the next must go fast.
        first.await.unwrap();
        let held = tokio::spawn({
            let client = client.clone();
            async move {
                loop {
                    let response = client.chat(ask("g")).await.unwrap();
                    if deployment_of(&response) == "slow" {
                        return response;
                    }
                }
            }
        });
        while slow.request_count() == 0 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let second = client.chat(ask("g")).await.unwrap();
        assert_eq!(deployment_of(&second), "fast");
        assert_eq!(deployment_of(&held.await.unwrap()), "slow");
    }
}

/// The router retries, so a deployment's calls get no transport-level retries unless it
/// sets `max_retries` (or the request sets `num_retries`), whatever the client's own
/// retry policy says.
#[tokio::test]
async fn a_deployment_gets_transport_retries_only_when_it_asks_for_them() {
    let gateway = MockGateway::start().await.unwrap();
    let router = Router::builder()
        .deployment(Deployment::new("plain", "mishikallm_proxy/m").id("plain"))
        .deployment(
            Deployment::new("retried", "mishikallm_proxy/m")
                .id("retried")
                .max_retries(1),
        )
        .num_retries(0)
        .build()
        .unwrap();
    let client = Client::builder()
        .api_base(gateway.base_url())
        .retry_policy(
            mishika::RetryPolicy::default()
                .max_retries(3)
                .initial_backoff(Duration::from_millis(1))
                .max_backoff(Duration::from_millis(2))
                .max_retry_after(Duration::from_secs(1)),
        )
        .router(router)
        .build()
        .unwrap();
    let attempts = |gateway: &MockGateway| {
        let sent = gateway.requests().len();
        gateway.clear_requests();
        sent
    };
    let boom = || ScriptedResponse::error(500, "boom", "server_error", "500");

    gateway.push_response(boom());
    let error = client
        .chat(ChatRequest::new("plain", [ChatMessage::user("x")]))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InternalServer);
    assert_eq!(attempts(&gateway), 1, "no transport retry by default");

    gateway.push_response(boom());
    let answer = client
        .chat(ChatRequest::new("retried", [ChatMessage::user("y")]))
        .await
        .unwrap();
    assert_eq!(answer.content(), Some("y"));
    assert_eq!(answer.metadata().route().unwrap().attempts, 1);
    assert_eq!(attempts(&gateway), 2, "the deployment's max_retries");

    gateway.push_response(boom());
    gateway.push_response(boom());
    let answer = client
        .chat(ChatRequest::new("plain", [ChatMessage::user("z")]).num_retries(2))
        .await
        .unwrap();
    assert_eq!(answer.content(), Some("z"));
    assert_eq!(attempts(&gateway), 3, "the request's own num_retries");
}

#[tokio::test]
async fn latency_based_prefers_the_faster_deployment_once_both_are_measured() {
    let slow = MockGateway::start().await.unwrap();
    let fast = MockGateway::start().await.unwrap();
    let body = json!({"choices": [{"index": 0, "message": {"role": "assistant", "content": "x"}}]});
    for _ in 0..20 {
        slow.push_response(
            ScriptedResponse::status(200)
                .json(body.clone())
                .delay(Duration::from_millis(150)),
        );
    }
    let router = Router::builder()
        .deployment(
            Deployment::new("g", "mishikallm_proxy/m")
                .id("slow")
                .api_base(slow.base_url()),
        )
        .deployment(
            Deployment::new("g", "openai/m")
                .id("fast")
                .api_base(fast.url("/v1")),
        )
        .strategy(Strategy::LatencyBased)
        .build()
        .unwrap();
    let client = Client::builder()
        .provider_settings("openai", ProviderSettings::new().api_key("sk-x"))
        .router(router)
        .build()
        .unwrap();
    // Unmeasured deployments go first: the first two calls measure both.
    let mut first_two: Vec<String> = Vec::new();
    for _ in 0..2 {
        first_two.push(deployment_of(&client.chat(ask("g")).await.unwrap()));
    }
    first_two.sort();
    assert_eq!(first_two, ["fast", "slow"]);
    for _ in 0..10 {
        assert_eq!(deployment_of(&client.chat(ask("g")).await.unwrap()), "fast");
    }
    assert_eq!(slow.request_count(), 1);
}

#[tokio::test]
async fn usage_based_prefers_the_deployment_with_the_fewest_tokens_this_minute() {
    let sim = Sim::default();
    let clock = ManualClock::default();
    let router = Router::builder()
        .deployment(Deployment::new("g", "sim/a").id("a"))
        .deployment(Deployment::new("g", "sim/b").id("b"))
        .strategy(Strategy::UsageBased)
        .clock(Arc::new(clock.clone()))
        .seed(5)
        .build()
        .unwrap();
    let client = client(router, &sim);
    // Each answer uses 5 tokens: the calls alternate between the two.
    let mut ids = Vec::new();
    for _ in 0..6 {
        ids.push(deployment_of(&client.chat(ask("g")).await.unwrap()));
    }
    let a = ids.iter().filter(|id| *id == "a").count();
    assert_eq!(a, 3, "{ids:?}");
    for pair in ids.chunks(2) {
        assert_ne!(pair[0], pair[1], "{ids:?}");
    }
}

// ---------------------------------------------------------------------------------------
// Limits and cooldowns.
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn rpm_is_never_exceeded_and_a_full_group_says_when_it_is_free() {
    let sim = Sim::default();
    let clock = ManualClock::default();
    clock.advance(Duration::from_secs(15));
    let router = Router::builder()
        .deployment(Deployment::new("g", "sim/a").id("a").rpm(2))
        .deployment(Deployment::new("g", "sim/b").id("b").rpm(1))
        .clock(Arc::new(clock.clone()))
        .build()
        .unwrap();
    let client = client(router, &sim);
    for _ in 0..3 {
        client.chat(ask("g")).await.unwrap();
    }
    assert_eq!((sim.calls("a"), sim.calls("b")), (2, 1));
    let error = client.chat(ask("g")).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::RateLimit);
    assert_eq!(error.retry_after(), Some(Duration::from_secs(45)));
    assert!(error.message().contains("`g`"), "{error}");
    assert_eq!((sim.calls("a"), sim.calls("b")), (2, 1), "no call went out");
    clock.advance(Duration::from_secs(45));
    client.chat(ask("g")).await.unwrap();
}

#[tokio::test]
async fn tpm_counts_estimates_before_and_usage_after() {
    let sim = Sim::default();
    let clock = ManualClock::default();
    let router = Router::builder()
        .deployment(Deployment::new("g", "sim/a").id("a").tpm(40))
        .clock(Arc::new(clock.clone()))
        .num_retries(0)
        .build()
        .unwrap();
    let client = client(router, &sim);
    // Each call is estimated at ~20 tokens and uses 5: a few fit, then the minute is full.
    let mut answered = 0;
    while client.chat(ask("g")).await.is_ok() {
        answered += 1;
        assert!(answered < 20);
    }
    let used = answered * 5;
    assert!(used <= 40 && answered >= 2, "{answered} answered");
    clock.advance(Duration::from_secs(60));
    client.chat(ask("g")).await.unwrap();
}

#[tokio::test]
async fn allowed_fails_then_cooldown_then_back_by_time() {
    let sim = Sim::default();
    let clock = ManualClock::default();
    let router = Router::builder()
        .deployment(Deployment::new("g", "sim/a").id("a").weight(1000.0))
        .deployment(Deployment::new("g", "sim/b").id("b").weight(0.001))
        .allowed_fails(1)
        .cooldown_time(Duration::from_secs(30))
        .num_retries(0)
        .clock(Arc::new(clock.clone()))
        .seed(9)
        .build()
        .unwrap();
    let client = client(router.clone(), &sim);
    sim.always_fail("a", ErrorKind::InternalServer);
    // Two failures of a (allowed: 1): it cools down; calls go to b.
    for _ in 0..2 {
        assert_eq!(
            client.chat(ask("g")).await.unwrap_err().kind(),
            ErrorKind::InternalServer
        );
    }
    assert_eq!(sim.calls("a"), 2);
    let now = router.now();
    assert_eq!(
        router.state().load("a", now).cooling_until,
        Some(now + Duration::from_secs(30))
    );
    for _ in 0..5 {
        assert_eq!(deployment_of(&client.chat(ask("g")).await.unwrap()), "b");
    }
    assert_eq!(sim.calls("a"), 2, "a cooling down gets no call");
    sim.heal("a");
    clock.advance(Duration::from_secs(30));
    assert_eq!(deployment_of(&client.chat(ask("g")).await.unwrap()), "a");
}

#[tokio::test]
async fn a_429_cools_down_at_once_for_its_retry_after() {
    let gateway = MockGateway::start().await.unwrap();
    let clock = ManualClock::default();
    gateway.push_response(
        ScriptedResponse::error(429, "slow down", "rate_limit_error", "429")
            .header("retry-after", "40"),
    );
    let router = Router::builder()
        .deployment(
            Deployment::new("g", "mishikallm_proxy/m")
                .id("only")
                .api_base(gateway.base_url()),
        )
        .cooldown_time(Duration::from_secs(5))
        .clock(Arc::new(clock.clone()))
        .build()
        .unwrap();
    let client = Client::builder().router(router.clone()).build().unwrap();
    let error = client.chat(ask("g")).await.unwrap_err();
    // Cooled at once: no retry reached the gateway; the group says when it is free.
    assert_eq!(gateway.request_count(), 1);
    assert_eq!(error.kind(), ErrorKind::RateLimit);
    assert_eq!(error.retry_after(), Some(Duration::from_secs(40)));
    clock.advance(Duration::from_secs(20));
    let error = client.chat(ask("g")).await.unwrap_err();
    assert_eq!(error.retry_after(), Some(Duration::from_secs(20)));
    assert_eq!(gateway.request_count(), 1);
    clock.advance(Duration::from_secs(20));
    let answer = client.chat(ask("g")).await.unwrap();
    assert_eq!(answer.content(), Some("hi"));
    let route = answer.metadata().route().unwrap();
    assert_eq!(
        (&*route.group, &*route.deployment, &*route.model),
        ("g", "only", "mishikallm_proxy/m")
    );
}

// ---------------------------------------------------------------------------------------
// Retries and fallbacks.
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn retries_then_fallbacks_in_order_with_exact_attempt_counts() {
    let sim = Sim::default();
    let router = Router::builder()
        .deployment(Deployment::new("first", "sim/f").id("f"))
        .deployment(Deployment::new("second", "sim/s").id("s"))
        .deployment(Deployment::new("third", "sim/t").id("t"))
        .fallbacks("first", ["second", "third"])
        .num_retries(2)
        .allowed_fails(100)
        .build()
        .unwrap();
    let client = client(router, &sim);
    sim.always_fail("f", ErrorKind::ServiceUnavailable);
    sim.fail_next(
        "s",
        &[
            ErrorKind::InternalServer,
            ErrorKind::InternalServer,
            ErrorKind::InternalServer,
        ],
    );
    let answer = client.chat(ask("first")).await.unwrap();
    let route = answer.metadata().route().unwrap();
    assert_eq!(&*route.group, "third");
    assert_eq!(&*route.deployment, "t");
    assert_eq!((route.attempts, route.fallbacks), (7, 2));
    assert_eq!((sim.calls("f"), sim.calls("s"), sim.calls("t")), (3, 3, 1));
    assert_eq!(answer.content(), Some("from t"));

    // A per-kind retry policy: no retries for 503 in this router.
    let sim = Sim::default();
    let router = Router::builder()
        .deployment(Deployment::new("first", "sim/f").id("f"))
        .deployment(Deployment::new("second", "sim/s").id("s"))
        .fallbacks("first", ["second"])
        .retries_for(ErrorKind::ServiceUnavailable, 0)
        .build()
        .unwrap();
    let client = self::client(router, &sim);
    sim.always_fail("f", ErrorKind::ServiceUnavailable);
    let route = client.chat(ask("first")).await.unwrap();
    assert_eq!(route.metadata().route().unwrap().attempts, 2);
    assert_eq!(sim.calls("f"), 1);
}

#[tokio::test]
async fn default_retries_count_for_every_kind_the_policy_does_not_name() {
    let sim = Sim::default();
    let router = Router::builder()
        .deployment(Deployment::new("open", "sim/o").id("o"))
        .deployment(Deployment::new("own", "sim/w").id("w"))
        .num_retries(5)
        .disable_cooldowns(true)
        .retries_for(ErrorKind::RateLimit, 1)
        .default_retries(2)
        .group_default_retries("own", 0)
        .build()
        .unwrap();
    let client = client(router, &sim);
    // Retryable or not (as LiteLLM's policy overrides its should-retry check), a kind the
    // policy does not name gets `DefaultRetries`, not `num_retries`.
    for (kind, calls) in [
        (ErrorKind::InternalServer, 3),
        (ErrorKind::Authentication, 6),
        (ErrorKind::RateLimit, 8),
    ] {
        sim.always_fail("o", kind);
        let error = client.chat(ask("open")).await.unwrap_err();
        assert_eq!(error.kind(), kind);
        assert_eq!(sim.calls("o"), calls, "{kind}");
    }
    // A group's own policy replaces the router's whole, its default included.
    sim.always_fail("w", ErrorKind::InternalServer);
    let error = client.chat(ask("own")).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InternalServer);
    assert_eq!(sim.calls("w"), 1);
}

#[tokio::test]
async fn an_alias_wins_over_a_group_of_its_name_as_in_litellm() {
    let sim = Sim::default();
    let router = Router::builder()
        .deployment(Deployment::new("old", "sim/o").id("o"))
        .deployment(Deployment::new("new", "sim/n").id("n"))
        .group_alias("old", "new")
        .group_alias("newest", "new")
        .fallbacks("new", ["old"])
        .build()
        .unwrap();
    let client = client(router, &sim);
    for model in ["old", "new", "newest"] {
        let answer = client.chat(ask(model)).await.unwrap();
        let route = answer.metadata().route().unwrap();
        assert_eq!((&*route.group, &*route.deployment), ("new", "n"), "{model}");
    }
    assert_eq!((sim.calls("o"), sim.calls("n")), (0, 3));
    // The shadowed group still serves as a fallback.
    sim.always_fail("n", ErrorKind::ServiceUnavailable);
    let answer = client.chat(ask("old")).await.unwrap();
    assert_eq!(&*answer.metadata().route().unwrap().group, "old");
    assert_eq!(sim.calls("o"), 1);
}

#[tokio::test]
async fn no_fallback_on_authentication_or_bad_request() {
    for kind in [ErrorKind::Authentication, ErrorKind::BadRequest] {
        let sim = Sim::default();
        let router = Router::builder()
            .deployment(Deployment::new("first", "sim/f").id("f"))
            .deployment(Deployment::new("second", "sim/s").id("s"))
            .fallbacks("first", ["second"])
            .default_fallbacks(["second"])
            .build()
            .unwrap();
        let client = client(router, &sim);
        sim.always_fail("f", kind);
        let error = client.chat(ask("first")).await.unwrap_err();
        assert_eq!(error.kind(), kind);
        assert_eq!((sim.calls("f"), sim.calls("s")), (1, 0), "{kind}");
    }
}

#[tokio::test]
async fn context_window_and_content_policy_go_to_their_own_lists() {
    let sim = Sim::default();
    let router = Router::builder()
        .deployment(Deployment::new("small", "sim/small").id("small"))
        .deployment(Deployment::new("big", "sim/big").id("big"))
        .deployment(Deployment::new("other", "sim/other").id("other"))
        .deployment(Deployment::new("safe", "sim/safe").id("safe"))
        .fallbacks("small", ["other"])
        .context_window_fallbacks("small", ["big"])
        .content_policy_fallbacks("small", ["safe"])
        .build()
        .unwrap();
    let client = client(router, &sim);
    sim.fail_next("small", &[ErrorKind::ContextWindowExceeded]);
    let answer = client.chat(ask("small")).await.unwrap();
    assert_eq!(&*answer.metadata().route().unwrap().group, "big");
    assert_eq!(
        sim.calls("small"),
        1,
        "not retried: the request is at fault"
    );
    sim.fail_next("small", &[ErrorKind::ContentPolicyViolation]);
    let answer = client.chat(ask("small")).await.unwrap();
    assert_eq!(&*answer.metadata().route().unwrap().group, "safe");
    assert_eq!(sim.calls("other"), 0);

    // The pre-call check: a deployment whose window the request overflows is skipped;
    // when none fits, the context-window fallbacks answer.
    let sim = Sim::default();
    let router = Router::builder()
        .deployment(
            Deployment::new("g", "sim/tiny")
                .id("tiny")
                .max_input_tokens(8),
        )
        .deployment(
            Deployment::new("g", "sim/wide")
                .id("wide")
                .max_input_tokens(100_000),
        )
        .deployment(
            Deployment::new("solo", "sim/solo-tiny")
                .id("solo-tiny")
                .max_input_tokens(8),
        )
        .deployment(Deployment::new("huge", "sim/huge").id("huge"))
        .context_window_fallbacks("solo", ["huge"])
        .pre_call_checks(true)
        .build()
        .unwrap();
    let client = self::client(router, &sim);
    for _ in 0..20 {
        assert_eq!(deployment_of(&client.chat(ask("g")).await.unwrap()), "wide");
    }
    assert_eq!(sim.calls("tiny"), 0);
    let answer = client.chat(ask("solo")).await.unwrap();
    assert_eq!(deployment_of(&answer), "huge");
    assert_eq!(sim.calls("solo-tiny"), 0);
}

#[tokio::test]
async fn streams_fall_back_before_their_first_chunk_only() {
    let sim = Sim::default();
    let router = Router::builder()
        .deployment(Deployment::new("first", "sim/f").id("f"))
        .deployment(Deployment::new("second", "sim/s").id("s"))
        .fallbacks("first", ["second"])
        .num_retries(0)
        .build()
        .unwrap();
    let client = client(router, &sim);
    sim.fail_next("f", &[ErrorKind::ServiceUnavailable]);
    let mut stream = client.chat_stream(ask("first")).await.unwrap();
    assert_eq!(&*stream.metadata().route().unwrap().group, "second");
    let mut whole = ChatStreamAccumulator::default();
    while let Some(chunk) = stream.next().await {
        whole.push(&chunk.unwrap());
    }
    assert_eq!(whole.finish().content(), Some("from s"));

    // Over the wire: a stream that breaks after its first chunk is the caller's error.
    let gateway = MockGateway::start().await.unwrap();
    let backup = MockGateway::start().await.unwrap();
    let first = r#"{"id":"c","object":"chat.completion.chunk","model":"m","choices":[{"index":0,"delta":{"content":"Hel"}}]}"#;
    gateway.push_response(ScriptedResponse::sse([first, first]).drop_after(first.len() + 10));
    let router = Router::builder()
        .deployment(
            Deployment::new("first", "mishikallm_proxy/m")
                .id("f")
                .api_base(gateway.base_url()),
        )
        .deployment(
            Deployment::new("second", "mishikallm_proxy/m")
                .id("s")
                .api_base(backup.base_url()),
        )
        .fallbacks("first", ["second"])
        .build()
        .unwrap();
    let client = Client::builder().router(router).build().unwrap();
    let mut stream = client.chat_stream(ask("first")).await.unwrap();
    assert_eq!(&*stream.metadata().route().unwrap().deployment, "f");
    assert_eq!(stream.next().await.unwrap().unwrap().content(), Some("Hel"));
    let error = stream.next().await.unwrap().unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Stream);
    assert_eq!(
        backup.request_count(),
        0,
        "no fallback after the first chunk"
    );
}

#[tokio::test]
async fn fail_group_drills_the_fallbacks_without_io() {
    let sim = Sim::default();
    let router = Router::builder()
        .deployment(Deployment::new("primary", "sim/p").id("p"))
        .deployment(Deployment::new("backup", "sim/b").id("b"))
        .fallbacks("primary", ["backup"])
        .fail_group("primary")
        .num_retries(0)
        .build()
        .unwrap();
    let client = client(router, &sim);
    let answer = client.chat(ask("primary")).await.unwrap();
    let route = answer.metadata().route().unwrap();
    assert_eq!((&*route.group, route.fallbacks), ("backup", 1));
    assert_eq!(sim.calls("p"), 0);
}

#[tokio::test]
async fn every_deployment_down_is_a_rate_limit_with_the_wait_never_a_hang() {
    let sim = Sim::default();
    let clock = ManualClock::default();
    let router = Router::builder()
        .deployment(Deployment::new("g", "sim/a").id("a"))
        .deployment(Deployment::new("g", "sim/b").id("b"))
        .allowed_fails(0)
        .cooldown_time(Duration::from_secs(12))
        .clock(Arc::new(clock.clone()))
        .build()
        .unwrap();
    let client = client(router, &sim);
    sim.always_fail("a", ErrorKind::InternalServer);
    sim.always_fail("b", ErrorKind::InternalServer);
    // Both fail once and cool down; the third attempt finds none free.
    let error = tokio::time::timeout(Duration::from_secs(5), client.chat(ask("g")))
        .await
        .expect("the call ends")
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::RateLimit);
    assert_eq!(error.retry_after(), Some(Duration::from_secs(12)));
    assert_eq!((sim.calls("a"), sim.calls("b")), (1, 1));
}

/// `nap/<ms>`: answers after sleeping that many milliseconds.
#[derive(Debug)]
struct Nap;

#[async_trait]
impl Provider for Nap {
    fn name(&self) -> &str {
        "nap"
    }

    async fn chat(&self, _call: &Call, request: ChatRequest) -> Result<ChatResponse> {
        let millis: u64 = request.model.parse().unwrap();
        tokio::time::sleep(Duration::from_millis(millis)).await;
        Ok(answer(&request.model))
    }
}

#[tokio::test]
async fn the_router_timeout_bounds_each_attempt_where_the_deployment_sets_none() {
    let router = Router::builder()
        .deployment(Deployment::new("slow", "nap/5000").id("slow"))
        .deployment(
            Deployment::new("patient", "nap/150")
                .id("patient")
                .timeout(Duration::from_secs(5)),
        )
        .deployment(Deployment::new("quick", "nap/0").id("quick"))
        .fallbacks("slow", ["quick"])
        .num_retries(0)
        .timeout(Duration::from_millis(50))
        .build()
        .unwrap();
    let client = Client::builder()
        .provider("nap", Nap)
        .transport(Arc::new(NoNetwork::default()))
        .router(router)
        .build()
        .unwrap();
    // The slow deployment times out after the router's 50 ms and the call falls back.
    let started = std::time::Instant::now();
    let answer = client.chat(ask("slow")).await.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    let route = answer.metadata().route().unwrap();
    assert_eq!((&*route.deployment, route.fallbacks), ("quick", 1));
    // A deployment's own timeout beats the router's.
    let answer = client.chat(ask("patient")).await.unwrap();
    assert_eq!(deployment_of(&answer), "patient");
    // So does the request's.
    let error = client
        .chat(ask("patient").timeout(Duration::from_millis(20)))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Timeout);
}

// ---------------------------------------------------------------------------------------
// Mock answers: no socket.
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn mock_answers_come_without_any_request() {
    let network = Arc::new(NoNetwork::default());
    let client = Client::builder()
        .api_base("http://127.0.0.1:9")
        .transport(network.clone())
        .build()
        .unwrap();
    let plain = client
        .chat(ask("mishikallm_proxy/gpt-4o").mock_response("It is sunny"))
        .await
        .unwrap();
    assert_eq!(plain.content(), Some("It is sunny"));
    assert_eq!(plain.model.as_deref(), Some("gpt-4o"));
    let usage = plain.usage.as_deref().unwrap();
    assert_eq!(
        (usage.prompt_tokens, usage.completion_tokens),
        (Some(1), Some(3))
    );

    let mut stream = client
        .chat_stream(ask("openai/gpt-4o").mock_response("It is sunny"))
        .await
        .unwrap();
    let mut whole = ChatStreamAccumulator::default();
    let mut pieces = 0;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.unwrap();
        pieces += usize::from(chunk.content().is_some());
        whole.push(&chunk);
    }
    let streamed = whole.finish();
    assert_eq!(pieces, 3);
    assert_eq!(streamed.content(), Some("It is sunny"));
    assert_eq!(streamed.choices[0].finish_reason, Some(FinishReason::Stop));
    assert_eq!(streamed.usage.as_deref().unwrap().total_tokens, Some(4));

    let tool = client
        .chat(ask("anthropic/claude").mock_tool_call("get_weather", r#"{"location":"Paris"}"#))
        .await
        .unwrap();
    assert_eq!(tool.tool_calls()[0].function.name, "get_weather");
    assert_eq!(
        tool.tool_calls()[0].function.arguments,
        r#"{"location":"Paris"}"#
    );
    assert_eq!(tool.choices[0].finish_reason, Some(FinishReason::ToolCalls));

    for (kind, status) in [
        (ErrorKind::RateLimit, Some(429)),
        (ErrorKind::Authentication, Some(401)),
        (ErrorKind::ContextWindowExceeded, Some(400)),
        (ErrorKind::ServiceUnavailable, Some(503)),
        (ErrorKind::Timeout, Some(408)),
    ] {
        let error = client
            .chat(ask("mishikallm_proxy/gpt-4o").mock_error(kind))
            .await
            .unwrap_err();
        assert_eq!(error.kind(), kind);
        assert_eq!(error.status().map(|s| s.as_u16()), status);
    }
    let error = client
        .embedding(
            mishika::EmbeddingRequest::new("mishikallm_proxy/e", "x")
                .mock_error(ErrorKind::BadGateway),
        )
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::BadGateway);
    let error = client
        .embedding(mishika::EmbeddingRequest::new("mishikallm_proxy/e", "x").mock_response("no"))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Config);
    let completion = client
        .text_completion(
            mishika::CompletionRequest::new("mishikallm_proxy/t", "Once")
                .mock_response("upon a time"),
        )
        .await
        .unwrap();
    assert_eq!(completion.text(), Some("upon a time"));
    assert_eq!(network.0.load(Ordering::SeqCst), 0, "no request was sent");

    // Through a router: the mock error drives cooldowns and fallbacks like a real one.
    let sim = Sim::default();
    let router = Router::builder()
        .deployment(Deployment::new("g", "sim/a").id("a"))
        .build()
        .unwrap();
    let client = self::client(router, &sim);
    let answer = client.chat(ask("g").mock_response("canned")).await.unwrap();
    assert_eq!(answer.content(), Some("canned"));
    assert_eq!(&*answer.metadata().route().unwrap().deployment, "a");
    assert_eq!(sim.calls("a"), 0);
}

// ---------------------------------------------------------------------------------------
// Building.
// ---------------------------------------------------------------------------------------

#[test]
fn a_bad_router_is_a_config_error_at_build() {
    let error = Router::builder()
        .deployment(Deployment::new("a", "sim/a"))
        .fallbacks("a", ["nowhere"])
        .build()
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Config);
    assert!(error.message().contains("nowhere"), "{error}");
    let error = Router::builder()
        .deployment(Deployment::new("a", "sim/a").id("x"))
        .deployment(Deployment::new("b", "sim/b").id("x"))
        .build()
        .unwrap_err();
    assert!(error.message().contains("`x`"), "{error}");
    let router = Router::builder()
        .deployment(Deployment::new("a", "nope/a"))
        .build()
        .unwrap();
    let error = Client::builder().router(router).build().unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Config);
    assert!(error.message().contains("nope/a"), "{error}");
}

// ---------------------------------------------------------------------------------------
// Edges mutation testing found unpinned: exact limits, ties, all-zero weights, the
// fallback cap, a retry policy's kinds, a state of the caller's own, speech and audio.
// ---------------------------------------------------------------------------------------

/// The router's estimate of `request`: its JSON length over four, rounded up.
fn estimate(request: &ChatRequest) -> u64 {
    serde_json::to_vec(request).unwrap().len().div_ceil(4) as u64
}

#[tokio::test]
async fn a_request_whose_estimate_equals_the_context_window_fits() {
    let sim = Sim::default();
    let tokens = estimate(&ask("fits"));
    assert_eq!(tokens, estimate(&ask("over")), "same length, same estimate");
    let router = Router::builder()
        .deployment(
            Deployment::new("fits", "sim/fits")
                .id("fits")
                .max_input_tokens(tokens),
        )
        .deployment(
            Deployment::new("over", "sim/over")
                .id("over")
                .max_input_tokens(tokens - 1),
        )
        .pre_call_checks(true)
        .build()
        .unwrap();
    let client = client(router, &sim);
    assert_eq!(
        deployment_of(&client.chat(ask("fits")).await.unwrap()),
        "fits"
    );
    let error = client.chat(ask("over")).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::ContextWindowExceeded);
    assert_eq!(sim.calls("over"), 0);
}

/// A stream reports no usage: its estimate is what counts against `tpm`, so a minute
/// holds exactly as many streams as the limit fits estimates.
#[tokio::test]
async fn streams_count_their_estimate_against_tpm() {
    let sim = Sim::default();
    let clock = ManualClock::default();
    let tokens = estimate(&ask("g"));
    let router = Router::builder()
        .deployment(Deployment::new("g", "sim/a").id("a").tpm(2 * tokens))
        .clock(Arc::new(clock.clone()))
        .num_retries(0)
        .build()
        .unwrap();
    let client = client(router.clone(), &sim);
    for _ in 0..2 {
        let mut stream = client.chat_stream(ask("g")).await.unwrap();
        while let Some(chunk) = stream.next().await {
            chunk.unwrap();
        }
    }
    let load = router.state().load("a", router.now());
    assert_eq!(
        (load.requests_this_minute, load.tokens_this_minute),
        (2, 2 * tokens)
    );
    let error = client.chat_stream(ask("g")).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::RateLimit);
    assert_eq!(error.retry_after(), Some(Duration::from_secs(60)));
    assert_eq!(sim.calls("a"), 2);
}

/// A chat answer's usage (5 tokens here) is what counts once it arrives; the estimate
/// must fit before: exactly `(tpm - estimate) / 5 + 1` calls fit in a minute.
#[tokio::test]
async fn tpm_fits_exactly_the_calls_whose_estimate_fits() {
    let sim = Sim::default();
    let clock = ManualClock::default();
    let tokens = estimate(&ask("g"));
    let tpm = tokens + 12;
    let router = Router::builder()
        .deployment(Deployment::new("g", "sim/a").id("a").tpm(tpm))
        .clock(Arc::new(clock.clone()))
        .num_retries(0)
        .build()
        .unwrap();
    let client = client(router, &sim);
    for _ in 0..3 {
        client.chat(ask("g")).await.unwrap();
    }
    // 15 used + the estimate > tokens + 12.
    let error = client.chat(ask("g")).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::RateLimit);
    assert_eq!(sim.calls("a"), 3);
}

/// The group `g` of three deployments `a`, `b` and `c` (on `sim/`), each made by `each`.
fn group_abc(each: impl Fn(Deployment) -> Deployment) -> RouterBuilder {
    ["a", "b", "c"]
        .into_iter()
        .fold(Router::builder(), |router, id| {
            router.deployment(each(Deployment::new("g", format!("sim/{id}")).id(id)))
        })
}

/// 900 calls to `g`, one at a time: each of `a`, `b` and `c` takes 240 to 360 of them.
async fn assert_spread_evenly(client: &Client, sim: &Sim) {
    for _ in 0..900 {
        client.chat(ask("g")).await.unwrap();
    }
    for id in ["a", "b", "c"] {
        let calls = sim.calls(id);
        assert!((240..=360).contains(&calls), "{id}: {calls} of 900");
    }
}

#[tokio::test]
async fn ties_in_least_busy_are_shared_at_random() {
    let sim = Sim::default();
    let router = group_abc(|deployment| deployment)
        .strategy(Strategy::LeastBusy)
        .seed(4)
        .build()
        .unwrap();
    // One call at a time: none is ever in flight at a pick, so every pick is a tie.
    assert_spread_evenly(&client(router, &sim), &sim).await;
}

/// Weights that are all 0 say nothing: the draw is even.
#[tokio::test]
async fn all_zero_weights_are_drawn_evenly() {
    let sim = Sim::default();
    let router = group_abc(|deployment| deployment.weight(0.0))
        .seed(2)
        .build()
        .unwrap();
    assert_spread_evenly(&client(router, &sim), &sim).await;
}

#[tokio::test]
async fn max_fallbacks_caps_the_groups_one_call_moves_to() {
    for (cap, reached) in [(0, (1, 0, 0)), (1, (1, 1, 0)), (2, (1, 1, 1))] {
        let sim = Sim::default();
        let router = Router::builder()
            .deployment(Deployment::new("first", "sim/f").id("f"))
            .deployment(Deployment::new("second", "sim/s").id("s"))
            .deployment(Deployment::new("third", "sim/t").id("t"))
            .fallbacks("first", ["second", "third"])
            .max_fallbacks(cap)
            .num_retries(0)
            .build()
            .unwrap();
        let client = client(router, &sim);
        for model in ["f", "s", "t"] {
            sim.always_fail(model, ErrorKind::ServiceUnavailable);
        }
        let error = client.chat(ask("first")).await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::ServiceUnavailable);
        assert_eq!(
            (sim.calls("f"), sim.calls("s"), sim.calls("t")),
            reached,
            "max_fallbacks({cap})"
        );
    }
}

/// As LiteLLM's exception classes inherit, a retry policy that names only bad requests
/// retries context-window and content-policy errors by that count.
#[tokio::test]
async fn a_bad_request_retry_count_covers_context_window_and_content_policy_errors() {
    let sim = Sim::default();
    let router = Router::builder()
        .deployment(Deployment::new("g", "sim/a").id("a"))
        .retries_for(ErrorKind::BadRequest, 2)
        .build()
        .unwrap();
    let client = client(router, &sim);
    sim.fail_next(
        "a",
        &[
            ErrorKind::ContextWindowExceeded,
            ErrorKind::ContentPolicyViolation,
        ],
    );
    let answer = client.chat(ask("g")).await.unwrap();
    assert_eq!(answer.metadata().route().unwrap().attempts, 3);
    assert_eq!(sim.calls("a"), 3);
}

/// A state of the caller's own, keyed by deployment id; `cooling_until` left to the
/// trait's default (from `load`).
#[derive(Debug)]
struct OwnState(InMemoryState);

impl RouterState for OwnState {
    fn try_begin(&self, id: &str, now: Timestamp, limits: MinuteLimits, tokens: u64) -> bool {
        self.0.try_begin(id, now, limits, tokens)
    }

    fn end(&self, id: &str, now: Timestamp, tokens: u64, latency: Option<Duration>) {
        self.0.end(id, now, tokens, latency);
    }

    fn fail(&self, id: &str, now: Timestamp) -> u64 {
        self.0.fail(id, now)
    }

    fn cool_down(&self, id: &str, until: Timestamp) {
        self.0.cool_down(id, until);
    }

    fn load(&self, id: &str, now: Timestamp) -> Load {
        self.0.load(id, now)
    }
}

#[tokio::test]
async fn a_given_state_keeps_the_limits_failures_and_cooldowns() {
    let sim = Sim::default();
    let clock = ManualClock::default();
    let state = Arc::new(OwnState(InMemoryState::new(["a", "c"])));
    let router = Router::builder()
        .deployment(Deployment::new("g", "sim/a").id("a").rpm(2))
        .deployment(Deployment::new("h", "sim/c").id("c"))
        .allowed_fails(1)
        .cooldown_time(Duration::from_secs(30))
        .num_retries(5)
        .clock(Arc::new(clock.clone()))
        .state(state.clone())
        .build()
        .unwrap();
    let client = client(router.clone(), &sim);

    // Limits: the third call in the minute finds `a` full.
    for _ in 0..2 {
        client.chat(ask("g")).await.unwrap();
    }
    let error = client.chat(ask("g")).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::RateLimit);
    assert_eq!(error.retry_after(), Some(Duration::from_secs(60)));
    let load = state.load("a", router.now());
    assert_eq!(
        (
            load.in_flight,
            load.requests_this_minute,
            load.tokens_this_minute
        ),
        (0, 2, 10)
    );

    // Failures: the second in the minute (allowed: 1) cools `c` down; the retry after it
    // finds the group cooling.
    sim.always_fail("c", ErrorKind::InternalServer);
    let error = client.chat(ask("h")).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::RateLimit);
    assert_eq!(error.retry_after(), Some(Duration::from_secs(30)));
    assert_eq!(sim.calls("c"), 2);
    assert_eq!(
        state.load("c", router.now()).cooling_until,
        Some(Duration::from_secs(30))
    );
    sim.heal("c");
    clock.advance(Duration::from_secs(30));
    assert_eq!(deployment_of(&client.chat(ask("h")).await.unwrap()), "c");
}

/// `ears/`: speech and transcription, each answered at once.
#[derive(Debug)]
struct Ears;

#[async_trait]
impl Provider for Ears {
    fn name(&self) -> &str {
        "ears"
    }

    async fn speech(&self, _call: &Call, _request: SpeechRequest) -> Result<SpeechResponse> {
        Ok(SpeechResponse::new(
            ResponseMetadata::default(),
            Body::from_bytes(&b"ID3"[..]),
        ))
    }

    async fn transcription(
        &self,
        _call: &Call,
        _request: TranscriptionRequest,
    ) -> Result<TranscriptionResponse> {
        Ok(serde_json::from_value(json!({"text": "hello"})).unwrap())
    }
}

/// Speech records its route like any answer; a transcription, whose audio is no text, is
/// estimated at 0 tokens and reports none, so it never counts against `tpm`.
#[tokio::test]
async fn speech_records_its_route_and_transcriptions_never_count_against_tpm() {
    let router = Router::builder()
        .deployment(Deployment::new("voice", "ears/tts").id("tts"))
        .deployment(Deployment::new("ears", "ears/stt").id("stt").tpm(1))
        .clock(Arc::new(ManualClock::default()))
        .build()
        .unwrap();
    let client = Client::builder()
        .provider("ears", Ears)
        .transport(Arc::new(NoNetwork::default()))
        .router(router.clone())
        .build()
        .unwrap();
    let speech = client
        .speech(SpeechRequest::new("voice", "Hello", "alloy"))
        .await
        .unwrap();
    let route = speech.metadata().route().unwrap();
    assert_eq!((&*route.group, &*route.deployment), ("voice", "tts"));
    for _ in 0..3 {
        let text = client
            .transcription(TranscriptionRequest::new(
                "ears",
                AudioFile::new(&b"RIFF"[..], "hello.wav"),
            ))
            .await
            .unwrap();
        assert_eq!(text.text, "hello");
    }
    let load = router.state().load("stt", router.now());
    assert_eq!((load.requests_this_minute, load.tokens_this_minute), (3, 0));
}

// ---------------------------------------------------------------------------------------
// Property: never a cooling or full deployment while an eligible one exists; every call
// ends within its deadline.
// ---------------------------------------------------------------------------------------

mod properties {
    use proptest::prelude::{
        Just, ProptestConfig, Strategy, prop_assert, prop_assert_eq, prop_oneof, proptest,
    };

    use super::{Arc, Deployment, Duration, ErrorKind, ManualClock, Router, Sim, ask, client};

    fn kind() -> impl Strategy<Value = Option<ErrorKind>> {
        prop_oneof![
            4 => Just(None),
            1 => Just(Some(ErrorKind::InternalServer)),
            1 => Just(Some(ErrorKind::RateLimit)),
            1 => Just(Some(ErrorKind::ServiceUnavailable)),
            1 => Just(Some(ErrorKind::BadRequest)),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        #[test]
        fn picks_are_always_eligible_and_calls_end(
            script in proptest::collection::vec((0usize..3, kind(), 0u64..20), 1..40),
            rpms in proptest::collection::vec(proptest::option::of(1u64..6), 3),
        ) {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async {
                let sim = Sim::default();
                let clock = ManualClock::default();
                let mut builder = Router::builder()
                    .allowed_fails(1)
                    .cooldown_time(Duration::from_secs(10))
                    .num_retries(1)
                    .clock(Arc::new(clock.clone()))
                    .seed(1);
                for (index, rpm) in rpms.iter().enumerate() {
                    let mut deployment = Deployment::new("g", format!("sim/d{index}")).id(format!("d{index}"));
                    if let Some(rpm) = rpm {
                        deployment = deployment.rpm(*rpm);
                    }
                    builder = builder.deployment(deployment);
                }
                let router = builder.build().unwrap();
                let client = client(router.clone(), &sim);
                for (target, failure, advance) in script {
                    if let Some(kind) = failure {
                        sim.fail_next(&format!("d{target}"), &[kind]);
                    }
                    clock.advance(Duration::from_secs(advance));
                    let now = router.now();
                    let eligible: Vec<String> = (0..3)
                        .map(|i| format!("d{i}"))
                        .filter(|id| {
                            let load = router.state().load(id, now);
                            let rpm = rpms[id[1..].parse::<usize>().unwrap()];
                            load.cooling_until.is_none()
                                && rpm.is_none_or(|rpm| load.requests_this_minute < rpm)
                        })
                        .collect();
                    let before: Vec<usize> = (0..3).map(|i| sim.calls(&format!("d{i}"))).collect();
                    let outcome = tokio::time::timeout(
                        Duration::from_secs(5),
                        client.chat(ask("g").timeout(Duration::from_secs(2))),
                    )
                    .await;
                    prop_assert!(outcome.is_ok(), "a call did not end");
                    // Time stands still during a call and cooldowns only add: every
                    // deployment a call reached was eligible when it began.
                    let reached: Vec<String> = (0..3)
                        .filter(|i| sim.calls(&format!("d{i}")) > before[*i])
                        .map(|i| format!("d{i}"))
                        .collect();
                    for id in &reached {
                        prop_assert!(eligible.contains(id), "picked {id}, not eligible among {eligible:?}");
                    }
                    prop_assert_eq!(reached.is_empty(), eligible.is_empty(), "eligible {:?}", eligible);
                }
                Ok(())
            })?;
        }
    }
}
