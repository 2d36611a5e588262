//! Deadlines: the whole-request deadline around a call, and the stream-idle deadline as a
//! [`Transport`] decorator that watches every response body.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_core::Stream;
use futures_util::FutureExt;
use futures_util::future::Either;
use mishika_core::{
    AnswerUse, Body, CallContext, Error, TimeoutPhase, Transport, TransportError,
    TransportErrorKind, TransportFuture,
};
use tokio::time::{Instant, Sleep};

tokio::task_local! {
    /// When the call being polled must be done: set by [`with_deadline`] around the whole
    /// call, read by the retry layer only when it is about to wait, so that it never sleeps
    /// past it. A task-local costs no allocation and no clock read on the common call,
    /// where a marker in the request's extensions would allocate.
    static REQUEST_DEADLINE: Instant;
}

/// The deadline of the call being polled, if the client set one.
pub(crate) fn request_deadline() -> Option<Instant> {
    REQUEST_DEADLINE.try_with(|deadline| *deadline).ok()
}

/// Run `future` under `deadline`, failing with a `Timeout` error of the request phase. A
/// deadline too far away to be an instant (`Duration::MAX`) is no deadline. The deadline
/// counts from the first poll, and the timer is made there, so the future can be made
/// outside a runtime.
///
/// A plain function rather than an `async fn`: an `async fn` would keep its argument in its
/// state beside the running copy, doubling the size of every call's future.
pub(crate) fn with_deadline<T, F>(
    deadline: Option<Duration>,
    future: F,
) -> impl Future<Output = Result<T, Error>>
where
    F: Future<Output = Result<T, Error>>,
{
    let Some(limit) = deadline else {
        return Either::Left(future);
    };
    Either::Right(
        futures_util::future::lazy(move |_| {
            // One clock read, as `tokio::time::timeout` would make.
            let Some(at) = Instant::now().checked_add(limit) else {
                return Either::Left(future);
            };
            Either::Right(
                tokio::time::timeout_at(at, REQUEST_DEADLINE.scope(at, future)).map(move |ended| {
                    ended.unwrap_or_else(|_| Err(Error::timeout(TimeoutPhase::Request, limit)))
                }),
            )
        })
        .flatten(),
    )
}

/// Wraps a transport so that a response body fails with an idle timeout when no bytes
/// arrive for the request's `stream_idle_timeout` (or this transport's default), and with a
/// stream-deadline timeout when it is still going after the request's `stream_deadline` (or
/// this transport's default), counted from when the request is sent. Only requests marked
/// [`AnswerUse::Streamed`] in their [`CallContext`] are watched (every provider's streams and
/// audio, by [`Call::send_streamed`](mishika_core::Call::send_streamed) and
/// [`Call::send_sse`](mishika_core::Call::send_sse)); other answers are read inside the
/// call, under its whole-request deadline.
///
/// The watch sees bytes, not events: an SSE keep-alive comment or a `ping` event is bytes
/// arriving, so it resets the idle timer (that is what servers send them for). What bounds a
/// stream that only ever sends keep-alives is the stream deadline. A duration too large to
/// be an instant (`Duration::MAX`) means no limit.
#[derive(Debug)]
pub struct IdleTimeoutTransport {
    inner: Arc<dyn Transport>,
    default_idle: Option<Duration>,
    default_stream_deadline: Option<Duration>,
}

impl IdleTimeoutTransport {
    /// Watch the bodies of `inner`'s responses, allowing `default_idle` of silence unless a
    /// request sets its own.
    pub fn new(inner: Arc<dyn Transport>, default_idle: Option<Duration>) -> IdleTimeoutTransport {
        IdleTimeoutTransport {
            inner,
            default_idle,
            default_stream_deadline: None,
        }
    }

    /// Cut a streamed body that is still going `deadline` after its request was sent,
    /// unless the request sets its own (`None`, the default: no whole-stream limit).
    #[must_use]
    pub fn with_stream_deadline(mut self, deadline: Option<Duration>) -> IdleTimeoutTransport {
        self.default_stream_deadline = deadline;
        self
    }
}

impl Transport for IdleTimeoutTransport {
    // Written out rather than `async fn` so that an unwatched request costs no layer at
    // all: its future is the inner transport's own.
    fn send(&self, request: http::Request<Bytes>) -> TransportFuture<'_> {
        // An answer the call asks for as JSON is read inside the call, under its
        // whole-request deadline; the watch is for bodies handed to the caller (streams,
        // audio), which no deadline covers once the call has returned.
        let context = CallContext::of(&request);
        if context.answer != AnswerUse::Streamed {
            return self.inner.send(request);
        }
        let idle = context.policy.stream_idle_timeout.or(self.default_idle);
        let total = context
            .policy
            .stream_deadline
            .or(self.default_stream_deadline);
        if idle.is_none() && total.is_none() {
            return self.inner.send(request);
        }
        // The whole-stream deadline counts from now: the request going out.
        let end = total.and_then(|total| Some((total, Instant::now().checked_add(total)?)));
        let sending = self.inner.send(request);
        Box::pin(async move {
            let response = sending.await?;
            Ok(response.map(|body| Body::from_stream(WatchedBody::new(body, idle, end))))
        })
    }
}

/// A body that ends with an `IdleTimeout` error after `idle` without a chunk, and with a
/// `StreamDeadline` error once past its end.
struct WatchedBody {
    inner: Body,
    idle: Option<Duration>,
    /// When the next chunk must have arrived (`None`: no idle limit).
    next_by: Option<Instant>,
    /// The whole-stream deadline and when it falls.
    end: Option<(Duration, Instant)>,
    /// Created the first time the body has to wait: most bodies of plain answers never do.
    sleep: Option<Pin<Box<Sleep>>>,
    done: bool,
}

impl fmt::Debug for WatchedBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WatchedBody")
            .field("idle", &self.idle)
            .field("end", &self.end.map(|(total, _)| total))
            .finish()
    }
}

/// `idle` from now, or `None` when that is too far to be an instant.
fn idle_from_now(idle: Option<Duration>) -> Option<Instant> {
    idle.and_then(|idle| Instant::now().checked_add(idle))
}

impl WatchedBody {
    fn new(inner: Body, idle: Option<Duration>, end: Option<(Duration, Instant)>) -> WatchedBody {
        WatchedBody {
            inner,
            idle,
            next_by: idle_from_now(idle),
            end,
            sleep: None,
            done: false,
        }
    }

    fn past_end(&mut self) -> Option<Result<Bytes, TransportError>> {
        self.done = true;
        let total = self.end.map(|(total, _)| total).unwrap_or_default();
        Some(Err(TransportError::new(
            TransportErrorKind::StreamDeadline,
            format!("the stream was still going after its deadline of {total:?}"),
        )))
    }
}

impl Stream for WatchedBody {
    type Item = Result<Bytes, TransportError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.done {
            return Poll::Ready(None);
        }
        match Pin::new(&mut this.inner).poll_next(cx) {
            Poll::Ready(item) => {
                // Moving a plain Instant per chunk is cheap; the timer is only re-armed
                // when the body actually waits.
                let now = Instant::now();
                if let (Some(Ok(_)), Some((_, end))) = (&item, this.end) {
                    if now >= end {
                        return Poll::Ready(this.past_end());
                    }
                }
                this.next_by = this.idle.and_then(|idle| now.checked_add(idle));
                this.done = item.is_none();
                Poll::Ready(item)
            }
            Poll::Pending => {
                let wake = match (this.next_by, this.end) {
                    (Some(next_by), Some((_, end))) => next_by.min(end),
                    (Some(next_by), None) => next_by,
                    (None, Some((_, end))) => end,
                    (None, None) => return Poll::Pending,
                };
                let sleep = this
                    .sleep
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(wake)));
                if sleep.deadline() != wake {
                    sleep.as_mut().reset(wake);
                }
                match sleep.as_mut().poll(cx) {
                    Poll::Pending => Poll::Pending,
                    Poll::Ready(()) if this.end.is_some_and(|(_, end)| wake == end) => {
                        Poll::Ready(this.past_end())
                    }
                    Poll::Ready(()) => {
                        this.done = true;
                        let idle = this.idle.unwrap_or_default();
                        Poll::Ready(Some(Err(TransportError::new(
                            TransportErrorKind::IdleTimeout,
                            format!("no data arrived for {idle:?}"),
                        ))))
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use futures_util::StreamExt;
    use mishika_core::{CallPolicy, ErrorKind, ErrorRules, MockTransport};

    use super::*;

    fn chunk() -> Result<Bytes, TransportError> {
        Ok(Bytes::from_static(b"data: x\n\n"))
    }

    /// A chunk every `every`, forever.
    fn ticking(every: Duration) -> Body {
        Body::from_stream(futures_util::stream::unfold((), move |()| async move {
            tokio::time::sleep(every).await;
            Some((chunk(), ()))
        }))
    }

    fn stalled() -> Body {
        Body::from_stream(
            futures_util::stream::iter([chunk()]).chain(futures_util::stream::pending()),
        )
    }

    #[tokio::test]
    async fn with_deadline_times_out_marks_its_scope_and_takes_huge_limits() {
        let error = with_deadline(
            Some(Duration::from_millis(20)),
            std::future::pending::<Result<(), Error>>(),
        )
        .await
        .unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Timeout);
        assert_eq!(error.timeout_phase(), Some(TimeoutPhase::Request));
        assert_eq!(error.message(), "request timeout after 20ms");

        assert_eq!(request_deadline(), None);
        let before = Instant::now();
        let seen = with_deadline(Some(Duration::from_secs(5)), async {
            Ok::<_, Error>(request_deadline())
        })
        .await
        .unwrap()
        .unwrap();
        assert!(seen >= before + Duration::from_secs(5));
        assert!(seen <= Instant::now() + Duration::from_secs(5));
        // No deadline, or one too far to be an instant: none.
        for limit in [None, Some(Duration::MAX)] {
            let seen = with_deadline(limit, async { Ok::<_, Error>(request_deadline()) })
                .await
                .unwrap();
            assert_eq!(seen, None);
        }
    }

    #[tokio::test]
    async fn a_silent_body_ends_with_an_idle_timeout() {
        let mut body = WatchedBody::new(stalled(), Some(Duration::from_millis(30)), None);
        assert!(body.next().await.unwrap().is_ok());
        let error = body.next().await.unwrap().unwrap_err();
        assert_eq!(error.kind(), TransportErrorKind::IdleTimeout);
        assert_eq!(error.message(), "no data arrived for 30ms");
        assert!(body.next().await.is_none(), "ended after the error");
        let error = error.into_stream_error();
        assert_eq!(error.timeout_phase(), Some(TimeoutPhase::StreamIdle));
    }

    #[tokio::test]
    async fn a_body_that_keeps_going_ends_at_its_deadline() {
        let total = Duration::from_millis(120);
        let started = Instant::now();
        let mut body = WatchedBody::new(
            ticking(Duration::from_millis(10)),
            Some(Duration::from_millis(50)),
            Some((total, started + total)),
        );
        let mut chunks = 0;
        let error = loop {
            match body.next().await.unwrap() {
                Ok(_) => chunks += 1,
                Err(error) => break error,
            }
        };
        assert!(started.elapsed() >= total);
        assert!(chunks >= 2, "{chunks}");
        assert_eq!(error.kind(), TransportErrorKind::StreamDeadline);
        assert_eq!(
            error.message(),
            "the stream was still going after its deadline of 120ms"
        );
        assert!(body.next().await.is_none());
        let error = error.into_stream_error();
        assert_eq!(error.kind(), ErrorKind::Timeout);
        assert_eq!(error.timeout_phase(), Some(TimeoutPhase::StreamDeadline));

        // A silent body with both: whichever falls first.
        let started = Instant::now();
        let end = Duration::from_millis(40);
        let mut body = WatchedBody::new(
            stalled(),
            Some(Duration::from_secs(5)),
            Some((end, started + end)),
        );
        assert!(body.next().await.unwrap().is_ok());
        let error = body.next().await.unwrap().unwrap_err();
        assert_eq!(error.kind(), TransportErrorKind::StreamDeadline);
        assert!(started.elapsed() < Duration::from_secs(2));
    }

    #[tokio::test]
    async fn huge_limits_are_no_limits() {
        let mut body = WatchedBody::new(
            Body::from_stream(futures_util::stream::iter([chunk(), chunk()])),
            Some(Duration::MAX),
            None,
        );
        assert!(body.next().await.unwrap().is_ok());
        assert!(body.next().await.unwrap().is_ok());
        assert!(body.next().await.is_none());
        // Without a limit a silent body just waits.
        let mut body = WatchedBody::new(stalled(), Some(Duration::MAX), None);
        assert!(body.next().await.unwrap().is_ok());
        let waited = tokio::time::timeout(Duration::from_millis(30), body.next()).await;
        assert!(waited.is_err());
    }

    fn streamed(policy: CallPolicy) -> http::Request<Bytes> {
        let mut request = http::Request::new(Bytes::new());
        request.extensions_mut().insert(CallContext::new(
            policy,
            AnswerUse::Streamed,
            ErrorRules::OPENAI,
        ));
        request
    }

    fn transport_answering(body: fn() -> Body) -> Arc<dyn Transport> {
        let mut transport = MockTransport::new();
        transport
            .expect_send()
            .returning(move |_| Ok(http::Response::new(body())));
        Arc::new(transport)
    }

    #[tokio::test]
    async fn only_streamed_answers_are_watched_by_the_request_or_the_default() {
        // Read answers pass through unwatched.
        let idle = IdleTimeoutTransport::new(
            transport_answering(stalled),
            Some(Duration::from_millis(10)),
        );
        let mut body = idle
            .send(http::Request::new(Bytes::new()))
            .await
            .unwrap()
            .into_body();
        assert!(body.next().await.unwrap().is_ok());
        assert!(
            tokio::time::timeout(Duration::from_millis(60), body.next())
                .await
                .is_err()
        );

        // A streamed answer: the client default, or the request's own.
        for (default_idle, policy, fires) in [
            (Some(Duration::from_millis(20)), CallPolicy::default(), true),
            (None, CallPolicy::default(), false),
            (
                None,
                CallPolicy::default().stream_idle_timeout(Duration::from_millis(20)),
                true,
            ),
            (
                None,
                CallPolicy::default().stream_deadline(Duration::from_millis(20)),
                true,
            ),
            (
                Some(Duration::from_secs(60)),
                CallPolicy::default().stream_idle_timeout(Duration::from_millis(20)),
                true,
            ),
        ] {
            let idle = IdleTimeoutTransport::new(transport_answering(stalled), default_idle);
            let mut body = idle.send(streamed(policy)).await.unwrap().into_body();
            assert!(body.next().await.unwrap().is_ok());
            let next = tokio::time::timeout(Duration::from_millis(500), body.next()).await;
            assert_eq!(next.is_ok(), fires, "{default_idle:?} {policy:?}");
        }
        // The transport's default stream deadline.
        let idle = IdleTimeoutTransport::new(transport_answering(stalled), None)
            .with_stream_deadline(Some(Duration::from_millis(20)));
        let mut body = idle
            .send(streamed(CallPolicy::default()))
            .await
            .unwrap()
            .into_body();
        assert!(body.next().await.unwrap().is_ok());
        let error = body.next().await.unwrap().unwrap_err();
        assert_eq!(error.kind(), TransportErrorKind::StreamDeadline);
    }
}
