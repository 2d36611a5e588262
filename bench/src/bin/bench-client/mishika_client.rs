//! mishika, used as its README says: one `Client`, requests to `mishikallm_proxy/<model>`
//! through the router and settings resolution on every call.

use std::any::Any;
use std::sync::Arc;

use futures_util::StreamExt;
use mishika::{
    ChatMessage, ChatRequest, ChatResponse, Client, EmbeddingRequest, EncodingFormat, HttpTransport,
};
use mishika_bench::payload::embedding_inputs;
use mishika_bench::{CHAT_MODEL, EMBEDDING_MODEL, PROMPT};

use crate::BenchClient;

pub(crate) struct Mishika {
    client: Client,
    model: String,
    embedding_model: String,
}

impl Mishika {
    pub(crate) fn new(base: &str, http2: bool) -> Mishika {
        Mishika::build(base, http2, None)
    }

    /// The same client with a `Router` in front: a group of 10 deployments, all on the
    /// same server, spread by weighted shuffle; requests name the group.
    pub(crate) fn with_router(base: &str, http2: bool) -> Mishika {
        let mut router = mishika::Router::builder();
        for n in 0..10 {
            router = router.deployment(
                mishika::Deployment::new("bench-group", format!("mishikallm_proxy/{CHAT_MODEL}"))
                    .id(format!("deployment-{n}"))
                    .rpm(1_000_000_000),
            );
        }
        Mishika::build(base, http2, Some(router.build().expect("bench router")))
    }

    fn build(base: &str, http2: bool, router: Option<mishika::Router>) -> Mishika {
        let builder = Client::builder().api_base(base).api_key("sk-bench");
        // mishika's own transport for HTTP/1.1, as its README says; over HTTP/2 the same
        // transport around a reqwest client told to speak it.
        let builder = if http2 {
            builder.transport(Arc::new(HttpTransport::from_client(
                mishika_bench::http_client(true),
            )))
        } else {
            builder
        };
        let model = match &router {
            Some(_) => "bench-group".to_owned(),
            None => format!("mishikallm_proxy/{CHAT_MODEL}"),
        };
        let builder = match router {
            Some(router) => builder.router(router),
            None => builder,
        };
        Mishika {
            client: builder.build().expect("mishika client"),
            model,
            embedding_model: format!("mishikallm_proxy/{EMBEDDING_MODEL}"),
        }
    }

    fn request(&self) -> ChatRequest {
        ChatRequest::new(self.model.as_str(), [ChatMessage::user(PROMPT)])
    }
}

impl BenchClient for Mishika {
    type Answer = ChatResponse;

    async fn answer(&self) -> ChatResponse {
        self.client
            .chat(self.request())
            .await
            .expect("mishika chat")
    }

    fn answer_length(answer: &ChatResponse) -> usize {
        answer.content().map_or(0, str::len)
    }

    async fn stream(&self) -> usize {
        let mut stream = self
            .client
            .chat_stream(self.request())
            .await
            .expect("mishika chat_stream");
        let mut chunks = 0;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.expect("mishika chunk");
            std::hint::black_box(chunk.content());
            chunks += 1;
        }
        chunks
    }

    async fn open_idle(&self) -> Box<dyn Any> {
        let mut stream = self
            .client
            .chat_stream(self.request())
            .await
            .expect("mishika chat_stream");
        let first = stream
            .next()
            .await
            .expect("a first chunk")
            .expect("mishika chunk");
        std::hint::black_box(first);
        Box::new(stream)
    }

    async fn embed(&self, base64: bool) -> Vec<Vec<f32>> {
        let mut request = EmbeddingRequest::new(self.embedding_model.as_str(), embedding_inputs());
        if base64 {
            request = request.encoding_format(EncodingFormat::Base64);
        }
        let response = self
            .client
            .embedding(request)
            .await
            .expect("mishika embedding");
        // Already `Vec<f32>` whatever the wire format was.
        response.data.into_iter().map(|e| e.embedding).collect()
    }
}
