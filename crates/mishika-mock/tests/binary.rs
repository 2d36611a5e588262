//! The `mishika-mock-gateway` binary: one readiness line, serves, exits on SIGTERM.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};

use serde_json::json;

/// Kills the child if the test fails before it exits on its own.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

#[tokio::test]
async fn binary_prints_its_address_and_serves() {
    let mut child = Guard(
        Command::new(env!("CARGO_BIN_EXE_mishika-mock-gateway"))
            .args(["--port", "0", "--api-key", "sk-bin"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    // The readiness line is the wait: the port is bound before it is printed.
    let mut line = String::new();
    BufReader::new(child.0.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let base = line
        .trim_end()
        .strip_prefix("listening on http://")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
    let addr: SocketAddr = base.parse().unwrap();
    assert!(addr.ip().is_loopback() && addr.port() != 0);

    let denied = common::post_json(addr, "/v1/models", &[], &json!({})).await;
    assert_eq!(denied.status, 405);
    let response = common::send(
        addr,
        "GET",
        "/v1/models",
        &[("authorization", "Bearer sk-bin")],
        b"",
    )
    .await
    .unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(response.json()["data"][0]["id"], "mock-chat");

    #[cfg(unix)]
    {
        let status = Command::new("kill")
            .args(["-TERM", &child.0.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        assert!(child.0.wait().unwrap().success());
    }
    #[cfg(not(unix))]
    {
        child.0.kill().unwrap();
        let _ = child.0.wait();
    }
}

#[tokio::test]
async fn binary_logs_requests_as_json_lines() {
    let mut child = Guard(
        Command::new(env!("CARGO_BIN_EXE_mishika-mock-gateway"))
            .args(["--log-requests", "--port", "0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut line = String::new();
    BufReader::new(child.0.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr: SocketAddr = line
        .trim_end()
        .strip_prefix("listening on http://")
        .unwrap()
        .parse()
        .unwrap();
    let body = json!({"model": "claude-mock", "max_tokens": 8,
                      "messages": [{"role": "user", "content": "hi"}]});
    let response = common::post_json(
        addr,
        "/v1/messages",
        &[("anthropic-version", "2023-06-01"), ("x-api-key", "k")],
        &body,
    )
    .await;
    assert_eq!(response.status, 200);
    let _ = common::get(addr, "/health").await;

    let mut stderr = BufReader::new(child.0.stderr.take().unwrap());
    let mut first = String::new();
    stderr.read_line(&mut first).unwrap();
    let logged: serde_json::Value = serde_json::from_str(&first).unwrap();
    assert_eq!(logged["method"], "POST");
    assert_eq!(logged["path"], "/v1/messages");
    assert_eq!(logged["headers"]["anthropic-version"], "2023-06-01");
    assert_eq!(logged["headers"]["x-api-key"], "k");
    assert_eq!(logged["body"], body);
    let mut second = String::new();
    stderr.read_line(&mut second).unwrap();
    let logged: serde_json::Value = serde_json::from_str(&second).unwrap();
    assert_eq!(logged["path"], "/health");
    assert_eq!(logged["body"], "");
}

#[test]
fn help_prints_the_usage_and_exits_successfully() {
    for flag in ["--help", "-h"] {
        let output = Command::new(env!("CARGO_BIN_EXE_mishika-mock-gateway"))
            .arg(flag)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(0), "{flag}");
        let stdout = String::from_utf8(output.stdout).unwrap();
        assert!(
            stdout.starts_with("usage: mishika-mock-gateway [--port N]"),
            "{flag}: {stdout}"
        );
        for option in [
            "--port",
            "--api-key",
            "--models",
            "--log-requests",
            "--help",
        ] {
            assert!(stdout.contains(option), "{flag} does not name {option}");
        }
        assert!(output.stderr.is_empty(), "{flag}");
    }
}

#[test]
fn a_bad_argument_prints_the_usage_to_stderr_and_exits_with_2() {
    for args in [&["--bogus"][..], &["--port"], &["--port", "x"]] {
        let output = Command::new(env!("CARGO_BIN_EXE_mishika-mock-gateway"))
            .args(args)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(output.stdout.is_empty(), "{args:?}");
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert!(
            stderr.contains("usage: mishika-mock-gateway"),
            "{args:?}: {stderr}"
        );
    }
    // An unknown flag is named as such, not taken for one missing its value.
    let output = Command::new(env!("CARGO_BIN_EXE_mishika-mock-gateway"))
        .arg("--bogus")
        .output()
        .unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.starts_with(r#"unknown argument "--bogus""#),
        "{stderr}"
    );
}
