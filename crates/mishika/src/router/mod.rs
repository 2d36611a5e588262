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
//! **Which group.** A request's model names a group, or an
//! [alias](RouterBuilder::group_alias) of one, or matches a wildcard group (`openai/*`,
//! see [`RouterBuilder::deployment`]); any other model goes by its prefix.
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
//! at once, for its `retry-after` if longer; never with
//! [`disable_cooldowns`](RouterBuilder::disable_cooldowns) — and the router retries in the group
//! (`num_retries`, or the retry policy's count for the error's kind — the group's own
//! policy where it has one; only errors that
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

use state::StateRef;
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
    #[must_use]
    pub fn id(mut self, id: impl Into<String>) -> Deployment {
        self.id = Some(id.into());
        self
    }

    /// Its base URL (beats the client's settings for its provider; a request's beats it).
    #[must_use]
    pub fn api_base(mut self, api_base: impl Into<String>) -> Deployment {
        self.api_base = Some(api_base.into());
        self
    }

    /// Its key (beats the client's settings for its provider; a request's beats it).
    #[must_use]
    pub fn api_key(mut self, api_key: impl Into<ApiKey>) -> Deployment {
        self.api_key = Some(api_key.into());
        self
    }

    /// Requests per minute it takes; past them it is skipped until the next minute.
    #[must_use]
    pub fn rpm(mut self, rpm: u64) -> Deployment {
        self.rpm = Some(rpm);
        self
    }

    /// Tokens per minute it takes (estimated before, counted after each call).
    #[must_use]
    pub fn tpm(mut self, tpm: u64) -> Deployment {
        self.tpm = Some(tpm);
        self
    }

    /// Its share in `simple-shuffle`, against the group's other weights.
    #[must_use]
    pub fn weight(mut self, weight: f64) -> Deployment {
        self.weight = Some(weight);
        self
    }

    /// The deadline of one call to it.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Deployment {
        self.timeout = Some(timeout);
        self
    }

    /// Transport-level retries of one call to it (default 0: the router retries).
    #[must_use]
    pub fn max_retries(mut self, retries: u32) -> Deployment {
        self.max_retries = Some(retries);
        self
    }

    /// Its context window, for the pre-call checks.
    #[must_use]
    pub fn max_input_tokens(mut self, tokens: u64) -> Deployment {
        self.max_input_tokens = Some(tokens);
        self
    }

    /// The most tokens it writes in one answer (model info, kept for callers).
    #[must_use]
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
    /// Shared with every answer's [`RouteInfo`], as is the model: no copy per call.
    pub(crate) id: Arc<str>,
    pub(crate) model: Arc<str>,
    /// Its place among all the router's deployments, in the order they were added: its
    /// slot in the router's own state.
    pub(crate) slot: usize,
    pub(crate) deployment: Deployment,
}

/// A model group.
#[derive(Debug)]
pub(crate) struct Group {
    /// Shared with every answer's [`RouteInfo`].
    pub(crate) name: Arc<str>,
    pub(crate) entries: Vec<Entry>,
    pub(crate) num_retries: Option<u32>,
    /// Whether picks need an estimate of the request's tokens (pre-call checks, or a
    /// deployment with `tpm`).
    pub(crate) needs_estimate: bool,
    /// Whether it is set to fail ([`RouterBuilder::fail_group`]).
    pub(crate) failing: bool,
    /// Its own retry policy, which replaces the router's
    /// ([`RouterBuilder::group_retries_for`]).
    retry_policy: Option<RetryCounts>,
    /// For a wildcard group (`openai/*`): the pattern a requested model matched.
    pub(crate) pattern: Option<Pattern>,
    /// `simple-shuffle`'s weight of each entry when all of them are candidates (the
    /// usual pick), made once when the router is built, and their sum.
    shuffle_weights: Vec<f64>,
    shuffle_total: f64,
}

/// A wildcard group name (`openai/*`, `bedrock/meta.llama3*`): each `*` matches any text,
/// the name matching from the start of a requested model (as LiteLLM's pattern router
/// does: `*` is `(.*)`, greedy, and the match need not reach the model's end).
#[derive(Debug, Clone)]
pub(crate) struct Pattern {
    /// The literal pieces between the `*`s.
    pieces: Vec<String>,
    /// LiteLLM's order: longer (as a regex) and more complex patterns are tried first.
    specificity: (usize, usize),
}

impl Pattern {
    /// The pattern of a group name holding at least one `*`.
    fn new(name: &str) -> Option<Pattern> {
        if !name.contains('*') {
            return None;
        }
        // As Python's `re.escape(name).replace("\\*", "(.*)")` measures it.
        let special = |c: char| "()[]{}?*+-|^$\\.&~# \t\n\r\x0b\x0c".contains(c);
        let mut length = 0;
        let mut complexity = 0;
        for c in name.chars() {
            if c == '*' {
                length += 4;
                complexity += 3; // `(`, `*`, `)`
            } else if special(c) {
                length += 2;
                complexity +=
                    usize::from(matches!(c, '+' | '?' | '\\' | '^' | '$' | '|' | '(' | ')')) + 1;
            } else {
                length += 1;
            }
        }
        Some(Pattern {
            pieces: name.split('*').map(str::to_owned).collect(),
            specificity: (length, complexity),
        })
    }

    /// What each `*` matched in `model`, or `None` when `model` does not match.
    fn captures<'m>(&self, model: &'m str) -> Option<Vec<&'m str>> {
        let (first, rest) = self.pieces.split_first()?;
        let tail = model.strip_prefix(first.as_str())?;
        let mut captures = Vec::with_capacity(rest.len());
        Pattern::fill(rest, tail, &mut captures).then_some(captures)
    }

    /// Match `pieces` (each after a `*`) against `text`, greedily, as a backtracking
    /// regex would; the last `*` takes everything left.
    fn fill<'m>(pieces: &[String], text: &'m str, captures: &mut Vec<&'m str>) -> bool {
        let Some((piece, rest)) = pieces.split_first() else {
            return true;
        };
        if rest.is_empty() && piece.is_empty() {
            captures.push(text);
            return true;
        }
        // Greedy: the longest capture first.
        let mut ends: Vec<usize> = text
            .match_indices(piece.as_str())
            .map(|(at, _)| at)
            .collect();
        if piece.is_empty() {
            ends = text
                .char_indices()
                .map(|(at, _)| at)
                .chain([text.len()])
                .collect();
        }
        for &end in ends.iter().rev() {
            captures.push(&text[..end]);
            if Pattern::fill(rest, &text[end + piece.len()..], captures) {
                return true;
            }
            captures.pop();
        }
        false
    }

    /// The model a deployment calls for the requested `model`: each `*` of the
    /// deployment's model takes what the matching `*` of the pattern matched (a deployment
    /// model without `*` is called as written; one with fewer `*`s than the pattern has is
    /// called as the requested model), as LiteLLM's `set_deployment_model_name` does.
    pub(crate) fn model_for(&self, model: &str, deployment_model: &str) -> String {
        if !deployment_model.contains('*') {
            return deployment_model.to_owned();
        }
        let Some(captures) = self.captures(model) else {
            return deployment_model.to_owned();
        };
        if captures.len() > deployment_model.matches('*').count() {
            return model.to_owned();
        }
        let mut filled = deployment_model.to_owned();
        for capture in captures {
            filled = filled.replacen('*', capture, 1);
        }
        filled
    }
}

/// Retries by error kind, as LiteLLM's `RetryPolicy`: a count for some kinds, and
/// `DefaultRetries` for every kind it does not name.
#[derive(Debug, Clone, Default)]
struct RetryCounts {
    by_kind: HashMap<ErrorKind, u32>,
    default: Option<u32>,
}

impl RetryCounts {
    /// The retries the policy gives after an error of `kind`, if it gives any. As
    /// LiteLLM's exception classes inherit, a context-window or content-policy error is a
    /// bad request to a policy that does not name it.
    fn count(&self, kind: ErrorKind) -> Option<u32> {
        let named = self.by_kind.get(&kind).or_else(|| match kind {
            ErrorKind::ContextWindowExceeded | ErrorKind::ContentPolicyViolation => {
                self.by_kind.get(&ErrorKind::BadRequest)
            }
            _ => None,
        });
        named.copied().or(self.default)
    }
}

/// How the router retries, cools down and falls back.
#[derive(Debug, Clone)]
struct Settings {
    strategy: Strategy,
    num_retries: u32,
    retry_policy: RetryCounts,
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
    disable_cooldowns: bool,
    aliases: HashMap<String, String>,
    group_retry_policy: HashMap<String, RetryCounts>,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            strategy: Strategy::default(),
            num_retries: 2,
            retry_policy: RetryCounts::default(),
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
            disable_cooldowns: false,
            aliases: HashMap::new(),
            group_retry_policy: HashMap::new(),
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
    /// The wildcard groups' names, most specific first.
    patterns: Vec<String>,
    settings: Settings,
    /// The state, as [`Router::state`] hands it out.
    state: Arc<dyn RouterState>,
    /// The same state, as the hot path reaches it (by index when it is the router's own).
    slots: StateRef,
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

    /// The group that serves `model`: the group it is an alias of
    /// ([`RouterBuilder::group_alias`]), else the group of that name, else the most
    /// specific wildcard group whose pattern it matches (LiteLLM's order).
    pub(crate) fn group(&self, model: &str) -> Option<&Group> {
        let inner = &*self.inner;
        // Without aliases (the usual router) this lookup returns before hashing.
        if let Some(target) = inner.settings.aliases.get(model) {
            return inner.groups.get(target);
        }
        if let Some(group) = inner.groups.get(model) {
            return Some(group);
        }
        inner
            .patterns
            .iter()
            .filter_map(|name| inner.groups.get(name))
            .find(|group| {
                group
                    .pattern
                    .as_ref()
                    .is_some_and(|pattern| pattern.captures(model).is_some())
            })
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
            .map(|entry| &*entry.id)
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
    pub(crate) fn pick<'g>(
        &self,
        group: &'g Group,
        tokens: u64,
        now: Timestamp,
    ) -> Result<&'g Entry, Error> {
        let inner = &*self.inner;
        let mut too_long = 0usize;
        // Indices into the group's entries.
        let mut candidates: Small<usize> = Small::new();
        let mut earliest: Option<Timestamp> = None;
        for (index, entry) in group.entries.iter().enumerate() {
            if let Some(until) = inner.slots.cooling_until(entry.slot, &entry.id, now) {
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
            candidates.push(index);
        }
        while !candidates.is_empty() {
            let chosen = self.choose(group, candidates.as_slice(), now);
            let Some(entry) = group.entries.get(candidates.swap_remove(chosen)) else {
                continue;
            };
            let limits = MinuteLimits::new(entry.deployment.rpm, entry.deployment.tpm);
            if inner
                .slots
                .try_begin(entry.slot, &entry.id, now, limits, tokens)
            {
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

    /// The strategy's choice among `candidates` (indices into `entries`, never empty): its
    /// index in `candidates`.
    fn choose(&self, group: &Group, candidates: &[usize], now: Timestamp) -> usize {
        let inner = &*self.inner;
        let entries = &group.entries;
        if candidates.len() == 1 {
            return 0;
        }
        let candidates = || candidates.iter().map(|&index| &entries[index]);
        let lowest = |key: &dyn Fn(&Entry) -> u128| {
            let mut keys: Small<u128> = Small::new();
            for entry in candidates() {
                keys.push(key(entry));
            }
            let keys = keys.as_slice();
            let least = keys.iter().copied().min().unwrap_or(0);
            let ties = keys.iter().filter(|&&key| key == least).count();
            // A tie goes to one of them at random, so equal deployments share the calls.
            let pick = (self.draw() * ties as f64) as usize;
            keys.iter()
                .enumerate()
                .filter(|(_, key)| **key == least)
                .nth(pick)
                .map_or(0, |(index, _)| index)
        };
        match inner.settings.strategy {
            Strategy::SimpleShuffle => {
                // Every entry a candidate, in order: the weights made at build time.
                if candidates().len() == entries.len() {
                    let weights = group.shuffle_weights.iter().copied();
                    return self.draw_weighted(weights, group.shuffle_total);
                }
                let weight = shuffle_weight(candidates());
                let total: f64 = candidates().map(weight).sum();
                self.draw_weighted(candidates().map(weight), total)
            }
            Strategy::LeastBusy => {
                lowest(&|entry| u128::from(inner.slots.load(entry.slot, &entry.id, now).in_flight))
            }
            Strategy::LatencyBased => lowest(&|entry| {
                inner
                    .slots
                    .load(entry.slot, &entry.id, now)
                    .latency
                    .map_or(0, |latency| latency.as_nanos())
            }),
            Strategy::UsageBased => lowest(&|entry| {
                u128::from(
                    inner
                        .slots
                        .load(entry.slot, &entry.id, now)
                        .tokens_this_minute,
                )
            }),
        }
    }

    /// After a failed call to `entry`: count it, and cool the deployment down when the
    /// error says it should rest.
    pub(crate) fn after_failure(&self, entry: &Entry, error: &Error, now: Timestamp) {
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
        if inner.settings.disable_cooldowns {
            return;
        }
        let cooldown = inner.settings.cooldown_time;
        if kind == ErrorKind::RateLimit {
            let rest = error
                .retry_after()
                .map_or(cooldown, |after| after.max(cooldown));
            inner
                .slots
                .cool_down(entry.slot, &entry.id, now.saturating_add(rest));
            return;
        }
        let failures = inner.slots.fail(entry.slot, &entry.id, now);
        let allowed = inner
            .settings
            .allowed_fails_policy
            .get(&kind)
            .copied()
            .unwrap_or(inner.settings.allowed_fails);
        if failures > allowed {
            inner
                .slots
                .cool_down(entry.slot, &entry.id, now.saturating_add(cooldown));
        }
    }

    /// Whether the `retry`-th retry (from 0) in `group` may follow `error`.
    pub(crate) fn may_retry(&self, group: &Group, error: &Error, retry: u32) -> bool {
        let settings = &self.inner.settings;
        let policy = group
            .retry_policy
            .as_ref()
            .unwrap_or(&settings.retry_policy);
        let allowed = match policy.count(error.kind()) {
            Some(count) => count,
            None if error.is_retryable() => group.num_retries.unwrap_or(settings.num_retries),
            None => 0,
        };
        retry < allowed
    }

    /// The group to fall back to from `group` after `current` failed with `error`: not
    /// `group`, `current` or one of `tried`.
    pub(crate) fn fallback(
        &self,
        group: &str,
        current: &str,
        error: &Error,
        tried: &[&str],
    ) -> Option<&Group> {
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
            .filter(|name| {
                let name = name.as_str();
                name != group && name != current && !tried.contains(&name)
            })
            .find_map(|name| self.inner.groups.get(name))
    }

    /// The deadline of one call to a deployment that sets none of its own.
    pub(crate) fn attempt_timeout(&self) -> Option<Duration> {
        self.inner.settings.timeout
    }

    /// How many fallbacks one call may take.
    pub(crate) fn max_fallbacks(&self) -> u32 {
        self.inner.settings.max_fallbacks
    }

    /// The call to `entry` ended at `now`: its tokens and, on success, its latency.
    pub(crate) fn ended(
        &self,
        entry: &Entry,
        now: Timestamp,
        tokens: u64,
        latency: Option<Duration>,
    ) {
        self.inner
            .slots
            .end(entry.slot, &entry.id, now, tokens, latency);
    }

    /// The route a successful call took (`filled`: the model a wildcard group's
    /// deployment called).
    pub(crate) fn route_info(
        group: &Group,
        entry: &Entry,
        filled: Option<String>,
        attempts: u32,
        fallbacks: u32,
    ) -> RouteInfo {
        RouteInfo::new(
            Arc::clone(&group.name),
            Arc::clone(&entry.id),
            filled.map_or_else(|| Arc::clone(&entry.model), Arc::from),
            attempts,
            fallbacks,
        )
    }
}

impl Router {
    /// An index into `weights` (never empty, summing to `total`) drawn by weight; drawn
    /// evenly when the weights are all 0 (or not numbers).
    fn draw_weighted(&self, weights: impl ExactSizeIterator<Item = f64>, total: f64) -> usize {
        let count = weights.len();
        if total.is_nan() || total <= 0.0 {
            return (self.draw() * count as f64) as usize % count;
        }
        let mut target = self.draw() * total;
        for (index, weight) in weights.enumerate() {
            if target < weight {
                return index;
            }
            target -= weight;
        }
        count - 1
    }
}

/// The weight `simple-shuffle` draws each of `candidates` by: `weight`, else `rpm`, else
/// `tpm` (whichever any of them sets; 0 for one that does not set it), else 1 each.
fn shuffle_weight<'e>(candidates: impl Iterator<Item = &'e Entry> + Clone) -> fn(&Entry) -> f64 {
    let any =
        |field: fn(&Deployment) -> bool| candidates.clone().any(|entry| field(&entry.deployment));
    if any(|d| d.weight.is_some()) {
        |entry| entry.deployment.weight.unwrap_or(0.0).max(0.0)
    } else if any(|d| d.rpm.is_some()) {
        |entry| entry.deployment.rpm.map_or(0.0, |rpm| rpm as f64)
    } else if any(|d| d.tpm.is_some()) {
        |entry| entry.deployment.tpm.map_or(0.0, |tpm| tpm as f64)
    } else {
        |_| 1.0
    }
}

/// How many items [`Small`] holds without a heap allocation: groups up to this size pick
/// without allocating.
const INLINE: usize = 16;

/// A list on the stack up to [`INLINE`] items, on the heap past that.
struct Small<T> {
    inline: [T; INLINE],
    len: usize,
    /// Every item, once there are more than [`INLINE`].
    heap: Vec<T>,
}

impl<T: Copy + Default> Small<T> {
    fn new() -> Small<T> {
        Small {
            inline: [T::default(); INLINE],
            len: 0,
            heap: Vec::new(),
        }
    }

    fn push(&mut self, item: T) {
        if self.len < INLINE {
            self.inline[self.len] = item;
        } else {
            if self.len == INLINE {
                self.heap.extend_from_slice(&self.inline);
            }
            self.heap.push(item);
        }
        self.len += 1;
    }

    fn as_slice(&self) -> &[T] {
        match self.len {
            len if len <= INLINE => &self.inline[..len],
            _ => &self.heap,
        }
    }

    fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Remove the item at `index` (which must be in the list), the last taking its place,
    /// as [`Vec::swap_remove`] does.
    fn swap_remove(&mut self, index: usize) -> T {
        let removed = if self.len <= INLINE {
            let last = self.inline[self.len - 1];
            std::mem::replace(&mut self.inline[index], last)
        } else {
            let removed = self.heap.swap_remove(index);
            if self.len == INLINE + 1 {
                self.inline.copy_from_slice(&self.heap);
                self.heap.clear();
            }
            removed
        };
        self.len -= 1;
        removed
    }
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
    /// Add a deployment (to the group it names). A group name with `*` is a wildcard
    /// group (LiteLLM's `model_name: "openai/*"`): a request for a model no group is named
    /// after, nor an alias of, goes to the most specific wildcard group it matches (each
    /// `*` matching any text, from the model's start), and a deployment model with `*`
    /// (`openai/*`) calls what the group's `*`s matched in their place (`openai/gpt-4o`
    /// for a request of `openai/gpt-4o`). Its answers' route names the pattern as group.
    #[must_use]
    pub fn deployment(mut self, deployment: Deployment) -> Self {
        self.deployments.push(deployment);
        self
    }

    /// How calls are spread (default [`Strategy::SimpleShuffle`]).
    #[must_use]
    pub fn strategy(mut self, strategy: Strategy) -> Self {
        self.settings.strategy = strategy;
        self
    }

    /// Retries in a group after a retryable error (default 2).
    #[must_use]
    pub fn num_retries(mut self, retries: u32) -> Self {
        self.settings.num_retries = retries;
        self
    }

    /// Retries of `group` alone, instead of [`num_retries`](RouterBuilder::num_retries).
    #[must_use]
    pub fn group_retries(mut self, group: impl Into<String>, retries: u32) -> Self {
        self.group_retries.insert(group.into(), retries);
        self
    }

    /// Retries after an error of `kind`, whether it is retryable or not (LiteLLM's
    /// `retry_policy`: `RateLimitErrorRetries`, `BadRequestErrorRetries` …).
    #[must_use]
    pub fn retries_for(mut self, kind: ErrorKind, retries: u32) -> Self {
        self.settings.retry_policy.by_kind.insert(kind, retries);
        self
    }

    /// Retries after an error of a kind no [`retries_for`](RouterBuilder::retries_for)
    /// count names, whether it is retryable or not (LiteLLM's `retry_policy`
    /// `DefaultRetries`). Without it such an error is retried
    /// [`num_retries`](RouterBuilder::num_retries) times when it is retryable.
    #[must_use]
    pub fn default_retries(mut self, retries: u32) -> Self {
        self.settings.retry_policy.default = Some(retries);
        self
    }

    /// Retries in `group` after an error of `kind`. A group given any such count follows
    /// its own policy instead of the router's
    /// [`retries_for`](RouterBuilder::retries_for) counts (LiteLLM's
    /// `model_group_retry_policy`); kinds it does not name fall back to the group's
    /// retries for retryable errors.
    #[must_use]
    pub fn group_retries_for(
        mut self,
        group: impl Into<String>,
        kind: ErrorKind,
        retries: u32,
    ) -> Self {
        self.settings
            .group_retry_policy
            .entry(group.into())
            .or_default()
            .by_kind
            .insert(kind, retries);
        self
    }

    /// Retries in `group` after an error of a kind its
    /// [`group_retries_for`](RouterBuilder::group_retries_for) counts do not name (the
    /// `DefaultRetries` of its `model_group_retry_policy`). Like those counts, it gives the
    /// group a policy of its own, which replaces the router's.
    #[must_use]
    pub fn group_default_retries(mut self, group: impl Into<String>, retries: u32) -> Self {
        self.settings
            .group_retry_policy
            .entry(group.into())
            .or_default()
            .default = Some(retries);
        self
    }

    /// Never cool a deployment down, whatever fails (LiteLLM's `disable_cooldowns`):
    /// failures still count and retries and fallbacks still happen.
    #[must_use]
    pub fn disable_cooldowns(mut self, disable: bool) -> Self {
        self.settings.disable_cooldowns = disable;
        self
    }

    /// Send a request for the model `alias` to the group `group` (LiteLLM's
    /// `model_group_alias`); the answer's route names `group`. As in LiteLLM, an alias
    /// named like a group wins over it: requests for that name go to `group`, and the
    /// group it shadows is reached only as a fallback.
    #[must_use]
    pub fn group_alias(mut self, alias: impl Into<String>, group: impl Into<String>) -> Self {
        self.settings.aliases.insert(alias.into(), group.into());
        self
    }

    /// Failures a deployment may have in a minute before it cools down (default 3).
    #[must_use]
    pub fn allowed_fails(mut self, fails: u64) -> Self {
        self.settings.allowed_fails = fails;
        self
    }

    /// Failures of `kind` allowed in a minute, instead of
    /// [`allowed_fails`](RouterBuilder::allowed_fails) (LiteLLM's `allowed_fails_policy`).
    #[must_use]
    pub fn allowed_fails_for(mut self, kind: ErrorKind, fails: u64) -> Self {
        self.settings.allowed_fails_policy.insert(kind, fails);
        self
    }

    /// How long a deployment rests once it cools down (default 5 s).
    #[must_use]
    pub fn cooldown_time(mut self, time: Duration) -> Self {
        self.settings.cooldown_time = time;
        self
    }

    /// The groups `group` falls back to, in order, once its retries are spent.
    #[must_use]
    pub fn fallbacks<S: Into<String>>(
        mut self,
        group: impl Into<String>,
        to: impl IntoIterator<Item = S>,
    ) -> Self {
        insert_list(&mut self.settings.fallbacks, group, to);
        self
    }

    /// The groups `group` falls back to when the prompt does not fit its context window.
    #[must_use]
    pub fn context_window_fallbacks<S: Into<String>>(
        mut self,
        group: impl Into<String>,
        to: impl IntoIterator<Item = S>,
    ) -> Self {
        insert_list(&mut self.settings.context_window_fallbacks, group, to);
        self
    }

    /// The groups `group` falls back to when its provider refuses the content.
    #[must_use]
    pub fn content_policy_fallbacks<S: Into<String>>(
        mut self,
        group: impl Into<String>,
        to: impl IntoIterator<Item = S>,
    ) -> Self {
        insert_list(&mut self.settings.content_policy_fallbacks, group, to);
        self
    }

    /// The groups any group without fallbacks of its own falls back to.
    #[must_use]
    pub fn default_fallbacks<S: Into<String>>(mut self, to: impl IntoIterator<Item = S>) -> Self {
        self.settings.default_fallbacks = to.into_iter().map(Into::into).collect();
        self
    }

    /// The most fallbacks one call takes (default 5).
    #[must_use]
    pub fn max_fallbacks(mut self, fallbacks: u32) -> Self {
        self.settings.max_fallbacks = fallbacks;
        self
    }

    /// Skip deployments whose context window (`max_input_tokens`) the request's estimated
    /// tokens exceed, and fall back to `context_window_fallbacks` when none fits
    /// (LiteLLM's `enable_pre_call_checks`).
    #[must_use]
    pub fn pre_call_checks(mut self, enable: bool) -> Self {
        self.settings.pre_call_checks = enable;
        self
    }

    /// The deadline of one call to a deployment that sets no
    /// [`timeout`](Deployment::timeout) of its own (LiteLLM's router `timeout`). A request's
    /// own timeout beats both; without any, the client's timeout covers the whole routed
    /// call.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.settings.timeout = Some(timeout);
        self
    }

    /// Make every call to `group` fail with an `InternalServer` error before any I/O, to
    /// drill its fallbacks (LiteLLM's `mock_testing_fallbacks`).
    #[must_use]
    pub fn fail_group(mut self, group: impl Into<String>) -> Self {
        self.settings.failing_groups.insert(group.into());
        self
    }

    /// Draw picks from this seed: the same calls in the same order pick the same
    /// deployments (for tests).
    #[must_use]
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Read time from `clock` (a [`ManualClock`] in tests).
    #[must_use]
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Keep loads and cooldowns in `state` instead of this process's memory.
    #[must_use]
    pub fn state(mut self, state: Arc<dyn RouterState>) -> Self {
        self.state = Some(state);
        self
    }

    /// Build the router: a `Config` error names a group without deployments that a
    /// fallback list names, a repeated deployment id, or an empty group or model name.
    pub fn build(self) -> Result<Router, Error> {
        let mut groups: HashMap<String, Group> = HashMap::new();
        let mut ids: HashSet<String> = HashSet::new();
        // The ids in the order the deployments were added: slot n is deployment n.
        let mut slots: Vec<String> = Vec::with_capacity(self.deployments.len());
        for deployment in self.deployments {
            if deployment.group.trim().is_empty() || deployment.model.trim().is_empty() {
                return Err(Error::config(format!(
                    "a deployment needs a group and a model name: {deployment:?}"
                )));
            }
            let group = groups
                .entry(deployment.group.clone())
                .or_insert_with(|| Group {
                    name: deployment.group.as_str().into(),
                    entries: Vec::new(),
                    num_retries: self.group_retries.get(&deployment.group).copied(),
                    needs_estimate: self.settings.pre_call_checks,
                    failing: self.settings.failing_groups.contains(&deployment.group),
                    retry_policy: self
                        .settings
                        .group_retry_policy
                        .get(&deployment.group)
                        .cloned(),
                    pattern: Pattern::new(&deployment.group),
                    shuffle_weights: Vec::new(),
                    shuffle_total: 0.0,
                });
            let id = deployment
                .id
                .clone()
                .unwrap_or_else(|| format!("{}-{}", group.name, group.entries.len()));
            if !ids.insert(id.clone()) {
                return Err(Error::config(format!("two deployments have the id `{id}`")));
            }
            group.needs_estimate |= deployment.tpm.is_some();
            slots.push(id.clone());
            group.entries.push(Entry {
                model: deployment.model.as_str().into(),
                id: id.into(),
                slot: slots.len() - 1,
                deployment,
            });
        }
        for group in groups.values_mut() {
            let weight = shuffle_weight(group.entries.iter());
            group.shuffle_weights = group.entries.iter().map(weight).collect();
            group.shuffle_total = group.shuffle_weights.iter().sum();
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
        for (alias, target) in &settings.aliases {
            if !groups.contains_key(target) {
                return Err(Error::config(format!(
                    "the alias `{alias}` names `{target}`, which has no deployments"
                )));
            }
        }
        if let Some(group) = settings
            .group_retry_policy
            .keys()
            .find(|group| !groups.contains_key(*group))
        {
            return Err(Error::config(format!(
                "the retry policy of `{group}` names a group without deployments"
            )));
        }
        let mut patterns: Vec<(&str, (usize, usize))> = groups
            .values()
            .filter_map(|group| Some((&*group.name, group.pattern.as_ref()?.specificity)))
            .collect();
        // Most specific first; equal ones by name, so the order never depends on hashing.
        patterns.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
        let patterns: Vec<String> = patterns
            .into_iter()
            .map(|(name, _)| name.to_owned())
            .collect();
        if let Some(name) = settings
            .default_fallbacks
            .iter()
            .find(|name| !groups.contains_key(*name))
        {
            return Err(Error::config(format!(
                "the default fallbacks name `{name}`, which has no deployments"
            )));
        }
        let (state, slots): (Arc<dyn RouterState>, StateRef) = match self.state {
            Some(state) => (Arc::clone(&state), StateRef::Given(state)),
            None => {
                let own = Arc::new(InMemoryState::new(slots));
                (own.clone(), StateRef::Local(own))
            }
        };
        let clock = self
            .clock
            .unwrap_or_else(|| Arc::new(SystemClock::default()));
        Ok(Router {
            inner: Arc::new(Inner {
                groups,
                patterns,
                settings,
                state,
                slots,
                clock,
                seed: self.seed,
                draws: AtomicU64::new(0),
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::{Deployment, INLINE, Pattern, Router, Small};

    #[test]
    fn small_spills_to_the_heap_and_back_as_a_vec_would() {
        let mut small: Small<usize> = Small::new();
        let mut vec: Vec<usize> = Vec::new();
        for n in 0..INLINE + 3 {
            small.push(n);
            vec.push(n);
            assert_eq!(small.as_slice(), vec.as_slice());
        }
        for index in [0, 5, INLINE, 2, 0, 1] {
            let index = index.min(vec.len() - 1);
            assert_eq!(small.swap_remove(index), vec.swap_remove(index));
            assert_eq!(small.as_slice(), vec.as_slice());
        }
        while !vec.is_empty() {
            assert_eq!(small.swap_remove(0), vec.swap_remove(0));
            assert_eq!(small.as_slice(), vec.as_slice());
        }
        assert!(small.is_empty());
    }

    #[test]
    fn patterns_match_from_the_start_greedily_and_fill_the_deployment_model() {
        let pattern = |name| Pattern::new(name).unwrap();
        assert!(Pattern::new("openai/gpt-4o").is_none());
        let openai = pattern("openai/*");
        assert_eq!(openai.captures("openai/gpt-4o"), Some(vec!["gpt-4o"]));
        assert_eq!(openai.captures("anthropic/claude"), None);
        assert_eq!(openai.model_for("openai/gpt-4o", "azure/*"), "azure/gpt-4o");
        assert_eq!(
            openai.model_for("openai/gpt-4o", "azure/fixed"),
            "azure/fixed"
        );
        // Greedy, and the match need not reach the end (Python's `re.match`).
        let two = pattern("a*b*c");
        assert_eq!(two.captures("a1b2b3c-tail"), Some(vec!["1b2", "3"]));
        assert_eq!(two.model_for("a1b2b3c", "x/*-*"), "x/1b2-3");
        // More `*`s in the pattern than in the deployment model: the model as asked.
        assert_eq!(two.model_for("a1b2c", "x/*"), "a1b2c");
        assert_eq!(
            pattern("bedrock/meta.llama3*").model_for("bedrock/meta.llama3-70b", "bedrock/*"),
            "bedrock/-70b"
        );
        // LiteLLM's specificity: the longer regex first.
        assert!(pattern("openai/gpt-4*").specificity > openai.specificity);
        assert!(openai.specificity > pattern("*").specificity);
    }

    /// A router whose draws come from `seed`.
    fn seeded(seed: u64) -> Router {
        Router::builder()
            .deployment(Deployment::new("g", "sim/a"))
            .seed(seed)
            .build()
            .unwrap()
    }

    /// Seeds whose first draw is the lowest (exactly 0.0) and the highest (1 - 2^-53) a
    /// draw can be: splitmix64's mix inverted at 0 and at `u64::MAX`.
    const FIRST_DRAW_ZERO: u64 = 0x61c8_8646_80b5_83eb;
    const FIRST_DRAW_TOP: u64 = 0x3162_8af6_7b21_31ab;

    #[test]
    fn draw_weighted_at_the_edges_of_the_draw() {
        assert_eq!(seeded(FIRST_DRAW_ZERO).draw(), 0.0);
        assert_eq!(seeded(FIRST_DRAW_TOP).draw(), 1.0 - f64::EPSILON / 2.0);
        // A weight of 0 is never drawn, even by a draw of exactly 0.
        let weights = [0.0, 1.0];
        let pick = seeded(FIRST_DRAW_ZERO).draw_weighted(weights.into_iter(), 1.0);
        assert_eq!(pick, 1);
        // The top draw: 0.3 subtracted from it rounds to 0.7, not below the last weight;
        // the last still takes it.
        let weights = [0.3, 0.7];
        let pick = seeded(FIRST_DRAW_TOP).draw_weighted(weights.into_iter(), 1.0);
        assert_eq!(pick, 1);
    }
}
