//! A bound on a connection's first request head, answered in our own words: hyper refuses an
//! oversized head with a bare `431` and no body, so the first head of each connection is
//! measured here and, past the limit, answered with a problem+json `431` before hyper sees it.
//! (Later heads of a kept-alive connection are checked by [`check_header_size`] up to hyper's
//! own buffer limit.)

use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Bytes a request head (request line and headers) may have.
pub const MAX_HEAD_BYTES: usize = 32 << 10;

const TOO_LARGE_DETAIL: &str = "the request line and headers are larger than 32768 bytes (a token or cookie this large is not one shoplake issued)";

fn problem_body() -> String {
    serde_json::json!({
        "type": "/problems/headers-too-large",
        "title": "Request Header Fields Too Large",
        "status": 431,
        "detail": TOO_LARGE_DETAIL,
    })
    .to_string()
}

/// Where the first head stands.
enum State {
    /// Still reading the first head: bytes seen and the last four, to find its end.
    Head { seen: usize, tail: [u8; 4] },
    /// The first head ended: bytes pass through.
    Passed,
    /// The first head was too large: the answer is being written (`written` bytes so far).
    Refusing { answer: Vec<u8>, written: usize },
    /// The answer is written: the connection reads as ended.
    Done,
}

/// A connection whose first request head is bounded by [`MAX_HEAD_BYTES`].
pub struct FirstHeadLimit<S> {
    inner: S,
    state: State,
}

impl<S> FirstHeadLimit<S> {
    /// Wraps a fresh connection.
    pub fn new(inner: S) -> Self {
        Self { inner, state: State::Head { seen: 0, tail: [0; 4] } }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for FirstHeadLimit<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        loop {
            match &mut this.state {
                State::Passed => return Pin::new(&mut this.inner).poll_read(cx, buf),
                State::Done => return Poll::Ready(Ok(())),
                State::Refusing { answer, written } => {
                    while *written < answer.len() {
                        match ready!(Pin::new(&mut this.inner).poll_write(cx, &answer[*written..])) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => *written += n,
                        }
                    }
                    let _ = ready!(Pin::new(&mut this.inner).poll_flush(cx));
                    this.state = State::Done;
                }
                State::Head { seen, tail } => {
                    let before = buf.filled().len();
                    ready!(Pin::new(&mut this.inner).poll_read(cx, buf))?;
                    let fresh = &buf.filled()[before..];
                    let mut ended = false;
                    for (i, &byte) in fresh.iter().enumerate() {
                        *tail = [tail[1], tail[2], tail[3], byte];
                        if &tail[..] == b"\r\n\r\n" || &tail[2..] == b"\n\n" {
                            ended = *seen + i < MAX_HEAD_BYTES;
                            break;
                        }
                    }
                    if ended {
                        this.state = State::Passed;
                        return Poll::Ready(Ok(()));
                    }
                    *seen += fresh.len();
                    if *seen <= MAX_HEAD_BYTES {
                        return Poll::Ready(Ok(()));
                    }
                    // Hand hyper nothing of this head; answer it ourselves, then end.
                    buf.set_filled(before);
                    let body = problem_body();
                    let answer = format!(
                        "HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: application/problem+json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    this.state = State::Refusing { answer: answer.into_bytes(), written: 0 };
                }
            }
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for FirstHeadLimit<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, data)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Middleware: a later request of a kept-alive connection with an oversized head gets the
/// same problem.
pub async fn check_header_size(request: Request, next: Next) -> Response {
    let size: usize =
        request.headers().iter().map(|(name, value)| name.as_str().len() + value.len() + 4).sum::<usize>()
            + request.uri().to_string().len();
    if size > MAX_HEAD_BYTES {
        let mut response = (StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, problem_body()).into_response();
        response
            .headers_mut()
            .insert(axum::http::header::CONTENT_TYPE, axum::http::HeaderValue::from_static(super::error::PROBLEM_JSON));
        return response;
    }
    next.run(request).await
}
