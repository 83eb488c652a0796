//! Bounds on what one SQL statement may cost before it runs: its length and nesting, checked on
//! the text before parsing and on the parsed tree before planning, so that no recursion in the
//! parser, planner or optimizer can run out of stack. (What functions may produce while it runs
//! is bounded in `functions`.)

use std::ops::ControlFlow;

use datafusion::sql::parser::Statement as DfStatement;
use datafusion::sql::sqlparser::ast::{Expr as SqlExpr, Query as SqlQuery, Select, Visit, Visitor};

use super::error::QueryError;

/// Bounds of one statement's text and tree.
#[derive(Debug, Clone, Copy)]
pub struct SqlLimits {
    /// Bytes of SQL text.
    pub max_bytes: usize,
    /// Nesting: brackets in the text, expressions and subqueries in the tree.
    pub max_depth: usize,
}

impl Default for SqlLimits {
    fn default() -> Self {
        Self { max_bytes: 64 << 10, max_depth: 64 }
    }
}

/// Nesting of `[ ]` and `{ }` (array and map literals, subscripts) at most, whatever the depth
/// limit: the SQL parser backtracks on nested `ARRAY[` at a cost that grows ~3.4-fold per level
/// (16 levels with an error inside: 0.44 s in a debug build; 20 levels: 6 s).
pub const MAX_ARRAY_DEPTH: usize = 8;

/// Items of one SELECT list at most: planning time grows with the square of the list's length
/// (5,000 items: 6 s in a debug build), and planning cannot be interrupted.
pub const MAX_SELECT_ITEMS: usize = 1000;

fn too_deep(what: &str, depth: usize, limits: &SqlLimits) -> QueryError {
    QueryError::Limit(format!(
        "the statement nests {what} {depth} deep, more than the limit of {}; flatten it (for long lists of alternatives use IN (...))",
        limits.max_depth
    ))
}

/// Checks the text: its length, and how deep brackets nest (outside strings, quoted names and
/// comments). Runs in linear time before anything is parsed.
pub fn check_text(sql: &str, limits: &SqlLimits) -> Result<(), QueryError> {
    if sql.len() > limits.max_bytes {
        return Err(QueryError::Limit(format!(
            "the statement is {} bytes long, more than the limit of {} bytes",
            sql.len(),
            limits.max_bytes
        )));
    }
    let bytes = sql.as_bytes();
    let (mut depth, mut deepest, mut i) = (0usize, 0usize, 0usize);
    let (mut square, mut deepest_square) = (0usize, 0usize);
    while i < bytes.len() {
        match bytes[i] {
            quote @ (b'\'' | b'"' | b'`') => {
                // To the closing quote (a doubled quote stays inside); an unclosed one ends here.
                i += 1;
                while i < bytes.len() {
                    if bytes[i] == quote {
                        if bytes.get(i + 1) == Some(&quote) {
                            i += 1;
                        } else {
                            break;
                        }
                    }
                    i += 1;
                }
            }
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i + 1 < bytes.len() && !(bytes[i] == b'*' && bytes[i + 1] == b'/') {
                    i += 1;
                }
                i += 1;
            }
            open @ (b'(' | b'[' | b'{') => {
                depth += 1;
                deepest = deepest.max(depth);
                if open != b'(' {
                    square += 1;
                    deepest_square = deepest_square.max(square);
                }
            }
            close @ (b')' | b']' | b'}') => {
                depth = depth.saturating_sub(1);
                if close != b')' {
                    square = square.saturating_sub(1);
                }
            }
            _ => {}
        }
        i += 1;
    }
    if deepest > limits.max_depth {
        return Err(too_deep("brackets", deepest, limits));
    }
    if deepest_square > MAX_ARRAY_DEPTH {
        return Err(QueryError::Limit(format!(
            "the statement nests [ ] or {{ }} brackets {deepest_square} deep, more than the limit of {MAX_ARRAY_DEPTH}"
        )));
    }
    Ok(())
}

/// Checks the parsed tree: how deep expressions nest (operators chained without brackets,
/// such as `1+1+...` or `a OR b OR ...`, nest as deep as they are long) and subqueries.
pub fn check_tree(statement: &DfStatement, limits: &SqlLimits) -> Result<(), QueryError> {
    enum Refusal {
        Deep(usize),
        Wide(usize),
    }
    struct Depth {
        now: usize,
        limit: usize,
    }
    impl Depth {
        fn enter(&mut self) -> ControlFlow<Refusal> {
            self.now += 1;
            if self.now > self.limit {
                return ControlFlow::Break(Refusal::Deep(self.now));
            }
            ControlFlow::Continue(())
        }
    }
    impl Visitor for Depth {
        type Break = Refusal;
        fn pre_visit_expr(&mut self, _: &SqlExpr) -> ControlFlow<Refusal> {
            self.enter()
        }
        fn post_visit_expr(&mut self, _: &SqlExpr) -> ControlFlow<Refusal> {
            self.now -= 1;
            ControlFlow::Continue(())
        }
        fn pre_visit_query(&mut self, _: &SqlQuery) -> ControlFlow<Refusal> {
            self.enter()
        }
        fn post_visit_query(&mut self, _: &SqlQuery) -> ControlFlow<Refusal> {
            self.now -= 1;
            ControlFlow::Continue(())
        }
        fn pre_visit_select(&mut self, select: &Select) -> ControlFlow<Refusal> {
            if select.projection.len() > MAX_SELECT_ITEMS {
                return ControlFlow::Break(Refusal::Wide(select.projection.len()));
            }
            ControlFlow::Continue(())
        }
    }
    let mut depth = Depth { now: 0, limit: limits.max_depth };
    let broke = match statement {
        DfStatement::Statement(inner) => inner.visit(&mut depth),
        DfStatement::Explain(explain) => match explain.statement.as_ref() {
            DfStatement::Statement(inner) => inner.visit(&mut depth),
            _ => ControlFlow::Continue(()),
        },
        _ => ControlFlow::Continue(()),
    };
    match broke {
        ControlFlow::Break(Refusal::Deep(at)) => Err(too_deep("expressions", at, limits)),
        ControlFlow::Break(Refusal::Wide(items)) => {
            Err(QueryError::Limit(format!("a SELECT lists {items} items, more than the limit of {MAX_SELECT_ITEMS}")))
        }
        ControlFlow::Continue(()) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit_message(result: Result<(), QueryError>) -> String {
        match result {
            Err(QueryError::Limit(message)) => message,
            other => panic!("expected a limit error, got {other:?}"),
        }
    }

    #[test]
    fn a_statement_longer_than_the_limit_is_refused_before_parsing() {
        let limits = SqlLimits { max_bytes: 100, max_depth: 64 };
        let sql = format!("SELECT '{}'", "x".repeat(200));
        assert!(limit_message(check_text(&sql, &limits)).contains("more than the limit of 100 bytes"));
        assert!(check_text("SELECT 1", &limits).is_ok());
    }

    #[test]
    fn brackets_count_only_outside_strings_names_and_comments() {
        let limits = SqlLimits { max_bytes: 1 << 20, max_depth: 4 };
        let deep = format!("SELECT {}1{}", "(".repeat(5), ")".repeat(5));
        assert!(limit_message(check_text(&deep, &limits)).contains("5 deep"));
        let quoted = format!(
            "SELECT '{}' AS \"{}\" -- {}\n/* {} */",
            "(".repeat(50),
            "[".repeat(50),
            "(".repeat(50),
            "[".repeat(50)
        );
        assert!(check_text(&quoted, &limits).is_ok());
    }

    #[test]
    fn nested_array_brackets_have_their_own_low_limit() {
        let limits = SqlLimits::default();
        let nine = format!("SELECT {}1 +{}", "ARRAY[".repeat(9), "]".repeat(9));
        assert!(limit_message(check_text(&nine, &limits)).contains("limit of 8"));
        let eight = format!("SELECT {}1{}", "ARRAY[".repeat(8), "]".repeat(8));
        assert!(check_text(&eight, &limits).is_ok());
    }

    fn parsed(sql: &str) -> DfStatement {
        datafusion::sql::parser::DFParserBuilder::new(sql)
            .build()
            .and_then(|mut parser| parser.parse_statement())
            .expect("parses")
    }

    #[test]
    fn operators_chained_past_the_depth_limit_are_refused_after_parsing() {
        let limits = SqlLimits { max_bytes: 1 << 20, max_depth: 64 };
        let sum = format!("SELECT {}", vec!["1"; 100].join("+"));
        assert!(limit_message(check_tree(&parsed(&sum), &limits)).contains("expressions"));
        let ors = format!("SELECT 1 WHERE {}", (0..100).map(|i| format!("x = {i}")).collect::<Vec<_>>().join(" OR "));
        assert!(limit_message(check_tree(&parsed(&ors), &limits)).contains("IN (...)"));
        let fine = format!("SELECT {}", vec!["1"; 30].join("+"));
        assert!(check_tree(&parsed(&fine), &limits).is_ok());
    }

    #[test]
    fn a_select_list_longer_than_the_limit_is_refused_before_planning() {
        let wide = format!("SELECT {}", (0..=MAX_SELECT_ITEMS).map(|i| i.to_string()).collect::<Vec<_>>().join(","));
        assert!(limit_message(check_tree(&parsed(&wide), &SqlLimits::default())).contains("SELECT lists 1001 items"));
    }
}
