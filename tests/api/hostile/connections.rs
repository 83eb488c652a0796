//! Hostile connections: made-up methods, silent sockets, oversized heads, missing security
//! headers; what an anonymous client can do without a token.

use super::assert_still_serving;
use crate::helpers::spawn_app_with;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn address(base: &str) -> String {
    base.trim_start_matches("http://").to_owned()
}

#[tokio::test]
async fn made_up_http_methods_do_not_grow_the_metrics() {
    // Arrange
    let app = spawn_app_with(&[]).await;
    let before = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();

    // Act: 2,000 requests, each with its own method.
    for i in 0..2000 {
        let method = reqwest::Method::from_bytes(format!("X{i:05}").as_bytes()).unwrap();
        let _ = app.client.request(method, app.url("/healthz")).send().await.unwrap();
    }

    // Assert: one series for all of them.
    let after = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(!after.contains("X0"), "a made-up method became a label");
    assert!(after.contains("method=\"OTHER\""), "{after}");
    // (The other new series is GET /metrics itself, first scraped in Arrange.)
    let series =
        |text: &str| text.lines().filter(|l| l.starts_with("shoplake_http_request_duration_seconds_count")).count();
    assert!(
        series(&after) <= series(&before) + 2,
        "request series grew from {} to {}",
        series(&before),
        series(&after)
    );
}

#[tokio::test]
async fn silent_and_half_sent_connections_are_closed_and_capped() {
    // Arrange: a 1 s head timeout, at most 50 connections.
    let app = spawn_app_with(&[("SHOPLAKE_HEADER_READ_TIMEOUT_SECS", "1"), ("SHOPLAKE_MAX_CONNECTIONS", "50")]).await;
    let addr = address(&app.address);

    // Act: 200 silent sockets and 50 that send half a head.
    let mut sockets = Vec::new();
    for _ in 0..200 {
        sockets.push(TcpStream::connect(&addr).await.unwrap());
    }
    for _ in 0..50 {
        let mut socket = TcpStream::connect(&addr).await.unwrap();
        socket.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ").await.unwrap();
        sockets.push(socket);
    }

    // Assert: the service still answers (the cap holds the rest in the backlog, the timeout
    // frees the slots), and every socket is closed by the server.
    assert_still_serving(&app.address, &app.shop_token("bystander")).await;
    for socket in &mut sockets {
        let mut byte = [0u8; 512];
        let read = tokio::time::timeout(Duration::from_secs(60), socket.read(&mut byte)).await;
        match read {
            Ok(Ok(n)) => {
                // Closed (0), or a 408 answer before the close.
                assert!(n == 0 || byte.starts_with(b"HTTP/1.1 408"), "{:?}", String::from_utf8_lossy(&byte[..n]));
            }
            Ok(Err(_)) => {} // reset by the server
            Err(_) => panic!("a silent connection was never closed"),
        }
    }
}

#[tokio::test]
async fn an_oversized_head_gets_a_problem_and_security_headers_are_on_every_answer() {
    // Arrange
    let app = spawn_app_with(&[]).await;

    // Act: a 1 MB token.
    let token = "a".repeat(1 << 20);
    let mut socket = TcpStream::connect(address(&app.address)).await.unwrap();
    let head = format!("GET /v1/shops/001/uploads HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\r\n");
    let _ = socket.write_all(head.as_bytes()).await; // the server may close before reading it all
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(30), socket.read_to_end(&mut answer)).await;
    let answer = String::from_utf8_lossy(&answer);

    // Assert
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");
    assert!(answer.contains("application/problem+json") && answer.contains("\"status\":431"), "{answer}");
    for path in ["/healthz", "/docs/", "/openapi.json", "/v1/query"] {
        let response = app.client.get(app.url(path)).send().await.unwrap();
        let headers = response.headers();
        assert_eq!(headers.get("x-content-type-options").map(|v| v.to_str().unwrap()), Some("nosniff"), "{path}");
        let policy = headers.get("content-security-policy").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
        assert!(policy.contains("frame-ancestors 'none'") && policy.contains("script-src 'self'"), "{path}: {policy}");
    }
    assert_still_serving(&app.address, &app.shop_token("bystander")).await;
}
