//! What a router remembers about its deployments — calls in flight, this minute's
//! requests, tokens and failures, cooldowns, recent latency — behind [`RouterState`], and
//! the [`Clock`] it reads time from.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A point in router time: how long after the clock's start.
pub type Timestamp = Duration;

/// Where a router reads the time: [`SystemClock`] normally, [`ManualClock`] in tests that
/// move time by hand (cooldowns, minute windows) instead of sleeping.
pub trait Clock: Send + Sync + fmt::Debug {
    /// Now, as time since the clock's start.
    fn now(&self) -> Timestamp;
}

/// The monotonic system clock.
#[derive(Debug, Clone, Copy)]
pub struct SystemClock {
    start: Instant,
}

impl Default for SystemClock {
    fn default() -> SystemClock {
        SystemClock {
            start: Instant::now(),
        }
    }
}

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        self.start.elapsed()
    }
}

/// A clock that moves only when told to. Clones share one time.
///
/// ```
/// use std::time::Duration;
/// use mishika::router::{Clock, ManualClock};
///
/// let clock = ManualClock::default();
/// clock.advance(Duration::from_secs(61));
/// assert_eq!(clock.now(), Duration::from_secs(61));
/// ```
#[derive(Debug, Clone, Default)]
pub struct ManualClock {
    nanos: Arc<AtomicU64>,
}

impl ManualClock {
    /// Move the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        let nanos = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        self.nanos.fetch_add(nanos, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Duration::from_nanos(self.nanos.load(Ordering::SeqCst))
    }
}

/// A deployment's load as the state sees it now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Load {
    /// Calls in flight.
    pub in_flight: u64,
    /// Calls started in the current minute.
    pub requests_this_minute: u64,
    /// Tokens used by calls that ended in the current minute.
    pub tokens_this_minute: u64,
    /// Until when the deployment cools down, if it does.
    pub cooling_until: Option<Timestamp>,
    /// Recent latency (time to the first chunk for streams), when known.
    pub latency: Option<Duration>,
}

/// The limits a call must fit in its deployment's current minute.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MinuteLimits {
    /// Requests per minute.
    pub rpm: Option<u64>,
    /// Tokens per minute.
    pub tpm: Option<u64>,
}

impl MinuteLimits {
    /// Limits of `rpm` requests and `tpm` tokens per minute.
    pub fn new(rpm: Option<u64>, tpm: Option<u64>) -> MinuteLimits {
        MinuteLimits { rpm, tpm }
    }
}

/// The state a router keeps about its deployments, by deployment id. The router asks it
/// before a call ([`try_begin`](RouterState::try_begin) both checks the limits and counts
/// the call, so concurrent calls never overrun a limit), tells it how each call ended,
/// and sets cooldowns. The in-memory [`InMemoryState`] is the default; a shared store
/// (Redis, say) implements the same trait for a fleet of processes.
///
/// **A shared (Redis) state — what it needs; none ships yet.**
///
/// - *Synchronous calls.* The router calls these methods on every pick, without
///   `.await`. A shared state answers from a local copy — per deployment: cooldown
///   deadline, this minute's requests, tokens and failures — and sends its writes to the
///   store in the background, as LiteLLM's dual cache does (in memory, then Redis), or the
///   trait grows `async` twins that the engine awaits only for a state that is not local.
/// - *Atomic limits.* `try_begin` must stay check-and-count in one step across
///   processes: a Lua script (or `INCR` then a compare with a `DECR` on refusal) on a key
///   per deployment and minute (`{id}:{minute}:rpm`, `…:tpm`) that expires after the
///   minute. Without it, N processes may overrun a limit by up to N−1 calls each minute.
/// - *Failures and cooldowns.* `fail` is an `INCR` on `{id}:{minute}:fails` with a
///   minute's expiry; `cool_down` a `SET {id}:cooldown <until> PX <ms>` that keeps the
///   later deadline (`GT`), so `cooling_until` is one `GET` — or none, from the local
///   copy, refreshed by a subscription or a short poll.
/// - *Time.* [`Timestamp`]s are times since one process's clock started: a shared state
///   stores wall-clock deadlines (or the store's `TIME`) and converts, and minutes are
///   wall-clock minutes so every process counts in the same window.
/// - *In-flight and latency* (`least-busy`, `latency-based-routing`) are per process
///   unless shared as well: an `INCR`/`DECR` pair per call, and a smoothed average written
///   now and then.
/// - *Ids.* Deployment ids are the keys, so every process must give a deployment the
///   same id: set [`Deployment::id`](super::Deployment::id) (or `model_info.id`) rather
///   than relying on the order of the list. A store that cannot be reached must not fail
///   calls: it falls back to the local copy and says so in a warning.
pub trait RouterState: Send + Sync + fmt::Debug {
    /// Start a call to `id` if it fits `limits` in the current minute (its estimated
    /// `tokens` included): count it and answer `true`, or answer `false` and count nothing.
    fn try_begin(&self, id: &str, now: Timestamp, limits: MinuteLimits, tokens: u64) -> bool;

    /// A call to `id` ended: `tokens` it used, and on success how long it took.
    fn end(&self, id: &str, now: Timestamp, tokens: u64, latency: Option<Duration>);

    /// Count a failure of `id`; the failures in the current minute, this one included.
    fn fail(&self, id: &str, now: Timestamp) -> u64;

    /// Let no call reach `id` before `until`.
    fn cool_down(&self, id: &str, until: Timestamp);

    /// `id`'s load now.
    fn load(&self, id: &str, now: Timestamp) -> Load;

    /// Until when `id` cools down, if it does: what every pick asks of every deployment,
    /// so a state should answer it cheaply.
    fn cooling_until(&self, id: &str, now: Timestamp) -> Option<Timestamp> {
        self.load(id, now).cooling_until
    }
}

/// The minute a timestamp falls in.
fn minute(now: Timestamp) -> u64 {
    now.as_secs() / 60
}

/// This minute's counts of one deployment.
#[derive(Debug, Default)]
struct Window {
    minute: u64,
    requests: u64,
    tokens: u64,
    failures: u64,
}

impl Window {
    /// The counts, started afresh when `now` is in a later minute. A reading from an
    /// earlier minute (a call that read the clock before another call moved the window
    /// on) counts in the current window: going back would wipe the new minute's counts,
    /// and a limit could then be overrun.
    fn at(&mut self, now: Timestamp) -> &mut Window {
        let current = minute(now);
        if current > self.minute {
            *self = Window {
                minute: current,
                ..Window::default()
            };
        }
        self
    }
}

/// One deployment's state: a lock of its own for the minute's counts (never one for all
/// deployments), atomics for the rest.
#[derive(Debug, Default)]
struct Slot {
    window: Mutex<Window>,
    in_flight: AtomicU64,
    /// Nanoseconds of router time until which the deployment cools down (0: it does not).
    cooling_until: AtomicU64,
    /// Recent latency in nanoseconds, smoothed (0: none yet).
    latency: AtomicU64,
}

impl Slot {
    fn window(&self) -> std::sync::MutexGuard<'_, Window> {
        match self.window.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    fn try_begin(&self, now: Timestamp, limits: MinuteLimits, tokens: u64) -> bool {
        let mut guard = self.window();
        let window = guard.at(now);
        if limits.rpm.is_some_and(|rpm| window.requests >= rpm)
            || limits
                .tpm
                .is_some_and(|tpm| window.tokens.saturating_add(tokens) > tpm)
        {
            return false;
        }
        window.requests += 1;
        drop(guard);
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        true
    }

    fn end(&self, now: Timestamp, tokens: u64, latency: Option<Duration>) {
        // Saturating: an `end` without its `begin` must not wrap the count around.
        let _ = self
            .in_flight
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                Some(n.saturating_sub(1))
            });
        if tokens > 0 {
            let mut guard = self.window();
            let window = guard.at(now);
            window.tokens = window.tokens.saturating_add(tokens);
        }
        if let Some(latency) = latency {
            let sample = nanos(latency).max(1);
            // An average that weighs the newest call by a quarter.
            let _ = self
                .latency
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |old| {
                    Some(if old == 0 {
                        sample
                    } else {
                        (old / 4)
                            .saturating_mul(3)
                            .saturating_add(sample / 4)
                            .max(1)
                    })
                });
        }
    }

    fn fail(&self, now: Timestamp) -> u64 {
        let mut guard = self.window();
        let window = guard.at(now);
        window.failures += 1;
        window.failures
    }

    fn cool_down(&self, until: Timestamp) {
        self.cooling_until
            .fetch_max(nanos(until), Ordering::Relaxed);
    }

    fn cooling_until(&self, now: Timestamp) -> Option<Timestamp> {
        let cooling = self.cooling_until.load(Ordering::Relaxed);
        (cooling > nanos(now)).then(|| Duration::from_nanos(cooling))
    }

    fn load(&self, now: Timestamp) -> Load {
        let (requests, tokens) = {
            let mut guard = self.window();
            let window = guard.at(now);
            (window.requests, window.tokens)
        };
        let latency = self.latency.load(Ordering::Relaxed);
        Load {
            in_flight: self.in_flight.load(Ordering::Relaxed),
            requests_this_minute: requests,
            tokens_this_minute: tokens,
            cooling_until: self.cooling_until(now),
            latency: (latency > 0).then(|| Duration::from_nanos(latency)),
        }
    }
}

/// The state in this process's memory: one slot per deployment, made when the router is
/// built, so finding a deployment's slot takes no lock. The router that made it reaches a
/// slot by the deployment's index, without hashing its id.
#[derive(Debug, Default)]
pub struct InMemoryState {
    slots: Vec<Slot>,
    index: HashMap<String, usize>,
}

impl InMemoryState {
    /// State for the deployments with these ids.
    pub fn new<S: Into<String>>(ids: impl IntoIterator<Item = S>) -> InMemoryState {
        let mut state = InMemoryState::default();
        for id in ids {
            let next = state.slots.len();
            if let std::collections::hash_map::Entry::Vacant(vacant) = state.index.entry(id.into())
            {
                vacant.insert(next);
                state.slots.push(Slot::default());
            }
        }
        state
    }

    fn slot(&self, id: &str) -> Option<&Slot> {
        self.slots.get(*self.index.get(id)?)
    }
}

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

impl RouterState for InMemoryState {
    fn try_begin(&self, id: &str, now: Timestamp, limits: MinuteLimits, tokens: u64) -> bool {
        self.slot(id)
            .is_none_or(|slot| slot.try_begin(now, limits, tokens))
    }

    fn end(&self, id: &str, now: Timestamp, tokens: u64, latency: Option<Duration>) {
        if let Some(slot) = self.slot(id) {
            slot.end(now, tokens, latency);
        }
    }

    fn fail(&self, id: &str, now: Timestamp) -> u64 {
        self.slot(id).map_or(0, |slot| slot.fail(now))
    }

    fn cool_down(&self, id: &str, until: Timestamp) {
        if let Some(slot) = self.slot(id) {
            slot.cool_down(until);
        }
    }

    fn cooling_until(&self, id: &str, now: Timestamp) -> Option<Timestamp> {
        self.slot(id)?.cooling_until(now)
    }

    fn load(&self, id: &str, now: Timestamp) -> Load {
        self.slot(id)
            .map_or_else(Load::default, |slot| slot.load(now))
    }
}

/// The state a router reaches: its own [`InMemoryState`], by deployment index (no id
/// hashed), or any [`RouterState`], by deployment id.
#[derive(Debug, Clone)]
pub(crate) enum StateRef {
    /// The state the router made: slot `n` is the deployment added `n`-th.
    Local(Arc<InMemoryState>),
    /// A state given to the builder.
    Given(Arc<dyn RouterState>),
}

impl StateRef {
    /// The slot at `index`, when the state is the router's own.
    #[inline]
    fn local(&self, index: usize) -> Result<&Slot, &dyn RouterState> {
        match self {
            StateRef::Local(state) => state.slots.get(index).ok_or(&**state as &dyn RouterState),
            StateRef::Given(state) => Err(&**state),
        }
    }

    /// [`RouterState::try_begin`] for deployment `index`, id `id`.
    pub(crate) fn try_begin(
        &self,
        index: usize,
        id: &str,
        now: Timestamp,
        limits: MinuteLimits,
        tokens: u64,
    ) -> bool {
        match self.local(index) {
            Ok(slot) => slot.try_begin(now, limits, tokens),
            Err(state) => state.try_begin(id, now, limits, tokens),
        }
    }

    /// [`RouterState::end`].
    pub(crate) fn end(
        &self,
        index: usize,
        id: &str,
        now: Timestamp,
        tokens: u64,
        latency: Option<Duration>,
    ) {
        match self.local(index) {
            Ok(slot) => slot.end(now, tokens, latency),
            Err(state) => state.end(id, now, tokens, latency),
        }
    }

    /// [`RouterState::fail`].
    pub(crate) fn fail(&self, index: usize, id: &str, now: Timestamp) -> u64 {
        match self.local(index) {
            Ok(slot) => slot.fail(now),
            Err(state) => state.fail(id, now),
        }
    }

    /// [`RouterState::cool_down`].
    pub(crate) fn cool_down(&self, index: usize, id: &str, until: Timestamp) {
        match self.local(index) {
            Ok(slot) => slot.cool_down(until),
            Err(state) => state.cool_down(id, until),
        }
    }

    /// [`RouterState::cooling_until`].
    pub(crate) fn cooling_until(
        &self,
        index: usize,
        id: &str,
        now: Timestamp,
    ) -> Option<Timestamp> {
        match self.local(index) {
            Ok(slot) => slot.cooling_until(now),
            Err(state) => state.cooling_until(id, now),
        }
    }

    /// [`RouterState::load`].
    pub(crate) fn load(&self, index: usize, id: &str, now: Timestamp) -> Load {
        match self.local(index) {
            Ok(slot) => slot.load(now),
            Err(state) => state.load(id, now),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_late_reading_of_the_clock_counts_in_the_current_minute() {
        // Calls read the clock before they reach the state: one that read it in the minute
        // before another moved the window on must not move it back.
        let state = InMemoryState::new(["a"]);
        let limits = MinuteLimits::new(Some(2), Some(100));
        let (late, now) = (Duration::from_secs(59), Duration::from_secs(61));
        assert!(state.try_begin("a", now, limits, 10));
        assert!(state.try_begin("a", now, limits, 10));
        assert!(
            !state.try_begin("a", late, limits, 10),
            "the minute is full"
        );
        state.end("a", late, 90, None);
        state.fail("a", late);
        let load = state.load("a", now);
        assert_eq!(load.requests_this_minute, 2);
        assert_eq!(load.tokens_this_minute, 90);
        assert_eq!(state.fail("a", now), 2, "the late failure counted");
        assert!(!state.try_begin("a", now, MinuteLimits::new(None, Some(100)), 20));
        // The next minute starts afresh.
        let next = Duration::from_secs(120);
        assert!(state.try_begin("a", next, limits, 10));
        assert_eq!(state.load("a", next).requests_this_minute, 1);
    }

    #[test]
    fn limits_hold_within_a_minute_and_reset_with_the_next() {
        let state = InMemoryState::new(["a"]);
        let limits = MinuteLimits::new(Some(2), Some(100));
        let t = Duration::from_secs(5);
        assert!(state.try_begin("a", t, limits, 10));
        assert!(state.try_begin("a", t, limits, 10));
        assert!(!state.try_begin("a", t, limits, 10), "rpm 2");
        state.end("a", t, 95, Some(Duration::from_millis(40)));
        let load = state.load("a", t);
        assert_eq!(
            (
                load.in_flight,
                load.requests_this_minute,
                load.tokens_this_minute
            ),
            (1, 2, 95)
        );
        assert_eq!(load.latency, Some(Duration::from_millis(40)));
        let next = Duration::from_secs(61);
        assert!(state.try_begin("a", next, limits, 10), "a new minute");
        let fresh = InMemoryState::new(["b"]);
        assert!(fresh.try_begin("b", t, MinuteLimits::new(None, Some(100)), 90));
        fresh.end("b", t, 90, None);
        assert!(
            !fresh.try_begin("b", t, MinuteLimits::new(None, Some(100)), 20),
            "tpm 100"
        );
        assert!(fresh.try_begin("b", next, MinuteLimits::new(None, Some(100)), 20));
    }

    #[test]
    fn failures_count_per_minute_and_cooldowns_end_by_time() {
        let state = InMemoryState::new(["a"]);
        let t = Duration::from_secs(1);
        assert_eq!(state.fail("a", t), 1);
        assert_eq!(state.fail("a", t), 2);
        assert_eq!(state.fail("a", Duration::from_secs(60)), 1, "a new minute");
        state.cool_down("a", Duration::from_secs(70));
        assert_eq!(
            state.load("a", Duration::from_secs(65)).cooling_until,
            Some(Duration::from_secs(70))
        );
        assert_eq!(state.load("a", Duration::from_secs(70)).cooling_until, None);
        // An unknown id is never limited and never cooled.
        assert!(state.try_begin("zz", t, MinuteLimits::new(Some(0), None), 0));
    }

    #[test]
    fn a_minute_is_sixty_seconds_of_one_window() {
        let state = InMemoryState::new(["a"]);
        let at = Duration::from_secs;
        // Seconds 1 and 59 share a window; 60 starts the next, 119 is still in it.
        assert_eq!(state.fail("a", at(1)), 1);
        assert_eq!(state.fail("a", at(59)), 2);
        assert_eq!(state.fail("a", at(60)), 1);
        assert_eq!(state.fail("a", at(61)), 2);
        assert_eq!(state.fail("a", at(119)), 3);
        assert_eq!(state.fail("a", at(120)), 1);
    }

    #[test]
    fn a_call_that_fills_the_tpm_exactly_fits() {
        let state = InMemoryState::new(["a"]);
        let t = Duration::from_secs(1);
        let limits = MinuteLimits::new(None, Some(100));
        assert!(
            state.try_begin("a", t, limits, 100),
            "alone, exactly the limit"
        );
        state.end("a", t, 90, None);
        assert!(
            state.try_begin("a", t, limits, 10),
            "90 used and 10 more: 100"
        );
        assert!(!state.try_begin("a", t, limits, 11));
    }

    #[test]
    fn latency_averages_with_the_newest_call_weighing_a_quarter() {
        let state = InMemoryState::new(["a"]);
        let t = Duration::from_secs(1);
        assert_eq!(state.load("a", t).latency, None, "never measured");
        state.end("a", t, 0, Some(Duration::from_millis(40)));
        assert_eq!(state.load("a", t).latency, Some(Duration::from_millis(40)));
        state.end("a", t, 0, Some(Duration::from_millis(80)));
        // Three quarters of 40 and a quarter of 80.
        assert_eq!(state.load("a", t).latency, Some(Duration::from_millis(50)));
        state.end("a", t, 0, None);
        assert_eq!(state.load("a", t).latency, Some(Duration::from_millis(50)));
    }

    #[test]
    fn cooling_until_answers_as_load_does() {
        let state = InMemoryState::new(["a"]);
        let at = Duration::from_secs;
        assert_eq!(state.cooling_until("a", at(1)), None);
        state.cool_down("a", at(70));
        // A shorter cooldown never cuts a longer one.
        state.cool_down("a", at(20));
        assert_eq!(state.cooling_until("a", at(65)), Some(at(70)));
        assert_eq!(state.cooling_until("a", at(70)), None);
        assert_eq!(state.cooling_until("zz", at(1)), None, "an unknown id");
    }
}
