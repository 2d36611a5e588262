//! Streamed chat: `cargo run --example chat_stream -- <model> <prompt>` (`mishikallm_proxy/…`,
//! `openai/…` or `anthropic/…`) prints the deltas
//! as they arrive.

mod support;

use std::io::Write;

use futures_util::StreamExt;
use mishika::{ChatMessage, ChatRequest};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (client, gateway) = support::client().await?;
    let model = support::arg(1, "mishikallm_proxy/gpt-4o-mini");
    let prompt = support::arg(2, "Write a haiku about Rust.");
    eprintln!("gateway: {}", support::answered_by(&model, &gateway));

    let mut stream = client
        .chat_stream(ChatRequest::new(
            model.as_str(),
            [ChatMessage::user(prompt)],
        ))
        .await?;
    print!("{}", support::echo_tag(&model));
    while let Some(chunk) = stream.next().await {
        print!("{}", chunk?.content().unwrap_or_default());
        std::io::stdout().flush()?;
    }
    println!();
    Ok(())
}
