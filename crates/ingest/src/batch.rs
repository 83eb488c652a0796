//! Column builders: validated values appended straight into Arrow builders, cut into
//! `RecordBatch`es of a bounded number of rows.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanBuilder, Date32Builder, Decimal128Builder, Int64Builder, StringBuilder,
    TimestampMicrosecondBuilder,
};
use arrow::datatypes::{DataType, SchemaRef};
use arrow::record_batch::RecordBatch;
use csv::ByteRecord;

use super::error::Result;
use super::row::{trim, Value};

enum Builder {
    Str(StringBuilder),
    I64(Int64Builder),
    Dec(Decimal128Builder),
    Ts(TimestampMicrosecondBuilder),
    Date(Date32Builder),
    Bool(BooleanBuilder),
}

/// Accumulates accepted rows for one output schema.
pub struct BatchBuilder {
    schema: SchemaRef,
    builders: Vec<Builder>,
    rows: usize,
    capacity: usize,
}

impl BatchBuilder {
    /// Builders for `schema` (whose fields follow the validator's column order), sized for
    /// `capacity` rows per batch.
    pub fn new(schema: SchemaRef, capacity: usize) -> Self {
        let capacity = capacity.max(1);
        let builders = schema.fields().iter().map(|f| Builder::new(f.data_type(), capacity, capacity * 32)).collect();
        BatchBuilder { schema, builders, rows: 0, capacity }
    }

    /// Appends one validated row; `rec` must be the UTF-8 record `values` were made from.
    #[inline]
    pub fn append(&mut self, rec: &ByteRecord, values: &[Value]) {
        for (b, v) in self.builders.iter_mut().zip(values) {
            match (b, *v) {
                (Builder::Str(b), Value::Str(field)) => {
                    let text = trim(rec.get(field).unwrap_or(b""));
                    debug_assert!(std::str::from_utf8(text).is_ok());
                    // SAFETY: the reader hands over records whose every field is valid UTF-8
                    // (`Decoder::decode` checks each field), and trimming ASCII keeps it so.
                    b.append_value(unsafe { std::str::from_utf8_unchecked(text) });
                }
                (Builder::Str(b), Value::Code(code)) => {
                    // SAFETY: codes come from the ASCII ISO 4217 list.
                    b.append_value(unsafe { std::str::from_utf8_unchecked(&code) });
                }
                (Builder::I64(b), Value::I64(x)) => b.append_value(x),
                (Builder::Dec(b), Value::Dec(x)) => b.append_value(x),
                (Builder::Ts(b), Value::Ts(x)) => b.append_value(x),
                (Builder::Date(b), Value::Date(x)) => b.append_value(x),
                (Builder::Bool(b), Value::Bool(x)) => b.append_value(x),
                (b, _) => b.append_null(),
            }
        }
        self.rows += 1;
    }

    /// The pending rows as a batch (possibly empty); the builders start over, sized for a
    /// batch like this one.
    pub fn finish(&mut self) -> Result<RecordBatch> {
        let cap = self.capacity;
        let columns: Vec<ArrayRef> = self
            .builders
            .iter_mut()
            .zip(self.schema.fields())
            .map(|(b, f)| -> ArrayRef {
                let bytes = match b {
                    Builder::Str(s) => s.values_slice().len(),
                    _ => 0,
                };
                let fresh = Builder::new(f.data_type(), cap, (bytes + bytes / 8).max(cap * 8));
                match std::mem::replace(b, fresh) {
                    Builder::Str(mut b) => Arc::new(b.finish()),
                    Builder::I64(mut b) => Arc::new(b.finish()),
                    Builder::Dec(mut b) => Arc::new(b.finish()),
                    Builder::Ts(mut b) => Arc::new(b.finish()),
                    Builder::Date(mut b) => Arc::new(b.finish()),
                    Builder::Bool(mut b) => Arc::new(b.finish()),
                }
            })
            .collect();
        self.rows = 0;
        Ok(RecordBatch::try_new(self.schema.clone(), columns)?)
    }
}

impl Builder {
    /// An empty builder for `dt` with room for `rows` rows (and `bytes` bytes of text).
    fn new(dt: &DataType, rows: usize, bytes: usize) -> Self {
        match dt {
            DataType::Int64 => Builder::I64(Int64Builder::with_capacity(rows)),
            DataType::Decimal128(..) => Builder::Dec(Decimal128Builder::with_capacity(rows).with_data_type(dt.clone())),
            DataType::Timestamp(..) => Builder::Ts(TimestampMicrosecondBuilder::with_capacity(rows)),
            DataType::Date32 => Builder::Date(Date32Builder::with_capacity(rows)),
            DataType::Boolean => Builder::Bool(BooleanBuilder::with_capacity(rows)),
            _ => Builder::Str(StringBuilder::with_capacity(rows, bytes)),
        }
    }

    fn append_null(&mut self) {
        match self {
            Builder::Str(b) => b.append_null(),
            Builder::I64(b) => b.append_null(),
            Builder::Dec(b) => b.append_null(),
            Builder::Ts(b) => b.append_null(),
            Builder::Date(b) => b.append_null(),
            Builder::Bool(b) => b.append_null(),
        }
    }
}
