//! `GET /ui/dashboard?date=` (all shops) and `GET /ui/dashboard/shops/{shop_id}` (one shop):
//! the day's headline figures beside the same weekday a week earlier and the four-week average,
//! freshness and the shops that have not reported, sales per shop, the 30-day trend, top
//! products and the payment mix. `&format=csv&table=KEY` downloads one table. The day defaults
//! to the latest one with data.

use super::widgets::{self, Headline, Widget};
use super::{render, Frame, PageUser};
use crate::catalog::{PartitionRange, SALES_TABLE};
use crate::domain::{Role, SalesDate, ShopId};
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::{ApiPath, ApiQuery};
use crate::http::AppState;
use askama::Template;
use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use futures_util::{StreamExt, TryStreamExt};

/// Days of the trend a page may ask for (`days=`); the first is the default.
const TREND_DAYS: [i64; 2] = [30, 90];
/// A shop that reported within this many days before the day is expected to report on it.
const EXPECTED_WITHIN_DAYS: i64 = 28;

/// Query of the dashboard.
#[derive(Debug, serde::Deserialize)]
pub struct DashboardQuery {
    /// The day; default: the latest with data.
    date: Option<SalesDate>,
    /// `csv` downloads the table named by `table`.
    format: Option<String>,
    /// The table to download.
    table: Option<String>,
    /// Days of the trend: 30 (default) or 90.
    days: Option<i64>,
}

/// A widget and the chart drawn beside its table (`bar`, `line` or none).
pub struct Shown {
    widget: Widget,
    chart: &'static str,
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    frame: Frame,
    heading: String,
    origin: String,
    date: Option<SalesDate>,
    as_of: String,
    headlines: Vec<Headline>,
    headline_sql: String,
    show_missing: bool,
    missing: Vec<(String, String, String)>,
    /// The nearest days with data before and after the day shown.
    previous_day: Option<String>,
    next_day: Option<String>,
    widgets: Vec<Shown>,
    csv_base: String,
    /// This page's path, for the links to other days.
    path: String,
    trend_days: i64,
}

/// The dashboard over every shop (analysts and admins).
pub async fn all_shops(
    State(state): State<AppState>,
    user: PageUser,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<DashboardQuery>,
) -> ApiResult<Response> {
    user.require(&[Role::Analyst, Role::Admin])?;
    page(&state, &user, &headers, query, None).await
}

/// The same figures for one shop (analysts and admins, and the shop itself).
pub async fn one_shop(
    State(state): State<AppState>,
    user: PageUser,
    headers: HeaderMap,
    ApiPath(shop): ApiPath<ShopId>,
    ApiQuery(query): ApiQuery<DashboardQuery>,
) -> ApiResult<Response> {
    let principal = user.require(&[Role::Analyst, Role::Admin, Role::Shop])?;
    if principal.role == Role::Shop && !principal.may_act_on_shop(&shop) {
        return Err(ApiError::Forbidden(format!("this token may not read shop {shop}")));
    }
    page(&state, &user, &headers, query, Some(shop)).await
}

async fn page(
    state: &AppState,
    user: &PageUser,
    headers: &HeaderMap,
    query: DashboardQuery,
    shop: Option<ShopId>,
) -> ApiResult<Response> {
    let shop_id = shop.as_ref().map(ShopId::as_str);
    let days_with_data = state.catalog.partition_dates(SALES_TABLE, shop_id).await?;
    let latest = days_with_data.last().and_then(|d| SalesDate::parse(d).ok());
    let heading = match &shop {
        Some(shop) => format!("Shop {shop}"),
        None => "Daily sales".to_owned(),
    };
    let origin = super::origin_of(headers);
    let trend_days = query.days.unwrap_or(TREND_DAYS[0]);
    if !TREND_DAYS.contains(&trend_days) {
        return Err(ApiError::BadRequest(format!("days={trend_days}: the trend covers 30 or 90 days")));
    }
    let path = match &shop {
        Some(shop) => format!("/ui/dashboard/shops/{shop}"),
        None => "/ui/dashboard".to_owned(),
    };
    let Some(date) = query.date.or(latest) else {
        let page = DashboardPage {
            frame: user.frame(),
            heading,
            origin,
            date: None,
            as_of: String::new(),
            headlines: Vec::new(),
            headline_sql: String::new(),
            show_missing: false,
            missing: Vec::new(),
            previous_day: None,
            next_day: None,
            widgets: Vec::new(),
            csv_base: String::new(),
            path,
            trend_days,
        };
        return Ok(render(&page));
    };
    let shop_ref = shop.as_ref();
    let headline_sql = widgets::headline_sql(date, shop_ref);
    let shops_sql = widgets::per_shop_sql(date);
    let trend_sql = widgets::trend_sql(date, trend_days, shop_ref);
    let revenue_sql = widgets::top_products_sql(date, false, shop_ref);
    let units_sql = widgets::top_products_sql(date, true, shop_ref);
    let payments_sql = widgets::payments_sql(date, shop_ref);
    // The widgets' statements run as many at a time as the engine has query slots, longest
    // first: more would only queue behind this page's own statements, and a statement queued
    // past the engine's wait limit answers busy (a 10,000-partition lake under load showed it).
    let mut statements = vec![&trend_sql, &headline_sql, &revenue_sql, &units_sql, &payments_sql];
    if shop_ref.is_none() {
        statements.push(&shops_sql);
    }
    let at_once = state.settings.query_max_concurrent.max(1);
    let pending: Vec<_> = statements.into_iter().map(|statement| widgets::rows(state, statement)).collect();
    let mut answers: Vec<Vec<widgets::Row>> =
        futures_util::stream::iter(pending).buffered(at_once).try_collect().await?;
    let shop_rows = if shop_ref.is_none() { answers.pop().unwrap_or_default() } else { Vec::new() };
    let [trend_rows, headline_rows, revenue_rows, units_rows, payment_rows]: [Vec<widgets::Row>; 5] =
        answers.try_into().expect("one answer per statement");
    let with_sql = |mut widget: Widget, statement: &widgets::Statement| {
        widget.sql = statement.sql.clone();
        widget
    };
    let mut shown = Vec::new();
    if shop.is_none() {
        shown.push(Shown { widget: with_sql(widgets::per_shop(&shop_rows), &shops_sql), chart: "bar" });
    }
    shown.push(Shown { widget: with_sql(widgets::trend(date, trend_days, &trend_rows), &trend_sql), chart: "line" });
    shown.push(Shown { widget: with_sql(widgets::top_products(false, &revenue_rows), &revenue_sql), chart: "bar" });
    shown.push(Shown { widget: with_sql(widgets::top_products(true, &units_rows), &units_sql), chart: "bar" });
    shown.push(Shown { widget: with_sql(widgets::payments(&payment_rows), &payments_sql), chart: "bar" });

    if query.format.as_deref() == Some("csv") {
        let wanted = query.table.as_deref().unwrap_or("");
        let widget = shown
            .iter()
            .find(|s| s.widget.key == wanted)
            .ok_or_else(|| ApiError::NotFound(format!("no table '{wanted}' on this page")))?;
        return Ok(csv_download(&widget.widget, date));
    }

    let freshness = state.catalog.freshness(SALES_TABLE, shop_id).await?;
    let as_of = freshness.map_or_else(|| "no upload yet".into(), |f| human_time(&f.last_change));
    let missing = if shop.is_none() { not_reported(state, date).await? } else { Vec::new() };
    let day = date.to_string();
    let previous_day = days_with_data.iter().rev().find(|d| d.as_str() < day.as_str()).cloned();
    let next_day = days_with_data.iter().find(|d| d.as_str() > day.as_str()).cloned();
    let page = DashboardPage {
        frame: user.frame(),
        heading,
        origin,
        date: Some(date),
        as_of,
        headlines: widgets::headlines(date, &headline_rows),
        headline_sql: headline_sql.sql,
        show_missing: shop.is_none(),
        missing,
        previous_day,
        next_day,
        widgets: shown,
        csv_base: format!("{path}?date={date}&days={trend_days}"),
        path,
        trend_days,
    };
    Ok(render(&page))
}

/// Shops with a partition in the 28 days before `date` but none on it: shop, its last day with
/// data, and the time of its last accepted upload.
async fn not_reported(state: &AppState, date: SalesDate) -> ApiResult<Vec<(String, String, String)>> {
    let day = date.to_string();
    let since = widgets::days_from(date, -EXPECTED_WITHIN_DAYS).to_string();
    let range = PartitionRange { shop_id: None, from_date: Some(&since), to_date: Some(&day) };
    let partitions = state.catalog.partitions_in(SALES_TABLE, &range).await?;
    let reported: std::collections::BTreeSet<&str> =
        partitions.iter().filter(|p| p.date == day).map(|p| p.shop_id.as_str()).collect();
    let mut shops: std::collections::BTreeMap<&str, (&str, &str)> = std::collections::BTreeMap::new();
    for p in partitions.iter().filter(|p| p.date != day && !reported.contains(p.shop_id.as_str())) {
        let entry = shops.entry(p.shop_id.as_str()).or_insert((p.date.as_str(), p.updated_at.as_str()));
        entry.0 = entry.0.max(p.date.as_str());
        entry.1 = entry.1.max(p.updated_at.as_str());
    }
    Ok(shops
        .into_iter()
        .map(|(shop, (last_day, last_upload))| (shop.to_owned(), last_day.to_owned(), human_time(last_upload)))
        .collect())
}

/// `2025-07-30T18:04:05.123Z` as people read it: `2025-07-30 18:04 UTC` (as is, if unreadable).
fn human_time(rfc3339: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .map(|t| t.with_timezone(&chrono::Utc).format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|_| rfc3339.to_owned())
}

/// One table as CSV: the headings, then each row's exact values.
pub(super) fn csv_download(widget: &Widget, date: SalesDate) -> Response {
    let mut out = csv::Writer::from_writer(Vec::new());
    let _ = out.write_record(&widget.columns);
    for row in &widget.rows {
        // Text a spreadsheet would run as a formula gets a leading `'` (names come from shops).
        let fields = row.iter().zip(&widget.numeric).map(|(cell, numeric)| {
            if *numeric {
                cell.exact.as_bytes().to_vec()
            } else {
                crate::ingest::neutralise(cell.exact.as_bytes()).into_owned()
            }
        });
        let _ = out.write_record(fields);
    }
    let body = out.into_inner().unwrap_or_default();
    let disposition = format!("attachment; filename=\"{}-{date}.csv\"", widget.key);
    ([(header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()), (header::CONTENT_DISPOSITION, disposition)], body)
        .into_response()
}
