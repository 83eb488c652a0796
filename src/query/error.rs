//! `QueryError`: every way a query can fail, and the mapping from DataFusion's errors to it.

use std::time::Duration;

use datafusion::arrow::error::ArrowError;
use datafusion::error::DataFusionError;

/// Why a query did not produce an answer. The HTTP layer maps each variant to one status.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The text is not one read-only statement (DDL, DML, COPY, SET, several statements, ...);
    /// the message names the statement kind. A client error (400/403).
    #[error("only read-only statements are allowed: {0}")]
    NotReadOnly(String),
    /// The engine rejected the SQL (syntax, unknown table or column, type error, a runtime error
    /// caused by the query such as division by zero); `line`/`column` are 1-based when known.
    /// A client error (400).
    #[error("{message}")]
    Sql {
        /// The engine's own message.
        message: String,
        /// 1-based line of the offending token, when the engine reported one.
        line: Option<u64>,
        /// 1-based column of the offending token, when the engine reported one.
        column: Option<u64>,
    },
    /// The statement is longer or nests deeper than allowed (checked before planning). 400.
    #[error("{0}")]
    Limit(String),
    /// Every query slot stayed busy for the queue wait: retry (503).
    #[error("{0}")]
    Busy(String),
    /// Planning plus execution took longer than the configured time; the query was cancelled.
    /// A 408/504-style error.
    #[error("query exceeded the time limit of {} ms", limit.as_millis())]
    Timeout {
        /// The limit that was exceeded.
        limit: Duration,
    },
    /// The query needed more memory than the per-query pool allows; `detail` is the engine's
    /// message (which operator asked for how much). A 4xx/5xx "query too large" error.
    #[error("query exceeded the memory limit of {limit_bytes} bytes: {detail}")]
    MemoryExceeded {
        /// The pool size that was exceeded.
        limit_bytes: usize,
        /// The engine's description of the failed allocation.
        detail: String,
    },
    /// A partition file was replaced between the query listing it and reading it, on every
    /// attempt (the engine runs the query again on a fresh listing a few times first). 503.
    #[error("the lake changed while the query ran ({attempts} attempts); retry")]
    LakeChanged {
        /// How many times the query was run.
        attempts: u32,
    },
    /// Anything that is not the query's fault: unreadable files, storage errors, engine bugs.
    /// A server error (500); the message is for logs.
    #[error("internal query error: {0}")]
    Internal(String),
    /// The engine's service (Athena) cannot be reached or refused the call: retry later (503).
    #[error("query service unavailable: {0}")]
    Unavailable(String),
}

impl QueryError {
    /// Maps a DataFusion error; `memory_limit` is the pool size reported by `MemoryExceeded`.
    pub(crate) fn from_datafusion(err: DataFusionError, memory_limit: usize) -> Self {
        // Wrapped in parquet and shared errors on its way up, so recognised by its message.
        if err.to_string().contains(super::snapshot::REPLACED_DURING_QUERY) {
            return QueryError::LakeChanged { attempts: 1 };
        }
        let (line, column) = position(&err);
        let root = err.find_root();
        match root {
            DataFusionError::ResourcesExhausted(detail) => {
                QueryError::MemoryExceeded { limit_bytes: memory_limit, detail: detail.clone() }
            }
            DataFusionError::SQL(parser_error, _) => {
                let message = parser_error.to_string();
                let (l, c) = position_in_text(&message);
                QueryError::Sql { message, line: line.or(l), column: column.or(c) }
            }
            DataFusionError::Plan(_)
            | DataFusionError::SchemaError(..)
            | DataFusionError::NotImplemented(_)
            | DataFusionError::Configuration(_)
            | DataFusionError::Execution(_) => sql_error(root.strip_backtrace(), line, column),
            DataFusionError::ArrowError(arrow, _) if is_query_fault(arrow) => {
                sql_error(root.strip_backtrace(), line, column)
            }
            _ => QueryError::Internal(err.strip_backtrace()),
        }
    }
}

fn sql_error(message: String, line: Option<u64>, column: Option<u64>) -> QueryError {
    let (l, c) = position_in_text(&message);
    QueryError::Sql { message, line: line.or(l), column: column.or(c) }
}

/// Arrow compute errors that the query itself causes (bad cast, overflow, division by zero).
fn is_query_fault(err: &ArrowError) -> bool {
    matches!(
        err,
        ArrowError::CastError(_)
            | ArrowError::ComputeError(_)
            | ArrowError::DivideByZero
            | ArrowError::ArithmeticOverflow(_)
            | ArrowError::InvalidArgumentError(_)
            | ArrowError::ParseError(_)
    )
}

/// The position of the outermost diagnostic that carries a span (needs `collect_spans`).
fn position(err: &DataFusionError) -> (Option<u64>, Option<u64>) {
    match err.diagnostic().and_then(|d| d.span) {
        Some(span) if span.start.line > 0 => (Some(span.start.line), Some(span.start.column)),
        _ => (None, None),
    }
}

/// sqlparser appends " at Line: L, Column: C" to its messages; pick the last such pair.
pub(crate) fn position_in_text(message: &str) -> (Option<u64>, Option<u64>) {
    let Some(at) = message.rfind("Line: ") else {
        return (None, None);
    };
    let rest = &message[at + "Line: ".len()..];
    let digits = |s: &str| -> Option<u64> {
        let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        s[..end].parse().ok()
    };
    let line = digits(rest);
    let column = rest.find("Column: ").and_then(|i| digits(&rest[i + "Column: ".len()..]));
    match (line, column) {
        (Some(l), Some(c)) => (Some(l), Some(c)),
        _ => (None, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parser_position_is_read_from_the_message_tail() {
        let msg = "sql parser error: Expected: end of statement, found: FORM at Line: 2, Column: 10";
        assert_eq!(position_in_text(msg), (Some(2), Some(10)));
        assert_eq!(position_in_text("no position here"), (None, None));
    }

    #[test]
    fn resources_exhausted_anywhere_in_the_chain_is_a_memory_error() {
        let err = DataFusionError::Context(
            "while sorting".into(),
            Box::new(DataFusionError::ResourcesExhausted("Failed to allocate 1 MB".into())),
        );
        match QueryError::from_datafusion(err, 1024) {
            QueryError::MemoryExceeded { limit_bytes, detail } => {
                assert_eq!(limit_bytes, 1024);
                assert!(detail.contains("Failed to allocate"));
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn storage_failures_are_internal_not_the_users_fault() {
        let err = DataFusionError::IoError(std::io::Error::other("disk gone"));
        assert!(matches!(QueryError::from_datafusion(err, 1), QueryError::Internal(_)));
    }
}
