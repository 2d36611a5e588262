//! Transcription: `cargo run --example transcription -- <model> <audio-file>` prints the
//! text. Without a file, a short generated WAV is uploaded.

mod support;

use mishika::{AudioFile, TranscriptionRequest};

/// Half a second of silence as a 16 kHz mono 16-bit WAV.
fn silent_wav() -> Vec<u8> {
    let samples = 8_000u32;
    let data_len = samples * 2;
    let mut wav = Vec::with_capacity(44 + data_len as usize);
    wav.extend_from_slice(b"RIFF");
    wav.extend_from_slice(&(36 + data_len).to_le_bytes());
    wav.extend_from_slice(b"WAVEfmt ");
    wav.extend_from_slice(&16u32.to_le_bytes());
    wav.extend_from_slice(&1u16.to_le_bytes()); // PCM
    wav.extend_from_slice(&1u16.to_le_bytes()); // mono
    wav.extend_from_slice(&16_000u32.to_le_bytes());
    wav.extend_from_slice(&32_000u32.to_le_bytes());
    wav.extend_from_slice(&2u16.to_le_bytes());
    wav.extend_from_slice(&16u16.to_le_bytes());
    wav.extend_from_slice(b"data");
    wav.extend_from_slice(&data_len.to_le_bytes());
    wav.resize(44 + data_len as usize, 0);
    wav
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (client, gateway) = support::client().await?;
    let model = support::arg(1, "mishikallm_proxy/whisper-1");
    eprintln!("gateway: {}", gateway.label);

    let file = match std::env::args().nth(2) {
        Some(path) => AudioFile::from_path(path).await?,
        None => AudioFile::new(silent_wav(), "silence.wav"),
    };
    let response = client
        .transcription(TranscriptionRequest::new(model, file).language("en"))
        .await?;
    println!("{}", response.text);
    Ok(())
}
