//! Text to speech: `cargo run --example speech -- <model> <text> <out-file>` streams the
//! audio into the file and prints bytes written and content type.

mod support;

use mishika::SpeechRequest;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (client, gateway) = support::client().await?;
    let model = support::arg(1, "mishikallm_proxy/tts-1");
    let text = support::arg(2, "Hello from mishika!");
    let default_out = std::env::temp_dir().join("mishika-speech.mp3");
    let out = support::arg(3, &default_out.to_string_lossy());
    eprintln!("gateway: {}", gateway.label);

    let audio = client
        .speech(SpeechRequest::new(model, text, "alloy").response_format("mp3"))
        .await?;
    let content_type = audio.content_type().unwrap_or("unknown").to_owned();
    let written = audio.save(&out).await?;
    println!("wrote {written} bytes of {content_type} to {out}");
    Ok(())
}
