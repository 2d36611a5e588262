//! Shared by the examples: use the proxy named by `MISHIKALLM_PROXY_API_BASE` when it is
//! set, OpenAI when `OPENAI_API_KEY` is, Anthropic when `ANTHROPIC_API_KEY` is; every
//! provider left unconfigured is pointed at the in-process `MockGateway` (which speaks the
//! OpenAI and the Anthropic wire), so every example runs with zero setup.
//!
//! Every example writes the same way: the `gateway:` line saying who answers (and any
//! other diagnostic) to stderr, the answers to stdout. The MockGateway's chat and text
//! answers are an echo of the prompt, not a model's; an example that prints one tags it
//! with [`echo_tag`].

#![allow(dead_code)]

use mishika::{Client, ProviderSettings};
use mishika_mock::MockGateway;

/// Which gateway answers, kept alive for as long as the example runs.
pub struct Gateway {
    /// Printed so the user knows who answered.
    pub label: String,
    /// The base URL requests go to.
    pub base_url: String,
    /// The built-in mock, when no proxy is configured.
    pub mock: Option<MockGateway>,
}

/// The configured proxy, or a freshly started `MockGateway`.
pub async fn gateway() -> Result<Gateway, Box<dyn std::error::Error>> {
    match std::env::var("MISHIKALLM_PROXY_API_BASE") {
        Ok(base) if !base.trim().is_empty() => Ok(Gateway {
            label: format!("the configured proxy at {base}"),
            base_url: base,
            mock: None,
        }),
        _ => {
            let mock = MockGateway::start().await?;
            Ok(Gateway {
                label: format!(
                    "the built-in MockGateway at {}, which echoes the prompt back and makes \
                     up vectors, images and audio (set MISHIKALLM_PROXY_API_BASE to use a \
                     real proxy)",
                    mock.base_url()
                ),
                base_url: mock.base_url(),
                mock: Some(mock),
            })
        }
    }
}

/// Whether the environment configures a provider through `variable`.
fn configured(variable: &str) -> bool {
    std::env::var(variable).is_ok_and(|value| !value.trim().is_empty())
}

/// A client for every built-in provider: the environment's settings for each one that is
/// configured (`MISHIKALLM_PROXY_API_BASE`, `OPENAI_API_KEY`, `ANTHROPIC_API_KEY`), the
/// mock for the others. The returned gateway says who answers the proxy's models.
pub async fn client() -> Result<(Client, Gateway), Box<dyn std::error::Error>> {
    let gateway = gateway().await?;
    let openai_real = configured("OPENAI_API_KEY");
    let anthropic_real = configured("ANTHROPIC_API_KEY");
    // One mock serves every provider that needs one.
    let mock = match &gateway.mock {
        Some(mock) => Some(mock.clone()),
        None if !(openai_real && anthropic_real) => Some(MockGateway::start().await?),
        None => None,
    };
    let mut builder = Client::builder();
    if let Some(mock) = &mock {
        if gateway.mock.is_some() {
            builder = builder.api_base(mock.base_url());
        }
        if !openai_real {
            builder = builder
                .provider_settings("openai", ProviderSettings::new().api_base(mock.url("/v1")));
        }
        if !anthropic_real {
            builder = builder.provider_settings(
                "anthropic",
                ProviderSettings::new().api_base(mock.base_url()),
            );
        }
    }
    let client = builder.build()?;
    let gateway = Gateway {
        mock: mock.or(gateway.mock),
        ..gateway
    };
    Ok((client, gateway))
}

/// Who answers `model`'s provider, for the example's first line.
pub fn answered_by(model: &str, gateway: &Gateway) -> String {
    let real = match model.split('/').next() {
        Some("openai") => {
            configured("OPENAI_API_KEY").then(|| "OpenAI (OPENAI_API_KEY)".to_owned())
        }
        Some("anthropic") => {
            configured("ANTHROPIC_API_KEY").then(|| "Anthropic (ANTHROPIC_API_KEY)".to_owned())
        }
        _ => Some(gateway.label.clone()),
    };
    real.unwrap_or_else(|| match &gateway.mock {
        Some(mock) => format!(
            "the built-in MockGateway at {}, which echoes the prompt back (set the \
             provider's key variable to use the real one)",
            mock.base_url()
        ),
        None => gateway.label.clone(),
    })
}

/// Whether the built-in MockGateway answers `model` (its provider is not configured).
pub fn mock_answers(model: &str) -> bool {
    !configured(match model.split('/').next() {
        Some("openai") => "OPENAI_API_KEY",
        Some("anthropic") => "ANTHROPIC_API_KEY",
        _ => "MISHIKALLM_PROXY_API_BASE",
    })
}

/// What to put before a printed answer for `model`: `[MockGateway echo] ` when the mock
/// answers (it repeats the prompt back; no model is involved), nothing otherwise.
pub fn echo_tag(model: &str) -> &'static str {
    if mock_answers(model) {
        "[MockGateway echo] "
    } else {
        ""
    }
}

/// The `n`th command-line argument, or `default`.
pub fn arg(n: usize, default: &str) -> String {
    std::env::args()
        .nth(n)
        .unwrap_or_else(|| default.to_owned())
}

/// Every command-line argument from the `n`th on, or `default` when there are none.
pub fn args_from(n: usize, default: &[&str]) -> Vec<String> {
    let args: Vec<String> = std::env::args().skip(n).collect();
    if args.is_empty() {
        default.iter().map(|s| s.to_string()).collect()
    } else {
        args
    }
}
