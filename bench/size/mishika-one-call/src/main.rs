//! One chat call through mishika to the gateway at the first argument.

use mishika::{ChatMessage, ChatRequest, Client};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let base = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "http://127.0.0.1:4000".into());
    let client = Client::builder()
        .api_base(base)
        .api_key("sk-size")
        .build()?;
    let request = ChatRequest::new("mishikallm_proxy/gpt-4o-mini", [ChatMessage::user("hi")]);
    let response = client.chat(request).await?;
    println!("{}", response.content().unwrap_or_default());
    Ok(())
}
