//! The problem types of the API. Every problem document's `type` is `/problems/<slug>`, a URI
//! reference that resolves on the service itself to a page saying what the problem means and
//! what to do about it (`GET /problems` lists them all).

use super::error::{ApiError, ApiResult};
use axum::extract::Path;
use axum::http::header;
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use axum::Router;

/// One kind of problem.
#[derive(Debug, Clone, Copy)]
pub struct ProblemType {
    /// The last segment of its `type` URI.
    pub slug: &'static str,
    /// The HTTP status it comes with.
    pub status: u16,
    /// What it means.
    pub meaning: &'static str,
    /// What the client should do.
    pub action: &'static str,
}

impl ProblemType {
    /// Its `type` URI reference, `/problems/<slug>`.
    pub fn uri(&self) -> String {
        format!("/problems/{}", self.slug)
    }
}

/// Every problem type the service answers with.
pub const PROBLEM_TYPES: &[ProblemType] = &[
    ProblemType { slug: "bad-request", status: 400, meaning: "The request is malformed: a bad shop_id (only [A-Za-z0-9_-]{1,64}), a date that is not YYYY-MM-DD or outside the accepted shop-days, a bad query parameter or cursor, or a multipart form that is not one 'file' part (with an optional 'date' part before it).", action: "Fix the request as `detail` says; retrying it unchanged fails again." },
    ProblemType { slug: "unauthorized", status: 401, meaning: "No bearer token was sent, or it is invalid or expired.", action: "Send `Authorization: Bearer <token>` with a valid token (`shoplake token` makes one)." },
    ProblemType { slug: "forbidden", status: 403, meaning: "The token's role or shop does not allow this: a shop token for another shop, an analyst on upload routes, a shop on the catalog or query routes.", action: "Use a token of the right role (shop for its own uploads, analyst or admin for queries and the catalog)." },
    ProblemType { slug: "not-found", status: 404, meaning: "No such route, upload, table or problem type — or an upload of another shop (answered exactly as a missing one).", action: "Check the path and the id." },
    ProblemType { slug: "method-not-allowed", status: 405, meaning: "The route exists but does not take that HTTP method.", action: "See the API document (/openapi.json) for the route's methods." },
    ProblemType { slug: "timeout", status: 408, meaning: "The request took longer than the request time limit.", action: "Retry; for large files, compress them (Content-Encoding: gzip)." },
    ProblemType { slug: "body-timeout", status: 408, meaning: "The request body stopped arriving for longer than the body idle timeout; nothing was kept.", action: "Retry the upload (with the same Idempotency-Key)." },
    ProblemType { slug: "body-too-slow", status: 408, meaning: "The request body arrived slower than the minimum rate; nothing was kept.", action: "Retry on a better connection, or compress the file." },
    ProblemType { slug: "query-timeout", status: 408, meaning: "The SQL query ran past its time limit and was stopped.", action: "Filter on `date` and `shop_id` so fewer partitions are read, or aggregate more." },
    ProblemType { slug: "too-large", status: 413, meaning: "The body is larger than the upload limit, or a gzip body inflates past the decompressed-size limit (then the original is archived and the upload recorded as rejected).", action: "Send one shop-day per file; split or compress larger ones." },
    ProblemType { slug: "unsupported-media-type", status: 415, meaning: "The body is not text/csv, application/gzip or multipart/form-data, or its Content-Encoding is not gzip.", action: "Send the CSV as text/csv (optionally Content-Encoding: gzip), as application/gzip, or as the 'file' part of a multipart form." },
    ProblemType { slug: "invalid-csv", status: 422, meaning: "The whole file is refused and processed/ is untouched: empty, not text, no usable header, required columns missing, too many rejected rows, a type conflict with the table — or an Idempotency-Key reused with other bytes. The original is archived; `errors` lists the first row errors with their physical line.", action: "Fix the file as `detail` and `errors` say, then upload it again." },
    ProblemType { slug: "invalid-request", status: 422, meaning: "The request body is well-formed JSON but not what the route takes.", action: "See the route's request schema in /openapi.json." },
    ProblemType { slug: "read-only", status: 403, meaning: "The SQL statement is not a read-only query (only SELECT, WITH, SHOW, DESCRIBE and EXPLAIN run).", action: "Send a SELECT statement." },
    ProblemType { slug: "sql-error", status: 400, meaning: "The SQL statement does not parse or plan: `detail` has the engine's message and position.", action: "Fix the statement; the tables are sales_processed (and any other in GET /v1/catalog/tables)." },
    ProblemType { slug: "sql-limit", status: 400, meaning: "The SQL statement is past a size or nesting limit (text length, bracket or expression depth, SELECT items).", action: "Simplify the statement: fewer nested brackets or chained operators, or a shorter text." },
    ProblemType { slug: "query-memory", status: 422, meaning: "The SQL query needed more memory than its pool, or a function produced a value past 128 MiB.", action: "Filter on `date` and `shop_id`, aggregate more, or return fewer columns." },
    ProblemType { slug: "headers-too-large", status: 431, meaning: "The request head (request line and headers) is larger than 32 KiB.", action: "Send fewer or shorter headers." },
    ProblemType { slug: "busy", status: 503, meaning: "Every upload or query slot (or this shop's share of the upload slots) stayed busy; nothing was read.", action: "Retry after the seconds in Retry-After (with the same Idempotency-Key for uploads)." },
    ProblemType { slug: "unavailable", status: 503, meaning: "Storage or the database is unavailable; nothing was half-written.", action: "Retry after the seconds in Retry-After." },
    ProblemType { slug: "internal", status: 500, meaning: "An internal error occurred; it has been logged with the request id.", action: "Retry later; report the X-Request-Id of the response if it persists." },
];

/// The problem type of `slug`.
pub fn problem_type(slug: &str) -> Option<&'static ProblemType> {
    PROBLEM_TYPES.iter().find(|p| p.slug == slug)
}

/// `GET /problems` and `GET /problems/{slug}`: the pages the `type` URIs lead to.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new().route("/problems", get(index)).route("/problems/{slug}", get(page))
}

async fn index() -> impl IntoResponse {
    let rows: String = PROBLEM_TYPES
        .iter()
        .map(|p| {
            format!("<li><a href=\"/problems/{0}\">{0}</a> ({1}): {2}</li>\n", p.slug, p.status, escape(p.meaning))
        })
        .collect();
    html("shoplake problem types", &format!("<h1>Problem types</h1>\n<ul>\n{rows}</ul>"))
}

async fn page(Path(slug): Path<String>) -> ApiResult<impl IntoResponse> {
    let problem = problem_type(&slug).ok_or_else(|| ApiError::NotFound(format!("no problem type '{slug}'")))?;
    let body = format!(
        "<h1><code>/problems/{}</code></h1>\n<p>HTTP status <strong>{}</strong>.</p>\n<h2>What it means</h2>\n<p>{}</p>\n<h2>What to do</h2>\n<p>{}</p>\n<p>The problem document (<code>application/problem+json</code>, RFC 9457) says what and where in <code>detail</code>; <a href=\"/problems\">all problem types</a>, <a href=\"/docs/\">API docs</a>.</p>",
        problem.slug,
        problem.status,
        escape(problem.meaning),
        escape(problem.action)
    );
    Ok(html(&format!("shoplake problem: {}", problem.slug), &body))
}

fn html(title: &str, body: &str) -> impl IntoResponse {
    (
        [(header::CACHE_CONTROL, "public, max-age=3600")],
        Html(format!(
            "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title></head>\n<body>\n{body}\n</body></html>\n",
            escape(title)
        )),
    )
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every problem `kind` the HTTP layer writes (a `kind: "..."` or `/problems/...` literal
    /// in its sources, or one of `ApiError`'s own) has a page.
    #[test]
    fn every_problem_kind_the_service_answers_with_has_a_page() {
        let sources = [
            include_str!("error.rs"),
            include_str!("query.rs"),
            include_str!("uploads/mod.rs"),
            include_str!("uploads/body.rs"),
            include_str!("uploads/multipart.rs"),
            include_str!("admission.rs"),
            include_str!("head_limit.rs"),
            include_str!("serve.rs"),
        ];
        let mut kinds = Vec::new();
        for source in sources {
            for marker in ["kind: \"", "\"/problems/", "=> \""] {
                for (at, _) in source.match_indices(marker) {
                    let rest = &source[at + marker.len()..];
                    let kind = &rest[..rest.find('"').unwrap()];
                    if kind.chars().all(|c| c.is_ascii_lowercase() || c == '-') && !kind.is_empty() {
                        kinds.push(kind.to_owned());
                    }
                }
            }
        }
        assert!(kinds.iter().any(|k| k == "sql-limit") && kinds.iter().any(|k| k == "invalid-csv"), "{kinds:?}");
        for kind in &kinds {
            assert!(problem_type(kind).is_some(), "problem kind '{kind}' has no page in PROBLEM_TYPES");
        }
        let mut slugs: Vec<_> = PROBLEM_TYPES.iter().map(|p| p.slug).collect();
        slugs.sort_unstable();
        slugs.dedup();
        assert_eq!(slugs.len(), PROBLEM_TYPES.len(), "duplicate slugs");
    }
}
