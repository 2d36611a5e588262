//! The `anthropic/` backend: Anthropic's native Messages API (`POST {base}/v1/messages`).

use async_trait::async_trait;
use mishika_core::{AuthScheme, PathStyle, Provider, ProviderSpec};

/// The routing prefix: `anthropic/<model>`.
pub const PREFIX: &str = "anthropic";
/// Environment variable for the key (sent as `x-api-key`).
pub const ENV_API_KEY: &str = "ANTHROPIC_API_KEY";
/// Environment variable for the base URL.
pub const ENV_BASE_URL: &str = "ANTHROPIC_BASE_URL";
/// The base URL when nothing sets one.
pub const DEFAULT_BASE_URL: &str = "https://api.anthropic.com";

/// Anthropic's settings and wire.
pub const SPEC: ProviderSpec = ProviderSpec::new()
    .env_api_base(ENV_BASE_URL)
    .env_api_key(ENV_API_KEY)
    .default_api_base(DEFAULT_BASE_URL)
    .auth(AuthScheme::Header("x-api-key"))
    .paths(PathStyle::V1);

/// The Anthropic provider (registered by default under [`PREFIX`]).
#[derive(Debug, Clone, Default)]
pub struct Anthropic {}

impl Anthropic {
    /// The provider with its defaults.
    pub fn new() -> Anthropic {
        Anthropic {}
    }
}

#[async_trait]
impl Provider for Anthropic {
    fn name(&self) -> &str {
        PREFIX
    }

    fn spec(&self) -> ProviderSpec {
        SPEC
    }
}
