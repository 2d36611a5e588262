//! A small, defensive `multipart/form-data` parser (RFC 7578).
//!
//! It never panics: any malformed input yields `None`. Lines may end in CRLF
//! (the standard) or in a bare LF.

use bytes::Bytes;

/// One part of a `multipart/form-data` body.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MultipartField {
    /// The `name` parameter of the part's `Content-Disposition` header.
    pub name: String,
    /// The `filename` parameter (or the decoded RFC 5987 `filename*`), when present.
    pub filename: Option<String>,
    /// The part's `Content-Type` header, when present.
    pub content_type: Option<String>,
    /// The part's content.
    pub data: Bytes,
}

impl MultipartField {
    /// The content as text (invalid UTF-8 is replaced), handy for plain form fields.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.data).into_owned()
    }
}

/// The boundary of a `multipart/*` content type, e.g. `multipart/form-data; boundary="a b"`.
pub(crate) fn boundary(content_type: &str) -> Option<String> {
    let params = split_params(content_type);
    let mime = params.first()?.trim();
    if !mime.to_ascii_lowercase().starts_with("multipart/") {
        return None;
    }
    params.iter().skip(1).find_map(|param| {
        let (key, value) = param.split_once('=')?;
        if !key.trim().eq_ignore_ascii_case("boundary") {
            return None;
        }
        let value = unquote(value.trim());
        (!value.is_empty() && value.len() <= 200).then_some(value)
    })
}

/// Parses `body` as form data delimited by `boundary`.
pub(crate) fn parse(body: &Bytes, boundary: &str) -> Option<Vec<MultipartField>> {
    if boundary.is_empty() {
        return None;
    }
    let data = body.as_ref();
    let dash_boundary = format!("--{boundary}").into_bytes();

    // The first delimiter may follow a preamble.
    let mut pos = if data.starts_with(&dash_boundary) {
        dash_boundary.len()
    } else {
        let (at, len) = find_delimiter(data, &dash_boundary, 0)?;
        at + len
    };

    let mut fields = Vec::new();
    loop {
        let rest = data.get(pos..)?;
        if rest.starts_with(b"--") {
            return Some(fields); // close delimiter; the epilogue is ignored
        }
        pos = skip_line_end(data, pos)?;
        let (headers_end, content_start) = find_headers_end(data, pos)?;
        let headers = String::from_utf8_lossy(data.get(pos..headers_end)?);
        let (content_end, delimiter_len) = find_delimiter(data, &dash_boundary, content_start)?;
        if let Some(mut field) = parse_part_headers(&headers) {
            field.data = body.slice(content_start..content_end);
            fields.push(field);
        }
        pos = content_end + delimiter_len;
    }
}

/// Finds the next `CRLF--boundary` (or `LF--boundary`) that is followed by `--`,
/// whitespace or a line end. Returns (index where the part content ends, delimiter length).
fn find_delimiter(data: &[u8], dash_boundary: &[u8], from: usize) -> Option<(usize, usize)> {
    let mut search = from;
    loop {
        let at = find(data, dash_boundary, search)?;
        let after = data.get(at + dash_boundary.len()..).unwrap_or_default();
        let terminated = after.is_empty()
            || after.starts_with(b"--")
            || matches!(after.first(), Some(b'\r' | b'\n' | b' ' | b'\t'));
        if terminated && at > 0 && data.get(at - 1) == Some(&b'\n') {
            let crlf = at >= 2 && data.get(at - 2) == Some(&b'\r') && at - 2 >= from;
            let start = if crlf { at - 2 } else { at - 1 };
            if start >= from {
                return Some((start, at + dash_boundary.len() - start));
            }
        }
        search = at + 1;
    }
}

/// After a delimiter: optional transport padding, then a line end.
fn skip_line_end(data: &[u8], mut pos: usize) -> Option<usize> {
    while matches!(data.get(pos), Some(b' ' | b'\t')) {
        pos += 1;
    }
    match (data.get(pos), data.get(pos + 1)) {
        (Some(b'\r'), Some(b'\n')) => Some(pos + 2),
        (Some(b'\n'), _) => Some(pos + 1),
        _ => None,
    }
}

/// Finds the blank line ending a part's header block starting at `pos`.
/// Returns (end of the header block, start of the content).
fn find_headers_end(data: &[u8], pos: usize) -> Option<(usize, usize)> {
    let rest = data.get(pos..)?;
    if rest.starts_with(b"\r\n") {
        return Some((pos, pos + 2));
    }
    if rest.starts_with(b"\n") {
        return Some((pos, pos + 1));
    }
    let crlf = find(data, b"\r\n\r\n", pos).map(|i| (i, i + 4));
    let lf = find(data, b"\n\n", pos).map(|i| (i, i + 2));
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(if a.0 <= b.0 { a } else { b }),
        (a, b) => a.or(b),
    }
}

fn parse_part_headers(headers: &str) -> Option<MultipartField> {
    let mut name = None;
    let mut filename = None;
    let mut filename_ext = None;
    let mut content_type = None;
    for line in headers.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let key = key.trim();
        let value = value.trim();
        if key.eq_ignore_ascii_case("content-type") {
            content_type = Some(value.to_owned());
        } else if key.eq_ignore_ascii_case("content-disposition") {
            for param in split_params(value).iter().skip(1) {
                let Some((k, v)) = param.split_once('=') else {
                    continue;
                };
                let k = k.trim().to_ascii_lowercase();
                let v = v.trim();
                match k.as_str() {
                    "name" => name = Some(unquote(v)),
                    "filename" => filename = Some(unquote(v)),
                    "filename*" => filename_ext = decode_ext_value(v),
                    _ => {}
                }
            }
        }
    }
    Some(MultipartField {
        name: name?,
        filename: filename_ext.or(filename),
        content_type,
        data: Bytes::new(),
    })
}

/// Splits a header value on `;` outside double quotes.
fn split_params(value: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut in_quotes = false;
    let mut escaped = false;
    for c in value.chars() {
        if escaped {
            escaped = false;
        } else if in_quotes && c == '\\' {
            escaped = true;
        } else if c == '"' {
            in_quotes = !in_quotes;
        } else if c == ';' && !in_quotes {
            parts.push(std::mem::take(&mut current));
            continue;
        }
        current.push(c);
    }
    parts.push(current);
    parts
}

/// Removes surrounding double quotes and backslash escapes.
fn unquote(value: &str) -> String {
    let Some(inner) = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) else {
        return value.to_owned();
    };
    let mut out = String::with_capacity(inner.len());
    let mut escaped = false;
    for c in inner.chars() {
        if !escaped && c == '\\' {
            escaped = true;
        } else {
            out.push(c);
            escaped = false;
        }
    }
    out
}

/// Decodes an RFC 5987 ext-value such as `UTF-8''na%C3%AFve.wav`.
fn decode_ext_value(value: &str) -> Option<String> {
    let mut pieces = value.splitn(3, '\'');
    let charset = pieces.next()?;
    let _language = pieces.next()?;
    let encoded = pieces.next()?;
    let mut bytes = Vec::with_capacity(encoded.len());
    let raw = encoded.as_bytes();
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'%' {
            let hex = std::str::from_utf8(raw.get(i + 1..i + 3)?).ok()?;
            bytes.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            bytes.push(raw[i]);
            i += 1;
        }
    }
    if charset.eq_ignore_ascii_case("utf-8") {
        String::from_utf8(bytes).ok()
    } else {
        // ISO-8859-1: every byte is the code point.
        Some(bytes.into_iter().map(char::from).collect())
    }
}

fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.is_empty() {
        return None;
    }
    haystack
        .get(from..)?
        .windows(needle.len())
        .position(|window| window == needle)
        .map(|i| i + from)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn form(boundary: &str, parts: &[(&str, &str)]) -> Bytes {
        let mut body = String::new();
        for (headers, content) in parts {
            body.push_str(&format!("--{boundary}\r\n{headers}\r\n\r\n{content}\r\n"));
        }
        body.push_str(&format!("--{boundary}--\r\n"));
        Bytes::from(body)
    }

    #[test]
    fn boundary_plain_and_quoted() {
        assert_eq!(
            boundary("multipart/form-data; boundary=abc123").as_deref(),
            Some("abc123")
        );
        assert_eq!(
            boundary("Multipart/Form-Data;BOUNDARY=\"a; b=c\"").as_deref(),
            Some("a; b=c")
        );
        assert_eq!(boundary("application/json; boundary=x"), None);
        assert_eq!(boundary("multipart/form-data"), None);
        assert_eq!(boundary("multipart/form-data; boundary="), None);
    }

    #[test]
    fn parses_fields_files_and_repeated_names() {
        let body = form(
            "XyZ",
            &[
                (
                    "Content-Disposition: form-data; name=\"file\"; filename=\"a \\\"b\\\".wav\"\r\nContent-Type: audio/wav",
                    "RIFF\r\n--XyZnot-a-delimiter",
                ),
                (
                    "Content-Disposition: form-data; name=\"model\"",
                    "whisper-1",
                ),
                (
                    "content-disposition: form-data; name=\"timestamp_granularities[]\"",
                    "word",
                ),
                (
                    "content-disposition: form-data; name=\"timestamp_granularities[]\"",
                    "segment",
                ),
            ],
        );
        let fields = parse(&body, "XyZ").unwrap();
        assert_eq!(fields.len(), 4);
        assert_eq!(fields[0].name, "file");
        assert_eq!(fields[0].filename.as_deref(), Some("a \"b\".wav"));
        assert_eq!(fields[0].content_type.as_deref(), Some("audio/wav"));
        assert_eq!(&fields[0].data[..], b"RIFF\r\n--XyZnot-a-delimiter");
        assert_eq!(fields[1].text(), "whisper-1");
        let granularities: Vec<String> = fields
            .iter()
            .filter(|f| f.name == "timestamp_granularities[]")
            .map(MultipartField::text)
            .collect();
        assert_eq!(granularities, ["word", "segment"]);
    }

    #[test]
    fn preamble_lf_and_ext_filename() {
        let body = Bytes::from_static(
            b"preamble\n--b\nContent-Disposition: form-data; name=f; filename*=UTF-8''na%C3%AFve.wav\n\nxy\n--b--",
        );
        let fields = parse(&body, "b").unwrap();
        assert_eq!(fields.len(), 1);
        assert_eq!(fields[0].name, "f");
        assert_eq!(fields[0].filename.as_deref(), Some("naïve.wav"));
        assert_eq!(&fields[0].data[..], b"xy");
    }

    #[test]
    fn empty_part_content() {
        let body = form("q", &[("Content-Disposition: form-data; name=\"e\"", "")]);
        let fields = parse(&body, "q").unwrap();
        assert_eq!(fields[0].data.len(), 0);
    }

    #[test]
    fn malformed_inputs_never_panic() {
        let good = form(
            "bnd",
            &[("Content-Disposition: form-data; name=\"a\"", "value")],
        );
        // Every prefix of a valid body, and a few oddities.
        for end in 0..good.len() {
            let _ = parse(&good.slice(..end), "bnd");
        }
        for input in [
            &b""[..],
            b"--",
            b"--bnd",
            b"--bnd\r\n",
            b"--bnd\r\n\r\n",
            b"--bnd\r\n\r\nabc",
            b"\n--bnd\n\n\n--bnd--",
            b"--bndx--bnd--",
            b"--bnd\r\nContent-Disposition: form-data; filename*=UTF-8''%F\r\n\r\nz\r\n--bnd--",
        ] {
            let _ = parse(&Bytes::copy_from_slice(input), "bnd");
        }
        assert_eq!(parse(&good.slice(..good.len() - 10), "bnd"), None);
        assert_eq!(parse(&good, ""), None);
    }
}
