//! `GET /ui/shops/{shop_id}` (the shop itself and admins): send the day's file (a drop zone
//! that is also a file input, the date, "check only" and "upload"), the shop's uploads newest
//! first with their rejected rows, and its daily totals for the last 30 days.

use super::widgets::{self, Widget};
use super::{render, Frame, PageUser};
use crate::db::{ListFilter, UploadRecord};
use crate::domain::{Role, SalesDate, ShopId, UploadId};
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::{ApiPath, ApiQuery};
use crate::http::AppState;
use askama::Template;
use axum::extract::State;
use axum::response::Response;

/// Uploads per page.
const PAGE: u32 = 20;
/// Days of daily totals.
const TOTAL_DAYS: i64 = 30;

/// Query of the shop page: `before` pages the upload list.
#[derive(Debug, serde::Deserialize)]
pub struct ShopQuery {
    /// The last upload id of the previous page.
    before: Option<UploadId>,
    /// `csv` downloads the daily totals (`table=daily`).
    format: Option<String>,
}

/// One upload as the page lists it.
pub struct UploadLine {
    record: UploadRecord,
    received: String,
}

#[derive(Template)]
#[template(path = "shop.html")]
struct ShopPage {
    frame: Frame,
    shop: ShopId,
    today: SalesDate,
    uploads: Vec<UploadLine>,
    next_page: Option<String>,
    totals: Widget,
    csv_base: String,
}

/// The shop's page.
pub async fn shop_page(
    State(state): State<AppState>,
    user: PageUser,
    ApiPath(shop): ApiPath<ShopId>,
    ApiQuery(query): ApiQuery<ShopQuery>,
) -> ApiResult<Response> {
    let principal = user.require(&[Role::Shop, Role::Admin])?;
    if !principal.may_act_on_shop(&shop) {
        return Err(ApiError::Forbidden(format!("this token may not read shop {shop}")));
    }
    let filter = ListFilter { date: None, status: None, before: query.before, limit: PAGE };
    let (records, more) = state.db.uploads().list(&shop, &filter).await?;
    let next_page = more.then(|| records.last().map(|r| format!("/ui/shops/{shop}?before={}", r.id))).flatten();
    // Up to the shop's latest day with data (a shop that stopped sending still sees its days).
    let freshness = state.catalog.freshness(crate::catalog::SALES_TABLE, Some(shop.as_str())).await?;
    let latest = freshness.and_then(|f| SalesDate::parse(&f.latest_date).ok());
    let today = SalesDate::from(chrono::Utc::now().date_naive());
    let sql = daily_totals_sql(&shop, latest.unwrap_or(today));
    let rows = widgets::rows(&state, &sql).await?;
    let mut totals = daily_totals(&rows);
    totals.sql = sql.sql;
    if query.format.as_deref() == Some("csv") {
        return Ok(super::dashboard::csv_download(&totals, latest.unwrap_or(today)));
    }
    let uploads = records
        .into_iter()
        .map(|record| UploadLine {
            received: chrono::DateTime::from_timestamp_millis(record.received_at)
                .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
                .unwrap_or_default(),
            record,
        })
        .collect();
    let page = ShopPage {
        frame: user.frame(),
        csv_base: format!("/ui/shops/{shop}?days={TOTAL_DAYS}"),
        shop,
        today,
        uploads,
        next_page,
        totals,
    };
    Ok(render(&page))
}

/// The shop's sales per day and currency over the 30 days up to `last`.
fn daily_totals_sql(shop: &ShopId, last: SalesDate) -> widgets::Statement {
    let first = widgets::days_from(last, -(TOTAL_DAYS - 1));
    let sql = format!(
        "SELECT date, currency, SUM(price * quantity) AS sales, {} AS transactions, SUM(quantity) AS units \
         FROM sales_processed WHERE date BETWEEN {} AND {}{} GROUP BY date, currency ORDER BY date DESC, currency",
        widgets::TRANSACTIONS,
        widgets::literal(first),
        widgets::literal(last),
        widgets::shop_filter(Some(shop))
    );
    widgets::Statement { sql, shop: Some(shop.clone()), from: first, to: last }
}

fn daily_totals(rows: &[widgets::Row]) -> Widget {
    use widgets::Cell;
    Widget {
        key: "daily",
        title: format!("Daily totals, last {TOTAL_DAYS} days"),
        definition: "Per day and currency: sales (price × quantity), distinct transactions, units.",
        sql: String::new(),
        columns: vec!["Date".into(), "Currency".into(), "Sales".into(), "Transactions".into(), "Units".into()],
        numeric: vec![false, false, true, true, true],
        rows: rows
            .iter()
            .map(|r| {
                vec![
                    Cell::text(widgets::text(r, "date")),
                    Cell::text(widgets::text(r, "currency")),
                    Cell::amount(widgets::amount(r, "sales")),
                    Cell::count(widgets::count(r, "transactions")),
                    Cell::count(widgets::count(r, "units")),
                ]
            })
            .collect(),
    }
}
