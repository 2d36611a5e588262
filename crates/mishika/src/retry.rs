//! Retries as a [`Transport`] decorator, so every transport (a user's too) gets them.
//!
//! What is retried: connection failures and transport timeouts, and answers whose error, as
//! the request's provider reads it, [`is_retryable`](mishika_core::Error::is_retryable). The
//! provider's [`ErrorRules`](mishika_core::ErrorRules) travel in the request's
//! [`CallContext`]; without one, the OpenAI rules apply: 408, 409, 429 (not quota or budget
//! exhaustion), 500, 502, 503, 504, never 400, 401, 403, 404, 422. A response whose body has
//! been handed to the caller is never retried, so a stream that breaks mid-way is not either.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue};
use mishika_core::{
    Body, CallContext, ErrorRules, Transport, TransportError, TransportErrorKind, TransportFuture,
};

/// How many times, how long between, and for how long in all.
#[derive(Debug, Clone, Copy, PartialEq)]
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

    /// The wait before retry number `retry` (0-based): exponential, capped, with up to 25 %
    /// jitter taken off so many clients do not retry in lockstep.
    pub fn backoff(&self, retry: u32) -> Duration {
        let exponential = self
            .initial_backoff
            .saturating_mul(2u32.saturating_pow(retry.min(30)));
        let capped = exponential.min(self.max_backoff);
        capped.mul_f64(1.0 - 0.25 * fastrand::f64())
    }
}

/// Retries requests through `inner` according to a [`RetryPolicy`]; a request's own
/// policy (in its [`CallContext`]) overrides the retry count and deadline, and its
/// provider's error rules decide which answers are retryable.
#[derive(Debug)]
pub struct RetryTransport {
    inner: Arc<dyn Transport>,
    policy: RetryPolicy,
}

impl RetryTransport {
    /// Retry requests sent through `inner`.
    pub fn new(inner: Arc<dyn Transport>, policy: RetryPolicy) -> RetryTransport {
        RetryTransport { inner, policy }
    }
}

/// Error bodies read to decide on a retry are capped here (they are small JSON).
const MAX_INSPECTED_BODY: usize = 64 * 1024;

fn is_retryable_failure(error: &TransportError) -> bool {
    matches!(
        error.kind(),
        TransportErrorKind::Connect
            | TransportErrorKind::ConnectTimeout
            | TransportErrorKind::Timeout
            | TransportErrorKind::Io
    )
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

/// Read an error answer's body to decide by the provider's `rules`, and rebuild the
/// answer in case it is final.
async fn inspect(
    response: http::Response<Body>,
    rules: ErrorRules,
) -> (http::Response<Body>, mishika_core::Error) {
    let (parts, body) = response.into_parts();
    let buffer = body.prefix(MAX_INSPECTED_BODY).await;
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
    // a separate future made only when the first attempt may be retried.
    fn send(&self, request: http::Request<Bytes>) -> TransportFuture<'_> {
        let context = CallContext::of(&request);
        let call = context.policy;
        let rules = context.errors;
        let retries = call.num_retries.unwrap_or(self.policy.max_retries);
        if retries == 0 {
            return self.inner.send(request);
        }
        let deadline = call.retry_deadline.or(self.policy.deadline);
        // The clock is only read when a deadline needs it.
        let started = deadline.map(|_| Instant::now());
        let kept = KeptRequest::of(&request);
        let first = self.inner.send(request);
        Box::pin(async move {
            let result = first.await;
            if !may_retry(&result, &rules) {
                return result;
            }
            let schedule = Schedule {
                retries,
                deadline: deadline.zip(started),
                rules,
            };
            Box::pin(self.retry(kept, result, schedule)).await
        })
    }
}

/// How many retries a request gets, and until when.
struct Schedule {
    retries: u32,
    /// The longest time across all attempts, and when the first one started.
    deadline: Option<(Duration, Instant)>,
    /// How the provider's error answers read.
    rules: ErrorRules,
}

impl RetryTransport {
    /// Decide on the first attempt's `result` and retry while the answer is retryable,
    /// attempts are left and the deadline allows; every retry sends `kept` again.
    async fn retry(
        &self,
        kept: KeptRequest,
        mut result: Result<http::Response<Body>, TransportError>,
        schedule: Schedule,
    ) -> Result<http::Response<Body>, TransportError> {
        let (method, path) = (kept.method.as_str(), kept.uri.path());
        // The attempt that produced `result`, from 0.
        let mut attempt = 0u32;
        loop {
            let last = attempt >= schedule.retries;
            let outcome = match result {
                Ok(response)
                    if !last
                        && !response.status().is_success()
                        && (schedule.rules.may_retry)(response.status()) =>
                {
                    let (response, error) = inspect(response, schedule.rules).await;
                    if error.is_retryable() {
                        tracing::warn!(
                            target: "mishika::retry",
                            %method, %path, attempt = attempt + 1, status = response.status().as_u16(),
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
                        %method, %path, attempt = attempt + 1, kind = ?error.kind(),
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
                None => self.policy.backoff(attempt),
            };
            if let Some((deadline, started)) = schedule.deadline {
                if started.elapsed() + wait > deadline {
                    // No time left for another attempt: the caller gets what this one got.
                    tracing::warn!(target: "mishika::retry", %method, %path, "retry deadline reached");
                    return failed;
                }
            }
            tracing::debug!(target: "mishika::retry", %method, %path, wait_ms = wait.as_millis() as u64, "waiting before retry");
            drop(failed);
            tokio::time::sleep(wait).await;
            attempt += 1;
            result = self.inner.send(kept.request()).await;
        }
    }
}
