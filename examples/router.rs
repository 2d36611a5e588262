//! The Router: one model name backed by several deployments, with fallbacks and
//! cooldowns. `cargo run --example router` runs with zero setup: three in-process
//! `MockGateway`s stand in for the deployments, and one of them is failing.
//!
//! Each call prints which group and deployment answered and how many attempts it took.
//! The answers are the MockGateways' echo of the prompt, not a model's.

use std::time::Duration;

use mishika::router::{Deployment, Router, Strategy};
use mishika::{ChatMessage, ChatRequest, Client};
use mishika_mock::{MockGateway, ScriptedResponse};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let east = MockGateway::start().await?;
    let west = MockGateway::start().await?;
    let backup = MockGateway::start().await?;
    // `west` is down: every answer it gives is a 503.
    for _ in 0..64 {
        west.push_response(ScriptedResponse::error(
            503,
            "west is down",
            "service_unavailable",
            "503",
        ));
    }

    let router = Router::builder()
        .deployment(
            Deployment::new("gpt-4o", "mishikallm_proxy/gpt-4o")
                .id("east")
                .api_base(east.base_url())
                .rpm(3),
        )
        .deployment(
            Deployment::new("gpt-4o", "mishikallm_proxy/gpt-4o")
                .id("west")
                .api_base(west.base_url())
                .rpm(3),
        )
        .deployment(
            Deployment::new("claude", "anthropic/claude-3-5-haiku-latest")
                .id("backup")
                .api_base(backup.base_url()),
        )
        .strategy(Strategy::SimpleShuffle)
        .allowed_fails(1)
        .cooldown_time(Duration::from_secs(30))
        .fallbacks("gpt-4o", ["claude"])
        .build()?;
    let client = Client::builder().router(router).build()?;
    eprintln!(
        "deployments (MockGateways, which echo the prompt): east {} and west {} (down) for \
         gpt-4o; backup {} for claude",
        east.base_url(),
        west.base_url(),
        backup.base_url()
    );

    for n in 1..=8 {
        let request =
            ChatRequest::new("gpt-4o", [ChatMessage::user(format!("call {n}"))]).max_tokens(32);
        match client.chat(request).await {
            Ok(answer) => {
                let route = answer.metadata().route().ok_or("no route recorded")?;
                println!(
                    "call {n}: echo {:?} from {} / {} ({} attempt(s), {} fallback(s))",
                    answer.content().unwrap_or_default(),
                    route.group,
                    route.deployment,
                    route.attempts,
                    route.fallbacks
                );
            }
            Err(error) => println!("call {n}: {:?}: {error}", error.kind()),
        }
    }
    eprintln!(
        "requests seen: east {}, west {}, backup {}",
        east.request_count(),
        west.request_count(),
        backup.request_count()
    );
    Ok(())
}
