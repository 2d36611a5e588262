//! Models: `cargo run --example models` lists the model ids the proxy serves.

mod support;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (client, gateway) = support::client().await?;
    eprintln!("gateway: {}", gateway.label);
    let models = client.list_models(mishika::proxy::PREFIX).await?;
    for id in models.ids() {
        println!("{id}");
    }
    Ok(())
}
