//! The figures of the reporting pages. Each widget is one SQL statement run through the
//! configured engine (the same as `POST /v1/query`), filtered on `date` so only the needed
//! partitions are read, shown as a table (with the SQL and a one-line definition on request).
//! Amounts are exact and never summed across currencies.

use super::amount::{percent, Amount};
use super::answers::Source;
use crate::catalog::{PartitionRange, SALES_TABLE};
use crate::domain::{SalesDate, ShopId};
use crate::http::error::{ApiError, ApiResult};
use crate::http::AppState;
use crate::query::{to_json, QueryError};
use serde_json::{Map, Value};
use std::sync::Arc;

/// One row of a query's answer, by column name.
pub type Row = Map<String, Value>;

/// A table the page shows (and offers as CSV): its SQL, what its figures mean, its cells.
#[derive(Debug, Clone)]
pub struct Widget {
    /// Short name, used in the CSV link (`table=`).
    pub key: &'static str,
    /// Heading.
    pub title: String,
    /// What the figure means, in one line.
    pub definition: &'static str,
    /// The statement that produced it.
    pub sql: String,
    /// Column headings.
    pub columns: Vec<String>,
    /// Which columns are numbers (right-aligned, sorted as numbers, drawn by charts).
    pub numeric: Vec<bool>,
    /// Cells: the text shown and the exact value (for sorting, charts and CSV).
    pub rows: Vec<Vec<Cell>>,
}

/// One table cell.
#[derive(Debug, Clone)]
pub struct Cell {
    /// As people read it (`1,234.57`, `+4.2 %`).
    pub text: String,
    /// As machines read it (`1234.5700`).
    pub exact: String,
    /// A link the cell opens, if any.
    pub link: Option<String>,
}

impl Cell {
    /// Text that is its own exact value.
    pub fn text(text: impl Into<String>) -> Self {
        let text = text.into();
        Self { exact: text.clone(), text, link: None }
    }

    /// An amount: shown to the cent, exact underneath.
    pub fn amount(amount: Amount) -> Self {
        Self { text: amount.to_string(), exact: amount.exact(), link: None }
    }

    /// A whole number.
    pub fn count(value: i64) -> Self {
        Self::text(value.to_string())
    }

    /// This cell, opening `link`.
    pub fn linked(mut self, link: String) -> Self {
        self.link = Some(link);
        self
    }
}

/// One widget's statement and the partitions it reads: one shop's or all, days `from..=to`.
#[derive(Debug, Clone)]
pub struct Statement {
    /// The SQL text.
    pub sql: String,
    /// Only this shop's partitions.
    pub shop: Option<ShopId>,
    /// First day read.
    pub from: SalesDate,
    /// Last day read.
    pub to: SalesDate,
}

impl Statement {
    fn new(sql: String, shop: Option<&ShopId>, from: SalesDate, to: SalesDate) -> Self {
        Self { sql, shop: shop.cloned(), from, to }
    }
}

/// Runs one widget's statement and returns its rows: the kept answer when the partitions it
/// reads are as they were when it last ran (see `answers`).
pub async fn rows(state: &AppState, statement: &Statement) -> ApiResult<Vec<Row>> {
    let (from, to) = (statement.from.to_string(), statement.to.to_string());
    let range = PartitionRange {
        shop_id: statement.shop.as_ref().map(ShopId::as_str),
        from_date: Some(&from),
        to_date: Some(&to),
    };
    let version = state.catalog.range_version(SALES_TABLE, &range).await?;
    if let Some(kept) = version.as_deref().and_then(|version| state.answers.get(&statement.sql, version)) {
        state.metrics.widget_answered(Source::Kept.label());
        return Ok(kept.as_ref().clone());
    }
    let output = state.sql.execute(&statement.sql).await.map_err(widget_error)?;
    let json = to_json(&output);
    let rows: Vec<Row> = json["rows"]
        .as_array()
        .map(|rows| rows.iter().filter_map(|r| r.as_object().cloned()).collect())
        .unwrap_or_default();
    let kept = version.is_some_and(|version| state.answers.put(&statement.sql, &version, Arc::new(rows.clone())));
    state.metrics.widget_answered(if kept { Source::Run } else { Source::RunUnkept }.label());
    Ok(rows)
}

fn widget_error(error: QueryError) -> ApiError {
    match error {
        QueryError::Busy(_) | QueryError::LakeChanged { .. } => ApiError::Busy(error.to_string()),
        QueryError::Unavailable(_) => ApiError::Unavailable(error.into()),
        other => ApiError::Internal(other.into()),
    }
}

/// A text column of a row (`""` when absent).
pub fn text(row: &Row, column: &str) -> String {
    match row.get(column) {
        Some(Value::String(text)) => text.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

/// An amount column of a row (zero when absent).
pub fn amount(row: &Row, column: &str) -> Amount {
    row.get(column).and_then(Amount::from_json).unwrap_or_default()
}

/// A whole-number column of a row (zero when absent).
pub fn count(row: &Row, column: &str) -> i64 {
    match row.get(column) {
        Some(Value::Number(n)) => n.as_i64().unwrap_or(0),
        Some(Value::String(s)) => s.parse().unwrap_or(0),
        _ => 0,
    }
}

/// `'2025-07-30'`: a validated date as an SQL literal.
pub fn literal(date: SalesDate) -> String {
    format!("'{date}'")
}

/// `date` moved by `days` (negative: earlier).
pub fn days_from(date: SalesDate, days: i64) -> SalesDate {
    SalesDate::from(date.naive() + chrono::Duration::days(days))
}

/// A shop filter as SQL (`AND shop_id = '001'`), or nothing; shop ids are `[A-Za-z0-9_-]`.
pub fn shop_filter(shop: Option<&ShopId>) -> String {
    shop.map(|shop| format!(" AND shop_id = '{shop}'")).unwrap_or_default()
}

/// Distinct transactions: ids are unique within a shop's day, not across shops.
pub const TRANSACTIONS: &str = "COUNT(DISTINCT concat(shop_id, '/', transaction_id))";

/// The day's headline figures per currency, beside the same weekday a week earlier and the
/// average of the four same weekdays before it.
#[derive(Debug, Clone)]
pub struct Headline {
    /// ISO 4217.
    pub currency: String,
    /// Sales of the day.
    pub sales: Amount,
    /// Sales of the same weekday a week earlier.
    pub week_before: Amount,
    /// Change against the week before, with its sign (`+4.2 %`).
    pub change_week: String,
    /// True when the day is not below the week before.
    pub up_week: bool,
    /// Average sales of the four same weekdays before the day, over those with data.
    pub four_week_average: Amount,
    /// Change against that average.
    pub change_average: String,
    /// How many of the four earlier same weekdays had data (the average is over those).
    pub weeks_averaged: usize,
    /// True when the day is not below the average.
    pub up_average: bool,
    /// Distinct transactions.
    pub transactions: i64,
    /// Sales per transaction.
    pub average_basket: Amount,
    /// Units sold (returns count negative).
    pub units: i64,
}

/// The headline statement for `date` (and its four earlier same weekdays).
pub fn headline_sql(date: SalesDate, shop: Option<&ShopId>) -> Statement {
    let dates: Vec<String> = (0..=4).map(|week| literal(days_from(date, -7 * week))).collect();
    let sql = format!(
        "SELECT date, currency, SUM(price * quantity) AS sales, {TRANSACTIONS} AS transactions, SUM(quantity) AS units \
         FROM sales_processed WHERE date IN ({}){} GROUP BY date, currency ORDER BY currency, date",
        dates.join(", "),
        shop_filter(shop)
    );
    Statement::new(sql, shop, days_from(date, -7 * 4), date)
}

/// Headline figures from the headline statement's rows.
pub fn headlines(date: SalesDate, rows: &[Row]) -> Vec<Headline> {
    let mut currencies: Vec<String> = rows.iter().map(|r| text(r, "currency")).collect();
    currencies.sort();
    currencies.dedup();
    let find = |currency: &str, day: SalesDate| {
        rows.iter().find(|r| text(r, "currency") == currency && text(r, "date") == day.to_string())
    };
    currencies
        .into_iter()
        .filter_map(|currency| {
            let today = find(&currency, date)?;
            let sales = amount(today, "sales");
            let week_before = find(&currency, days_from(date, -7)).map(|r| amount(r, "sales")).unwrap_or_default();
            // Only the earlier weeks with data count: a week before the lake began is no zero.
            let earlier: Vec<Amount> =
                (1..=4).filter_map(|w| find(&currency, days_from(date, -7 * w)).map(|r| amount(r, "sales"))).collect();
            let weeks_averaged = earlier.len();
            let four_week_average = Amount::sum(earlier).divided_by(weeks_averaged as i64);
            let transactions = count(today, "transactions");
            Some(Headline {
                sales,
                week_before,
                change_week: percent(sales.change_percent(week_before)),
                up_week: sales >= week_before,
                four_week_average: four_week_average.unwrap_or_default(),
                change_average: percent(four_week_average.and_then(|average| sales.change_percent(average))),
                up_average: four_week_average.is_none_or(|average| sales >= average),
                weeks_averaged,
                transactions,
                average_basket: sales.divided_by(transactions).unwrap_or_default(),
                units: count(today, "units"),
                currency,
            })
        })
        .collect()
}

/// The statement of sales per shop for the day.
pub fn per_shop_sql(date: SalesDate) -> Statement {
    let sql = format!(
        "SELECT shop_id, currency, SUM(price * quantity) AS sales, {TRANSACTIONS} AS transactions, SUM(quantity) AS units \
         FROM sales_processed WHERE date = {} GROUP BY shop_id, currency ORDER BY sales DESC, shop_id",
        literal(date)
    );
    Statement::new(sql, None, date, date)
}

/// Sales per shop for the day; each shop opens its own dashboard.
pub fn per_shop(rows: &[Row]) -> Widget {
    Widget {
        key: "shops",
        title: "Sales per shop".into(),
        definition: "Sum of price × quantity per shop and currency for the day (returns subtract); transactions are distinct receipt ids.",
        sql: String::new(),
        columns: vec!["Shop".into(), "Currency".into(), "Sales".into(), "Transactions".into(), "Units".into()],
        numeric: vec![false, false, true, true, true],
        rows: rows
            .iter()
            .map(|r| {
                let shop = text(r, "shop_id");
                vec![
                    Cell::text(shop.clone()).linked(format!("/ui/dashboard/shops/{shop}")),
                    Cell::text(text(r, "currency")),
                    Cell::amount(amount(r, "sales")),
                    Cell::count(count(r, "transactions")),
                    Cell::count(count(r, "units")),
                ]
            })
            .collect(),
    }
}

/// The statement of the daily trend: `days` days up to `date`, and the `days` before them.
pub fn trend_sql(date: SalesDate, days: i64, shop: Option<&ShopId>) -> Statement {
    let first = days_from(date, -(2 * days) + 1);
    let sql = format!(
        "SELECT date, currency, SUM(price * quantity) AS sales FROM sales_processed \
         WHERE date BETWEEN {} AND {}{} GROUP BY date, currency ORDER BY date, currency",
        literal(first),
        literal(date),
        shop_filter(shop)
    );
    Statement::new(sql, shop, first, date)
}

/// The daily trend: each day's sales per currency beside the same position in the period before.
pub fn trend(date: SalesDate, days: i64, rows: &[Row]) -> Widget {
    let sales_on = |day: SalesDate, currency: &str| {
        rows.iter()
            .find(|r| text(r, "date") == day.to_string() && text(r, "currency") == currency)
            .map(|r| amount(r, "sales"))
    };
    let mut currencies: Vec<String> = rows.iter().map(|r| text(r, "currency")).collect();
    currencies.sort();
    currencies.dedup();
    let mut cells = Vec::new();
    for offset in (0..days).rev() {
        let day = days_from(date, -offset);
        for currency in &currencies {
            let now = sales_on(day, currency);
            let before = sales_on(days_from(day, -days), currency);
            if now.is_none() && before.is_none() {
                continue;
            }
            // A day without data is blank, not a zero: no file is not "no sales".
            let shown = |amount: Option<Amount>| amount.map_or_else(|| Cell::text(""), Cell::amount);
            cells.push(vec![Cell::text(day.to_string()), Cell::text(currency.clone()), shown(now), shown(before)]);
        }
    }
    Widget {
        key: "trend",
        title: format!("Daily sales, last {days} days"),
        definition:
            "Sum of price × quantity per day and currency; the prior column is the same position in the period before.",
        sql: String::new(),
        columns: vec!["Date".into(), "Currency".into(), "Sales".into(), format!("Sales {days} days earlier")],
        numeric: vec![false, false, true, true],
        rows: cells,
    }
}

/// Top products for the day, by revenue or by units.
pub fn top_products_sql(date: SalesDate, by_units: bool, shop: Option<&ShopId>) -> Statement {
    let sql = format!(
        "SELECT sku, MAX(product_name) AS product_name, currency, SUM(price * quantity) AS revenue, SUM(quantity) AS units \
         FROM sales_processed WHERE date = {}{} GROUP BY sku, currency ORDER BY {} DESC, sku LIMIT 10",
        literal(date),
        shop_filter(shop),
        if by_units { "units" } else { "revenue" }
    );
    Statement::new(sql, shop, date, date)
}

/// The top-products table.
pub fn top_products(by_units: bool, rows: &[Row]) -> Widget {
    Widget {
        key: if by_units { "top_units" } else { "top_revenue" },
        title: if by_units { "Top products by units" } else { "Top products by revenue" }.into(),
        definition:
            "Per SKU and currency for the day: revenue is the sum of price × quantity, units the sum of quantity.",
        sql: String::new(),
        columns: vec!["SKU".into(), "Product".into(), "Currency".into(), "Revenue".into(), "Units".into()],
        numeric: vec![false, false, false, true, true],
        rows: rows
            .iter()
            .map(|r| {
                vec![
                    Cell::text(text(r, "sku")),
                    Cell::text(text(r, "product_name")),
                    Cell::text(text(r, "currency")),
                    Cell::amount(amount(r, "revenue")),
                    Cell::count(count(r, "units")),
                ]
            })
            .collect(),
    }
}

/// Payment mix for the day.
pub fn payments_sql(date: SalesDate, shop: Option<&ShopId>) -> Statement {
    let sql = format!(
        "SELECT COALESCE(payment_method, '(not given)') AS payment_method, currency, SUM(price * quantity) AS amount, \
         {TRANSACTIONS} AS transactions FROM sales_processed WHERE date = {}{} \
         GROUP BY COALESCE(payment_method, '(not given)'), currency ORDER BY currency, amount DESC",
        literal(date),
        shop_filter(shop)
    );
    Statement::new(sql, shop, date, date)
}

/// The payment-mix table: amount, transactions and share of the currency's amount.
pub fn payments(rows: &[Row]) -> Widget {
    let total = |currency: &str| {
        Amount::sum(rows.iter().filter(|r| text(r, "currency") == currency).map(|r| amount(r, "amount")))
    };
    Widget {
        key: "payments",
        title: "Payment mix".into(),
        definition: "Per payment method and currency for the day: amount (price × quantity), distinct transactions, share of the currency's amount.",
        sql: String::new(),
        columns: vec!["Payment method".into(), "Currency".into(), "Amount".into(), "Transactions".into(), "Share".into()],
        numeric: vec![false, false, true, true, true],
        rows: rows
            .iter()
            .map(|r| {
                let currency = text(r, "currency");
                let amount_here = amount(r, "amount");
                let share = amount_here.share_of(total(&currency)).map_or_else(|| "n/a".into(), |s| format!("{s:.1} %"));
                vec![
                    Cell::text(text(r, "payment_method")),
                    Cell::text(currency),
                    Cell::amount(amount_here),
                    Cell::count(count(r, "transactions")),
                    Cell::text(share),
                ]
            })
            .collect(),
    }
}
