//! Read-only guard: parses the SQL with DataFusion's parser and admits only one query statement.

use std::ops::ControlFlow;

use datafusion::sql::parser::{DFParserBuilder, Statement as DfStatement};
use datafusion::sql::sqlparser::ast::{Select, Statement, Visit, Visitor};

use super::error::QueryError;
use super::limits::{check_text, check_tree, SqlLimits};

/// Stack of the thread that parses and checks a statement: enough for the parser, the checks
/// and dropping a tree however the text is shaped (the checks refuse deep trees, but only
/// once they exist).
const PARSE_STACK_BYTES: usize = 64 << 20;

/// Checks that `sql` is exactly one read-only statement: a SELECT or WITH query, EXPLAIN of a
/// query, SHOW TABLES, SHOW COLUMNS or DESCRIBE. Everything else is `NotReadOnly` with the
/// statement's kind; text that does not parse is `Sql` with the parser's position.
pub fn check_read_only(sql: &str) -> Result<(), QueryError> {
    parse_read_only(sql, &SqlLimits::default()).map(|_| ())
}

/// Parsing threads at once (each parse is bounded by the text limits; this bounds threads).
static PARSERS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(8);

/// [`parse_read_only`] on a thread of its own with a large stack (the caller's may be small),
/// waited for without blocking the async runtime.
pub(crate) async fn parse_read_only_apart(sql: &str, limits: &SqlLimits) -> Result<DfStatement, QueryError> {
    check_text(sql, limits)?;
    let _parser = PARSERS.acquire().await.map_err(|_| QueryError::Internal("the parsers are closed".into()))?;
    let (sql, limits) = (sql.to_owned(), *limits);
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("shoplake-sql-parse".into())
        .stack_size(PARSE_STACK_BYTES)
        .spawn(move || {
            let _ = tx.send(parse_read_only(&sql, &limits));
        })
        .map_err(|e| QueryError::Internal(format!("cannot start the parsing thread: {e}")))?;
    rx.await.map_err(|_| QueryError::Internal("the SQL parser stopped unexpectedly".into()))?
}

/// Parses and checks `sql` within `limits`, returning the single statement for planning.
/// Call on a thread with a large stack (see [`parse_read_only_apart`]): the returned
/// statement is shallow, but a refused one may be deep until it is dropped.
pub(crate) fn parse_read_only(sql: &str, limits: &SqlLimits) -> Result<DfStatement, QueryError> {
    check_text(sql, limits)?;
    let mut statements = DFParserBuilder::new(sql)
        .with_recursion_limit(limits.max_depth.max(50) * 2)
        .build()
        .and_then(|mut parser| parser.parse_statements())
        .map_err(|e| QueryError::from_datafusion(e, 0))?;
    match statements.len() {
        0 => Err(QueryError::Sql { message: "no SQL statement was given".into(), line: None, column: None }),
        1 => {
            let statement = statements.pop_front().expect("one statement");
            check_tree(&statement, limits)?;
            check_statement(&statement)?;
            Ok(statement)
        }
        n => Err(QueryError::NotReadOnly(format!("{n} statements were given; exactly one is allowed"))),
    }
}

fn check_statement(statement: &DfStatement) -> Result<(), QueryError> {
    match statement {
        DfStatement::Statement(inner) => check_sql_statement(inner),
        DfStatement::Explain(explain) => match explain.statement.as_ref() {
            DfStatement::Statement(inner) if matches!(inner.as_ref(), Statement::Query(_)) => {
                check_sql_statement(inner)
            }
            other => Err(refused(&format!("EXPLAIN of {}", kind_of_df(other)))),
        },
        other => Err(refused(&kind_of_df(other))),
    }
}

fn check_sql_statement(statement: &Statement) -> Result<(), QueryError> {
    match statement {
        Statement::Query(query) => {
            let mut visitor = NestedWrites;
            if let ControlFlow::Break(kind) = query.visit(&mut visitor) {
                return Err(refused(&kind));
            }
            Ok(())
        }
        Statement::Explain { statement, .. } => match statement.as_ref() {
            Statement::Query(_) => check_sql_statement(statement),
            other => Err(refused(&format!("EXPLAIN of {}", kind_of(other)))),
        },
        Statement::ExplainTable { .. } | Statement::ShowTables { .. } | Statement::ShowColumns { .. } => Ok(()),
        other => Err(refused(&kind_of(other))),
    }
}

/// Finds writes hidden inside a query: `SELECT ... INTO`, data-modifying CTEs and subqueries.
struct NestedWrites;

impl Visitor for NestedWrites {
    type Break = String;

    fn pre_visit_statement(&mut self, statement: &Statement) -> ControlFlow<String> {
        // Only reached for statements nested in the query (INSERT/UPDATE/DELETE/MERGE bodies).
        ControlFlow::Break(kind_of(statement))
    }

    fn pre_visit_select(&mut self, select: &Select) -> ControlFlow<String> {
        if select.into.is_some() {
            return ControlFlow::Break("SELECT INTO".into());
        }
        ControlFlow::Continue(())
    }
}

fn refused(kind: &str) -> QueryError {
    QueryError::NotReadOnly(format!(
        "{kind} is not allowed; only SELECT, WITH, EXPLAIN, SHOW TABLES, SHOW COLUMNS and DESCRIBE"
    ))
}

fn kind_of_df(statement: &DfStatement) -> String {
    match statement {
        DfStatement::Statement(inner) => kind_of(inner),
        DfStatement::CreateExternalTable(_) => "CREATE EXTERNAL TABLE".into(),
        DfStatement::CopyTo(_) => "COPY".into(),
        DfStatement::Explain(_) => "EXPLAIN".into(),
        DfStatement::Reset(_) => "RESET".into(),
    }
}

/// The statement kind in SQL words, from the AST variant name (`CreateTable` -> `CREATE TABLE`).
fn kind_of(statement: &Statement) -> String {
    let debug = format!("{statement:?}");
    let variant: &str = debug.split(|c: char| !c.is_ascii_alphanumeric()).next().unwrap_or("statement");
    let mut words = String::new();
    for (i, c) in variant.char_indices() {
        if c.is_ascii_uppercase() && i > 0 {
            words.push(' ');
        }
        words.push(c.to_ascii_uppercase());
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(sql: &str) -> String {
        match check_read_only(sql) {
            Err(QueryError::NotReadOnly(message)) => message,
            other => panic!("{sql}: expected NotReadOnly, got {other:?}"),
        }
    }

    #[test]
    fn queries_and_inspection_statements_are_allowed() {
        for sql in [
            "SELECT shop_id, SUM(price * quantity) AS total_sales FROM sales_processed WHERE date = '2025-07-30' GROUP BY shop_id;",
            "WITH t AS (SELECT 1 AS x) SELECT x FROM t",
            "SELECT 1 UNION ALL SELECT 2 ORDER BY 1",
            "SELECT * FROM (SELECT 1) s WHERE EXISTS (SELECT 1)",
            "VALUES (1), (2)",
            "EXPLAIN SELECT 1",
            "EXPLAIN ANALYZE SELECT 1",
            "SHOW TABLES",
            "SHOW COLUMNS FROM sales_processed",
            "DESCRIBE sales_processed",
        ] {
            assert!(check_read_only(sql).is_ok(), "{sql} should be allowed");
        }
    }

    #[test]
    fn every_writing_or_session_changing_statement_kind_is_refused_by_name() {
        let cases = [
            ("INSERT INTO sales_processed VALUES (1)", "INSERT"),
            ("UPDATE sales_processed SET quantity = 0", "UPDATE"),
            ("DELETE FROM sales_processed", "DELETE"),
            ("MERGE INTO t USING s ON t.a = s.a WHEN MATCHED THEN DELETE", "MERGE"),
            ("CREATE TABLE t (x INT)", "CREATE TABLE"),
            ("CREATE TABLE t AS SELECT 1", "CREATE TABLE"),
            ("CREATE VIEW v AS SELECT 1", "CREATE VIEW"),
            ("CREATE EXTERNAL TABLE t STORED AS PARQUET LOCATION '/etc/'", "CREATE EXTERNAL TABLE"),
            ("CREATE SCHEMA s", "CREATE SCHEMA"),
            ("CREATE FUNCTION f() RETURNS INT RETURN 1", "CREATE FUNCTION"),
            ("DROP TABLE sales_processed", "DROP"),
            ("DROP VIEW v", "DROP"),
            ("TRUNCATE TABLE sales_processed", "TRUNCATE"),
            ("ALTER TABLE sales_processed ADD COLUMN x INT", "ALTER TABLE"),
            ("COPY sales_processed TO '/tmp/out.parquet'", "COPY"),
            ("COPY (SELECT 1) TO '/tmp/out.csv' STORED AS CSV", "COPY"),
            ("SET datafusion.execution.target_partitions = 1", "SET"),
            ("RESET datafusion.execution.target_partitions", "RESET"),
            ("SHOW ALL", "SHOW"),
            ("PREPARE p AS SELECT 1", "PREPARE"),
            ("SELECT 1 INTO t", "SELECT INTO"),
            ("EXPLAIN INSERT INTO t VALUES (1)", "EXPLAIN of INSERT"),
            ("EXPLAIN CREATE TABLE t (x INT)", "EXPLAIN of CREATE TABLE"),
            ("EXPLAIN COPY (SELECT 1) TO '/tmp/x.csv'", "EXPLAIN of COPY"),
            ("BEGIN", "START TRANSACTION"),
        ];
        for (sql, kind) in cases {
            let message = refusal(sql);
            assert!(message.starts_with(kind), "{sql}: message was {message:?}");
        }
    }

    #[test]
    fn several_statements_are_refused_even_if_each_is_a_query() {
        assert!(refusal("SELECT 1; SELECT 2").contains("2 statements"));
        assert!(refusal("SELECT 1; DROP TABLE sales_processed").contains("exactly one"));
    }

    #[test]
    fn a_trailing_semicolon_is_one_statement() {
        assert!(check_read_only("SELECT 1;").is_ok());
    }

    #[test]
    fn a_syntax_error_is_an_sql_error_with_position() {
        match check_read_only("SELECT *\nFROM t WHER x = 1") {
            Err(QueryError::Sql { line, column, .. }) => {
                assert_eq!(line, Some(2));
                assert!(column.is_some());
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}
