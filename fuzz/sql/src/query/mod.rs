//! The service's own SQL limits and read-only guard (`src/query/limits.rs`, `functions.rs`, `guard.rs`,
//! compiled here from the same files), with a stand-in for the error type they return.

#![allow(dead_code)]

/// Stand-in for `src/query/error.rs`: the variants the guard and the limits construct.
pub mod error {
    use datafusion::error::DataFusionError;

    /// Why a statement was refused.
    #[derive(Debug)]
    pub enum QueryError {
        /// Not one read-only statement.
        NotReadOnly(String),
        /// The parser or planner refused it.
        Sql {
            /// The engine's message.
            message: String,
            /// Line, when known.
            line: Option<u64>,
            /// Column, when known.
            column: Option<u64>,
        },
        /// Past a statement limit.
        Limit(String),
        /// Not the statement's fault.
        Internal(String),
    }

    impl QueryError {
        pub(crate) fn from_datafusion(error: DataFusionError, _memory_limit: usize) -> Self {
            QueryError::Sql { message: error.to_string(), line: None, column: None }
        }
    }
}

#[path = "../../../../src/query/limits.rs"]
pub mod limits;

#[path = "../../../../src/query/functions.rs"]
pub mod functions;

#[path = "../../../../src/query/guard.rs"]
pub mod guard;
