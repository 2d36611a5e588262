//! A `multipart/form-data` encoder that produces one `Bytes` body, so a request can be
//! re-sent byte-identical by a retry layer and the transport only ever sends bytes.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::{BufMut, Bytes, BytesMut};

/// A form under construction.
///
/// ```
/// use mishika_core::multipart::Multipart;
/// let mut form = Multipart::with_boundary("XyZ")
///     .text("model", "whisper-1")
///     .file("file", "a.wav", "audio/wav", &b"RIFF"[..]);
/// assert_eq!(form.content_type(), "multipart/form-data; boundary=XyZ");
/// assert_eq!(
///     &form.encode()[..],
///     &b"--XyZ\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nwhisper-1\r\n\
///        --XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.wav\"\r\n\
///        Content-Type: audio/wav\r\n\r\nRIFF\r\n--XyZ--\r\n"[..]
/// );
/// ```
#[derive(Debug, Clone)]
pub struct Multipart {
    boundary: Option<String>,
    parts: Vec<Part>,
}

#[derive(Debug, Clone)]
struct Part {
    name: String,
    file: Option<(String, String)>,
    data: Bytes,
}

impl Default for Multipart {
    fn default() -> Multipart {
        Multipart::new()
    }
}

impl Multipart {
    /// An empty form; a boundary that occurs in no part is chosen when it is encoded.
    pub fn new() -> Multipart {
        Multipart {
            boundary: None,
            parts: Vec::new(),
        }
    }

    /// An empty form with a fixed boundary (for tests; the caller ensures it is unique).
    pub fn with_boundary(boundary: impl Into<String>) -> Multipart {
        Multipart {
            boundary: Some(boundary.into()),
            parts: Vec::new(),
        }
    }

    /// Add a text field.
    #[must_use]
    pub fn text(mut self, name: impl Into<String>, value: impl Into<String>) -> Multipart {
        self.parts.push(Part {
            name: name.into(),
            file: None,
            data: Bytes::from(value.into()),
        });
        self
    }

    /// Add a file field.
    #[must_use]
    pub fn file(
        mut self,
        name: impl Into<String>,
        filename: impl Into<String>,
        content_type: impl Into<String>,
        data: impl Into<Bytes>,
    ) -> Multipart {
        self.parts.push(Part {
            name: name.into(),
            file: Some((filename.into(), content_type.into())),
            data: data.into(),
        });
        self
    }

    /// Fix the boundary now (choosing one that occurs in no part) and return it.
    pub fn boundary(&mut self) -> &str {
        if self.boundary.is_none() {
            let boundary = loop {
                let candidate = fresh_boundary();
                let clash = self
                    .parts
                    .iter()
                    .any(|part| memchr::memmem::find(&part.data, candidate.as_bytes()).is_some());
                if !clash {
                    break candidate;
                }
            };
            self.boundary = Some(boundary);
        }
        self.boundary.as_deref().unwrap_or_default()
    }

    /// The `Content-Type` header value.
    pub fn content_type(&mut self) -> String {
        format!("multipart/form-data; boundary={}", self.boundary())
    }

    /// The encoded body.
    pub fn encode(&mut self) -> Bytes {
        let boundary = self.boundary().to_owned();
        let size: usize = self
            .parts
            .iter()
            .map(|part| part.data.len() + part.name.len() + 128 + boundary.len())
            .sum();
        let mut body = BytesMut::with_capacity(size + boundary.len() + 8);
        for part in &self.parts {
            body.put_slice(b"--");
            body.put_slice(boundary.as_bytes());
            body.put_slice(b"\r\nContent-Disposition: form-data; name=\"");
            body.put_slice(escape(&part.name).as_bytes());
            body.put_slice(b"\"");
            if let Some((filename, content_type)) = &part.file {
                body.put_slice(b"; filename=\"");
                body.put_slice(escape(filename).as_bytes());
                body.put_slice(b"\"\r\nContent-Type: ");
                body.put_slice(escape(content_type).as_bytes());
            }
            body.put_slice(b"\r\n\r\n");
            body.put_slice(&part.data);
            body.put_slice(b"\r\n");
        }
        body.put_slice(b"--");
        body.put_slice(boundary.as_bytes());
        body.put_slice(b"--\r\n");
        body.freeze()
    }
}

/// Quotes and line breaks in names would end the header early: percent-encode them, as
/// browsers do.
fn escape(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.contains(['"', '\r', '\n']) {
        return std::borrow::Cow::Borrowed(text);
    }
    std::borrow::Cow::Owned(
        text.replace('"', "%22")
            .replace('\r', "%0D")
            .replace('\n', "%0A"),
    )
}

fn fresh_boundary() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    // A cheap mix so boundaries of one process differ in more than the last digit.
    let mixed = (nanos ^ count.rotate_left(32)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    format!("mishika-{mixed:016x}{count:08x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boundary_never_occurs_in_a_part() {
        let mut form = Multipart::new().text("a", "b");
        let boundary = form.boundary().to_owned();
        // A file that contains the first choice forces a second one.
        let mut clashing = Multipart::new().file(
            "f",
            "x.bin",
            "application/octet-stream",
            boundary.clone().into_bytes(),
        );
        assert_ne!(clashing.boundary(), boundary);
        assert!(boundary.starts_with("mishika-"));
    }

    #[test]
    fn quotes_and_newlines_in_names_are_escaped() {
        let mut form =
            Multipart::with_boundary("b").file("file", "we\"ird\r\n.mp3", "audio/mpeg", "x");
        let body = String::from_utf8(form.encode().to_vec()).unwrap();
        assert!(body.contains("filename=\"we%22ird%0D%0A.mp3\""), "{body}");
    }
}
