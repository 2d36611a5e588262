//! Shared by the examples: use the proxy named by `MISHIKALLM_PROXY_API_BASE` when it is
//! set, otherwise start the in-process `MockGateway` so every example runs with zero setup.

#![allow(dead_code)]

use mishika::Client;
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
                    "the built-in MockGateway at {} (set MISHIKALLM_PROXY_API_BASE to use a real proxy)",
                    mock.base_url()
                ),
                base_url: mock.base_url(),
                mock: Some(mock),
            })
        }
    }
}

/// A client for the gateway: the environment's settings for a configured proxy, the mock's
/// base URL otherwise.
pub async fn client() -> Result<(Client, Gateway), Box<dyn std::error::Error>> {
    let gateway = gateway().await?;
    let client = match &gateway.mock {
        Some(mock) => Client::builder().api_base(mock.base_url()).build()?,
        None => Client::new()?,
    };
    Ok((client, gateway))
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
