//! A tiny raw HTTP/1.1 client over tokio's `TcpStream`, so the tests see the
//! bytes on the wire (chunk boundaries, abrupt ends) exactly.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Generous bound so a broken test fails instead of hanging.
pub const TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The chunks of a `transfer-encoding: chunked` body, as sent.
    pub chunks: Option<Vec<Vec<u8>>>,
}

impl RawResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn text(&self) -> String {
        String::from_utf8(self.body.clone()).unwrap()
    }
}

pub fn request_bytes(method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut head = format!("{method} {path} HTTP/1.1\r\nhost: mock\r\nconnection: close\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if !body.is_empty() || method == "POST" {
        head.push_str(&format!("content-length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

/// Sends one request and reads until the server closes the connection.
/// Returns the raw bytes and the read error, if the connection ended in one.
pub async fn exchange(addr: SocketAddr, request: &[u8]) -> (Vec<u8>, Option<io::Error>) {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(request).await.unwrap();
    let mut raw = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    let error = loop {
        match tokio::time::timeout(TIMEOUT, tcp.read(&mut buf)).await {
            Err(_) => panic!("no answer within {TIMEOUT:?}"),
            Ok(Ok(0)) => break None,
            Ok(Ok(n)) => raw.extend_from_slice(&buf[..n]),
            Ok(Err(e)) => break Some(e),
        }
    };
    (raw, error)
}

/// Sends a request; `Err` when the connection failed or the body is incomplete.
pub async fn send(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> io::Result<RawResponse> {
    let (raw, error) = exchange(addr, &request_bytes(method, path, headers, body)).await;
    if let Some(error) = error {
        return Err(error);
    }
    parse_response(&raw)
}

pub async fn post_json(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
    body: &serde_json::Value,
) -> RawResponse {
    let mut all = vec![("content-type", "application/json")];
    all.extend_from_slice(headers);
    send(addr, "POST", path, &all, body.to_string().as_bytes())
        .await
        .unwrap()
}

pub async fn get(addr: SocketAddr, path: &str) -> RawResponse {
    send(addr, "GET", path, &[], b"").await.unwrap()
}

fn eof(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::UnexpectedEof, what.to_owned())
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

pub fn parse_response(raw: &[u8]) -> io::Result<RawResponse> {
    let head_end = find(raw, b"\r\n\r\n").ok_or_else(|| eof("no complete head"))?;
    let head = std::str::from_utf8(&raw[..head_end]).map_err(|_| eof("head not UTF-8"))?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().ok_or_else(|| eof("no status line"))?;
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| eof("bad status line"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let mut rest = &raw[head_end + 4..];
    let header = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    };

    if header("transfer-encoding").is_some_and(|te| te.contains("chunked")) {
        let mut chunks = Vec::new();
        loop {
            let line_end = find(rest, b"\r\n").ok_or_else(|| eof("chunk size line"))?;
            let size_text = std::str::from_utf8(&rest[..line_end]).map_err(|_| eof("size"))?;
            let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
                .map_err(|_| eof("chunk size"))?;
            rest = &rest[line_end + 2..];
            if size == 0 {
                if !rest.starts_with(b"\r\n") {
                    return Err(eof("final CRLF"));
                }
                break;
            }
            if rest.len() < size + 2 {
                return Err(eof("chunk data"));
            }
            chunks.push(rest[..size].to_vec());
            rest = &rest[size + 2..];
        }
        let body = chunks.concat();
        Ok(RawResponse {
            status,
            headers,
            body,
            chunks: Some(chunks),
        })
    } else if let Some(len) = header("content-length") {
        let len: usize = len.parse().map_err(|_| eof("content-length"))?;
        if rest.len() < len {
            return Err(eof("body shorter than content-length"));
        }
        Ok(RawResponse {
            status,
            headers,
            body: rest[..len].to_vec(),
            chunks: None,
        })
    } else {
        Ok(RawResponse {
            status,
            headers,
            body: rest.to_vec(),
            chunks: None,
        })
    }
}

/// The JSON payloads of `data: ...\n\n` frames (`[DONE]` as the string "[DONE]").
pub fn sse_payloads(body: &[u8]) -> Vec<String> {
    String::from_utf8(body.to_vec())
        .unwrap()
        .split("\n\n")
        .filter(|frame| !frame.is_empty())
        .map(|frame| frame.strip_prefix("data: ").expect("data frame").to_owned())
        .collect()
}

/// The `(event name, JSON data)` of named `event: ..\ndata: ..\n\n` frames.
pub fn named_sse_events(body: &[u8]) -> Vec<(String, serde_json::Value)> {
    String::from_utf8(body.to_vec())
        .unwrap()
        .split("\n\n")
        .filter(|frame| !frame.is_empty())
        .map(|frame| {
            let (event, data) = frame.split_once('\n').expect("two lines");
            let name = event.strip_prefix("event: ").expect("event line");
            let data = data.strip_prefix("data: ").expect("data line");
            (name.to_owned(), serde_json::from_str(data).unwrap())
        })
        .collect()
}
