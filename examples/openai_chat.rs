//! The `openai/` backend: OpenAI's API (or any server that speaks it) called directly.
//!
//! ```text
//! cargo run --example openai_chat                       # zero setup: built-in MockGateway
//! OPENAI_API_KEY=sk-... cargo run --example openai_chat -- openai/gpt-4o-mini
//! ```
//!
//! Settings come from `OPENAI_API_KEY`, `OPENAI_BASE_URL` (default
//! `https://api.openai.com/v1`), `OPENAI_ORGANIZATION` and `OPENAI_PROJECT`, or from
//! `Client::builder().provider_settings("openai", …)`; never from the proxy's.

mod support;

use std::io::Write;

use futures_util::StreamExt;
use mishika::{ChatMessage, ChatRequest};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (client, gateway) = support::client().await?;
    let model = support::arg(1, "openai/gpt-4o-mini");
    eprintln!("gateway: {}", support::answered_by(&model, &gateway));
    let tag = support::echo_tag(&model);

    let request = ChatRequest::new(
        model.as_str(),
        [
            ChatMessage::system("You are a concise assistant."),
            ChatMessage::user("Name three primary colours."),
        ],
    )
    .max_tokens(64);
    let response = client.chat(request.clone()).await?;
    println!(
        "chat reply: {tag}{}",
        response.content().unwrap_or("(no text)")
    );

    print!("streamed: {tag}");
    let mut stream = client.chat_stream(request).await?;
    while let Some(chunk) = stream.next().await {
        print!("{}", chunk?.content().unwrap_or_default());
        std::io::stdout().flush()?;
    }
    println!();
    Ok(())
}
