//! A query's answer (`QueryOutput`) and its two encodings: the contract's JSON and CSV.

use std::collections::HashSet;
use std::io::Write;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, FixedSizeListArray, GenericListArray, RecordBatch, StructArray,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{
    DataType, Float64Type, Int16Type, Int32Type, Int64Type, Int8Type, SchemaRef, UInt16Type, UInt32Type, UInt64Type,
    UInt8Type,
};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use serde_json::{Map, Number, Value};

use super::error::QueryError;
use super::stats::QueryStats;

/// One result column: its name (unique within the result) and its type in SQL words.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ColumnInfo {
    /// Column name as the query named it (a duplicate gets a `_2`, `_3`, ... suffix).
    pub name: String,
    /// SQL-ish type: `varchar`, `bigint`, `decimal(38,4)`, `timestamp`, `date`, ...
    #[serde(rename = "type")]
    pub data_type: String,
}

/// The answer to one query: at most `max_rows` rows, and how the query went.
#[derive(Debug, Clone)]
pub struct QueryOutput {
    /// Result columns, in order.
    pub columns: Vec<ColumnInfo>,
    /// Result rows as Arrow batches (all of `schema`).
    pub batches: Vec<RecordBatch>,
    /// Arrow schema of `batches`.
    pub schema: SchemaRef,
    /// True when the query had more rows than the row limit and was cut.
    pub truncated: bool,
    /// Scan and timing figures, Athena style.
    pub stats: QueryStats,
}

/// Column descriptions for `schema`, with duplicate names made unique.
pub(crate) fn columns_of(schema: &SchemaRef) -> Vec<ColumnInfo> {
    let mut seen = HashSet::new();
    schema
        .fields()
        .iter()
        .map(|field| {
            let mut name = field.name().clone();
            let mut n = 2;
            while !seen.insert(name.clone()) {
                name = format!("{}_{n}", field.name());
                n += 1;
            }
            ColumnInfo { name, data_type: sql_type_name(field.data_type()) }
        })
        .collect()
}

/// The SQL spelling of an Arrow type, as Athena/Trino would show it.
pub fn sql_type_name(data_type: &DataType) -> String {
    match data_type {
        DataType::Null => "null".into(),
        DataType::Boolean => "boolean".into(),
        DataType::Int8 => "tinyint".into(),
        DataType::Int16 | DataType::UInt8 => "smallint".into(),
        DataType::Int32 | DataType::UInt16 => "integer".into(),
        DataType::Int64 | DataType::UInt32 => "bigint".into(),
        DataType::UInt64 => "decimal(20,0)".into(),
        DataType::Float16 | DataType::Float32 => "real".into(),
        DataType::Float64 => "double".into(),
        DataType::Decimal32(p, s)
        | DataType::Decimal64(p, s)
        | DataType::Decimal128(p, s)
        | DataType::Decimal256(p, s) => format!("decimal({p},{s})"),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "varchar".into(),
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView | DataType::FixedSizeBinary(_) => {
            "varbinary".into()
        }
        DataType::Date32 | DataType::Date64 => "date".into(),
        DataType::Time32(_) | DataType::Time64(_) => "time".into(),
        DataType::Timestamp(_, None) => "timestamp".into(),
        DataType::Timestamp(_, Some(_)) => "timestamp with time zone".into(),
        DataType::Interval(_) | DataType::Duration(_) => "interval".into(),
        DataType::List(f)
        | DataType::LargeList(f)
        | DataType::ListView(f)
        | DataType::LargeListView(f)
        | DataType::FixedSizeList(f, _) => format!("array({})", sql_type_name(f.data_type())),
        DataType::Struct(fields) => {
            let inner: Vec<String> =
                fields.iter().map(|f| format!("{} {}", f.name(), sql_type_name(f.data_type()))).collect();
            format!("row({})", inner.join(", "))
        }
        DataType::Dictionary(_, value) => sql_type_name(value),
        other => other.to_string().to_lowercase(),
    }
}

/// The contract's JSON body: `{"columns", "rows", "truncated", "stats"}`. Integers and floats are
/// numbers; decimals are exact strings with all scale digits (`"123.4500"`); timestamps ISO 8601
/// (`"2025-07-30T10:15:00"`, fraction only when non-zero); dates `"YYYY-MM-DD"`; nulls `null`.
pub fn to_json(output: &QueryOutput) -> Value {
    let mut rows = Vec::with_capacity(output.stats.rows_returned as usize);
    for batch in &output.batches {
        let columns: Vec<Vec<Value>> = batch.columns().iter().map(json_values).collect();
        for row in 0..batch.num_rows() {
            let mut object = Map::with_capacity(columns.len());
            for (info, values) in output.columns.iter().zip(&columns) {
                object.insert(info.name.clone(), values[row].clone());
            }
            rows.push(Value::Object(object));
        }
    }
    serde_json::json!({
        "columns": output.columns,
        "rows": rows,
        "truncated": output.truncated,
        "stats": output.stats,
    })
}

/// CSV (RFC 4180, `\n` line ends): a header of column names, then one line per row; nulls are
/// empty fields; values are written as in JSON but unquoted unless they need quoting. Text that
/// a spreadsheet would run as a formula (starting with `=`, `+`, `-`, `@`, tab or CR) gets a
/// `'` in front, as in the rejected-rows file; numbers are written as they are.
pub fn write_csv(output: &QueryOutput, mut out: impl Write) -> Result<(), QueryError> {
    let io = |e: std::io::Error| QueryError::Internal(format!("writing CSV: {e}"));
    let header: Vec<String> = output.columns.iter().map(|c| csv_field(&neutral(&c.name)).into_owned()).collect();
    writeln!(out, "{}", header.join(",")).map_err(io)?;
    let options = FormatOptions::new().with_null("");
    for batch in &output.batches {
        let formatters = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| QueryError::Internal(format!("formatting CSV: {e}")))?;
        let text: Vec<bool> = batch
            .columns()
            .iter()
            .map(|c| matches!(c.data_type(), DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View))
            .collect();
        let mut line = String::new();
        for row in 0..batch.num_rows() {
            line.clear();
            for (i, formatter) in formatters.iter().enumerate() {
                if i > 0 {
                    line.push(',');
                }
                let value = formatter.value(row).to_string();
                let value = if text[i] { neutral(&value) } else { value.into() };
                line.push_str(&csv_field(&value));
            }
            line.push('\n');
            out.write_all(line.as_bytes()).map_err(io)?;
        }
    }
    out.flush().map_err(io)
}

fn neutral(value: &str) -> std::borrow::Cow<'_, str> {
    match crate::ingest::neutralise(value.as_bytes()) {
        std::borrow::Cow::Borrowed(_) => value.into(),
        std::borrow::Cow::Owned(bytes) => String::from_utf8_lossy(&bytes).into_owned().into(),
    }
}

fn csv_field(value: &str) -> std::borrow::Cow<'_, str> {
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\"")).into()
    } else {
        value.into()
    }
}

/// All values of one column as JSON.
fn json_values(array: &ArrayRef) -> Vec<Value> {
    macro_rules! numbers {
        ($t:ty, $conv:expr) => {{
            let a = array.as_primitive::<$t>();
            (0..a.len()).map(|i| if a.is_null(i) { Value::Null } else { $conv(a.value(i)) }).collect()
        }};
    }
    let int = |v: i64| Value::Number(v.into());
    let uint = |v: u64| Value::Number(v.into());
    let float = |v: f64| Number::from_f64(v).map_or_else(|| Value::String(v.to_string()), Value::Number);
    match array.data_type() {
        DataType::Null => vec![Value::Null; array.len()],
        DataType::Boolean => {
            let a: &BooleanArray = array.as_boolean();
            (0..a.len()).map(|i| if a.is_null(i) { Value::Null } else { Value::Bool(a.value(i)) }).collect()
        }
        DataType::Int8 => numbers!(Int8Type, |v: i8| int(v.into())),
        DataType::Int16 => numbers!(Int16Type, |v: i16| int(v.into())),
        DataType::Int32 => numbers!(Int32Type, |v: i32| int(v.into())),
        DataType::Int64 => numbers!(Int64Type, int),
        DataType::UInt8 => numbers!(UInt8Type, |v: u8| uint(v.into())),
        DataType::UInt16 => numbers!(UInt16Type, |v: u16| uint(v.into())),
        DataType::UInt32 => numbers!(UInt32Type, |v: u32| uint(v.into())),
        DataType::UInt64 => numbers!(UInt64Type, uint),
        DataType::Float16 | DataType::Float32 => match cast(array, &DataType::Float64) {
            Ok(wide) => json_values(&wide),
            Err(_) => text_values(array),
        },
        DataType::Float64 => numbers!(Float64Type, float),
        DataType::List(_) => list_values(array.as_list::<i32>()),
        DataType::LargeList(_) => list_values(array.as_list::<i64>()),
        DataType::FixedSizeList(..) => fixed_list_values(array.as_fixed_size_list()),
        DataType::Struct(_) => struct_values(array.as_struct()),
        _ => text_values(array),
    }
}

/// Strings, decimals, dates, timestamps and anything else: Arrow's own exact text form.
fn text_values(array: &ArrayRef) -> Vec<Value> {
    let options = FormatOptions::new();
    match ArrayFormatter::try_new(array.as_ref(), &options) {
        Ok(formatter) => (0..array.len())
            .map(|i| if array.is_null(i) { Value::Null } else { Value::String(formatter.value(i).to_string()) })
            .collect(),
        Err(e) => vec![Value::String(format!("<unprintable: {e}>")); array.len()],
    }
}

fn list_values<O: datafusion::arrow::array::OffsetSizeTrait>(list: &GenericListArray<O>) -> Vec<Value> {
    let inner = json_values(list.values());
    let offsets = list.value_offsets();
    (0..list.len())
        .map(|i| {
            if list.is_null(i) {
                return Value::Null;
            }
            let (start, end) = (offsets[i].as_usize(), offsets[i + 1].as_usize());
            Value::Array(inner[start..end].to_vec())
        })
        .collect()
}

fn fixed_list_values(list: &FixedSizeListArray) -> Vec<Value> {
    let inner = json_values(list.values());
    let size = list.value_length() as usize;
    (0..list.len())
        .map(|i| if list.is_null(i) { Value::Null } else { Value::Array(inner[i * size..(i + 1) * size].to_vec()) })
        .collect()
}

fn struct_values(array: &StructArray) -> Vec<Value> {
    let fields: Vec<(String, Vec<Value>)> =
        array.fields().iter().zip(array.columns()).map(|(f, c)| (f.name().clone(), json_values(c))).collect();
    (0..array.len())
        .map(|i| {
            if array.is_null(i) {
                return Value::Null;
            }
            let object = fields.iter().map(|(name, values)| (name.clone(), values[i].clone()));
            Value::Object(object.collect())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{
        BooleanArray, Date32Array, Decimal128Array, Float64Array, Int32Array, Int64Array, ListArray, StringArray,
        TimestampMicrosecondArray,
    };
    use datafusion::arrow::datatypes::{Field, Int32Type, Schema, TimeUnit};
    use serde_json::json;

    use super::*;

    fn output_of(batch: RecordBatch, truncated: bool) -> QueryOutput {
        let schema = batch.schema();
        QueryOutput {
            columns: columns_of(&schema),
            stats: QueryStats { rows_returned: batch.num_rows() as u64, ..QueryStats::default() },
            batches: vec![batch],
            schema,
            truncated,
        }
    }

    fn every_type() -> QueryOutput {
        let list = ListArray::from_iter_primitive::<Int32Type, _, _>(vec![Some(vec![Some(1), None]), None]);
        let fields = vec![
            Field::new("i", DataType::Int64, true),
            Field::new("small", DataType::Int32, true),
            Field::new("f", DataType::Float64, true),
            Field::new("b", DataType::Boolean, true),
            Field::new("s", DataType::Utf8, true),
            Field::new("d", DataType::Decimal128(38, 4), true),
            Field::new("ts", DataType::Timestamp(TimeUnit::Microsecond, None), true),
            Field::new("day", DataType::Date32, true),
            Field::new("l", list.data_type().clone(), true),
        ];
        let columns: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from(vec![Some(-9_007_199_254_740_993), None])),
            Arc::new(Int32Array::from(vec![Some(7), None])),
            Arc::new(Float64Array::from(vec![Some(0.25), Some(f64::NAN)])),
            Arc::new(BooleanArray::from(vec![Some(true), None])),
            Arc::new(StringArray::from(vec![Some("a,\"b\"\nc"), None])),
            Arc::new(Decimal128Array::from(vec![Some(1_234_500), Some(-5)]).with_precision_and_scale(38, 4).unwrap()),
            Arc::new(TimestampMicrosecondArray::from(vec![Some(1_753_866_900_000_000), Some(1_753_866_900_123_456)])),
            Arc::new(Date32Array::from(vec![Some(20_299), None])),
            Arc::new(list),
        ];
        let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap();
        output_of(batch, true)
    }

    #[test]
    fn json_has_the_contract_shape_and_exact_values_of_each_type() {
        let body = to_json(&every_type());
        assert_eq!(
            body["columns"],
            json!([
                {"name": "i", "type": "bigint"}, {"name": "small", "type": "integer"},
                {"name": "f", "type": "double"}, {"name": "b", "type": "boolean"},
                {"name": "s", "type": "varchar"}, {"name": "d", "type": "decimal(38,4)"},
                {"name": "ts", "type": "timestamp"}, {"name": "day", "type": "date"},
                {"name": "l", "type": "array(integer)"},
            ])
        );
        assert_eq!(
            body["rows"],
            json!([
                {"i": -9_007_199_254_740_993_i64, "small": 7, "f": 0.25, "b": true,
                 "s": "a,\"b\"\nc", "d": "123.4500", "ts": "2025-07-30T09:15:00",
                 "day": "2025-07-30", "l": [1, null]},
                {"i": null, "small": null, "f": "NaN", "b": null, "s": null, "d": "-0.0005",
                 "ts": "2025-07-30T09:15:00.123456", "day": null, "l": null},
            ])
        );
        assert_eq!(body["truncated"], json!(true));
        assert_eq!(body["stats"]["rows_returned"], json!(2));
    }

    #[test]
    fn csv_has_a_header_quotes_when_needed_and_leaves_nulls_empty() {
        let mut out = Vec::new();
        write_csv(&every_type(), &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "i,small,f,b,s,d,ts,day,l\n\
             -9007199254740993,7,0.25,true,\"a,\"\"b\"\"\nc\",123.4500,2025-07-30T09:15:00,2025-07-30,\"[1, ]\"\n\
             ,,NaN,,,-0.0005,2025-07-30T09:15:00.123456,,\n"
        );
    }

    #[test]
    fn duplicate_column_names_are_made_unique() {
        let schema: SchemaRef =
            Arc::new(Schema::new(vec![Field::new("x", DataType::Int64, true), Field::new("x", DataType::Utf8, true)]));
        let names: Vec<String> = columns_of(&schema).into_iter().map(|c| c.name).collect();
        assert_eq!(names, ["x", "x_2"]);
    }
}
