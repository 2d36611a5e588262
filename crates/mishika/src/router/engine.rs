//! One routed call: pick a deployment, call it, count how it ended, retry in the group,
//! fall back to other groups.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::future::Either;
use mishika_core::{
    Call, ChatRequest, ChatResponse, CompletionRequest, CompletionResponse, EmbeddingRequest,
    EmbeddingResponse, Error, ErrorKind, ImageRequest, ImageResponse, Provider, RerankRequest,
    RerankResponse, ResponseMetadata, ResponseStream, Result, RoutedRequest, SpeechRequest,
    SpeechResponse, StreamFrame, TranscriptionRequest, TranscriptionResponse,
};
use serde::Serialize;

use super::{Entry, Group, Router};
use crate::client::{Client, Op, Prepared, Scrub};
use crate::mock::MockReply;
use crate::timeout::with_deadline;

/// What a routed answer offers the router: its metadata (to record the route), the
/// tokens it used (for `tpm`), and when it counts as answered (a stream: once its first
/// chunk arrived, so a stream that fails before it is retried and falls back).
pub(crate) trait Routed: Sized + Send + 'static {
    /// The metadata to record the route in.
    fn metadata_mut(&mut self) -> &mut ResponseMetadata;

    /// The tokens the answer says it used.
    fn tokens(&self) -> Option<u64> {
        None
    }

    /// The answer once it counts as given, or the error it turned out to be. It takes the
    /// call's result, so that a call's state holds only this future while it runs.
    fn settle(answer: Result<Self>) -> impl Future<Output = Result<Self>> + Send {
        std::future::ready(answer)
    }
}

/// `Routed` for answers whose metadata is a public field, with their usage's tokens.
macro_rules! routed {
    ($($type:ty $(=> |$answer:ident| $tokens:expr)?),* $(,)?) => {
        $(
            impl Routed for $type {
                fn metadata_mut(&mut self) -> &mut ResponseMetadata {
                    &mut self.metadata
                }
                $(
                    fn tokens(&self) -> Option<u64> {
                        let $answer = self;
                        $tokens
                    }
                )?
            }
        )*
    };
}

routed!(
    ChatResponse => |answer| answer.usage.as_ref()?.total_tokens,
    CompletionResponse => |answer| answer.usage.as_ref()?.total_tokens,
    EmbeddingResponse => |answer| answer.usage.as_ref()?.total_tokens,
    ImageResponse,
    TranscriptionResponse,
    RerankResponse,
);

impl Routed for SpeechResponse {
    fn metadata_mut(&mut self) -> &mut ResponseMetadata {
        SpeechResponse::metadata_mut(self)
    }
}

impl<T: StreamFrame> Routed for ResponseStream<T> {
    fn metadata_mut(&mut self) -> &mut ResponseMetadata {
        ResponseStream::metadata_mut(self)
    }

    async fn settle(answer: Result<Self>) -> Result<Self> {
        let mut stream = answer?;
        let first = stream.next().await;
        let metadata = stream.metadata().clone();
        match first {
            Some(Err(error)) => Err(error),
            Some(Ok(chunk)) => Ok(ResponseStream::from_stream(
                metadata,
                futures_util::stream::once(std::future::ready(Ok(chunk))).chain(stream),
            )),
            None => Ok(ResponseStream::from_stream(
                metadata,
                futures_util::stream::empty(),
            )),
        }
    }
}

/// About how many tokens a request holds, for `tpm` and the pre-call checks.
pub(crate) trait EstimateTokens {
    /// The estimate: the request's JSON length over four, rounded up (0 for audio).
    fn estimated_tokens(&self) -> u64;
}

/// The JSON length of `request` over four, rounded up: counted as it is written, so a
/// long prompt is not copied for it.
fn json_tokens<R: Serialize>(request: &R) -> u64 {
    /// Counts the bytes written to it.
    struct Length(usize);

    impl std::io::Write for Length {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0 = self.0.saturating_add(bytes.len());
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    let mut length = Length(0);
    let length = match serde_json::to_writer(&mut length, request) {
        Ok(()) => length.0,
        Err(_) => 0,
    };
    u64::try_from(length.div_ceil(4)).unwrap_or(u64::MAX)
}

macro_rules! estimate_by_json {
    ($($request:ty),*) => {
        $(
            impl EstimateTokens for $request {
                fn estimated_tokens(&self) -> u64 {
                    json_tokens(self)
                }
            }
        )*
    };
}

estimate_by_json!(
    ChatRequest,
    CompletionRequest,
    EmbeddingRequest,
    ImageRequest,
    SpeechRequest,
    RerankRequest
);

impl EstimateTokens for TranscriptionRequest {
    fn estimated_tokens(&self) -> u64 {
        0
    }
}

impl Router {
    /// Answer `request` from `group`'s deployments, retrying and falling back as set.
    ///
    /// An async block rather than an `async fn`: an `async fn` would copy the request from
    /// its argument into a local and keep both in its state.
    #[expect(
        clippy::manual_async_fn,
        reason = "an `async fn` would keep the request twice in its state"
    )]
    pub(crate) fn call<'a, R, T>(
        &'a self,
        client: &'a Client,
        group: &'a Group,
        mut request: R,
        op: Op<R, T>,
    ) -> impl Future<Output = Result<T>> + Send + 'a
    where
        R: RoutedRequest + EstimateTokens + Clone + Send + 'static,
        T: Routed + MockReply<R>,
        Result<T>: Scrub,
    {
        async move {
            let tokens = if group.needs_estimate {
                request.estimated_tokens()
            } else {
                0
            };
            // Fallbacks come from the group asked for, in its list's order; the groups fallen
            // back to are listed only once there are some, so a call that needs none allocates
            // nothing for them.
            let asked = group;
            let mut group = group;
            let mut tried: Vec<&str> = Vec::new();
            let (mut attempts, mut fallbacks) = (0u32, 0u32);
            loop {
                let mut retry = 0u32;
                let error = loop {
                    // One reading of the clock serves the pick and the call's start.
                    let started = self.now();
                    let entry = match self.pick(group, tokens, started) {
                        Ok(entry) => entry,
                        Err(error) => break error,
                    };
                    attempts += 1;
                    // A wildcard group's deployment calls the model its `*`s make of the one
                    // asked for.
                    let filled = group
                        .pattern
                        .as_ref()
                        .map(|pattern| pattern.model_for(request.model_mut(), &entry.model));
                    // The provider and the call are locals of this block, so the attempt's
                    // request moves into the provider's future at once and only the
                    // original stays in this call's state.
                    let result = 'attempt: {
                        if group.failing {
                            break 'attempt Err(Error::new(
                                ErrorKind::InternalServer,
                                format!(
                                    "the model group `{}` is set to fail (fail_group), to drill \
                                     its fallbacks",
                                    group.name
                                ),
                            ));
                        }
                        // In a block of their own, so that they end before a stream's
                        // first chunk is awaited.
                        let answer = {
                            let (provider, call, attempt, limit) =
                                match self.ready(client, &request, entry, filled.clone()) {
                                    Ok(ready) => ready,
                                    Err(done) => break 'attempt done,
                                };
                            let answer = op(provider.as_ref(), &call, attempt);
                            // One await point for both, so that the call is kept in one
                            // variant of this call's state; the timed one boxed: rare, and
                            // its timer would grow every routed call's state.
                            let answer = match limit {
                                None => Either::Left(answer),
                                Some(limit) => {
                                    Either::Right(Box::pin(with_deadline(Some(limit), answer)))
                                }
                            }
                            .await;
                            answer.scrubbed(&call)
                        };
                        T::settle(answer).await
                    };
                    let ended = self.now();
                    match result {
                        Ok(mut answer) => {
                            let latency = ended.saturating_sub(started);
                            let used = answer.tokens().unwrap_or(tokens);
                            self.ended(entry, ended, used, Some(latency));
                            answer.metadata_mut().set_route(Router::route_info(
                                group, entry, filled, attempts, fallbacks,
                            ));
                            return Ok(answer);
                        }
                        Err(error) => {
                            self.ended(entry, ended, 0, None);
                            self.after_failure(entry, &error, ended);
                            tracing::warn!(
                                target: "mishika::router",
                                group = %group.name, deployment = %entry.id, attempt = attempts,
                                kind = %error.kind(), "deployment failed"
                            );
                            if !self.may_retry(group, &error, retry) {
                                break error;
                            }
                            retry += 1;
                        }
                    }
                };
                let next = match self.fallback(&asked.name, &group.name, &error, &tried) {
                    Some(next) if fallbacks < self.max_fallbacks() => next,
                    _ => return Err(error),
                };
                tracing::warn!(
                    target: "mishika::router",
                    from = %group.name, to = %next.name,
                    kind = %error.kind(), "falling back"
                );
                tried.push(&*group.name);
                group = next;
                fallbacks += 1;
            }
        }
    }
}

/// An attempt ready to send: the provider, the call's settings, the request and the
/// attempt's own deadline; or how it ended without a call (a mock answer, a routing error).
type Ready<R, T> = std::result::Result<(Arc<dyn Provider>, Call, R, Option<Duration>), Result<T>>;

impl Router {
    /// A copy of `request` readied for `entry` and resolved to its provider.
    fn ready<R, T>(
        &self,
        client: &Client,
        request: &R,
        entry: &Entry,
        model: Option<String>,
    ) -> Ready<R, T>
    where
        R: RoutedRequest + Clone,
        T: MockReply<R>,
    {
        let mut attempt = request.clone();
        let limit = for_deployment(&mut attempt, entry, model, self.attempt_timeout());
        match client.prepare_once(attempt) {
            Ok(Prepared::Call(provider, call, attempt)) => Ok((provider, call, attempt, limit)),
            Ok(Prepared::Answered(answer)) => Err(answer),
            Err(error) => Err(Err(error)),
        }
    }
}

/// Ready `request` for a call to `entry`: it takes the deployment's model (or `model`, for
/// a wildcard group) and, where the request sets none, its base, key, timeout (else the
/// router's `timeout`) and retries; then it goes by the provider route. Answers the
/// attempt's own deadline: none when the request sets its own timeout or neither the
/// deployment nor the router sets one, since the whole call's deadline (the request's,
/// else the client's) already bounds every attempt.
fn for_deployment<R: RoutedRequest>(
    request: &mut R,
    entry: &Entry,
    model: Option<String>,
    router_timeout: Option<Duration>,
) -> Option<Duration> {
    let deployment = &entry.deployment;
    match model {
        Some(model) => *request.model_mut() = model,
        None => request.model_mut().clone_from(&deployment.model),
    }
    let options = request.request_options_mut();
    if options.api_base.is_none() {
        options.api_base.clone_from(&deployment.api_base);
    }
    if options.api_key.is_none() {
        options.api_key.clone_from(&deployment.api_key);
    }
    let limit = match options.timeout {
        Some(_) => None,
        None => deployment.timeout.or(router_timeout),
    };
    if limit.is_some() {
        options.timeout = limit;
    }
    if options.num_retries.is_none() {
        // None stays None for 0: `Client::prepare_once` then picks the transport without retries.
        options.num_retries = deployment.max_retries.filter(|retries| *retries > 0);
    }
    limit
}

#[cfg(test)]
mod tests {
    use mishika_core::ChatMessage;

    use super::*;

    #[test]
    fn a_request_is_estimated_at_its_json_length_over_four() {
        for prompt in ["", "hi", "ünïcode ✓", &"long prompt ".repeat(10_000)] {
            let request = ChatRequest::new("gpt-4o", [ChatMessage::user(prompt)]);
            let json = serde_json::to_vec(&request).unwrap().len() as u64;
            assert_eq!(request.estimated_tokens(), json.div_ceil(4), "{}", json);
        }
        let audio = TranscriptionRequest::new(
            "whisper-1",
            mishika_core::AudioFile::new(vec![0u8; 1024], "a.wav"),
        );
        assert_eq!(audio.estimated_tokens(), 0);
    }
}
