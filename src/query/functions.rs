//! The size of what a scalar function may produce in one call, estimated from its arguments
//! before it runs (so that `repeat('a', 2000000000)` is refused before it allocates: function
//! results are not counted by DataFusion's memory pool).

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

/// Bytes one scalar function call may produce (one batch of results): larger results are
/// refused before they are computed.
pub const MAX_FUNCTION_OUTPUT_BYTES: usize = 128 << 20;

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
