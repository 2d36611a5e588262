//! The [`Provider`] trait: one async method per endpoint, each answering
//! `Unsupported` unless the backend has it.

use std::fmt;

use async_trait::async_trait;

use crate::audio::{SpeechRequest, SpeechResponse, TranscriptionRequest, TranscriptionResponse};
use crate::call::Call;
use crate::chat::{ChatRequest, ChatResponse};
use crate::completions::{CompletionRequest, CompletionResponse};
use crate::embeddings::{EmbeddingRequest, EmbeddingResponse};
use crate::error::{Error, Result};
use crate::images::{ImageRequest, ImageResponse};
use crate::models::ModelList;
use crate::rerank::{RerankRequest, RerankResponse};
use crate::spec::ProviderSpec;
use crate::stream::{ChatStream, CompletionStream};

/// A backend: translates typed requests into HTTP and HTTP answers into typed responses.
///
/// A provider owns its wire: [`spec`](Provider::spec) declares its environment variables,
/// default base URL, authentication, how paths join the base and how its error answers
/// read; its methods choose the endpoint paths and the body and stream formats. All I/O
/// goes through the [`Call`] it is handed, whose transport carries the shared retry and
/// timeout layers. Every endpoint has a default that returns
/// [`ErrorKind::Unsupported`](crate::ErrorKind::Unsupported), so a provider implements
/// just what its backend offers. The guide "Writing a provider" in the `mishika` crate's
/// documentation states the whole contract.
#[async_trait]
pub trait Provider: Send + Sync + fmt::Debug {
    /// The provider's name, used in errors (usually its routing prefix).
    fn name(&self) -> &str;

    /// The provider's settings and wire rules: environment variables, default base URL,
    /// authentication, path joining and error reading. The default is an OpenAI-shaped wire
    /// with no environment variables, no default base, `Authorization: Bearer` and
    /// `{base}/v1/{path}`.
    fn spec(&self) -> ProviderSpec {
        ProviderSpec::new()
    }

    /// `POST /chat/completions`.
    async fn chat(&self, call: &Call, request: ChatRequest) -> Result<ChatResponse> {
        let _ = (call, request);
        Err(Error::unsupported(self.name(), "chat"))
    }

    /// `POST /chat/completions` with `stream: true`.
    async fn chat_stream(&self, call: &Call, request: ChatRequest) -> Result<ChatStream> {
        let _ = (call, request);
        Err(Error::unsupported(self.name(), "chat_stream"))
    }

    /// `POST /completions` (legacy text completion).
    async fn completion(
        &self,
        call: &Call,
        request: CompletionRequest,
    ) -> Result<CompletionResponse> {
        let _ = (call, request);
        Err(Error::unsupported(self.name(), "completion"))
    }

    /// `POST /completions` with `stream: true`.
    async fn completion_stream(
        &self,
        call: &Call,
        request: CompletionRequest,
    ) -> Result<CompletionStream> {
        let _ = (call, request);
        Err(Error::unsupported(self.name(), "completion_stream"))
    }

    /// `POST /embeddings`.
    async fn embedding(&self, call: &Call, request: EmbeddingRequest) -> Result<EmbeddingResponse> {
        let _ = (call, request);
        Err(Error::unsupported(self.name(), "embedding"))
    }

    /// `POST /images/generations`.
    async fn image_generation(&self, call: &Call, request: ImageRequest) -> Result<ImageResponse> {
        let _ = (call, request);
        Err(Error::unsupported(self.name(), "image_generation"))
    }

    /// `POST /audio/speech`.
    async fn speech(&self, call: &Call, request: SpeechRequest) -> Result<SpeechResponse> {
        let _ = (call, request);
        Err(Error::unsupported(self.name(), "speech"))
    }

    /// `POST /audio/transcriptions`.
    async fn transcription(
        &self,
        call: &Call,
        request: TranscriptionRequest,
    ) -> Result<TranscriptionResponse> {
        let _ = (call, request);
        Err(Error::unsupported(self.name(), "transcription"))
    }

    /// `POST /rerank`.
    async fn rerank(&self, call: &Call, request: RerankRequest) -> Result<RerankResponse> {
        let _ = (call, request);
        Err(Error::unsupported(self.name(), "rerank"))
    }

    /// `GET /models`.
    async fn list_models(&self, call: &Call) -> Result<ModelList> {
        let _ = call;
        Err(Error::unsupported(self.name(), "list_models"))
    }
}
