//! Quickstart: one chat and one streamed chat through `mishikallm_proxy/`.
//!
//! ```text
//! cargo run --example quickstart                      # zero setup: built-in MockGateway
//! MISHIKALLM_PROXY_API_BASE=http://localhost:4000 \
//! MISHIKALLM_PROXY_API_KEY=sk-... \
//!   cargo run --example quickstart -- mishikallm_proxy/gpt-4o-mini
//! ```

mod support;

use std::io::Write;

use futures_util::StreamExt;
use mishika::{ChatMessage, ChatRequest};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let gateway = support::gateway().await?;
    if gateway.mock.is_some() {
        // The free functions read process-wide settings, then the environment.
        mishika::set_api_base(gateway.base_url.clone());
    }
    eprintln!("gateway: {}", gateway.label);
    let model = support::arg(1, "mishikallm_proxy/gpt-4o-mini");
    let tag = support::echo_tag(&model);

    let request = ChatRequest::new(
        model.as_str(),
        [
            ChatMessage::system("You are a concise assistant."),
            ChatMessage::user("Say hello to mishika in five words."),
        ],
    )
    .max_tokens(64);

    let response = mishika::completion(request.clone()).await?;
    println!(
        "chat reply: {tag}{}",
        response.content().unwrap_or("(no text)")
    );
    if let Some(usage) = &response.usage {
        println!(
            "usage: {} prompt + {} completion tokens",
            usage.prompt_tokens.unwrap_or(0),
            usage.completion_tokens.unwrap_or(0)
        );
    }
    if let Some(call_id) = response.metadata().call_id() {
        println!("call id: {call_id}");
    }

    print!("streamed reply: {tag}");
    let mut stream = mishika::completion_stream(request.include_usage(true)).await?;
    let mut chunks = 0;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        chunks += 1;
        print!("{}", chunk.content().unwrap_or_default());
        std::io::stdout().flush()?;
    }
    println!("\n({chunks} chunks)");
    Ok(())
}
