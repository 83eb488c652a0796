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
        let builders = schema
            .fields()
            .iter()
            .map(|f| match f.data_type() {
                DataType::Int64 => Builder::I64(Int64Builder::with_capacity(capacity)),
                DataType::Decimal128(..) => {
                    Builder::Dec(Decimal128Builder::with_capacity(capacity).with_data_type(f.data_type().clone()))
                }
                DataType::Timestamp(..) => Builder::Ts(TimestampMicrosecondBuilder::with_capacity(capacity)),
                DataType::Date32 => Builder::Date(Date32Builder::with_capacity(capacity)),
                DataType::Boolean => Builder::Bool(BooleanBuilder::with_capacity(capacity)),
                _ => Builder::Str(StringBuilder::with_capacity(capacity, capacity * 32)),
            })
            .collect();
        BatchBuilder { schema, builders, rows: 0, capacity }
    }

    /// Whether no row is pending.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Whether the batch reached its row count.
    pub fn is_full(&self) -> bool {
        self.rows >= self.capacity
    }

    /// Appends one validated row; `rec` must be the UTF-8 record `values` were made from.
    #[inline]
    pub fn append(&mut self, rec: &ByteRecord, values: &[Value]) {
        for (b, v) in self.builders.iter_mut().zip(values) {
            match (b, *v) {
                (Builder::Str(b), Value::Str(field)) => {
                    let text = trim(rec.get(field).unwrap_or(b""));
                    b.append_value(std::str::from_utf8(text).expect("records are UTF-8 before validation"));
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

    /// The pending rows as a batch (possibly empty); the builders start over.
    pub fn finish(&mut self) -> Result<RecordBatch> {
        let columns: Vec<ArrayRef> = self
            .builders
            .iter_mut()
            .map(|b| -> ArrayRef {
                match b {
                    Builder::Str(b) => Arc::new(b.finish()),
                    Builder::I64(b) => Arc::new(b.finish()),
                    Builder::Dec(b) => Arc::new(b.finish()),
                    Builder::Ts(b) => Arc::new(b.finish()),
                    Builder::Date(b) => Arc::new(b.finish()),
                    Builder::Bool(b) => Arc::new(b.finish()),
                }
            })
            .collect();
        self.rows = 0;
        Ok(RecordBatch::try_new(self.schema.clone(), columns)?)
    }
}

impl Builder {
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
