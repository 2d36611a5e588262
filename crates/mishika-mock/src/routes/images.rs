//! `POST /v1/images/generations` and the generated files `GET /files/image-<i>.png`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use super::{
    Ctx, Handled, Reply, bad_request, count_param, json_object, json_response, ok_response,
    required_model, string_param, words,
};
use crate::record::RecordedRequest;

const MAX_IMAGES: usize = 16;

/// A valid 1×1 transparent PNG: every generated image.
pub const PNG_1X1: &[u8] = &[
    0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1F, 0x15, 0xC4,
    0x89, 0x00, 0x00, 0x00, 0x0A, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9C, 0x63, 0x00, 0x01, 0x00, 0x00,
    0x05, 0x00, 0x01, 0x0D, 0x0A, 0x2D, 0xB4, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4E, 0x44, 0xAE,
    0x42, 0x60, 0x82,
];

/// `/files/image-<digits>.png` (also under `/v1`).
pub(crate) fn is_image_file(path: &str) -> bool {
    path.strip_prefix("/files/image-")
        .and_then(|rest| rest.strip_suffix(".png"))
        .is_some_and(|digits| !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
}

/// The PNG behind every generated URL.
pub(crate) fn file(ctx: &Ctx<'_>) -> Reply {
    ok_response(ctx, "image/png", PNG_1X1)
}

pub(crate) fn generations(ctx: &Ctx<'_>, request: &RecordedRequest) -> Handled {
    let body = json_object(request)?;
    let _model = required_model(&body)?;
    let prompt = match string_param(&body, "prompt")? {
        Some(prompt) if !prompt.is_empty() => prompt,
        _ => return Err(bad_request("`prompt` is required", Some("prompt"))),
    };
    let n = count_param(&body, "n", 1, MAX_IMAGES)?;
    let as_base64 = match string_param(&body, "response_format")? {
        None | Some("url") => false,
        Some("b64_json") => true,
        Some(_) => {
            return Err(bad_request(
                "`response_format` must be \"url\" or \"b64_json\"",
                Some("response_format"),
            ));
        }
    };

    let data: Vec<Value> = (0..n)
        .map(|i| {
            if as_base64 {
                json!({ "b64_json": STANDARD.encode(PNG_1X1), "revised_prompt": prompt })
            } else {
                json!({
                    "url": format!("{}/files/image-{i}.png", ctx.base_url),
                    "revised_prompt": prompt,
                })
            }
        })
        .collect();
    let input_tokens = words(prompt);
    Ok(json_response(
        ctx,
        &json!({
            "created": ctx.created,
            "data": data,
            "usage": {
                "input_tokens": input_tokens,
                "output_tokens": n,
                "total_tokens": input_tokens + n,
            },
        }),
    ))
}
