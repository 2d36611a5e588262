//! Image generation: `cargo run --example image_generation -- <model> <prompt>` prints the
//! URL, or saves the image and prints its path when the answer is `b64_json`.
//! Pass `b64_json` as a third argument to ask for the image data itself.

mod support;

use mishika::ImageRequest;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (client, gateway) = support::client().await?;
    let model = support::arg(1, "mishikallm_proxy/dall-e-3");
    let prompt = support::arg(2, "a lighthouse at dusk, watercolor");
    let format = support::arg(3, "url");
    eprintln!("gateway: {}", gateway.label);

    let response = client
        .image_generation(
            ImageRequest::new(model, prompt)
                .size("1024x1024")
                .response_format(format),
        )
        .await?;
    for (index, image) in response.data.iter().enumerate() {
        if let Some(url) = &image.url {
            println!("{url}");
        } else if image.b64_json.is_some() {
            let path = std::env::temp_dir().join(format!("mishika-image-{index}.png"));
            let written = image.save(&path).await?;
            println!("{} ({written} bytes)", path.display());
        }
        if let Some(revised) = &image.revised_prompt {
            eprintln!("revised prompt: {revised}");
        }
    }
    Ok(())
}
