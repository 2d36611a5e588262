//! The [`Router`]: model groups — one name backed by several deployments — with load
//! balancing, per-minute limits, cooldowns, retries and fallbacks, as LiteLLM's Router has
//! them, on top of the provider route.
//!
//! A client built with [`ClientBuilder::router`](crate::ClientBuilder::router) sends a
//! request whose model names a group to one of the group's deployments; every other model
//! goes by its prefix as before. Every endpoint and every client feature (settings,
//! timeouts, streaming, errors, mock answers) works through it.
//!
//! ```
//! use std::time::Duration;
//! use mishika::router::{Deployment, Router, Strategy};
//! use mishika::{ChatMessage, ChatRequest, Client};
//!
//! # async fn run() -> mishika::Result<()> {
//! let router = Router::builder()
//!     .deployment(Deployment::new("gpt-4o", "mishikallm_proxy/gpt-4o").rpm(600))
//!     .deployment(Deployment::new("gpt-4o", "openai/gpt-4o").api_key("sk-openai").rpm(300))
//!     .deployment(Deployment::new("claude", "anthropic/claude-3-5-haiku-latest"))
//!     .strategy(Strategy::SimpleShuffle) // weighted by rpm here: 2 to 1
//!     .fallbacks("gpt-4o", ["claude"])
//!     .cooldown_time(Duration::from_secs(30))
//!     .build()?;
//! let client = Client::builder().api_base("http://localhost:4000").router(router).build()?;
//! let answer = client.chat(ChatRequest::new("gpt-4o", [ChatMessage::user("Hi")])).await?;
//! if let Some(route) = answer.metadata().route() {
//!     println!("{} answered via {} after {} attempts", route.deployment, route.group, route.attempts);
//! }
//! # Ok(()) }
//! ```
//!
//! **How a call goes.** The group's deployments that are not cooling down (and, with
//! [`pre_call_checks`](RouterBuilder::pre_call_checks), whose context window fits the
//! request) are candidates; the [`Strategy`] picks one, and the pick counts against its
//! `rpm`/`tpm` for the current minute only if it fits them (a deployment over a limit is
//! skipped, never overrun). The call goes out with that deployment's model, base, key and
//! timeout (else the router's [`timeout`](RouterBuilder::timeout)); it gets `max_retries`
//! transport-level retries (0 unless set: the router retries, where it can pick another
//! deployment). On failure the deployment's failures in the minute are counted — past
//! `allowed_fails` it cools down for `cooldown_time`, and a rate limit (429) cools it down
//! at once, for its `retry-after` if longer — and the router retries in the group
//! (`num_retries`, or the retry policy's count for the error's kind; only errors that
//! [`is_retryable`](crate::Error::is_retryable) unless the policy names their kind), then
//! moves to the group's fallbacks. A stream counts as answered
//! once its first chunk arrived: before that, it is retried and falls back like any call.
//! When every deployment cools down or is at its limit, the caller gets a `RateLimit`
//! error whose [`retry_after`](crate::Error::retry_after) says when the first is free.
//!
//! **From a LiteLLM `config.yaml`**: with the `config` feature, `Router::from_config_file`
//! and `RouterBuilder::from_config_file` read the `model_list`, `router_settings` and
//! `litellm_settings` a LiteLLM proxy reads (the `router::config` module says how).
//!
//! **Estimated tokens** (for `tpm` and the pre-call checks) are the request's JSON length
//! divided by four, rounded up: no tokenizer runs, and an answer's real usage is what
//! counts against `tpm` once it arrives.

#[cfg(feature = "config")]
#[cfg_attr(docsrs, doc(cfg(feature = "config")))]
pub mod config;
pub mod state;

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use mishika_core::{ApiKey, Error, ErrorKind, RouteInfo};

pub use state::{
    Clock, InMemoryState, Load, ManualClock, MinuteLimits, RouterState, SystemClock, Timestamp,
};

mod engine;
pub(crate) use engine::{EstimateTokens, Routed};

/// How the router spreads calls over a group's deployments.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Strategy {
    /// At random, weighted by `weight`, else by `rpm`, else by `tpm`, else evenly
    /// (`simple-shuffle`).
    #[default]
    SimpleShuffle,
    /// The deployment with the fewest calls in flight (`least-busy`).
    LeastBusy,
    /// The deployment with the lowest recent latency — time to the first chunk for streams;
    /// one never measured goes first (`latency-based-routing`).
    LatencyBased,
    /// The deployment that used the fewest tokens this minute (`usage-based-routing`).
    UsageBased,
}

impl Strategy {
    /// The strategy LiteLLM's `routing_strategy` names (`simple-shuffle`, `least-busy`,
    /// `latency-based-routing`, `usage-based-routing`, `usage-based-routing-v2`).
    pub fn from_litellm(name: &str) -> Option<Strategy> {
        Some(match name {
            "simple-shuffle" => Strategy::SimpleShuffle,
            "least-busy" => Strategy::LeastBusy,
            "latency-based-routing" => Strategy::LatencyBased,
            "usage-based-routing" | "usage-based-routing-v2" => Strategy::UsageBased,
            _ => return None,
        })
    }
}

/// One deployment of a model group: a provider model and its own settings.
#[derive(Clone)]
pub struct Deployment {
    pub(crate) group: String,
    pub(crate) model: String,
    pub(crate) id: Option<String>,
    pub(crate) api_base: Option<String>,
    pub(crate) api_key: Option<ApiKey>,
    pub(crate) rpm: Option<u64>,
    pub(crate) tpm: Option<u64>,
    pub(crate) weight: Option<f64>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) max_retries: Option<u32>,
    pub(crate) max_input_tokens: Option<u64>,
    pub(crate) max_output_tokens: Option<u64>,
}

impl fmt::Debug for Deployment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Deployment")
            .field("group", &self.group)
            .field("model", &self.model)
            .field("id", &self.id)
            .field("api_base", &self.api_base)
            .field("api_key", &self.api_key)
            .field("rpm", &self.rpm)
            .field("tpm", &self.tpm)
            .field("weight", &self.weight)
            .finish_non_exhaustive()
    }
}

impl Deployment {
    /// A deployment of the group `group` served by the provider model `model`
    /// (`mishikallm_proxy/gpt-4o`, `openai/gpt-4o`, `anthropic/claude-…`, `yourprefix/…`).
    pub fn new(group: impl Into<String>, model: impl Into<String>) -> Deployment {
        Deployment {
            group: group.into(),
            model: model.into(),
            id: None,
            api_base: None,
            api_key: None,
            rpm: None,
            tpm: None,
            weight: None,
            timeout: None,
            max_retries: None,
            max_input_tokens: None,
            max_output_tokens: None,
        }
    }

    /// Its id, in metadata, state and errors (default `<group>-<n>`, n counting from 0 in
    /// the order deployments were added).
    pub fn id(mut self, id: impl Into<String>) -> Deployment {
        self.id = Some(id.into());
        self
    }

    /// Its base URL (beats the client's settings for its provider; a request's beats it).
    pub fn api_base(mut self, api_base: impl Into<String>) -> Deployment {
        self.api_base = Some(api_base.into());
        self
    }

    /// Its key (beats the client's settings for its provider; a request's beats it).
    pub fn api_key(mut self, api_key: impl Into<ApiKey>) -> Deployment {
        self.api_key = Some(api_key.into());
        self
    }

    /// Requests per minute it takes; past them it is skipped until the next minute.
    pub fn rpm(mut self, rpm: u64) -> Deployment {
        self.rpm = Some(rpm);
        self
    }

    /// Tokens per minute it takes (estimated before, counted after each call).
    pub fn tpm(mut self, tpm: u64) -> Deployment {
        self.tpm = Some(tpm);
        self
    }

    /// Its share in `simple-shuffle`, against the group's other weights.
    pub fn weight(mut self, weight: f64) -> Deployment {
        self.weight = Some(weight);
        self
    }

    /// The deadline of one call to it.
    pub fn timeout(mut self, timeout: Duration) -> Deployment {
        self.timeout = Some(timeout);
        self
    }

    /// Transport-level retries of one call to it (default 0: the router retries).
    pub fn max_retries(mut self, retries: u32) -> Deployment {
        self.max_retries = Some(retries);
        self
    }

    /// Its context window, for the pre-call checks.
    pub fn max_input_tokens(mut self, tokens: u64) -> Deployment {
        self.max_input_tokens = Some(tokens);
        self
    }

    /// The most tokens it writes in one answer (model info, kept for callers).
    pub fn max_output_tokens(mut self, tokens: u64) -> Deployment {
        self.max_output_tokens = Some(tokens);
        self
    }

    /// The group it serves.
    pub fn group(&self) -> &str {
        &self.group
    }

    /// The provider model it calls.
    pub fn model(&self) -> &str {
        &self.model
    }
}

/// A deployment as the router keeps it: its id settled.
#[derive(Debug)]
pub(crate) struct Entry {
    pub(crate) id: String,
    pub(crate) deployment: Deployment,
}

/// A model group.
#[derive(Debug)]
pub(crate) struct Group {
    pub(crate) name: String,
    pub(crate) entries: Vec<Entry>,
    pub(crate) num_retries: Option<u32>,
}

/// How the router retries, cools down and falls back.
#[derive(Debug, Clone)]
struct Settings {
    strategy: Strategy,
    num_retries: u32,
    retry_policy: HashMap<ErrorKind, u32>,
    allowed_fails: u64,
    allowed_fails_policy: HashMap<ErrorKind, u64>,
    cooldown_time: Duration,
    fallbacks: HashMap<String, Vec<String>>,
    context_window_fallbacks: HashMap<String, Vec<String>>,
    content_policy_fallbacks: HashMap<String, Vec<String>>,
    default_fallbacks: Vec<String>,
    max_fallbacks: u32,
    pre_call_checks: bool,
    failing_groups: HashSet<String>,
    timeout: Option<Duration>,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            strategy: Strategy::default(),
            num_retries: 2,
            retry_policy: HashMap::new(),
            allowed_fails: 3,
            allowed_fails_policy: HashMap::new(),
            cooldown_time: Duration::from_secs(5),
            fallbacks: HashMap::new(),
            context_window_fallbacks: HashMap::new(),
            content_policy_fallbacks: HashMap::new(),
            default_fallbacks: Vec::new(),
            max_fallbacks: 5,
            pre_call_checks: false,
            failing_groups: HashSet::new(),
            timeout: None,
        }
    }
}

/// Model groups and how calls are spread, retried and fallen back among them. Cheap to
/// clone: clones share one state. See the [module documentation](self).
#[derive(Clone)]
pub struct Router {
    inner: Arc<Inner>,
}

struct Inner {
    groups: HashMap<String, Group>,
    settings: Settings,
    state: Arc<dyn RouterState>,
    clock: Arc<dyn Clock>,
    /// With a seed, picks draw from `seed` and a counter: the same calls in the same order
    /// pick the same deployments.
    seed: Option<u64>,
    draws: AtomicU64,
}

impl fmt::Debug for Router {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut groups: Vec<&str> = self.inner.groups.keys().map(String::as_str).collect();
        groups.sort_unstable();
        f.debug_struct("Router")
            .field("groups", &groups)
            .field("strategy", &self.inner.settings.strategy)
            .field("state", &self.inner.state)
            .finish_non_exhaustive()
    }
}

impl Router {
    /// Configure a router.
    pub fn builder() -> RouterBuilder {
        RouterBuilder::default()
    }

    /// The group named `model`, if there is one.
    pub(crate) fn group(&self, model: &str) -> Option<&Group> {
        self.inner.groups.get(model)
    }

    /// The group names, sorted.
    pub fn groups(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.inner.groups.keys().map(String::as_str).collect();
        names.sort_unstable();
        names
    }

    /// The deployments of `group`, in the order they were added.
    pub fn deployments(&self, group: &str) -> Vec<&Deployment> {
        self.inner
            .groups
            .get(group)
            .map(|group| group.entries.iter().map(|e| &e.deployment).collect())
            .unwrap_or_default()
    }

    /// The state the router keeps (loads, cooldowns), for inspection.
    pub fn state(&self) -> &Arc<dyn RouterState> {
        &self.inner.state
    }

    /// Now, by the router's clock.
    pub fn now(&self) -> Timestamp {
        self.inner.clock.now()
    }

    /// The id the router gives `group`'s deployment number `index` (from 0).
    pub fn deployment_id(&self, group: &str, index: usize) -> Option<&str> {
        self.inner
            .groups
            .get(group)?
            .entries
            .get(index)
            .map(|entry| entry.id.as_str())
    }

    /// The next random draw in `0.0..1.0`: seeded and reproducible with
    /// [`RouterBuilder::seed`] (splitmix64 over a counter: one atomic add per draw, no
    /// lock), else from the thread's generator.
    fn draw(&self) -> f64 {
        match self.inner.seed {
            Some(seed) => {
                let n = self.inner.draws.fetch_add(1, Ordering::Relaxed);
                let mut z =
                    seed.wrapping_add(n.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
                z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
                z ^= z >> 31;
                // The top 53 bits as a fraction of 2^53.
                (z >> 11) as f64 / (1u64 << 53) as f64
            }
            None => fastrand::f64(),
        }
    }

    /// Pick a deployment of `group` for a request of about `tokens` tokens and count the
    /// call against its minute, or the error that says why none can take it.
    pub(crate) fn pick<'g>(&self, group: &'g Group, tokens: u64) -> Result<&'g Entry, Error> {
        let inner = &*self.inner;
        let now = inner.clock.now();
        let mut too_long = 0usize;
        let mut candidates: Vec<&Entry> = Vec::with_capacity(group.entries.len());
        let mut earliest: Option<Timestamp> = None;
        for entry in &group.entries {
            if let Some(until) = inner.state.cooling_until(&entry.id, now) {
                earliest = Some(earliest.map_or(until, |e: Timestamp| e.min(until)));
                continue;
            }
            if inner.settings.pre_call_checks
                && entry
                    .deployment
                    .max_input_tokens
                    .is_some_and(|window| tokens > window)
            {
                too_long += 1;
                continue;
            }
            candidates.push(entry);
        }
        while !candidates.is_empty() {
            let chosen = self.choose(&candidates, now);
            let entry = candidates.swap_remove(chosen);
            let limits = MinuteLimits::new(entry.deployment.rpm, entry.deployment.tpm);
            if inner.state.try_begin(&entry.id, now, limits, tokens) {
                return Ok(entry);
            }
            // At its limit for this minute: free when the next minute starts.
            let next_minute = Duration::from_secs((now.as_secs() / 60 + 1) * 60);
            earliest = Some(earliest.map_or(next_minute, |e| e.min(next_minute)));
        }
        if too_long == group.entries.len() {
            return Err(Error::new(
                ErrorKind::ContextWindowExceeded,
                format!(
                    "no deployment of the model group `{}` fits the request's ~{tokens} \
                     estimated tokens",
                    group.name
                ),
            ));
        }
        let wait = earliest.map(|until| until.saturating_sub(now));
        let mut error = Error::new(
            ErrorKind::RateLimit,
            format!(
                "every deployment of the model group `{}` is cooling down or at its limit{}",
                group.name,
                match wait {
                    Some(wait) => format!("; the first is free in {:.1} s", wait.as_secs_f64()),
                    None => String::new(),
                }
            ),
        );
        if let Some(wait) = wait {
            error = error.with_retry_after(wait);
        }
        Err(error)
    }

    /// The strategy's choice among `candidates` (never empty): its index.
    fn choose(&self, candidates: &[&Entry], now: Timestamp) -> usize {
        let inner = &*self.inner;
        if candidates.len() == 1 {
            return 0;
        }
        let lowest = |key: &dyn Fn(&Entry) -> u128| {
            let keys: Vec<u128> = candidates.iter().map(|entry| key(entry)).collect();
            let least = keys.iter().copied().min().unwrap_or(0);
            let tied: Vec<usize> = (0..keys.len()).filter(|&i| keys[i] == least).collect();
            // A tie goes to one of them at random, so equal deployments share the calls.
            let pick = (self.draw() * tied.len() as f64) as usize;
            tied.get(pick).copied().unwrap_or(0)
        };
        match inner.settings.strategy {
            Strategy::SimpleShuffle => {
                let weights: Vec<f64> = shuffle_weights(candidates);
                let total: f64 = weights.iter().sum();
                if total.is_nan() || total <= 0.0 {
                    return (self.draw() * candidates.len() as f64) as usize % candidates.len();
                }
                let mut target = self.draw() * total;
                for (index, weight) in weights.iter().enumerate() {
                    if target < *weight {
                        return index;
                    }
                    target -= weight;
                }
                candidates.len() - 1
            }
            Strategy::LeastBusy => {
                lowest(&|entry| u128::from(inner.state.load(&entry.id, now).in_flight))
            }
            Strategy::LatencyBased => lowest(&|entry| {
                inner
                    .state
                    .load(&entry.id, now)
                    .latency
                    .map_or(0, |latency| latency.as_nanos())
            }),
            Strategy::UsageBased => {
                lowest(&|entry| u128::from(inner.state.load(&entry.id, now).tokens_this_minute))
            }
        }
    }

    /// After a failed call to `entry`: count it, and cool the deployment down when the
    /// error says it should rest.
    pub(crate) fn after_failure(&self, entry: &Entry, error: &Error) {
        let inner = &*self.inner;
        let kind = error.kind();
        if matches!(
            kind,
            ErrorKind::BadRequest
                | ErrorKind::ContextWindowExceeded
                | ErrorKind::ContentPolicyViolation
                | ErrorKind::UnprocessableEntity
                | ErrorKind::Config
                | ErrorKind::UnknownProvider
                | ErrorKind::Unsupported
        ) {
            return; // the request's fault, not the deployment's
        }
        let now = inner.clock.now();
        let cooldown = inner.settings.cooldown_time;
        if kind == ErrorKind::RateLimit {
            let rest = error
                .retry_after()
                .map_or(cooldown, |after| after.max(cooldown));
            inner.state.cool_down(&entry.id, now.saturating_add(rest));
            return;
        }
        let failures = inner.state.fail(&entry.id, now);
        let allowed = inner
            .settings
            .allowed_fails_policy
            .get(&kind)
            .copied()
            .unwrap_or(inner.settings.allowed_fails);
        if failures > allowed {
            inner
                .state
                .cool_down(&entry.id, now.saturating_add(cooldown));
        }
    }

    /// Whether the `retry`-th retry (from 0) in `group` may follow `error`.
    pub(crate) fn may_retry(&self, group: &Group, error: &Error, retry: u32) -> bool {
        let settings = &self.inner.settings;
        let allowed = match settings.retry_policy.get(&error.kind()) {
            Some(count) => *count,
            None if error.is_retryable() => group.num_retries.unwrap_or(settings.num_retries),
            None => 0,
        };
        retry < allowed
    }

    /// The group to fall back to from `group` after `error`, not one of `tried`.
    pub(crate) fn fallback(&self, group: &str, error: &Error, tried: &[String]) -> Option<String> {
        let settings = &self.inner.settings;
        let list = match error.kind() {
            ErrorKind::ContextWindowExceeded => settings.context_window_fallbacks.get(group),
            ErrorKind::ContentPolicyViolation => settings.content_policy_fallbacks.get(group),
            ErrorKind::Authentication
            | ErrorKind::BadRequest
            | ErrorKind::Config
            | ErrorKind::UnknownProvider
            | ErrorKind::Unsupported => return None,
            _ => Some(
                settings
                    .fallbacks
                    .get(group)
                    .unwrap_or(&settings.default_fallbacks),
            ),
        }?;
        list.iter()
            .find(|name| !tried.contains(name) && self.inner.groups.contains_key(*name))
            .cloned()
    }

    /// The deadline of one call to a deployment that sets none of its own.
    pub(crate) fn attempt_timeout(&self) -> Option<Duration> {
        self.inner.settings.timeout
    }

    /// How many fallbacks one call may take.
    pub(crate) fn max_fallbacks(&self) -> u32 {
        self.inner.settings.max_fallbacks
    }

    /// Whether `group` is set to fail (to drill its fallbacks).
    pub(crate) fn is_failing(&self, group: &str) -> bool {
        self.inner.settings.failing_groups.contains(group)
    }

    /// Whether picks in `group` need an estimate of the request's tokens.
    pub(crate) fn needs_estimate(&self, group: &Group) -> bool {
        self.inner.settings.pre_call_checks
            || group
                .entries
                .iter()
                .any(|entry| entry.deployment.tpm.is_some())
    }

    /// The call to `entry` ended: its tokens and, on success, its latency.
    pub(crate) fn ended(&self, entry: &Entry, tokens: u64, latency: Option<Duration>) {
        let now = self.inner.clock.now();
        self.inner.state.end(&entry.id, now, tokens, latency);
    }

    /// The route a successful call took.
    pub(crate) fn route_info(
        group: &Group,
        entry: &Entry,
        attempts: u32,
        fallbacks: u32,
    ) -> RouteInfo {
        RouteInfo::new(
            group.name.clone(),
            entry.id.clone(),
            entry.deployment.model.clone(),
            attempts,
            fallbacks,
        )
    }
}

/// The weights `simple-shuffle` draws by: `weight`, else `rpm`, else `tpm`, else 1 each.
fn shuffle_weights(candidates: &[&Entry]) -> Vec<f64> {
    let by = |field: fn(&Deployment) -> Option<f64>| -> Option<Vec<f64>> {
        candidates
            .iter()
            .any(|entry| field(&entry.deployment).is_some())
            .then(|| {
                candidates
                    .iter()
                    .map(|entry| field(&entry.deployment).unwrap_or(0.0).max(0.0))
                    .collect()
            })
    };
    by(|d| d.weight)
        .or_else(|| by(|d| d.rpm.map(|rpm| rpm as f64)))
        .or_else(|| by(|d| d.tpm.map(|tpm| tpm as f64)))
        .unwrap_or_else(|| vec![1.0; candidates.len()])
}

/// Set `group`'s list in one of the fallback maps.
fn insert_list<S: Into<String>>(
    map: &mut HashMap<String, Vec<String>>,
    group: impl Into<String>,
    to: impl IntoIterator<Item = S>,
) {
    map.insert(group.into(), to.into_iter().map(Into::into).collect());
}

/// Builds a [`Router`].
#[derive(Debug, Default)]
pub struct RouterBuilder {
    deployments: Vec<Deployment>,
    group_retries: HashMap<String, u32>,
    settings: Settings,
    state: Option<Arc<dyn RouterState>>,
    clock: Option<Arc<dyn Clock>>,
    seed: Option<u64>,
    /// The keys of the config it was read from that are not used.
    #[cfg(feature = "config")]
    ignored_config_keys: Vec<String>,
}

impl RouterBuilder {
    /// Add a deployment (to the group it names).
    pub fn deployment(mut self, deployment: Deployment) -> Self {
        self.deployments.push(deployment);
        self
    }

    /// How calls are spread (default [`Strategy::SimpleShuffle`]).
    pub fn strategy(mut self, strategy: Strategy) -> Self {
        self.settings.strategy = strategy;
        self
    }

    /// Retries in a group after a retryable error (default 2).
    pub fn num_retries(mut self, retries: u32) -> Self {
        self.settings.num_retries = retries;
        self
    }

    /// Retries of `group` alone, instead of [`num_retries`](RouterBuilder::num_retries).
    pub fn group_retries(mut self, group: impl Into<String>, retries: u32) -> Self {
        self.group_retries.insert(group.into(), retries);
        self
    }

    /// Retries after an error of `kind`, whether it is retryable or not (LiteLLM's
    /// `retry_policy`: `RateLimitErrorRetries`, `BadRequestErrorRetries` …).
    pub fn retries_for(mut self, kind: ErrorKind, retries: u32) -> Self {
        self.settings.retry_policy.insert(kind, retries);
        self
    }

    /// Failures a deployment may have in a minute before it cools down (default 3).
    pub fn allowed_fails(mut self, fails: u64) -> Self {
        self.settings.allowed_fails = fails;
        self
    }

    /// Failures of `kind` allowed in a minute, instead of
    /// [`allowed_fails`](RouterBuilder::allowed_fails) (LiteLLM's `allowed_fails_policy`).
    pub fn allowed_fails_for(mut self, kind: ErrorKind, fails: u64) -> Self {
        self.settings.allowed_fails_policy.insert(kind, fails);
        self
    }

    /// How long a deployment rests once it cools down (default 5 s).
    pub fn cooldown_time(mut self, time: Duration) -> Self {
        self.settings.cooldown_time = time;
        self
    }

    /// The groups `group` falls back to, in order, once its retries are spent.
    pub fn fallbacks<S: Into<String>>(
        mut self,
        group: impl Into<String>,
        to: impl IntoIterator<Item = S>,
    ) -> Self {
        insert_list(&mut self.settings.fallbacks, group, to);
        self
    }

    /// The groups `group` falls back to when the prompt does not fit its context window.
    pub fn context_window_fallbacks<S: Into<String>>(
        mut self,
        group: impl Into<String>,
        to: impl IntoIterator<Item = S>,
    ) -> Self {
        insert_list(&mut self.settings.context_window_fallbacks, group, to);
        self
    }

    /// The groups `group` falls back to when its provider refuses the content.
    pub fn content_policy_fallbacks<S: Into<String>>(
        mut self,
        group: impl Into<String>,
        to: impl IntoIterator<Item = S>,
    ) -> Self {
        insert_list(&mut self.settings.content_policy_fallbacks, group, to);
        self
    }

    /// The groups any group without fallbacks of its own falls back to.
    pub fn default_fallbacks<S: Into<String>>(mut self, to: impl IntoIterator<Item = S>) -> Self {
        self.settings.default_fallbacks = to.into_iter().map(Into::into).collect();
        self
    }

    /// The most fallbacks one call takes (default 5).
    pub fn max_fallbacks(mut self, fallbacks: u32) -> Self {
        self.settings.max_fallbacks = fallbacks;
        self
    }

    /// Skip deployments whose context window (`max_input_tokens`) the request's estimated
    /// tokens exceed, and fall back to `context_window_fallbacks` when none fits
    /// (LiteLLM's `enable_pre_call_checks`).
    pub fn pre_call_checks(mut self, enable: bool) -> Self {
        self.settings.pre_call_checks = enable;
        self
    }

    /// The deadline of one call to a deployment that sets no
    /// [`timeout`](Deployment::timeout) of its own (LiteLLM's router `timeout`). A request's
    /// own timeout beats both; without any, the client's timeout covers the whole routed
    /// call.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.settings.timeout = Some(timeout);
        self
    }

    /// Make every call to `group` fail with an `InternalServer` error before any I/O, to
    /// drill its fallbacks (LiteLLM's `mock_testing_fallbacks`).
    pub fn fail_group(mut self, group: impl Into<String>) -> Self {
        self.settings.failing_groups.insert(group.into());
        self
    }

    /// Draw picks from this seed: the same calls in the same order pick the same
    /// deployments (for tests).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Read time from `clock` (a [`ManualClock`] in tests).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Keep loads and cooldowns in `state` instead of this process's memory.
    pub fn state(mut self, state: Arc<dyn RouterState>) -> Self {
        self.state = Some(state);
        self
    }

    /// Build the router: a `Config` error names a group without deployments that a
    /// fallback list names, a repeated deployment id, or an empty group or model name.
    pub fn build(self) -> Result<Router, Error> {
        let mut groups: HashMap<String, Group> = HashMap::new();
        let mut ids: HashSet<String> = HashSet::new();
        for deployment in self.deployments {
            if deployment.group.trim().is_empty() || deployment.model.trim().is_empty() {
                return Err(Error::config(format!(
                    "a deployment needs a group and a model name: {deployment:?}"
                )));
            }
            let group = groups
                .entry(deployment.group.clone())
                .or_insert_with(|| Group {
                    name: deployment.group.clone(),
                    entries: Vec::new(),
                    num_retries: self.group_retries.get(&deployment.group).copied(),
                });
            let id = deployment
                .id
                .clone()
                .unwrap_or_else(|| format!("{}-{}", group.name, group.entries.len()));
            if !ids.insert(id.clone()) {
                return Err(Error::config(format!("two deployments have the id `{id}`")));
            }
            group.entries.push(Entry { id, deployment });
        }
        let settings = self.settings;
        let lists = settings
            .fallbacks
            .iter()
            .chain(&settings.context_window_fallbacks)
            .chain(&settings.content_policy_fallbacks);
        for (from, to) in lists {
            for name in std::iter::once(from).chain(to) {
                if !groups.contains_key(name) {
                    return Err(Error::config(format!(
                        "the fallbacks of `{from}` name `{name}`, which has no deployments"
                    )));
                }
            }
        }
        if let Some(name) = settings
            .default_fallbacks
            .iter()
            .find(|name| !groups.contains_key(*name))
        {
            return Err(Error::config(format!(
                "the default fallbacks name `{name}`, which has no deployments"
            )));
        }
        let state = self
            .state
            .unwrap_or_else(|| Arc::new(InMemoryState::new(ids)));
        let clock = self
            .clock
            .unwrap_or_else(|| Arc::new(SystemClock::default()));
        Ok(Router {
            inner: Arc::new(Inner {
                groups,
                settings,
                state,
                clock,
                seed: self.seed,
                draws: AtomicU64::new(0),
            }),
        })
    }
}
