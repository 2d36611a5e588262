//! Secrets over real loopback sockets: a server that echoes the key (in an error body, a
//! header, an in-band stream error, a JSON answer to a stream) never gets it into an
//! error's `Display`, `Debug`, `message()`, `body()` or `headers()`, nor into a log; keys
//! given as headers or inside a base URL never print; a blank key sends nothing; control
//! characters from a server are escaped in `Display`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};

use futures_util::StreamExt;
use mishika::{ChatMessage, ChatRequest, Client, Error, ErrorKind, ProviderSettings};
use mishika_mock::{MockGateway, ScriptedResponse};

#[path = "support/capture.rs"]
mod capture;
use capture::Capture;

/// The client's key, sent as `Authorization: Bearer`.
const KEY: &str = "sk-client-key-0123456789abcdef";
/// A key given as a header on the client builder.
const HEADER_KEY: &str = "sk-litellm-header-key-fedcba9876";
/// A token given in an `Authorization` header on one request.
const REQUEST_TOKEN: &str = "tok-request-bearer-55aa55aa";

const SECRETS: [&str; 3] = [KEY, HEADER_KEY, REQUEST_TOKEN];

fn ask() -> ChatRequest {
    ChatRequest::new("mishikallm_proxy/m", [ChatMessage::user("hi")])
}

/// Everything an error shows or keeps, as text: Display, Debug, message, body, headers
/// (names and raw values), the cause chain.
fn everything(error: &Error) -> String {
    let mut shown = format!(
        "{error}\n{error:?}\n{}\n{:?}\n{:?}\n",
        error.message(),
        error.body(),
        error.headers()
    );
    for (name, value) in error.headers().into_iter().flatten() {
        shown.push_str(&format!(
            "{name}: {}\n",
            String::from_utf8_lossy(value.as_bytes())
        ));
    }
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        shown.push_str(&format!("{cause} / {cause:?}\n"));
        source = cause.source();
    }
    shown
}

fn assert_no_secret(what: &str, shown: &str) {
    for secret in SECRETS {
        assert!(!shown.contains(secret), "{what} shows {secret}: {shown}");
    }
}

/// What the echoing server says, with every secret in it.
fn echo() -> String {
    format!("Incorrect API key provided: {KEY}; header {HEADER_KEY}; bearer Bearer {REQUEST_TOKEN}")
}

/// What that becomes once scrubbed.
const SCRUBBED: &str = "Incorrect API key provided: ***; header ***; bearer ***";

#[test]
fn an_echoed_key_reaches_no_part_of_any_error_and_no_log() {
    let log = Arc::new(Mutex::new(String::new()));
    let _subscriber = tracing::subscriber::set_default(Capture(Arc::clone(&log)));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let gateway = MockGateway::start().await.unwrap();
        let client = Client::builder()
            .api_base(gateway.base_url())
            .api_key(KEY)
            .header("x-litellm-api-key", HEADER_KEY)
            .num_retries(1)
            .build()
            .unwrap();
        let request = || ask().header("Authorization", format!("Bearer {REQUEST_TOKEN}"));
        let echoed_headers = |script: ScriptedResponse| {
            script
                .header("x-echoed-key", KEY)
                .header(
                    "www-authenticate",
                    &format!("Bearer error=\"{REQUEST_TOKEN}\""),
                )
                .header("x-echoed-header", &format!("got {HEADER_KEY}!"))
        };

        // 1. A 401 whose body and headers echo every secret.
        gateway.push_response(echoed_headers(ScriptedResponse::error(
            401,
            echo(),
            format!("auth_error for {KEY}"),
            "401",
        )));
        let error = client.chat(request()).await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Authentication);
        assert_eq!(error.message(), SCRUBBED);
        assert_eq!(error.error_type(), Some("auth_error for ***"));
        let headers = error.headers().unwrap();
        assert_eq!(headers["x-echoed-key"], "***");
        assert_eq!(headers["www-authenticate"], "Bearer error=\"***\"");
        assert_eq!(headers["x-echoed-header"], "got ***!");
        assert!(error.body().unwrap().contains(SCRUBBED));
        assert_no_secret("a 401", &everything(&error));
        // The request did carry them all: the scrubbing is not for want of sending them.
        let sent = gateway.last_request().unwrap();
        assert_eq!(
            sent.header("authorization"),
            Some(format!("Bearer {REQUEST_TOKEN}").as_str())
        );
        assert_eq!(sent.header("x-litellm-api-key"), Some(HEADER_KEY));

        // 2. A retried 503 echoing them, then the same again: the last answer's error.
        for _ in 0..2 {
            gateway.push_response(echoed_headers(ScriptedResponse::error(
                503,
                echo(),
                "x",
                "503",
            )));
        }
        let error = client.chat(request()).await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::ServiceUnavailable);
        assert_eq!(error.message(), SCRUBBED);
        assert_no_secret("a retried 503", &everything(&error));

        // 3. An in-band stream error echoing them, after a first chunk.
        let frame = serde_json::json!({"error": {"message": echo(), "type": KEY, "code": "401"}});
        gateway.push_response(echoed_headers(ScriptedResponse::sse([
            r#"{"choices":[{"index":0,"delta":{"content":"Hel"}}]}"#.to_owned(),
            frame.to_string(),
        ])));
        let items: Vec<_> = client.chat_stream(request()).await.unwrap().collect().await;
        assert_eq!(items.len(), 2);
        assert_eq!(items[0].as_ref().unwrap().content(), Some("Hel"));
        let error = items[1].as_ref().unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Authentication);
        assert_eq!(error.message(), SCRUBBED);
        assert_eq!(error.error_type(), Some("***"));
        assert_no_secret("an in-band stream error", &everything(error));

        // 4. The same as a named `event: error`.
        gateway.push_response(ScriptedResponse::sse_events([("error", frame.to_string())]));
        let items: Vec<_> = client.chat_stream(request()).await.unwrap().collect().await;
        let error = items[0].as_ref().unwrap_err();
        assert_eq!(error.message(), SCRUBBED);
        assert_no_secret("an `event: error`", &everything(error));

        // 5. A 200 whose body is an error envelope, for a plain call and for a stream.
        for stream in [false, true] {
            gateway.push_response(echoed_headers(
                ScriptedResponse::status(200)
                    .json(serde_json::json!({"error": {"message": echo()}})),
            ));
            let error = if stream {
                let items: Vec<_> = client.chat_stream(request()).await.unwrap().collect().await;
                assert_eq!(items.len(), 1);
                items.into_iter().next().unwrap().unwrap_err()
            } else {
                client.chat(request()).await.unwrap_err()
            };
            assert_eq!(error.message(), SCRUBBED, "stream: {stream}");
            assert_no_secret("a 200 error envelope", &everything(&error));
        }

        // 6. A body so long the kept copy is cut inside the key: no start of it is kept.
        let mut long = "x".repeat(8 * 1024 - 12);
        long.push_str(KEY);
        gateway.push_response(ScriptedResponse::status(500).body(long));
        let error = client.chat(ask().num_retries(0)).await.unwrap_err();
        assert!(
            !everything(&error).contains(&KEY[..8]),
            "{:?}",
            error.body()
        );

        // 7. A key given to another provider's settings is scrubbed from its errors too.
        let anthropic = Client::builder()
            .provider_settings(
                "anthropic",
                ProviderSettings::new()
                    .api_base(gateway.base_url())
                    .api_key(KEY),
            )
            .build()
            .unwrap();
        gateway.push_response(ScriptedResponse::anthropic_error(
            401,
            "authentication_error",
            echo(),
        ));
        let error = anthropic
            .chat(ChatRequest::new(
                "anthropic/claude",
                [ChatMessage::user("hi")],
            ))
            .await
            .unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Authentication);
        assert!(
            error
                .message()
                .starts_with("Incorrect API key provided: ***;"),
            "{error}"
        );
        assert!(!everything(&error).contains(KEY));
        gateway.push_response(ScriptedResponse::anthropic_stream_error(
            "Hel",
            "overloaded_error",
            echo(),
        ));
        let items: Vec<_> = anthropic
            .chat_stream(ChatRequest::new(
                "anthropic/claude",
                [ChatMessage::user("hi")],
            ))
            .await
            .unwrap()
            .collect()
            .await;
        let error = items.last().unwrap().as_ref().unwrap_err();
        assert!(
            error
                .message()
                .starts_with("Incorrect API key provided: ***;"),
            "{error}"
        );
        assert!(!everything(error).contains(KEY));
    });
    let log = log.lock().unwrap().clone();
    assert!(
        log.contains("mishika::retry"),
        "the retry was logged: {log}"
    );
    assert_no_secret("the log", &log);
}

#[tokio::test]
async fn keys_given_as_headers_or_in_a_base_url_never_print() {
    let gateway = MockGateway::start().await.unwrap();
    let request = ask()
        .api_key(KEY)
        .api_base("http://admin:hunter2-password@127.0.0.1:1")
        .header("Authorization", format!("Bearer {REQUEST_TOKEN}"))
        .header("x-api-key", HEADER_KEY)
        .header("x-team", "search");
    let request_debug = format!("{request:?}");
    assert!(
        request_debug.contains(r#""authorization": ***"#),
        "{request_debug}"
    );
    assert!(
        request_debug.contains(r#""x-api-key": ***"#),
        "{request_debug}"
    );
    assert!(
        request_debug.contains(r#""x-team": "search""#),
        "{request_debug}"
    );
    assert!(
        request_debug.contains(r#"api_base: Some("http://***@127.0.0.1:1")"#),
        "{request_debug}"
    );
    assert!(request.options().headers["authorization"].is_sensitive());

    let settings = ProviderSettings::new()
        .api_base("https://me:hunter2-password@api.example/v1")
        .api_key(KEY)
        .header("x-goog-api-key", HEADER_KEY);
    let builder = Client::builder()
        .api_base(format!("http://admin:hunter2-password@{}", gateway.addr()))
        .api_key(KEY)
        .header("x-litellm-api-key", HEADER_KEY)
        .header("Cookie", format!("session={REQUEST_TOKEN}"))
        .provider_settings("openai", settings.clone());
    let builder_debug = format!("{builder:?}");
    let client = builder.build().unwrap();
    let call = client
        .call_for(mishika::proxy::PREFIX, request.options())
        .unwrap();
    let call_debug = format!("{call:?}");
    assert!(
        call_debug.contains(r#""authorization": ***"#),
        "{call_debug}"
    );
    assert!(
        call_debug.contains(r#""x-litellm-api-key": ***"#),
        "{call_debug}"
    );
    assert!(call_debug.contains(r#""cookie": ***"#), "{call_debug}");
    let printed =
        format!("{request_debug}\n{settings:?}\n{builder_debug}\n{client:?}\n{call_debug}");
    assert_no_secret("Debug", &printed);
    assert!(!printed.contains("hunter2"), "{printed}");
    assert!(!printed.contains("admin"), "{printed}");
}

#[tokio::test]
async fn a_base_url_with_user_info_is_a_config_error_that_hides_the_password() {
    let gateway = MockGateway::start().await.unwrap();
    let with_user = format!("http://admin:hunter2-password@{}", gateway.addr());
    let client = Client::builder().api_base(&with_user).build().unwrap();
    for error in [
        client.chat(ask()).await.unwrap_err(),
        Client::builder()
            .api_base(gateway.base_url())
            .build()
            .unwrap()
            .chat(ask().api_base(&with_user))
            .await
            .unwrap_err(),
    ] {
        assert_eq!(error.kind(), ErrorKind::Config);
        assert!(!error.is_retryable());
        assert!(
            error.message().contains("must not carry user info"),
            "{error}"
        );
        assert!(
            error.message().contains("`http://***@127.0.0.1:"),
            "{error}"
        );
        let shown = everything(&error);
        assert!(
            !shown.contains("hunter2") && !shown.contains("admin"),
            "{shown}"
        );
    }
    assert_eq!(gateway.request_count(), 0, "nothing was sent");
}

#[tokio::test]
async fn a_blank_key_is_no_key() {
    let gateway = MockGateway::start().await.unwrap();
    for key in ["", "   ", "\t"] {
        let client = Client::builder()
            .api_base(gateway.base_url())
            .api_key(key)
            .build()
            .unwrap();
        client.chat(ask()).await.unwrap();
        client.chat(ask().api_key(key)).await.unwrap();
        // A blank key on the request passes over to the client's.
        Client::builder()
            .api_base(gateway.base_url())
            .api_key("sk-the-clients")
            .build()
            .unwrap()
            .chat(ask().api_key(key))
            .await
            .unwrap();
    }
    let sent: Vec<Option<String>> = gateway
        .requests()
        .iter()
        .map(|request| request.header("authorization").map(str::to_owned))
        .collect();
    let clients = Some("Bearer sk-the-clients".to_owned());
    assert_eq!(
        sent,
        [
            None,
            None,
            clients.clone(),
            None,
            None,
            clients.clone(),
            None,
            None,
            clients
        ]
    );
}

#[tokio::test]
async fn control_characters_from_the_server_are_escaped_in_display() {
    let gateway = MockGateway::start().await.unwrap();
    let client = Client::builder()
        .api_base(gateway.base_url())
        .num_retries(0)
        .build()
        .unwrap();
    let raw = "denied\u{1b}[2J\u{1b}[31m\r\n2026-01-01 INFO forged log line\u{7}\u{202e}";
    gateway.push_response(
        ScriptedResponse::status(403)
            .body(raw)
            .header("content-type", "text/plain"),
    );
    let error = client.chat(ask()).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::PermissionDenied);
    assert_eq!(
        error.to_string(),
        r"PermissionDeniedError (403): denied\x1b[2J\x1b[31m\r\n2026-01-01 INFO forged log line\x07\u{202e}"
    );
    assert_eq!(error.message(), raw, "the message keeps what was said");
    assert_eq!(error.body(), Some(raw), "so does the body");
    // The same escaping for the JSON envelope's message and an in-band stream error.
    gateway.push_response(ScriptedResponse::error(400, "bad\ninput\u{1b}", "t", "400"));
    let error = client.chat(ask()).await.unwrap_err();
    assert_eq!(error.to_string(), r"BadRequestError (400): bad\ninput\x1b");
    gateway.push_response(ScriptedResponse::sse([
        serde_json::json!({"error": {"message": "line1\rline2"}}).to_string(),
    ]));
    let items: Vec<_> = client.chat_stream(ask()).await.unwrap().collect().await;
    let error = items[0].as_ref().unwrap_err();
    assert_eq!(error.to_string(), r"StreamError: line1\rline2");
}
