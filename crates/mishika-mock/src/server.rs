//! The accept loop, one hyper HTTP/1.1 connection per client, and the
//! per-request pipeline: read body → record → scripted answer or route.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::body::{DropTracker, MockBody};
use crate::record::RecordedRequest;
use crate::routes::{self, Ctx};
use crate::script::ScriptedResponse;

/// Request bodies larger than this are refused with `413`.
pub(crate) const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

/// State shared by the gateway handle and every connection.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) api_key: Option<String>,
    pub(crate) models: Vec<String>,
    pub(crate) base_url: String,
    requests: Mutex<Vec<RecordedRequest>>,
    recorded: watch::Sender<usize>,
    scripts: Mutex<VecDeque<(Option<String>, ScriptedResponse)>>,
    sequence: AtomicU64,
    pub(crate) dropped: DropTracker,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    pub(crate) fn new(api_key: Option<String>, models: Vec<String>, base_url: String) -> Self {
        Shared {
            api_key,
            models,
            base_url,
            requests: Mutex::new(Vec::new()),
            recorded: watch::Sender::new(0),
            scripts: Mutex::new(VecDeque::new()),
            sequence: AtomicU64::new(0),
            dropped: DropTracker::new(),
        }
    }

    /// Records a request; returns its sequence number (1, 2, … over the gateway's life).
    fn record(&self, request: RecordedRequest) -> u64 {
        let mut requests = lock(&self.requests);
        requests.push(request);
        self.recorded.send_replace(requests.len());
        self.sequence.fetch_add(1, Ordering::Relaxed) + 1
    }

    pub(crate) fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.requests).clone()
    }

    pub(crate) fn clear_requests(&self) {
        let mut requests = lock(&self.requests);
        requests.clear();
        self.recorded.send_replace(0);
    }

    pub(crate) fn request_count(&self) -> usize {
        lock(&self.requests).len()
    }

    pub(crate) fn subscribe_recorded(&self) -> watch::Receiver<usize> {
        self.recorded.subscribe()
    }

    pub(crate) fn push_script(&self, path_suffix: Option<String>, response: ScriptedResponse) {
        lock(&self.scripts).push_back((path_suffix, response));
    }

    pub(crate) fn pending_scripts(&self) -> usize {
        lock(&self.scripts).len()
    }

    pub(crate) fn clear_scripts(&self) {
        lock(&self.scripts).clear();
    }

    /// The first queued script that applies to `path` (no query), removed from the queue.
    fn take_script(&self, path: &str) -> Option<ScriptedResponse> {
        let mut scripts = lock(&self.scripts);
        let index = scripts.iter().position(|(suffix, _)| {
            suffix
                .as_deref()
                .is_none_or(|suffix| path.ends_with(suffix))
        })?;
        scripts.remove(index).map(|(_, response)| response)
    }
}

/// Accepts connections until the task is aborted; aborting it drops the
/// `JoinSet`, which aborts every open connection too.
pub(crate) async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    connections.spawn(serve_connection(stream, Arc::clone(&shared)));
                }
                // Usually out of file descriptors: back off instead of spinning.
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            },
            Some(_finished) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn serve_connection(stream: TcpStream, shared: Arc<Shared>) {
    let _ = stream.set_nodelay(true);
    let service = service_fn(move |request| handle(Arc::clone(&shared), request));
    // A client going away mid-response is normal here; nothing to report.
    let _ = http1::Builder::new()
        .serve_connection(TokioIo::new(stream), service)
        .await;
}

enum BodyRead {
    Complete(Bytes),
    TooLarge,
    Failed,
}

async fn read_body(request_body: Incoming, declared_len: Option<u64>) -> BodyRead {
    if declared_len.is_some_and(|len| len > MAX_BODY_BYTES as u64) {
        return BodyRead::TooLarge;
    }
    match Limited::new(request_body, MAX_BODY_BYTES).collect().await {
        Ok(collected) => BodyRead::Complete(collected.to_bytes()),
        Err(error) if error.downcast_ref::<LengthLimitError>().is_some() => BodyRead::TooLarge,
        Err(_) => BodyRead::Failed,
    }
}

async fn handle(
    shared: Arc<Shared>,
    request: Request<Incoming>,
) -> Result<Response<MockBody>, Infallible> {
    let (parts, request_body) = request.into_parts();
    let declared_len = parts
        .headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let read = read_body(request_body, declared_len).await;
    let body = match &read {
        BodyRead::Complete(bytes) => bytes.clone(),
        BodyRead::TooLarge | BodyRead::Failed => Bytes::new(),
    };
    let recorded = RecordedRequest {
        method: parts.method,
        path: parts
            .uri
            .path_and_query()
            .map_or_else(|| parts.uri.path().to_owned(), |pq| pq.as_str().to_owned()),
        headers: parts.headers,
        body,
    };
    let seq = shared.record(recorded.clone());

    match read {
        BodyRead::TooLarge => {
            return Ok(routes::error_response(
                StatusCode::PAYLOAD_TOO_LARGE,
                "Request body is larger than the mock gateway's 64 MiB limit",
                "invalid_request_error",
                serde_json::Value::Null,
            ));
        }
        BodyRead::Failed => {
            return Ok(routes::error_response(
                StatusCode::BAD_REQUEST,
                "Could not read the request body",
                "invalid_request_error",
                serde_json::Value::Null,
            ));
        }
        BodyRead::Complete(_) => {}
    }

    if let Some(script) = shared.take_script(recorded.path_without_query()) {
        if let Some(delay) = script.head_delay() {
            tokio::time::sleep(delay).await;
        }
        return Ok(script.into_response(&shared.dropped));
    }

    let ctx = Ctx {
        seq,
        created: unix_now(),
        base_url: &shared.base_url,
        models: &shared.models,
        api_key: shared.api_key.as_deref(),
        tracker: &shared.dropped,
    };
    Ok(routes::dispatch(&ctx, &recorded))
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
