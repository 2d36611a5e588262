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
use mishika_core::{
    AnswerUse, Body, CallContext, Error, TimeoutPhase, Transport, TransportError,
    TransportErrorKind, TransportFuture,
};
use tokio::time::{Instant, Sleep};

/// Run `future` under `deadline`, failing with a `Timeout` error of the request phase.
pub(crate) async fn with_deadline<T>(
    deadline: Option<Duration>,
    future: impl Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    match deadline {
        Some(limit) => tokio::time::timeout(limit, future)
            .await
            .unwrap_or_else(|_| Err(Error::timeout(TimeoutPhase::Request, limit))),
        None => future.await,
    }
}

/// Wraps a transport so that a response body fails with an idle timeout when no bytes
/// arrive for the request's `stream_idle_timeout` (or this transport's default). Only
/// requests marked [`AnswerUse::Streamed`] in their [`CallContext`] are watched (every
/// provider's streams and audio, by [`Call::send_streamed`](mishika_core::Call::send_streamed)
/// and [`Call::send_sse`](mishika_core::Call::send_sse)); other answers are read inside the
/// call, under its whole-request deadline.
#[derive(Debug)]
pub struct IdleTimeoutTransport {
    inner: Arc<dyn Transport>,
    default_idle: Option<Duration>,
}

impl IdleTimeoutTransport {
    /// Watch the bodies of `inner`'s responses, allowing `default_idle` of silence unless a
    /// request sets its own.
    pub fn new(inner: Arc<dyn Transport>, default_idle: Option<Duration>) -> IdleTimeoutTransport {
        IdleTimeoutTransport {
            inner,
            default_idle,
        }
    }
}

impl Transport for IdleTimeoutTransport {
    // Written out rather than `async fn` so that an unwatched request costs no layer at
    // all: its future is the inner transport's own.
    fn send(&self, request: http::Request<Bytes>) -> TransportFuture<'_> {
        // An answer the call asks for as JSON is read inside the call, under its
        // whole-request deadline; the idle watch is for bodies handed to the caller (streams,
        // audio), which no deadline covers once the call has returned.
        let context = CallContext::of(&request);
        let idle = context
            .policy
            .stream_idle_timeout
            .or(self.default_idle)
            .filter(|_| context.answer == AnswerUse::Streamed);
        let sending = self.inner.send(request);
        match idle {
            None => sending,
            Some(idle) => Box::pin(async move {
                let response = sending.await?;
                Ok(response.map(|body| Body::from_stream(IdleBody::new(body, idle))))
            }),
        }
    }
}

/// A body that ends with an `IdleTimeout` error after `idle` without a chunk.
struct IdleBody {
    inner: Body,
    idle: Duration,
    deadline: Instant,
    /// Created the first time the body has to wait: most bodies of plain answers never do.
    sleep: Option<Pin<Box<Sleep>>>,
    done: bool,
}

impl fmt::Debug for IdleBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IdleBody")
            .field("idle", &self.idle)
            .finish()
    }
}

impl IdleBody {
    fn new(inner: Body, idle: Duration) -> IdleBody {
        IdleBody {
            inner,
            idle,
            deadline: Instant::now() + idle,
            sleep: None,
            done: false,
        }
    }
}

impl Stream for IdleBody {
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
                this.deadline = Instant::now() + this.idle;
                this.done = item.is_none();
                Poll::Ready(item)
            }
            Poll::Pending => {
                let deadline = this.deadline;
                let sleep = this
                    .sleep
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
                if sleep.deadline() != deadline {
                    sleep.as_mut().reset(deadline);
                }
                match sleep.as_mut().poll(cx) {
                    Poll::Pending => Poll::Pending,
                    Poll::Ready(()) => {
                        this.done = true;
                        Poll::Ready(Some(Err(TransportError::new(
                            TransportErrorKind::IdleTimeout,
                            format!("no data arrived for {:?}", this.idle),
                        ))))
                    }
                }
            }
        }
    }
}
