//! The `openai/` backend: OpenAI's API, or any server that speaks it, called directly
//! over the shared OpenAI wire.
//!
//! Settings: `OPENAI_API_KEY`, `OPENAI_BASE_URL` (default `https://api.openai.com/v1`; the
//! base includes its version, as OpenAI's SDKs expect, and paths join it as given),
//! `OPENAI_ORGANIZATION` and `OPENAI_PROJECT` (sent as the `OpenAI-Organization` and
//! `OpenAI-Project` headers). Client and request settings beat each of them. Rerank is
//! not part of OpenAI's API and answers `Unsupported`.

use mishika_core::{AuthScheme, PathStyle, ProviderSpec};

use super::OpenAiCompatible;

/// The routing prefix: `openai/<model>`.
pub const PREFIX: &str = "openai";
/// Environment variable for the key.
pub const ENV_API_KEY: &str = "OPENAI_API_KEY";
/// Environment variable for the base URL.
pub const ENV_BASE_URL: &str = "OPENAI_BASE_URL";
/// Environment variable for the organization header.
pub const ENV_ORGANIZATION: &str = "OPENAI_ORGANIZATION";
/// Environment variable for the project header.
pub const ENV_PROJECT: &str = "OPENAI_PROJECT";
/// The base URL when nothing sets one.
pub const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";

/// OpenAI's settings and wire.
pub const SPEC: ProviderSpec = ProviderSpec::new()
    .env_api_base(ENV_BASE_URL)
    .env_api_key(ENV_API_KEY)
    .env_headers(&[
        (ENV_ORGANIZATION, "openai-organization"),
        (ENV_PROJECT, "openai-project"),
    ])
    .default_api_base(DEFAULT_BASE_URL)
    .auth(AuthScheme::Bearer)
    .paths(PathStyle::AsGiven);

/// The OpenAI provider (registered by default under [`PREFIX`]).
pub const OPENAI: OpenAiCompatible = OpenAiCompatible::new(PREFIX, SPEC);
