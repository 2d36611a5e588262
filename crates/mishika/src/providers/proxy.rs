//! The `mishikallm_proxy/` backend: the MishikaLLM Proxy, an OpenAI-compatible gateway
//! (LiteLLM's proxy speaks the same protocol), over the shared OpenAI wire.

use mishika_core::{AuthScheme, PathStyle, ProviderSpec};

use super::OpenAiCompatible;

/// The routing prefix of the proxy: `mishikallm_proxy/<model>`.
pub const PREFIX: &str = "mishikallm_proxy";
/// Environment variable for the proxy's base URL.
pub const ENV_API_BASE: &str = "MISHIKALLM_PROXY_API_BASE";
/// Environment variable for the proxy's key.
pub const ENV_API_KEY: &str = "MISHIKALLM_PROXY_API_KEY";
/// Environment variable that, set to `true`, sends every model to the proxy unchanged
/// (read when a client is built); see [`ClientBuilder::force_proxy`](crate::ClientBuilder::force_proxy).
pub const ENV_FORCE: &str = "MISHIKALLM_PROXY";

/// The proxy's settings and wire: its two variables, no default base (a proxy is always
/// somewhere of the user's choosing), Bearer keys, `{base}/v1/{path}` for any of the base
/// forms `http://h:4000`, `…/`, `…/v1`, `…/v1/`.
pub const SPEC: ProviderSpec = ProviderSpec::new()
    .env_api_base(ENV_API_BASE)
    .env_api_key(ENV_API_KEY)
    .auth(AuthScheme::Bearer)
    .paths(PathStyle::V1);

/// The proxy provider (registered by default under [`PREFIX`]); it serves rerank too.
pub const MISHIKALLM_PROXY: OpenAiCompatible =
    OpenAiCompatible::new(PREFIX, SPEC).with_rerank(true);
