//! Bounds on what one SQL statement may cost before and while it runs: its length and nesting
//! (checked on the text before parsing, and on the parsed tree before planning, so that no
//! recursion in the parser, planner or optimizer can run out of stack), and the size of what a
//! scalar function may produce in one call (so that `repeat('a', 2000000000)` is refused before
//! it allocates: function results are not counted by DataFusion's memory pool).

use std::ops::ControlFlow;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::datatypes::{DataType, FieldRef, Int64Type};
use datafusion::common::config::ConfigOptions;
use datafusion::common::{DataFusionError, Result as DfResult, ScalarValue};
use datafusion::execution::{FunctionRegistry, SessionState};
use datafusion::logical_expr::simplify::{ExprSimplifyResult, SimplifyContext};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, Expr, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
};
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

/// Bytes one scalar function call may produce (one batch of results): larger results are
/// refused before they are computed.
pub const MAX_FUNCTION_OUTPUT_BYTES: usize = 128 << 20;

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

/// Replaces every scalar function of `state` by one that refuses, before computing it, a call
/// whose result would exceed [`MAX_FUNCTION_OUTPUT_BYTES`].
pub fn bound_scalar_functions(state: &mut SessionState) -> DfResult<()> {
    let functions: Vec<Arc<ScalarUDF>> = state.scalar_functions().values().cloned().collect();
    for function in functions {
        if function.inner().downcast_ref::<BoundedOutput>().is_some() {
            continue;
        }
        state.register_udf(Arc::new(ScalarUDF::new_from_impl(BoundedOutput::new((*function).clone()))))?;
    }
    Ok(())
}

/// A scalar function that estimates the size of its result from its arguments first.
#[derive(Debug, PartialEq, Eq, Hash)]
struct BoundedOutput {
    inner: ScalarUDF,
    estimate: Estimate,
}

/// How a function's result size follows from its arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Estimate {
    /// At most a small multiple of its inputs (most functions).
    Inputs,
    /// `repeat(text, n)`: the text `n` times.
    Repeat,
    /// `lpad/rpad(text, n[, fill])`: `n` characters (up to 4 bytes each).
    Pad,
    /// `array_repeat(element, n)`: the element `n` times.
    ArrayRepeat,
    /// `range/generate_series(start, stop[, step])` as arrays: one 8-byte value per step.
    Range,
    /// `replace(text, from, to)`: every `from` may become `to`.
    Replace,
    /// `regexp_replace(text, pattern, replacement, ...)`: every character may become the
    /// replacement.
    RegexpReplace,
}

impl BoundedOutput {
    fn new(inner: ScalarUDF) -> Self {
        let estimate = match inner.name() {
            "repeat" => Estimate::Repeat,
            "lpad" | "rpad" => Estimate::Pad,
            "array_repeat" | "list_repeat" => Estimate::ArrayRepeat,
            "range" | "generate_series" | "gen_series" => Estimate::Range,
            "array_resize" | "list_resize" => Estimate::ArrayRepeat,
            "replace" => Estimate::Replace,
            "regexp_replace" => Estimate::RegexpReplace,
            _ => Estimate::Inputs,
        };
        Self { inner, estimate }
    }

    fn check(&self, args: &ScalarFunctionArgs) -> DfResult<()> {
        let rows = args.number_rows.max(1);
        let bytes = match self.estimate {
            Estimate::Inputs => args.args.iter().map(|a| value_bytes(a, rows)).sum::<usize>().saturating_mul(2),
            Estimate::Replace => per_row(args, rows, |row| {
                let text = arg_bytes_at(args, 0, row);
                let from = arg_bytes_at(args, 1, row).max(1);
                let to = arg_bytes_at(args, 2, row);
                text.saturating_add((text / from).saturating_mul(to))
            }),
            Estimate::RegexpReplace => per_row(args, rows, |row| {
                arg_bytes_at(args, 0, row).saturating_mul(arg_bytes_at(args, 2, row).saturating_add(1))
            }),
            Estimate::Repeat => per_row(args, rows, |row| {
                let text = arg_bytes_at(args, 0, row);
                count_at(args, 1, row).saturating_mul(text)
            }),
            Estimate::Pad => per_row(args, rows, |row| count_at(args, 1, row).saturating_mul(4)),
            Estimate::ArrayRepeat => {
                per_row(args, rows, |row| count_at(args, 1, row).saturating_mul(arg_bytes_at(args, 0, row).max(8)))
            }
            Estimate::Range => per_row(args, rows, |row| {
                let (start, stop) = match args.args.len() {
                    1 => (0, signed_at(args, 0, row)),
                    _ => (signed_at(args, 0, row), signed_at(args, 1, row)),
                };
                let step = if args.args.len() > 2 { signed_at(args, 2, row).unsigned_abs().max(1) } else { 1 };
                (stop.abs_diff(start) / step).saturating_mul(8) as usize
            }),
        };
        if bytes > MAX_FUNCTION_OUTPUT_BYTES {
            return Err(DataFusionError::ResourcesExhausted(format!(
                "{}() would produce about {} MiB in one call, more than the limit of {} MiB per function call",
                self.inner.name(),
                bytes >> 20,
                MAX_FUNCTION_OUTPUT_BYTES >> 20
            )));
        }
        Ok(())
    }
}

/// Sum over rows, stopping once past the limit.
fn per_row(args: &ScalarFunctionArgs, rows: usize, bytes_of_row: impl Fn(usize) -> usize) -> usize {
    let all_scalar = args.args.iter().all(|a| matches!(a, ColumnarValue::Scalar(_)));
    if all_scalar {
        return bytes_of_row(0).saturating_mul(rows);
    }
    let mut total = 0usize;
    for row in 0..rows {
        total = total.saturating_add(bytes_of_row(row));
        if total > MAX_FUNCTION_OUTPUT_BYTES {
            break;
        }
    }
    total
}

fn value_bytes(value: &ColumnarValue, rows: usize) -> usize {
    match value {
        // The bytes of this slice only (a batch is often a slice of a larger buffer).
        ColumnarValue::Array(array) => array.to_data().get_slice_memory_size().unwrap_or(usize::MAX),
        ColumnarValue::Scalar(scalar) => scalar.size().saturating_mul(rows),
    }
}

fn scalar_at(args: &ScalarFunctionArgs, index: usize, row: usize) -> Option<ScalarValue> {
    match args.args.get(index)? {
        ColumnarValue::Scalar(scalar) => Some(scalar.clone()),
        ColumnarValue::Array(array) => at(array, row),
    }
}

fn at(array: &ArrayRef, row: usize) -> Option<ScalarValue> {
    (row < array.len()).then(|| ScalarValue::try_from_array(array, row).ok()).flatten()
}

/// A non-negative count argument (negative or null count as 0).
fn count_at(args: &ScalarFunctionArgs, index: usize, row: usize) -> usize {
    signed_at(args, index, row).max(0) as usize
}

fn signed_at(args: &ScalarFunctionArgs, index: usize, row: usize) -> i64 {
    if let Some(ColumnarValue::Array(array)) = args.args.get(index) {
        if let Some(numbers) = array.as_primitive_opt::<Int64Type>() {
            return if row < numbers.len() && numbers.is_valid(row) { numbers.value(row) } else { 0 };
        }
    }
    match scalar_at(args, index, row) {
        Some(value) if !value.is_null() => match value.cast_to(&DataType::Int64) {
            Ok(ScalarValue::Int64(Some(n))) => n,
            _ => 0,
        },
        _ => 0,
    }
}

/// Bytes of one row's value of an argument (text length, or the value's size).
fn arg_bytes_at(args: &ScalarFunctionArgs, index: usize, row: usize) -> usize {
    if let Some(ColumnarValue::Array(array)) = args.args.get(index) {
        let valid = row < array.len() && array.is_valid(row);
        if let Some(text) = array.as_string_opt::<i32>() {
            return if valid { text.value(row).len() } else { 0 };
        }
        if let Some(text) = array.as_string_view_opt() {
            return if valid { text.value(row).len() } else { 0 };
        }
    }
    match scalar_at(args, index, row) {
        Some(ScalarValue::Utf8(Some(s)) | ScalarValue::LargeUtf8(Some(s)) | ScalarValue::Utf8View(Some(s))) => s.len(),
        Some(other) => other.size(),
        None => 0,
    }
}

impl ScalarUDFImpl for BoundedOutput {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn aliases(&self) -> &[String] {
        self.inner.aliases()
    }
    fn display_name(&self, args: &[Expr]) -> DfResult<String> {
        #[allow(deprecated)]
        self.inner.inner().display_name(args)
    }
    fn schema_name(&self, args: &[Expr]) -> DfResult<String> {
        self.inner.inner().schema_name(args)
    }
    fn signature(&self) -> &Signature {
        self.inner.signature()
    }
    fn return_type(&self, arg_types: &[DataType]) -> DfResult<DataType> {
        self.inner.inner().return_type(arg_types)
    }
    fn return_field_from_args(&self, args: ReturnFieldArgs) -> DfResult<FieldRef> {
        self.inner.inner().return_field_from_args(args)
    }
    fn is_nullable(&self, args: &[Expr], schema: &dyn datafusion::common::ExprSchema) -> bool {
        #[allow(deprecated)]
        self.inner.inner().is_nullable(args, schema)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        self.check(&args)?;
        self.inner.invoke_with_args(args)
    }
    fn with_updated_config(&self, config: &ConfigOptions) -> Option<ScalarUDF> {
        let updated = self.inner.inner().with_updated_config(config)?;
        Some(ScalarUDF::new_from_impl(BoundedOutput::new(updated)))
    }
    fn simplify(&self, args: Vec<Expr>, info: &SimplifyContext) -> DfResult<ExprSimplifyResult> {
        self.inner.inner().simplify(args, info)
    }
    fn is_strict(&self) -> bool {
        self.inner.inner().is_strict()
    }
    fn conditional_arguments<'a>(&self, args: &'a [Expr]) -> Option<(Vec<&'a Expr>, Vec<&'a Expr>)> {
        self.inner.inner().conditional_arguments(args)
    }
    fn propagate_constraints(
        &self,
        interval: &datafusion::logical_expr::interval_arithmetic::Interval,
        inputs: &[&datafusion::logical_expr::interval_arithmetic::Interval],
    ) -> DfResult<Option<Vec<datafusion::logical_expr::interval_arithmetic::Interval>>> {
        self.inner.inner().propagate_constraints(interval, inputs)
    }
    fn struct_field_mapping(
        &self,
        literal_args: &[Option<ScalarValue>],
    ) -> Option<datafusion::logical_expr::StructFieldMapping> {
        self.inner.inner().struct_field_mapping(literal_args)
    }
    fn preserves_lex_ordering(
        &self,
        inputs: &[datafusion::logical_expr::sort_properties::ExprProperties],
    ) -> DfResult<bool> {
        self.inner.inner().preserves_lex_ordering(inputs)
    }
    fn strictly_order_preserving(
        &self,
        inputs: &[datafusion::logical_expr::sort_properties::ExprProperties],
    ) -> DfResult<bool> {
        self.inner.inner().strictly_order_preserving(inputs)
    }
    fn placement(
        &self,
        args: &[datafusion::logical_expr::ExpressionPlacement],
    ) -> datafusion::logical_expr::ExpressionPlacement {
        self.inner.inner().placement(args)
    }
    fn short_circuits(&self) -> bool {
        self.inner.inner().short_circuits()
    }
    fn evaluate_bounds(
        &self,
        input: &[&datafusion::logical_expr::interval_arithmetic::Interval],
    ) -> DfResult<datafusion::logical_expr::interval_arithmetic::Interval> {
        self.inner.inner().evaluate_bounds(input)
    }
    fn output_ordering(
        &self,
        inputs: &[datafusion::logical_expr::sort_properties::ExprProperties],
    ) -> DfResult<datafusion::logical_expr::sort_properties::SortProperties> {
        self.inner.inner().output_ordering(inputs)
    }
    fn coerce_types(&self, arg_types: &[DataType]) -> DfResult<Vec<DataType>> {
        self.inner.inner().coerce_types(arg_types)
    }
    fn documentation(&self) -> Option<&Documentation> {
        self.inner.inner().documentation()
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

    #[test]
    fn a_slice_counts_its_own_bytes_not_its_buffers() {
        use datafusion::arrow::array::StringArray;
        let big: ArrayRef = Arc::new(StringArray::from_iter_values((0..200_000).map(|i| format!("{i:0>100}"))));
        let whole = value_bytes(&ColumnarValue::Array(Arc::clone(&big)), 200_000);
        let slice = value_bytes(&ColumnarValue::Array(big.slice(0, 10)), 10);
        assert!(whole > 20_000_000, "{whole}");
        assert!(slice < 10_000, "a 10-row slice counted {slice} bytes");
    }
}
