//! What the SQL fuzz target checks: any text through the statement limits and the read-only
//! guard, on a thread with the service's parsing stack; a statement that passes is planned
//! (logical and physical) over an empty `sales_processed` with the service's bounded scalar
//! functions. Properties: no panic, no stack overflow, and (with libFuzzer's -timeout) no input
//! that keeps the parser or planner busy.

pub mod query;

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;
use query::functions::bound_scalar_functions;
use query::limits::SqlLimits;

/// The production stack of the parsing thread and the query threads.
const STACK_BYTES: usize = 64 << 20;

fn session() -> SessionContext {
    let ctx = SessionContext::new();
    let mut state = ctx.state();
    bound_scalar_functions(&mut state).expect("functions wrap");
    let ctx = SessionContext::new_with_state(state);
    let schema = Arc::new(Schema::new(vec![
        Field::new("transaction_id", DataType::Utf8, false),
        Field::new("sold_at", DataType::Timestamp(TimeUnit::Microsecond, None), false),
        Field::new("sku", DataType::Utf8, false),
        Field::new("product_name", DataType::Utf8, true),
        Field::new("quantity", DataType::Int64, false),
        Field::new("price", DataType::Decimal128(18, 4), false),
        Field::new("currency", DataType::Utf8, true),
        Field::new("payment_method", DataType::Utf8, true),
        Field::new("shop_id", DataType::Utf8, false),
        Field::new("date", DataType::Utf8, false),
    ]));
    let table = MemTable::try_new(schema, vec![vec![]]).expect("an empty table");
    ctx.register_table("sales_processed", Arc::new(table)).expect("registers");
    ctx
}

/// Checks one input; panics (a finding) only on a property violation.
pub fn check_sql(sql: String) {
    let worker = std::thread::Builder::new()
        .stack_size(STACK_BYTES)
        .spawn(move || {
            let limits = SqlLimits::default();
            let Ok(statement) = query::guard::parse_read_only(&sql, &limits) else { return };
            let runtime = tokio::runtime::Builder::new_current_thread().build().expect("a runtime");
            runtime.block_on(async {
                let ctx = session();
                let state = ctx.state();
                if let Ok(plan) = state.statement_to_plan(statement).await {
                    let _ = state.create_physical_plan(&plan).await;
                }
            });
        })
        .expect("a thread");
    worker.join().expect("parsing and planning never panic");
}
