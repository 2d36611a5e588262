//! async-openai (latest release) pointed at the same server, used as its docs say:
//! builders for every request, `create_stream` for streams, `create_base64` for base64.

use std::any::Any;

use async_openai::Client;
use async_openai::config::OpenAIConfig;
use async_openai::types::chat::{
    ChatCompletionRequestUserMessageArgs, ChatCompletionResponseStream,
    CreateChatCompletionRequest, CreateChatCompletionRequestArgs, CreateChatCompletionResponse,
};
use async_openai::types::embeddings::{CreateEmbeddingRequestArgs, EncodingFormat};
use futures_util::StreamExt;
use mishika_bench::payload::embedding_inputs;
use mishika_bench::{CHAT_MODEL, EMBEDDING_MODEL, PROMPT};

use crate::BenchClient;

pub(crate) struct AsyncOpenai {
    client: Client<OpenAIConfig>,
}

impl AsyncOpenai {
    async fn open_stream(&self) -> ChatCompletionResponseStream {
        self.client
            .chat()
            .create_stream(Self::request())
            .await
            .expect("async-openai create_stream")
    }

    pub(crate) fn new(base: &str, http2: bool) -> AsyncOpenai {
        let config = OpenAIConfig::new()
            .with_api_base(format!("{base}/v1"))
            .with_api_key("sk-bench");
        let client = Client::with_config(config);
        // Its own default reqwest client for HTTP/1.1, as its docs show; one told to speak
        // HTTP/2 otherwise.
        let client = if http2 {
            client.with_http_client(mishika_bench::http_client(true))
        } else {
            client
        };
        AsyncOpenai { client }
    }

    fn request() -> CreateChatCompletionRequest {
        CreateChatCompletionRequestArgs::default()
            .model(CHAT_MODEL)
            .messages([ChatCompletionRequestUserMessageArgs::default()
                .content(PROMPT)
                .build()
                .expect("user message")
                .into()])
            .build()
            .expect("chat request")
    }
}

impl BenchClient for AsyncOpenai {
    type Answer = CreateChatCompletionResponse;

    async fn answer(&self) -> CreateChatCompletionResponse {
        self.client
            .chat()
            .create(Self::request())
            .await
            .expect("async-openai chat")
    }

    fn answer_length(answer: &CreateChatCompletionResponse) -> usize {
        answer.choices[0]
            .message
            .content
            .as_deref()
            .map_or(0, str::len)
    }

    async fn stream(&self) -> usize {
        let mut stream = self.open_stream().await;
        let mut chunks = 0;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.expect("async-openai chunk");
            std::hint::black_box(
                chunk
                    .choices
                    .first()
                    .and_then(|c| c.delta.content.as_deref()),
            );
            chunks += 1;
        }
        chunks
    }

    async fn open_idle(&self) -> Box<dyn Any> {
        let mut stream = self.open_stream().await;
        let first = stream
            .next()
            .await
            .expect("a first chunk")
            .expect("async-openai chunk");
        std::hint::black_box(first);
        Box::new(stream)
    }

    async fn embed(&self, base64: bool) -> Vec<Vec<f32>> {
        let mut request = CreateEmbeddingRequestArgs::default();
        request.model(EMBEDDING_MODEL).input(embedding_inputs());
        if base64 {
            let request = request
                .encoding_format(EncodingFormat::Base64)
                .build()
                .expect("embedding request");
            let response = self
                .client
                .embeddings()
                .create_base64(request)
                .await
                .expect("async-openai create_base64");
            // The documented way to get the floats: `From<Base64EmbeddingVector> for Vec<f32>`.
            response
                .data
                .into_iter()
                .map(|e| e.embedding.into())
                .collect()
        } else {
            let request = request.build().expect("embedding request");
            let response = self
                .client
                .embeddings()
                .create(request)
                .await
                .expect("async-openai embeddings");
            response.data.into_iter().map(|e| e.embedding).collect()
        }
    }
}
