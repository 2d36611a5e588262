//! Retries as a [`Transport`] decorator, so every transport (a user's too) gets them.
//!
//! What is retried: connection failures and transport timeouts, and answers whose error, as
//! the request's provider reads it, [`is_retryable`](mishika_core::Error::is_retryable). The
//! provider's [`ErrorRules`](mishika_core::ErrorRules) travel in the request's
//! [`CallContext`]; without one, the OpenAI rules apply: 408, 409, 429 (not quota or budget
//! exhaustion), 500, 502, 503, 504, never 400, 401, 403, 404, 422. A response whose body has
//! been handed to the caller is never retried, so a stream that breaks mid-way is not either.
//!
//! A connection closed or reset before the answer's head is retried, for every request
//! (streams too: nothing has reached the caller). The body of a successful answer the call
//! reads whole (any request not marked [`AnswerUse::Streamed`]) is read here, inside the
//! retry loop, so an answer cut after its head is retried too, as OpenAI's SDKs do.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use http::{HeaderMap, HeaderName, HeaderValue};
use mishika_core::{
    AnswerUse, Body, CallContext, ErrorRules, Transport, TransportError, TransportErrorKind,
    TransportFuture,
};
use tokio::time::Instant;

use crate::timeout::request_deadline;

/// How many times, how long between, and for how long in all. Start from
/// `RetryPolicy::default()` (or [`none`](RetryPolicy::none)) and change what you need:
/// `RetryPolicy::default().max_retries(5).initial_backoff(Duration::from_secs(1))`.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// Retries after the first attempt. Default 2.
    pub max_retries: u32,
    /// First backoff; each retry doubles it. Default 0.5 s.
    pub initial_backoff: Duration,
    /// Longest backoff. Default 8 s.
    pub max_backoff: Duration,
    /// Longest wait a server's `retry-after` may ask for. Default 60 s.
    pub max_retry_after: Duration,
    /// Upper bound on the time across all attempts, waits included. Default none (the
    /// request timeout still applies).
    pub deadline: Option<Duration>,
}

impl Default for RetryPolicy {
    fn default() -> RetryPolicy {
        RetryPolicy {
            max_retries: 2,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(8),
            max_retry_after: Duration::from_secs(60),
            deadline: None,
        }
    }
}

impl RetryPolicy {
    /// No retries at all.
    pub fn none() -> RetryPolicy {
        RetryPolicy {
            max_retries: 0,
            ..RetryPolicy::default()
        }
    }

    /// Retries after the first attempt.
    #[must_use]
    pub fn max_retries(mut self, retries: u32) -> RetryPolicy {
        self.max_retries = retries;
        self
    }

    /// First backoff; each retry doubles it.
    #[must_use]
    pub fn initial_backoff(mut self, backoff: Duration) -> RetryPolicy {
        self.initial_backoff = backoff;
        self
    }

    /// Longest backoff.
    #[must_use]
    pub fn max_backoff(mut self, backoff: Duration) -> RetryPolicy {
        self.max_backoff = backoff;
        self
    }

    /// Longest wait a server's `retry-after` may ask for.
    #[must_use]
    pub fn max_retry_after(mut self, wait: Duration) -> RetryPolicy {
        self.max_retry_after = wait;
        self
    }

    /// Upper bound on the time across all attempts, waits included.
    #[must_use]
    pub fn deadline(mut self, deadline: Duration) -> RetryPolicy {
        self.deadline = Some(deadline);
        self
    }

    /// The wait before retry number `retry` (0-based): exponential, capped, with up to 25 %
    /// jitter taken off so many clients do not retry in lockstep. Never more than
    /// `max_backoff`; never zero unless `initial_backoff` or `max_backoff` is.
    pub fn backoff(&self, retry: u32) -> Duration {
        self.backoff_with(retry, fastrand::f64())
    }

    /// [`backoff`](RetryPolicy::backoff) with the jitter drawn: `unit` in `[0, 1)` takes
    /// off `unit × 25 %`.
    fn backoff_with(&self, retry: u32, unit: f64) -> Duration {
        let exponential = self
            .initial_backoff
            .saturating_mul(2u32.saturating_pow(retry.min(30)));
        let capped = exponential.min(self.max_backoff);
        capped.mul_f64(1.0 - 0.25 * unit.clamp(0.0, 1.0))
    }
}

/// Retries requests through `inner` according to a [`RetryPolicy`]; a request's own
/// policy (in its [`CallContext`]) overrides the retry count and deadline, and its
/// provider's error rules decide which answers are retryable.
///
/// Under a [`Client`](crate::Client), a retry never waits past the call's whole-request
/// deadline: when the wait would end after it, the caller gets the last answer's error at
/// once (with its `retry_after`), as when the retry deadline leaves no time.
#[derive(Debug)]
pub struct RetryTransport {
    inner: Arc<dyn Transport>,
    policy: RetryPolicy,
    /// Longest silence while an error answer's body is read to decide on a retry.
    error_body_idle: Option<Duration>,
    /// Largest successful body read here so that a cut one can be retried.
    max_buffered: usize,
}

impl RetryTransport {
    /// Retry requests sent through `inner`.
    pub fn new(inner: Arc<dyn Transport>, policy: RetryPolicy) -> RetryTransport {
        RetryTransport {
            inner,
            policy,
            error_body_idle: Some(crate::DEFAULT_STREAM_IDLE_TIMEOUT),
            max_buffered: mishika_core::Limits::default().max_response_bytes,
        }
    }

    /// The longest silence allowed while reading an error answer's body to decide on a
    /// retry (default 120 s; a request's `stream_idle_timeout` beats it; `None`: wait, within
    /// the request's deadline). When it passes, the decision is made on what arrived: a
    /// `503` whose body stalls is retried after this long, not after the whole-request
    /// deadline.
    #[must_use]
    pub fn error_body_idle_timeout(mut self, idle: Option<Duration>) -> RetryTransport {
        self.error_body_idle = idle;
        self
    }

    /// The largest successful answer body read inside the retry loop (default 64 MiB, the
    /// default [`Limits::max_response_bytes`](mishika_core::Limits)). A longer one is handed
    /// on as it streams, and a cut after this many bytes is not retried.
    #[must_use]
    pub fn max_buffered_body(mut self, bytes: usize) -> RetryTransport {
        self.max_buffered = bytes;
        self
    }
}

/// Error bodies read to decide on a retry are capped here (they are small JSON).
pub(crate) const MAX_INSPECTED_BODY: usize = 64 * 1024;

fn is_retryable_failure(error: &TransportError) -> bool {
    matches!(
        error.kind(),
        TransportErrorKind::Connect
            | TransportErrorKind::ConnectTimeout
            | TransportErrorKind::Timeout
            | TransportErrorKind::Io
    )
}

/// The rest of an attempt once its head is in: for a successful answer read whole, reading
/// its body, so that a body cut after the head is a failure of this attempt, which can be
/// retried; for any other, nothing. A body that comes in one chunk is kept as it is, not
/// copied; one longer than `cap` is handed on as it streams, its first chunks in front.
///
/// Written as a plain future rather than an `async fn` to keep the first attempt's future
/// small: it holds the attempt's result, the chunks read and nothing else.
struct ReadWhole {
    /// The attempt's result; taken when done.
    result: Option<Result<http::Response<Body>, TransportError>>,
    /// Whether the body is to be read (a success, read whole).
    reading: bool,
    first: Option<Bytes>,
    rest: Vec<Bytes>,
    total: usize,
    cap: usize,
}

impl ReadWhole {
    /// Finish the attempt that got `result`, reading a successful body when `read` (up to
    /// this many bytes) says so.
    fn after(
        result: Result<http::Response<Body>, TransportError>,
        read: Option<usize>,
    ) -> ReadWhole {
        let reading = read.is_some()
            && result
                .as_ref()
                .is_ok_and(|response| response.status().is_success());
        ReadWhole {
            result: Some(result),
            reading,
            first: None,
            rest: Vec::new(),
            total: 0,
            cap: read.unwrap_or(0),
        }
    }
}

impl Future for ReadWhole {
    type Output = Result<http::Response<Body>, TransportError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let response = match this.result.as_mut() {
            Some(Ok(response)) if this.reading => response,
            _ => return Poll::Ready(this.result.take().unwrap_or_else(|| Err(read_twice()))),
        };
        loop {
            match ready!(response.body_mut().poll_next_unpin(cx)) {
                Some(Err(error)) => {
                    this.result = None;
                    return Poll::Ready(Err(error));
                }
                Some(Ok(chunk)) if chunk.is_empty() => {}
                Some(Ok(chunk)) => {
                    this.total = this.total.saturating_add(chunk.len());
                    match this.first {
                        None => this.first = Some(chunk),
                        Some(_) => this.rest.push(chunk),
                    }
                    if this.total > this.cap {
                        // Too long to keep for a retry: hand it on as it streams.
                        let body = std::mem::replace(response.body_mut(), Body::empty());
                        let read = this
                            .first
                            .take()
                            .into_iter()
                            .chain(std::mem::take(&mut this.rest));
                        *response.body_mut() =
                            Body::from_stream(futures_util::stream::iter(read.map(Ok)).chain(body));
                        break;
                    }
                }
                None => {
                    let whole = match this.first.take() {
                        None => Bytes::new(),
                        Some(only) if this.rest.is_empty() => only,
                        Some(first) => {
                            let mut buffer = BytesMut::with_capacity(this.total);
                            buffer.extend_from_slice(&first);
                            for chunk in this.rest.drain(..) {
                                buffer.extend_from_slice(&chunk);
                            }
                            buffer.freeze()
                        }
                    };
                    *response.body_mut() = Body::from_bytes(whole);
                    break;
                }
            }
        }
        Poll::Ready(this.result.take().unwrap_or_else(|| Err(read_twice())))
    }
}

fn read_twice() -> TransportError {
    TransportError::new(TransportErrorKind::Other, "an answer's body was read twice")
}

/// At most the first `limit` bytes of an error answer's body, waiting at most `idle` for
/// each chunk: a body that breaks or stalls yields what arrived before.
async fn error_body_prefix(mut body: Body, limit: usize, idle: Option<Duration>) -> Bytes {
    let mut buffer = Vec::new();
    loop {
        let next = match idle {
            Some(idle) => match tokio::time::timeout(idle, body.next()).await {
                Ok(next) => next,
                Err(_) => break,
            },
            None => body.next().await,
        };
        let Some(Ok(chunk)) = next else { break };
        let room = limit.saturating_sub(buffer.len());
        buffer.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if buffer.len() >= limit {
            break;
        }
    }
    Bytes::from(buffer)
}

/// Headers kept inline up to this many (a JSON call sends three or four).
const INLINE_HEADERS: usize = 6;

/// What a retry needs to send a request again, kept when it first goes out. The body is
/// `Bytes`, so the copy shares it and multipart goes out byte-identical; the usual few
/// headers are kept inline, so keeping the copy allocates nothing.
struct KeptRequest {
    method: http::Method,
    uri: http::Uri,
    version: http::Version,
    headers: KeptHeaders,
    extensions: http::Extensions,
    body: Bytes,
}

// The inline variant is the common case and large on purpose: it saves the allocations.
#[allow(clippy::large_enum_variant)]
enum KeptHeaders {
    Inline([Option<(HeaderName, HeaderValue)>; INLINE_HEADERS]),
    Map(HeaderMap),
}

impl KeptRequest {
    fn of(request: &http::Request<Bytes>) -> KeptRequest {
        let headers = request.headers();
        let headers = if headers.len() <= INLINE_HEADERS {
            let mut inline: [Option<(HeaderName, HeaderValue)>; INLINE_HEADERS] =
                Default::default();
            // Every value in order, repeated names included.
            for (slot, (name, value)) in inline.iter_mut().zip(headers) {
                *slot = Some((name.clone(), value.clone()));
            }
            KeptHeaders::Inline(inline)
        } else {
            KeptHeaders::Map(headers.clone())
        };
        KeptRequest {
            method: request.method().clone(),
            uri: request.uri().clone(),
            version: request.version(),
            headers,
            extensions: request.extensions().clone(),
            body: request.body().clone(),
        }
    }

    /// The request again, to send.
    fn request(&self) -> http::Request<Bytes> {
        let mut request = http::Request::new(self.body.clone());
        *request.method_mut() = self.method.clone();
        *request.uri_mut() = self.uri.clone();
        *request.version_mut() = self.version;
        *request.headers_mut() = match &self.headers {
            KeptHeaders::Map(map) => map.clone(),
            KeptHeaders::Inline(inline) => {
                let mut map = HeaderMap::with_capacity(INLINE_HEADERS);
                for (name, value) in inline.iter().flatten() {
                    map.append(name.clone(), value.clone());
                }
                map
            }
        };
        *request.extensions_mut() = self.extensions.clone();
        request
    }
}

/// The decision on one failed attempt.
enum Outcome {
    /// Hand this answer to the caller.
    Done(Result<http::Response<Body>, TransportError>),
    /// Try again after this long (the server's wish, if it had one); what this attempt got
    /// is kept in case no time is left for another.
    Retry(
        Option<Duration>,
        Result<http::Response<Body>, TransportError>,
    ),
}

/// Read an error answer's body (waiting at most `idle` for each chunk) to decide by the
/// provider's `rules`, and rebuild the answer in case it is final.
async fn inspect(
    response: http::Response<Body>,
    rules: ErrorRules,
    idle: Option<Duration>,
) -> (http::Response<Body>, mishika_core::Error) {
    let (parts, body) = response.into_parts();
    let buffer = error_body_prefix(body, MAX_INSPECTED_BODY, idle).await;
    let error = (rules.from_response)(parts.status, &parts.headers, &buffer);
    (
        http::Response::from_parts(parts, Body::from_bytes(buffer)),
        error,
    )
}

/// Whether an attempt's result may call for another: a status the provider may retry, or
/// a retryable failure. Most answers are successes and get no second look.
fn may_retry(result: &Result<http::Response<Body>, TransportError>, rules: &ErrorRules) -> bool {
    match result {
        Ok(response) => !response.status().is_success() && (rules.may_retry)(response.status()),
        Err(error) => is_retryable_failure(error),
    }
}

impl Transport for RetryTransport {
    // Written out rather than `async fn`: the first attempt goes out with a small future,
    // and everything a retry needs (inspecting the answer, waiting, sending again) lives in
    // a separate future made only when the first attempt may be retried. A successful
    // answer read whole is read in the first future (no clock read, no allocation for a
    // body in one chunk).
    fn send(&self, request: http::Request<Bytes>) -> TransportFuture<'_> {
        let context = CallContext::of(&request);
        let call = context.policy;
        let rules = context.errors;
        let retries = call.num_retries.unwrap_or(self.policy.max_retries);
        if retries == 0 {
            return self.inner.send(request);
        }
        let read = (context.answer == AnswerUse::Read).then_some(self.max_buffered);
        let deadline = call.retry_deadline.or(self.policy.deadline);
        // The clock is only read when a deadline needs it.
        let started = deadline.map(|_| Instant::now());
        let error_body_idle = call.stream_idle_timeout.or(self.error_body_idle);
        let kept = KeptRequest::of(&request);
        let first = self.inner.send(request);
        Box::pin(async move {
            let finishing = ReadWhole::after(first.await, read);
            let result = finishing.await;
            if !may_retry(&result, &rules) {
                return result;
            }
            let schedule = Schedule {
                retries,
                deadline: deadline.zip(started),
                rules,
                read,
                error_body_idle,
            };
            Box::pin(self.retry(kept, result, schedule)).await
        })
    }
}

/// One attempt: its answer's head, and for an answer read whole (`read`: up to this many
/// bytes) its body too, when the status is a success.
async fn attempt(
    sending: TransportFuture<'_>,
    read: Option<usize>,
) -> Result<http::Response<Body>, TransportError> {
    ReadWhole::after(sending.await, read).await
}

/// How many retries a request gets, and until when.
struct Schedule {
    retries: u32,
    /// The longest time across all attempts, and when the first one started.
    deadline: Option<(Duration, Instant)>,
    /// How the provider's error answers read.
    rules: ErrorRules,
    /// Whether (and up to how much) successful bodies are read here.
    read: Option<usize>,
    /// Longest silence while an error body is read.
    error_body_idle: Option<Duration>,
}

/// Whether waiting `wait` from `now` ends past one of the deadlines: the retry deadline
/// (its length and the first attempt's start) or the call's whole-request deadline. A
/// wait too long to be an instant ends past any deadline.
fn past_deadlines(
    now: Instant,
    wait: Duration,
    retry_deadline: Option<(Duration, Instant)>,
    request_deadline: Option<Instant>,
) -> bool {
    let Some(wake) = now.checked_add(wait) else {
        return retry_deadline.is_some() || request_deadline.is_some();
    };
    let past_retry = retry_deadline
        .is_some_and(|(limit, started)| started.checked_add(limit).is_some_and(|end| wake > end));
    let past_request = request_deadline.is_some_and(|end| wake >= end);
    past_retry || past_request
}

impl RetryTransport {
    /// Decide on the first attempt's `result` and retry while the answer is retryable,
    /// attempts are left and the deadlines allow; every retry sends `kept` again.
    async fn retry(
        &self,
        kept: KeptRequest,
        mut result: Result<http::Response<Body>, TransportError>,
        schedule: Schedule,
    ) -> Result<http::Response<Body>, TransportError> {
        let (method, path) = (kept.method.as_str(), kept.uri.path());
        // The attempt that produced `result`, from 0.
        let mut attempt_number = 0u32;
        loop {
            let last = attempt_number >= schedule.retries;
            let outcome = match result {
                Ok(response)
                    if !last
                        && !response.status().is_success()
                        && (schedule.rules.may_retry)(response.status()) =>
                {
                    let (response, error) =
                        inspect(response, schedule.rules, schedule.error_body_idle).await;
                    if error.is_retryable() {
                        tracing::warn!(
                            target: "mishika::retry",
                            %method, %path, attempt = attempt_number + 1, status = response.status().as_u16(),
                            kind = %error.kind(), "retryable error answer"
                        );
                        Outcome::Retry(error.retry_after(), Ok(response))
                    } else {
                        Outcome::Done(Ok(response))
                    }
                }
                Err(error) if !last && is_retryable_failure(&error) => {
                    tracing::warn!(
                        target: "mishika::retry",
                        %method, %path, attempt = attempt_number + 1, kind = ?error.kind(),
                        "connection failure"
                    );
                    Outcome::Retry(None, Err(error))
                }
                other => Outcome::Done(other),
            };
            let (server_wait, failed) = match outcome {
                Outcome::Done(result) => return result,
                Outcome::Retry(server_wait, result) => (server_wait, result),
            };
            let wait = match server_wait {
                Some(asked) => asked.min(self.policy.max_retry_after),
                None => self.policy.backoff(attempt_number),
            };
            if past_deadlines(Instant::now(), wait, schedule.deadline, request_deadline()) {
                // No time left for another attempt: the caller gets what this one got.
                tracing::warn!(target: "mishika::retry", %method, %path, wait_ms = wait.as_millis() as u64, "deadline reached before the retry");
                return failed;
            }
            tracing::debug!(target: "mishika::retry", %method, %path, wait_ms = wait.as_millis() as u64, "waiting before retry");
            drop(failed);
            tokio::time::sleep(wait).await;
            attempt_number += 1;
            result = attempt(self.inner.send(kept.request()), schedule.read).await;
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::sync::atomic::{AtomicUsize, Ordering};

    use mishika_core::{CallPolicy, MockTransport};
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn each_policy_setter_sets_its_field_and_only_it() {
        let policy = RetryPolicy::none()
            .max_retries(7)
            .initial_backoff(Duration::from_millis(3))
            .max_backoff(Duration::from_millis(40))
            .max_retry_after(Duration::from_secs(5))
            .deadline(Duration::from_secs(9));
        assert_eq!(policy.max_retries, 7);
        assert_eq!(policy.initial_backoff, Duration::from_millis(3));
        assert_eq!(policy.max_backoff, Duration::from_millis(40));
        assert_eq!(policy.max_retry_after, Duration::from_secs(5));
        assert_eq!(policy.deadline, Some(Duration::from_secs(9)));
        let default = RetryPolicy::default();
        assert_eq!(
            RetryPolicy::default().max_retries(7),
            RetryPolicy {
                max_retries: 7,
                ..default
            }
        );
    }

    fn status(code: u16) -> http::Response<Body> {
        let mut response = http::Response::new(Body::from(r#"{"error":{"message":"m"}}"#));
        *response.status_mut() = http::StatusCode::from_u16(code).unwrap();
        response
    }

    fn failure(kind: TransportErrorKind) -> TransportError {
        TransportError::new(kind, "failed")
    }

    fn quick(retries: u32) -> RetryPolicy {
        RetryPolicy {
            max_retries: retries,
            initial_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(2),
            ..RetryPolicy::default()
        }
    }

    /// Makes one attempt's answer.
    type Answer = Box<dyn Fn() -> Result<http::Response<Body>, TransportError> + Send>;

    /// A mock transport answering each attempt with the next of `answers`, counting sends.
    fn scripted(answers: Vec<Answer>) -> (Arc<MockTransport>, Arc<AtomicUsize>) {
        let sent = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&sent);
        let mut transport = MockTransport::new();
        transport.expect_send().returning(move |_| {
            let n = counter.fetch_add(1, Ordering::SeqCst);
            // A layer that retries without end fails here rather than hanging the test.
            assert!(n < 20, "sent {n} times");
            answers[n.min(answers.len() - 1)]()
        });
        (Arc::new(transport), sent)
    }

    fn request() -> http::Request<Bytes> {
        http::Request::post("http://h/v1/chat/completions")
            .body(Bytes::from_static(b"{}"))
            .unwrap()
    }

    fn with_policy(policy: CallPolicy) -> http::Request<Bytes> {
        let mut request = request();
        request.extensions_mut().insert(CallContext::new(
            policy,
            AnswerUse::Read,
            ErrorRules::OPENAI,
        ));
        request
    }

    #[test]
    fn backoff_doubles_from_the_initial_wait_up_to_the_cap() {
        let policy = RetryPolicy::default();
        let cases = [
            (0, 0.0, 500),
            (1, 0.0, 1000),
            (2, 0.0, 2000),
            (3, 0.0, 4000),
            (4, 0.0, 8000),
            (5, 0.0, 8000),
            (31, 0.0, 8000),
            (u32::MAX, 0.0, 8000),
            (0, 1.0, 375),
            (4, 1.0, 6000),
            (2, 0.5, 1750),
            (0, 7.0, 375),
            (0, -1.0, 500),
        ];
        for (retry, unit, millis) in cases {
            assert_eq!(
                policy.backoff_with(retry, unit),
                Duration::from_millis(millis),
                "retry {retry}, jitter {unit}"
            );
        }
        assert_eq!(RetryPolicy::none().max_retries, 0);
        assert_eq!(
            RetryPolicy::none(),
            RetryPolicy {
                max_retries: 0,
                ..RetryPolicy::default()
            }
        );
        let default = RetryPolicy::default();
        assert_eq!(default.max_retries, 2);
        assert_eq!(default.max_retry_after, Duration::from_secs(60));
        assert_eq!(default.deadline, None);
    }

    proptest! {
        #[test]
        fn backoff_is_never_zero_never_over_the_cap(
            initial_ms in 1u64..10_000_000,
            max_ms in 1u64..10_000_000,
            retry in any::<u32>(),
        ) {
            let policy = RetryPolicy {
                initial_backoff: Duration::from_millis(initial_ms),
                max_backoff: Duration::from_millis(max_ms),
                ..RetryPolicy::default()
            };
            let wait = policy.backoff(retry);
            prop_assert!(wait > Duration::ZERO);
            prop_assert!(wait <= policy.max_backoff);
            let full = policy.backoff_with(retry, 0.0);
            prop_assert!(wait <= full);
            prop_assert!(wait >= full.mul_f64(0.75).saturating_sub(Duration::from_nanos(1)));
            prop_assert_eq!(
                full,
                Duration::from_millis(initial_ms)
                    .saturating_mul(2u32.saturating_pow(retry.min(30)))
                    .min(policy.max_backoff)
            );
        }
    }

    #[tokio::test]
    async fn retry_policy_none_sends_exactly_once() {
        for answer in [
            Box::new(|| Ok(status(503))) as Answer,
            Box::new(|| Err(failure(TransportErrorKind::Io))),
        ] {
            let (transport, sent) = scripted(vec![answer]);
            let retry = RetryTransport::new(transport, RetryPolicy::none());
            let _ = retry.send(request()).await;
            assert_eq!(sent.load(Ordering::SeqCst), 1);
        }
        // A request's own `num_retries(0)` too.
        let (transport, sent) = scripted(vec![Box::new(|| Ok(status(503)))]);
        let retry = RetryTransport::new(transport, quick(5));
        let policy = CallPolicy::default().num_retries(0);
        let answer = retry.send(with_policy(policy)).await.unwrap();
        assert_eq!(answer.status(), 503);
        assert_eq!(sent.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn which_failures_are_retried() {
        let cases = [
            (TransportErrorKind::Connect, 3),
            (TransportErrorKind::ConnectTimeout, 3),
            (TransportErrorKind::Timeout, 3),
            (TransportErrorKind::Io, 3),
            (TransportErrorKind::Other, 1),
            (TransportErrorKind::Protocol, 1),
            (TransportErrorKind::IdleTimeout, 1),
            (TransportErrorKind::StreamDeadline, 1),
        ];
        for (kind, attempts) in cases {
            let (transport, sent) = scripted(vec![Box::new(move || Err(failure(kind)))]);
            let retry = RetryTransport::new(transport, quick(2));
            let error = retry.send(request()).await.unwrap_err();
            assert_eq!(error.kind(), kind);
            assert_eq!(sent.load(Ordering::SeqCst), attempts, "{kind:?}");
            // Body deadlines only ever end a body, never a send.
            let body_only = matches!(
                kind,
                TransportErrorKind::IdleTimeout | TransportErrorKind::StreamDeadline
            );
            if !body_only {
                assert_eq!(
                    error.into_error().is_retryable(),
                    attempts > 1,
                    "{kind:?}: the error says what the layer does"
                );
            }
        }
    }

    #[tokio::test]
    async fn which_statuses_are_retried_and_the_last_answer_is_returned() {
        for (code, attempts) in [
            (408, 3),
            (409, 3),
            (429, 3),
            (500, 3),
            (502, 3),
            (503, 3),
            (504, 3),
            (400, 1),
            (401, 1),
            (404, 1),
            (422, 1),
            (501, 1),
            (200, 1),
            (204, 1),
        ] {
            let (transport, sent) = scripted(vec![Box::new(move || Ok(status(code)))]);
            let retry = RetryTransport::new(transport, quick(2));
            let answer = retry.send(request()).await.unwrap();
            assert_eq!(answer.status(), code);
            assert_eq!(sent.load(Ordering::SeqCst), attempts, "{code}");
            // The answer handed on still has its body, read or not.
            let body = answer.into_body().collect(1 << 10).await.unwrap();
            assert_eq!(&body[..], br#"{"error":{"message":"m"}}"#, "{code}");
        }
    }

    #[tokio::test]
    async fn the_retry_deadline_returns_the_answer_instead_of_waiting() {
        let (transport, sent) = scripted(vec![Box::new(|| {
            let mut response = status(429);
            response
                .headers_mut()
                .insert("retry-after", HeaderValue::from_static("5"));
            Ok(response)
        })]);
        let retry = RetryTransport::new(
            transport,
            RetryPolicy {
                deadline: Some(Duration::from_secs(1)),
                ..quick(3)
            },
        );
        let started = std::time::Instant::now();
        let answer = retry.send(request()).await.unwrap();
        assert_eq!(answer.status(), 429);
        assert_eq!(sent.load(Ordering::SeqCst), 1);
        assert!(started.elapsed() < Duration::from_millis(500));
        // The cap on the server's wish applies before the deadline is checked.
        let (transport, sent) = scripted(vec![
            Box::new(|| {
                let mut response = status(429);
                response
                    .headers_mut()
                    .insert("retry-after", HeaderValue::from_static("5"));
                Ok(response)
            }),
            Box::new(|| Ok(status(200))),
        ]);
        let retry = RetryTransport::new(
            transport,
            RetryPolicy {
                deadline: Some(Duration::from_secs(1)),
                max_retry_after: Duration::from_millis(5),
                ..quick(3)
            },
        );
        assert_eq!(retry.send(request()).await.unwrap().status(), 200);
        assert_eq!(sent.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn deadlines_allow_a_wait_only_when_it_ends_in_time() {
        let now = Instant::now();
        let second = Duration::from_secs(1);
        let later = now + Duration::from_secs(10);
        assert!(!past_deadlines(now, second, None, None));
        assert!(!past_deadlines(now, Duration::MAX, None, None));
        assert!(past_deadlines(now, Duration::MAX, None, Some(later)));
        assert!(past_deadlines(
            now,
            Duration::MAX,
            Some((second, now)),
            None
        ));
        // The request deadline: a wait ending at it or after is not slept.
        assert!(!past_deadlines(
            now,
            Duration::from_secs(9),
            None,
            Some(later)
        ));
        assert!(past_deadlines(
            now,
            Duration::from_secs(10),
            None,
            Some(later)
        ));
        assert!(past_deadlines(
            now,
            Duration::from_secs(11),
            None,
            Some(later)
        ));
        // The retry deadline: from the first attempt's start.
        let started = now - Duration::from_secs(5);
        let six = Some((Duration::from_secs(6), started));
        assert!(!past_deadlines(now, second, six, None));
        assert!(past_deadlines(
            now,
            second + Duration::from_nanos(1),
            six,
            None
        ));
        assert!(!past_deadlines(
            now,
            second,
            Some((Duration::MAX, started)),
            None
        ));
        // Either one is enough.
        assert!(past_deadlines(now, second, six, Some(now)));
    }

    #[tokio::test]
    async fn a_body_in_one_chunk_is_kept_not_copied() {
        let chunk = Bytes::from(vec![b'x'; 4096]);
        let address = chunk.as_ptr();
        let shared = chunk.clone();
        let response = http::Response::new(Body::from_stream(futures_util::stream::iter([
            Ok(Bytes::new()),
            Ok(shared),
            Ok(Bytes::new()),
        ])));
        let read = ReadWhole::after(Ok(response), Some(1 << 20)).await.unwrap();
        let body = read.into_body().collect(1 << 20).await.unwrap();
        assert_eq!(body.as_ptr(), address, "the same memory, not a copy");
        assert_eq!(body, chunk);
    }

    #[tokio::test]
    async fn a_body_in_many_chunks_is_joined_and_one_past_the_cap_streams_on() {
        let chunks = || {
            futures_util::stream::iter(
                ["ab", "", "cde", "f"].map(|text| Ok(Bytes::from_static(text.as_bytes()))),
            )
        };
        let response = http::Response::new(Body::from_stream(chunks()));
        let read = ReadWhole::after(Ok(response), Some(6)).await.unwrap();
        let mut body = read.into_body();
        // Read whole: one chunk, then the end.
        assert_eq!(body.next().await.unwrap().unwrap(), "abcdef");
        assert!(body.next().await.is_none());

        let response = http::Response::new(Body::from_stream(chunks()));
        let read = ReadWhole::after(Ok(response), Some(5)).await.unwrap();
        let mut body = read.into_body();
        // Past the cap: the chunks read so far, then the rest, as they came.
        for want in ["ab", "cde", "f"] {
            assert_eq!(body.next().await.unwrap().unwrap(), want);
        }
        assert!(body.next().await.is_none());
    }

    #[tokio::test]
    async fn a_body_that_breaks_fails_the_attempt_and_others_pass_unread() {
        let broken = futures_util::stream::iter([
            Ok(Bytes::from_static(b"{\"cho")),
            Err(failure(TransportErrorKind::Io)),
        ]);
        let response = http::Response::new(Body::from_stream(broken));
        let error = ReadWhole::after(Ok(response), Some(1 << 20))
            .await
            .unwrap_err();
        assert_eq!(error.kind(), TransportErrorKind::Io);

        // Not read: an error status, a request whose body streams to the caller, a failure.
        for (code, read) in [(503, Some(1 << 20)), (200, None)] {
            let pending = futures_util::stream::pending();
            let mut response = http::Response::new(Body::from_stream(pending));
            *response.status_mut() = http::StatusCode::from_u16(code).unwrap();
            // The body never ends: reading it would not return.
            let passed =
                tokio::time::timeout(Duration::from_secs(2), ReadWhole::after(Ok(response), read))
                    .await
                    .expect("not read")
                    .unwrap();
            assert_eq!(passed.status(), code);
        }
        let error = ReadWhole::after(Err(failure(TransportErrorKind::Connect)), Some(1))
            .await
            .unwrap_err();
        assert_eq!(error.kind(), TransportErrorKind::Connect);
    }

    #[tokio::test]
    async fn a_json_answer_cut_after_its_head_is_retried_a_streamed_one_is_not() {
        for (answer, attempts) in [(AnswerUse::Read, 2), (AnswerUse::Streamed, 1)] {
            let cut = || {
                Ok(http::Response::new(Body::from_stream(
                    futures_util::stream::iter([
                        Ok(Bytes::from_static(b"{\"cho")),
                        Err(failure(TransportErrorKind::Io)),
                    ]),
                )))
            };
            let whole = || Ok(http::Response::new(Body::from("{}")));
            let (transport, sent) = scripted(vec![Box::new(cut), Box::new(whole)]);
            let retry = RetryTransport::new(transport, quick(2));
            let mut request = request();
            request.extensions_mut().insert(CallContext::new(
                CallPolicy::default(),
                answer,
                ErrorRules::OPENAI,
            ));
            let response = retry.send(request).await.unwrap();
            assert_eq!(sent.load(Ordering::SeqCst), attempts, "{answer:?}");
            let body = response.into_body().collect(1 << 10).await;
            match answer {
                AnswerUse::Read => assert_eq!(body.unwrap(), "{}"),
                _ => assert!(body.is_err()),
            }
        }
    }

    #[tokio::test]
    async fn an_error_body_is_inspected_up_to_64_kib() {
        assert_eq!(MAX_INSPECTED_BODY, 64 * 1024);
        let big = Bytes::from(vec![b'y'; 100 * 1024]);
        let mut response = http::Response::new(Body::from_stream(futures_util::stream::iter([
            Ok(big.slice(..40 * 1024)),
            Ok(big.slice(40 * 1024..)),
        ])));
        *response.status_mut() = http::StatusCode::SERVICE_UNAVAILABLE;
        let (response, error) = inspect(response, ErrorRules::OPENAI, None).await;
        assert_eq!(error.kind(), mishika_core::ErrorKind::ServiceUnavailable);
        let kept = response.into_body().collect(1 << 20).await.unwrap();
        assert_eq!(kept.len(), MAX_INSPECTED_BODY);
        assert_eq!(
            error.body().map(str::len),
            Some(8 * 1024 + "… (65536 bytes in all)".len())
        );
    }

    #[tokio::test]
    async fn an_error_body_that_stalls_is_read_for_the_idle_timeout_then_decided_on() {
        let stalled = futures_util::stream::iter([Ok(Bytes::from_static(b"{\"error\""))])
            .chain(futures_util::stream::pending());
        let body = Body::from_stream(stalled);
        let started = std::time::Instant::now();
        let read = error_body_prefix(body, 1024, Some(Duration::from_millis(50))).await;
        assert_eq!(read, "{\"error\"");
        let took = started.elapsed();
        assert!(took >= Duration::from_millis(50) && took < Duration::from_secs(2));
        // The limit stops reading; a break ends it with what came.
        let body = Body::from_stream(futures_util::stream::iter([
            Ok(Bytes::from_static(b"abc")),
            Ok(Bytes::from_static(b"def")),
            Ok(Bytes::from_static(b"ghi")),
        ]));
        assert_eq!(error_body_prefix(body, 4, None).await, "abcd");
        let body = Body::from_stream(futures_util::stream::iter([
            Ok(Bytes::from_static(b"abc")),
            Err(failure(TransportErrorKind::Io)),
            Ok(Bytes::from_static(b"def")),
        ]));
        assert_eq!(error_body_prefix(body, 100, None).await, "abc");

        // Through the layer: a 503 whose body stalls is retried after the idle timeout.
        let (transport, sent) = scripted(vec![
            Box::new(|| {
                let stalled = futures_util::stream::iter([Ok(Bytes::from_static(b"{"))])
                    .chain(futures_util::stream::pending());
                let mut response = http::Response::new(Body::from_stream(stalled));
                *response.status_mut() = http::StatusCode::SERVICE_UNAVAILABLE;
                Ok(response)
            }),
            Box::new(|| Ok(status(200))),
        ]);
        let retry = RetryTransport::new(transport, quick(1))
            .error_body_idle_timeout(Some(Duration::from_millis(30)));
        let answer = tokio::time::timeout(Duration::from_secs(5), retry.send(request()))
            .await
            .expect("the stalled body was given up");
        assert_eq!(answer.unwrap().status(), 200);
        assert_eq!(sent.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn a_kept_request_is_sent_again_unchanged() {
        for headers in [0usize, 1, INLINE_HEADERS, INLINE_HEADERS + 1, 20] {
            let mut original = http::Request::put("http://h:1/v1/x?q=1")
                .version(http::Version::HTTP_2)
                .body(Bytes::from_static(b"body"))
                .unwrap();
            for i in 0..headers {
                // Repeated names keep every value, in order.
                original.headers_mut().append(
                    HeaderName::from_static(if i % 2 == 0 { "x-even" } else { "x-odd" }),
                    HeaderValue::from_str(&format!("v{i}")).unwrap(),
                );
            }
            original.extensions_mut().insert(CallContext::new(
                CallPolicy::default().num_retries(7),
                AnswerUse::Streamed,
                ErrorRules::OPENAI,
            ));
            let kept = KeptRequest::of(&original);
            assert_eq!(
                matches!(kept.headers, KeptHeaders::Inline(_)),
                headers <= INLINE_HEADERS
            );
            for _ in 0..2 {
                let again = kept.request();
                assert_eq!(again.method(), original.method());
                assert_eq!(again.uri(), original.uri());
                assert_eq!(again.version(), original.version());
                assert_eq!(again.headers(), original.headers());
                assert_eq!(again.body(), original.body());
                let context = CallContext::of(&again);
                assert_eq!(context.policy.num_retries, Some(7));
                assert_eq!(context.answer, AnswerUse::Streamed);
            }
        }
    }

    #[test]
    fn may_retry_looks_twice_only_at_retryable_statuses_and_failures() {
        let rules = ErrorRules::OPENAI;
        assert!(!may_retry(&Ok(status(200)), &rules));
        assert!(!may_retry(&Ok(status(299)), &rules));
        assert!(may_retry(&Ok(status(503)), &rules));
        assert!(!may_retry(&Ok(status(400)), &rules));
        assert!(may_retry(&Err(failure(TransportErrorKind::Io)), &rules));
        assert!(!may_retry(&Err(failure(TransportErrorKind::Other)), &rules));
        // A provider's own rules decide.
        let never = ErrorRules::new(mishika_core::Error::from_response, |_| false);
        assert!(!may_retry(&Ok(status(503)), &never));
    }

    #[tokio::test]
    async fn the_first_attempt_future_stays_small() {
        let mut transport = MockTransport::new();
        transport
            .expect_send()
            .returning(|_| Ok(http::Response::new(Body::empty())));
        let retry = RetryTransport::new(Arc::new(transport), RetryPolicy::default());
        let future = retry.send(request());
        // 840 bytes before the body of a JSON answer was read here, 1088 with it (the
        // answer and the chunks read): it holds the copy kept for a retry, not the retry.
        let size = std::mem::size_of_val(&*future);
        assert!(size <= 1152, "{size} bytes");
        assert!(future.await.is_ok());
    }
}
