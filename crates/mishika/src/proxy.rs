//! The `mishikallm_proxy/` provider: the MishikaLLM Proxy, an OpenAI-compatible gateway.
//!
//! Pure translation: typed request → `http::Request<Bytes>` at `{base}/v1/{endpoint}`,
//! answer → typed response. Settings, retries and timeouts are the client's.

use async_trait::async_trait;
use http::HeaderValue;
use http::header::ACCEPT;
use mishika_core::{Call, ChatRequest, ChatResponse, ChatStream, Provider, ProviderEnv, Result};

/// The routing prefix of the proxy: `mishikallm_proxy/<model>`.
pub const PREFIX: &str = "mishikallm_proxy";
/// Environment variable for the proxy's base URL.
pub const ENV_API_BASE: &str = "MISHIKALLM_PROXY_API_BASE";
/// Environment variable for the proxy's key.
pub const ENV_API_KEY: &str = "MISHIKALLM_PROXY_API_KEY";

/// The MishikaLLM Proxy provider (registered by default under [`PREFIX`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct MishikallmProxy;

#[async_trait]
impl Provider for MishikallmProxy {
    fn name(&self) -> &str {
        PREFIX
    }

    fn env(&self) -> ProviderEnv {
        ProviderEnv {
            api_base: Some(ENV_API_BASE),
            api_key: Some(ENV_API_KEY),
        }
    }

    async fn chat(&self, call: &Call, mut request: ChatRequest) -> Result<ChatResponse> {
        request.stream = None;
        let http = call.json_request("chat/completions", &request)?;
        call.send_json(http).await
    }

    async fn chat_stream(&self, call: &Call, mut request: ChatRequest) -> Result<ChatStream> {
        request.stream = Some(true);
        let mut http = call.json_request("chat/completions", &request)?;
        http.headers_mut()
            .insert(ACCEPT, HeaderValue::from_static("text/event-stream"));
        call.send_sse(http).await
    }
}
