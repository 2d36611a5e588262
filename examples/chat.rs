//! Chat: `cargo run --example chat -- <model> <prompt>` (`mishikallm_proxy/…`,
//! `openai/…` or `anthropic/…`) prints the reply's content.

mod support;

use mishika::{ChatMessage, ChatRequest};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (client, gateway) = support::client().await?;
    let model = support::arg(1, "mishikallm_proxy/gpt-4o-mini");
    let prompt = support::arg(2, "What is the capital of France?");
    eprintln!("gateway: {}", support::answered_by(&model, &gateway));

    let response = client
        .chat(ChatRequest::new(
            model.as_str(),
            [ChatMessage::user(prompt)],
        ))
        .await?;
    println!(
        "{}{}",
        support::echo_tag(&model),
        response.content().unwrap_or("(no text)")
    );
    Ok(())
}
