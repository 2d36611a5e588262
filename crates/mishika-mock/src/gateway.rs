//! The public handle: [`MockGateway`] and its builder.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::AbortHandle;

use crate::record::RecordedRequest;
use crate::script::ScriptedResponse;
use crate::server::{self, Shared};

/// The models `GET /v1/models` lists unless [`MockGatewayBuilder::models`] says otherwise.
pub const DEFAULT_MODELS: [&str; 7] = [
    "mock-chat",
    "mock-embed",
    "mock-tts",
    "mock-whisper",
    "mock-image",
    "mock-rerank",
    "mock-text",
];

/// An OpenAI-compatible gateway (shaped like the MishikaLLM/LiteLLM proxy)
/// serving HTTP/1.1 on `127.0.0.1` from the current tokio runtime.
///
/// Cloning gives another handle to the same server; the server stops when the
/// last handle is dropped or [`shutdown`](Self::shutdown) is called. The
/// server's tasks run on the runtime that called `start`: on a current-thread
/// runtime, do not block that thread while waiting for an answer.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// use mishika_mock::{MockGateway, ScriptedResponse};
///
/// let gateway = MockGateway::builder().api_key("sk-test").start().await?;
/// assert!(gateway.base_url().starts_with("http://127.0.0.1:"));
///
/// // The next request, whatever its path, gets a 429.
/// gateway.push_response(
///     ScriptedResponse::error(429, "Rate limit reached", "rate_limit_error", "429")
///         .header("retry-after", "1"),
/// );
/// assert_eq!(gateway.request_count(), 0);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct MockGateway {
    inner: Arc<Inner>,
}

struct Inner {
    shared: Arc<Shared>,
    addr: SocketAddr,
    accept_task: AbortHandle,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.accept_task.abort();
    }
}

impl fmt::Debug for MockGateway {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MockGateway")
            .field("base_url", &self.inner.shared.base_url)
            .field(
                "api_key",
                &self.inner.shared.api_key.as_ref().map(|_| "<redacted>"),
            )
            .field("requests", &self.request_count())
            .finish()
    }
}

impl MockGateway {
    /// Starts a gateway on a free loopback port, without a key check.
    pub async fn start() -> std::io::Result<MockGateway> {
        Self::builder().start().await
    }

    /// A builder for a gateway with a key, custom models or a fixed port.
    pub fn builder() -> MockGatewayBuilder {
        MockGatewayBuilder::default()
    }

    /// `http://127.0.0.1:PORT` — no trailing slash, no `/v1`.
    pub fn base_url(&self) -> String {
        self.inner.shared.base_url.clone()
    }

    /// `base_url() + path`, e.g. `gateway.url("/v1/models")`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.inner.shared.base_url, path)
    }

    /// The socket address the gateway listens on.
    pub fn addr(&self) -> SocketAddr {
        self.inner.addr
    }

    /// Every request received since the start (or the last
    /// [`clear_requests`](Self::clear_requests)), in arrival order — including
    /// those answered with errors or scripted responses.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.inner.shared.requests()
    }

    /// The most recent request, if any.
    pub fn last_request(&self) -> Option<RecordedRequest> {
        self.requests().pop()
    }

    /// Forgets the recorded requests (ids and call ids keep counting up).
    pub fn clear_requests(&self) {
        self.inner.shared.clear_requests();
    }

    /// How many requests are recorded.
    pub fn request_count(&self) -> usize {
        self.inner.shared.request_count()
    }

    /// Waits until at least `n` requests are recorded; `false` on timeout.
    pub async fn wait_for_requests(&self, n: usize, timeout: Duration) -> bool {
        let mut recorded = self.inner.shared.subscribe_recorded();
        matches!(
            tokio::time::timeout(timeout, recorded.wait_for(|count| *count >= n)).await,
            Ok(Ok(_))
        )
    }

    /// Queues an answer: the next request on any path gets it instead of the
    /// normal answer (FIFO; the key check is skipped for scripted answers).
    pub fn push_response(&self, response: ScriptedResponse) {
        self.inner.shared.push_script(None, response);
    }

    /// Queues several answers, in order.
    pub fn push_responses(&self, responses: impl IntoIterator<Item = ScriptedResponse>) {
        for response in responses {
            self.push_response(response);
        }
    }

    /// Queues an answer for the next request whose path (without query) ends
    /// with `path_suffix`, e.g. `"/embeddings"`. Scripts are tried in the order
    /// they were pushed; the first that applies is used.
    pub fn push_response_for(&self, path_suffix: &str, response: ScriptedResponse) {
        self.inner
            .shared
            .push_script(Some(path_suffix.to_owned()), response);
    }

    /// How many scripted answers are still queued.
    pub fn pending_responses(&self) -> usize {
        self.inner.shared.pending_scripts()
    }

    /// Drops every queued scripted answer.
    pub fn clear_responses(&self) {
        self.inner.shared.clear_scripts();
    }

    /// How many streamed response bodies (SSE, audio, chunked scripted bodies)
    /// were dropped before they finished sending — typically because the client
    /// dropped the stream and closed the connection.
    pub fn dropped_streams(&self) -> usize {
        self.inner.shared.dropped.count()
    }

    /// Waits (without polling) until [`dropped_streams`](Self::dropped_streams)
    /// is at least `n`; `false` on timeout.
    pub async fn wait_for_dropped_streams(&self, n: usize, timeout: Duration) -> bool {
        let mut dropped = self.inner.shared.dropped.subscribe();
        matches!(
            tokio::time::timeout(timeout, dropped.wait_for(|count| *count >= n)).await,
            Ok(Ok(_))
        )
    }

    /// Stops accepting connections and closes the open ones. Dropping the last
    /// handle does the same.
    pub fn shutdown(&self) {
        self.inner.accept_task.abort();
    }
}

/// Configures a [`MockGateway`]: required key, listed models, port.
#[derive(Clone, Default)]
pub struct MockGatewayBuilder {
    api_key: Option<String>,
    models: Option<Vec<String>>,
    port: u16,
}

impl fmt::Debug for MockGatewayBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MockGatewayBuilder")
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("models", &self.models)
            .field("port", &self.port)
            .finish()
    }
}

impl MockGatewayBuilder {
    /// Requires `Authorization: Bearer <key>` on every route except the health
    /// checks and the generated image files (`/v1/messages` also accepts
    /// `x-api-key: <key>`); a missing or wrong key gets a LiteLLM-style `401`
    /// (Anthropic-style on `/v1/messages`). The key is never echoed back.
    #[must_use]
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = Some(key.into());
        self
    }

    /// The model ids `GET /v1/models` lists (default: [`DEFAULT_MODELS`]).
    #[must_use]
    pub fn models<S: Into<String>>(mut self, models: impl IntoIterator<Item = S>) -> Self {
        self.models = Some(models.into_iter().map(Into::into).collect());
        self
    }

    /// Listens on this loopback port instead of a free one (`0`, the default).
    #[must_use]
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// Binds `127.0.0.1:port` and starts serving on the current tokio runtime.
    /// The gateway is ready when this returns.
    pub async fn start(self) -> std::io::Result<MockGateway> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, self.port)).await?;
        let addr = listener.local_addr()?;
        let models = self
            .models
            .unwrap_or_else(|| DEFAULT_MODELS.iter().map(|m| (*m).to_owned()).collect());
        let shared = Arc::new(Shared::new(self.api_key, models, format!("http://{addr}")));
        let accept_task = tokio::spawn(server::accept_loop(listener, Arc::clone(&shared)));
        Ok(MockGateway {
            inner: Arc::new(Inner {
                shared,
                addr,
                accept_task: accept_task.abort_handle(),
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync + 'static>() {}

    #[test]
    fn handles_can_be_shared_across_threads() {
        assert_send_sync::<MockGateway>();
        assert_send_sync::<MockGatewayBuilder>();
        assert_send_sync::<ScriptedResponse>();
        assert_send_sync::<RecordedRequest>();
    }

    #[test]
    fn builder_debug_redacts_the_key() {
        let builder = MockGateway::builder().api_key("sk-hidden");
        assert!(!format!("{builder:?}").contains("sk-hidden"));
    }
}
