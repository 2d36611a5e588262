//! A provider of your own beside the built-in proxy: `cargo run --example custom_provider`.
//!
//! `shout/<model>` goes to `Shout`, a provider written against `mishika-core` alone that
//! answers without any I/O; `mishikallm_proxy/<model>` still goes to the proxy (or the
//! built-in mock). Endpoints a provider does not implement answer `ErrorKind::Unsupported`.

mod support;

use mishika::core::reexports::async_trait;
use mishika::core::{Call, ChatRequest, ChatResponse, Provider, Result};
use mishika::{ChatMessage, Client, EmbeddingRequest};

/// Repeats the last user message in capitals.
#[derive(Debug)]
struct Shout;

#[async_trait]
impl Provider for Shout {
    fn name(&self) -> &str {
        "shout"
    }

    async fn chat(&self, _call: &Call, request: ChatRequest) -> Result<ChatResponse> {
        let last = request
            .messages
            .iter()
            .rev()
            .find_map(|m| m.content.as_ref().map(|c| c.text()))
            .unwrap_or_default();
        let mut response: ChatResponse = serde_json::from_value(serde_json::json!({
            "choices": [{"index": 0, "message": {"role": "assistant", "content": last.to_uppercase()}}]
        }))
        .map_err(|e| mishika::Error::decode("bad canned answer").with_source(e))?;
        response.model = Some(request.model);
        Ok(response)
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let gateway = support::gateway().await?;
    let client = Client::builder()
        .api_base(gateway.base_url.clone())
        .provider("shout", Shout)
        .build()?;
    eprintln!("gateway: {}", gateway.label);
    eprintln!("providers: {:?}", client.prefixes());

    let shouted = client
        .chat(ChatRequest::new(
            "shout/loud-1",
            [ChatMessage::user("hello there")],
        ))
        .await?;
    println!("shout/loud-1: {}", shouted.content().unwrap_or_default());

    let model = support::arg(1, "mishikallm_proxy/gpt-4o-mini");
    let proxied = client
        .chat(ChatRequest::new(
            model.as_str(),
            [ChatMessage::user("hello there")],
        ))
        .await?;
    println!(
        "{model}: {}{}",
        support::echo_tag(&model),
        proxied.content().unwrap_or_default()
    );

    match client
        .embedding(EmbeddingRequest::new("shout/loud-1", "x"))
        .await
    {
        Ok(_) => println!("shout embeddings: unexpectedly answered"),
        Err(error) => println!("shout embeddings: {:?} ({error})", error.kind()),
    }
    Ok(())
}
