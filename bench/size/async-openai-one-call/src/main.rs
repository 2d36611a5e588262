//! One chat call through async-openai to the gateway at the first argument.

use async_openai::Client;
use async_openai::config::OpenAIConfig;
use async_openai::types::chat::{
    ChatCompletionRequestUserMessageArgs, CreateChatCompletionRequestArgs,
};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let base = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "http://127.0.0.1:4000".into());
    let config = OpenAIConfig::new()
        .with_api_base(format!("{base}/v1"))
        .with_api_key("sk-size");
    let client = Client::with_config(config);
    let request = CreateChatCompletionRequestArgs::default()
        .model("gpt-4o-mini")
        .messages([ChatCompletionRequestUserMessageArgs::default()
            .content("hi")
            .build()?
            .into()])
        .build()?;
    let response = client.chat().create(request).await?;
    let text = response
        .choices
        .first()
        .and_then(|c| c.message.content.clone());
    println!("{}", text.unwrap_or_default());
    Ok(())
}
