//! The reporting pages under `/ui/`: signing in from a browser (the session cookie and its
//! attributes, the same-origin check), the API's roles and shop scope on every page, and the
//! dashboard's figures against an independent computation from the test's own rows.

use crate::helpers::{spawn_app, TestApp};
use reqwest::StatusCode;
use shoplake::domain::Role;

const HEADER: &str = "transaction_id,sold_at,sku,product_name,quantity,price,currency,payment_method\n";
const DAY: &str = "2025-07-30";

async fn upload(app: &TestApp, shop: &str, date: &str, rows: &[&str]) {
    let body = format!("{HEADER}{}\n", rows.join("\n"));
    let response = app.upload_csv(&app.admin_token(), shop, date, body).await;
    assert_eq!(response.status(), StatusCode::CREATED, "{}", response.text().await.unwrap());
}

async fn page(app: &TestApp, token: Option<&str>, path: &str) -> reqwest::Response {
    let mut request = app.client.get(app.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

async fn sign_in(app: &TestApp, token: &str, origin: Option<&str>, extra: &[(&str, &str)]) -> reqwest::Response {
    let mut request = app.client.post(app.url("/ui/session")).form(&[("token", token)]);
    if let Some(origin) = origin {
        request = request.header("origin", origin);
    }
    for (name, value) in extra {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap()
}

fn set_cookie(response: &reqwest::Response) -> String {
    response.headers().get("set-cookie").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default()
}

#[tokio::test]
async fn a_session_cookie_is_made_from_a_valid_token_httponly_strict_and_ending_with_the_token() {
    // Arrange
    let app = spawn_app().await;
    let token = app.token(Role::Analyst, None);

    // Act
    let signed_in = sign_in(&app, &token, Some(&app.address), &[]).await;
    let behind_https = sign_in(&app, &token, Some(&app.address), &[("x-forwarded-proto", "https")]).await;
    let refused = sign_in(&app, "not-a-token", Some(&app.address), &[]).await;
    let ended = app.client.post(app.url("/ui/session/end")).header("origin", &app.address).send().await.unwrap();

    // Assert
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
    assert_eq!(signed_in.headers()["location"], "/ui/");
    let cookie = set_cookie(&signed_in);
    assert!(cookie.starts_with(&format!("shoplake_session={token};")), "{cookie}");
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.split("; ").any(|a| a == attribute), "{attribute} missing: {cookie}");
    }
    let max_age: u64 = cookie.split("; ").find_map(|a| a.strip_prefix("Max-Age=")).unwrap().parse().unwrap();
    assert!((3500..=3600).contains(&max_age), "the cookie ends with the 1 h token, not {max_age} s");
    assert!(!cookie.contains("Secure"), "plain HTTP: no Secure flag");
    assert!(set_cookie(&behind_https).ends_with("; Secure"), "{}", set_cookie(&behind_https));
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert!(set_cookie(&refused).is_empty());
    assert!(refused.headers()["content-type"].to_str().unwrap().starts_with("text/html"), "the form again, not JSON");
    assert!(refused.text().await.unwrap().contains("name=\"token\""));
    assert!(set_cookie(&ended).starts_with("shoplake_session=;") && set_cookie(&ended).contains("Max-Age=0"));
}

#[tokio::test]
async fn requests_that_change_something_with_the_cookie_must_come_from_this_origin() {
    // Arrange
    let app = spawn_app().await;
    let cookie = format!("shoplake_session={}", app.shop_token("001"));
    let upload = |origin: Option<&'static str>| {
        let mut request = app
            .client
            .post(app.url(&format!("/v1/shops/001/uploads?date={DAY}")))
            .header("cookie", &cookie)
            .header("content-type", "text/csv")
            .body(format!("{HEADER}T1,{DAY}T10:00:00,SKU-A,Milk,1,1.50,EUR,card\n"));
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        request.send()
    };

    // Act
    let without_origin = upload(None).await.unwrap();
    let from_elsewhere = upload(Some("https://evil.example")).await.unwrap();
    let own = app
        .client
        .post(app.url(&format!("/v1/shops/001/uploads?date={DAY}")))
        .header("cookie", &cookie)
        .header("origin", &app.address)
        .header("content-type", "text/csv")
        .body(format!("{HEADER}T1,{DAY}T10:00:00,SKU-A,Milk,1,1.50,EUR,card\n"))
        .send()
        .await
        .unwrap();
    let read = app.client.get(app.url("/ui/shops/001")).header("cookie", &cookie).send().await.unwrap();
    let foreign_sign_in = sign_in(&app, &app.shop_token("001"), Some("https://evil.example"), &[]).await;
    let behind_a_proxy = sign_in(
        &app,
        &app.shop_token("001"),
        Some("https://shoplake.example"),
        &[("x-forwarded-host", "shoplake.example"), ("x-forwarded-proto", "https")],
    )
    .await;

    // Assert
    assert_eq!(without_origin.status(), StatusCode::FORBIDDEN);
    assert_eq!(from_elsewhere.status(), StatusCode::FORBIDDEN);
    assert_eq!(own.status(), StatusCode::CREATED, "the page's own upload is accepted with the cookie");
    assert_eq!(read.status(), StatusCode::OK, "reading needs no Origin");
    assert_eq!(foreign_sign_in.status(), StatusCode::FORBIDDEN);
    assert!(set_cookie(&foreign_sign_in).is_empty());
    assert_eq!(behind_a_proxy.status(), StatusCode::SEE_OTHER, "the host the proxy says the browser used");
}

#[tokio::test]
async fn every_page_holds_the_api_roles_and_a_shop_sees_only_its_own() {
    // Arrange
    let app = spawn_app().await;
    upload(&app, "001", DAY, &[&format!("T1,{DAY}T10:00:00,SKU-A,Milk,1,1.50,EUR,card")]).await;
    let (shop, other, analyst, admin) =
        (app.shop_token("001"), app.shop_token("002"), app.token(Role::Analyst, None), app.admin_token());
    let cases: &[(&str, Option<&str>, StatusCode)] = &[
        ("/ui/dashboard", None, StatusCode::SEE_OTHER),
        ("/ui/shops/001", None, StatusCode::SEE_OTHER),
        ("/ui/dashboard", Some(&shop), StatusCode::FORBIDDEN),
        ("/ui/dashboard?format=csv&table=shops", Some(&shop), StatusCode::FORBIDDEN),
        ("/ui/dashboard/shops/001", Some(&shop), StatusCode::OK),
        ("/ui/dashboard/shops/001", Some(&other), StatusCode::FORBIDDEN),
        ("/ui/dashboard/shops/001?format=csv&table=payments", Some(&other), StatusCode::FORBIDDEN),
        ("/ui/shops/001", Some(&shop), StatusCode::OK),
        ("/ui/shops/001", Some(&other), StatusCode::FORBIDDEN),
        ("/ui/shops/001?format=csv&table=daily", Some(&other), StatusCode::FORBIDDEN),
        ("/ui/shops/001", Some(&analyst), StatusCode::FORBIDDEN),
        ("/ui/dashboard", Some(&analyst), StatusCode::OK),
        ("/ui/dashboard/shops/001", Some(&analyst), StatusCode::OK),
        ("/ui/dashboard", Some(&admin), StatusCode::OK),
        ("/ui/shops/001", Some(&admin), StatusCode::OK),
        ("/ui/dashboard/shops/bad%20id", Some(&admin), StatusCode::BAD_REQUEST),
    ];

    for (path, token, expected) in cases {
        // Act
        let response = page(&app, *token, path).await;

        // Assert
        assert_eq!(response.status(), *expected, "{path} with {}", if token.is_some() { "a token" } else { "none" });
        if *expected == StatusCode::SEE_OTHER {
            assert_eq!(response.headers()["location"], "/ui/", "{path}: sent to sign in");
        }
    }
}

#[tokio::test]
async fn an_empty_lake_shows_how_to_send_the_first_file_and_the_pages_load_nothing_from_elsewhere() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let dashboard = page(&app, Some(&app.token(Role::Analyst, None)), "/ui/dashboard").await;
    let policy = dashboard.headers()["content-security-policy"].to_str().unwrap().to_owned();
    let html = dashboard.text().await.unwrap();
    let chart = page(&app, None, "/ui/assets/vendor/chart.umd.min.js").await;
    let sign_in_page = page(&app, None, "/ui/").await.text().await.unwrap();
    let behind_https = app
        .client
        .get(app.url("/ui/dashboard"))
        .bearer_auth(app.token(Role::Analyst, None))
        .header("x-forwarded-proto", "https")
        .header("x-forwarded-host", "lake.example.com")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();

    // Assert
    assert!(html.contains("No sales in the lake yet") && html.contains("shoplake token --role shop"), "{html}");
    assert!(
        html.contains(&format!("curl -X POST \"http://{}/v1/shops/", app.address.trim_start_matches("http://"))),
        "{html}"
    );
    assert!(behind_https.contains("curl -X POST \"https://lake.example.com/v1/shops/"), "{behind_https}");
    let scripts = policy.split(';').find(|d| d.trim().starts_with("script-src")).unwrap();
    assert!(!scripts.contains("unsafe-inline"), "{policy}");
    assert_eq!(chart.status(), StatusCode::OK);
    assert!(chart.headers()["content-type"].to_str().unwrap().contains("javascript"));
    for page in [&html, &sign_in_page] {
        for attribute in ["src=\"", "href=\""] {
            for (at, _) in page.match_indices(attribute) {
                let target = &page[at + attribute.len()..];
                assert!(
                    target.starts_with('/') || target.starts_with('#') || target.starts_with("data:"),
                    "a page refers to another host: {}",
                    &target[..target.find('"').unwrap()]
                );
            }
        }
    }
}

/// The day, its four earlier same weekdays (two with data), a return, a second currency, and a
/// shop that reported three days before but not on the day.
async fn lake_with_known_figures(app: &TestApp) {
    upload(
        app,
        "001",
        DAY,
        &[
            "T1,2025-07-30T10:00:00,SKU-A,<b>Milk</b>,2,1.50,EUR,card",
            "T2,2025-07-30T11:00:00,SKU-B,Bread,1,2.25,EUR,cash",
            "T3,2025-07-30T12:00:00,SKU-A,<b>Milk</b>,-1,1.50,EUR,card",
        ],
    )
    .await;
    upload(
        app,
        "002",
        DAY,
        &["T1,2025-07-30T10:00:00,SKU-A,Milk,3,1.50,EUR,card", "T2,2025-07-30T10:05:00,SKU-C,Cheese,1,10.00,USD,card"],
    )
    .await;
    upload(app, "001", "2025-07-23", &["T1,2025-07-23T10:00:00,SKU-A,Milk,1,1.50,EUR,card"]).await;
    upload(app, "002", "2025-07-23", &["T1,2025-07-23T10:00:00,SKU-B,Bread,2,2.25,EUR,card"]).await;
    upload(app, "001", "2025-07-16", &["T1,2025-07-16T10:00:00,SKU-A,Milk,1,2.00,EUR,card"]).await;
    upload(app, "003", "2025-07-27", &["T1,2025-07-27T10:00:00,SKU-A,Milk,1,1.50,EUR,card"]).await;
}

/// A CSV download's rows, header first.
async fn csv_rows(app: &TestApp, token: &str, path: &str) -> Vec<Vec<String>> {
    let response = page(app, Some(token), path).await;
    assert_eq!(response.status(), StatusCode::OK, "{path}");
    let text = response.text().await.unwrap();
    let mut reader = csv::ReaderBuilder::new().has_headers(false).from_reader(text.as_bytes());
    reader.records().map(|r| r.unwrap().iter().map(str::to_owned).collect()).collect()
}

fn sorted(mut rows: Vec<Vec<String>>) -> Vec<Vec<String>> {
    rows.sort();
    rows
}

fn strings(rows: &[&[&str]]) -> Vec<Vec<String>> {
    rows.iter().map(|r| r.iter().map(|s| s.to_string()).collect()).collect()
}

#[tokio::test]
async fn the_dashboards_figures_equal_an_independent_computation_from_the_rows() {
    // Arrange: expected figures computed here from the rows above, by hand.
    // EUR on the day: 2×1.50 + 1×2.25 − 1×1.50 + 3×1.50 = 8.25; 4 receipts; 5 units.
    // USD: 10.00, 1 receipt, 1 unit. EUR a week before: 1.50 + 4.50 = 6.00; two weeks: 2.00;
    // the average of the earlier same weekdays with data: (6.00 + 2.00) / 2 = 4.00 (the two weeks
    // before the lake began are no zeros).
    let app = spawn_app().await;
    lake_with_known_figures(&app).await;
    let analyst = app.token(Role::Analyst, None);

    // Act
    let html = page(&app, Some(&analyst), "/ui/dashboard").await.text().await.unwrap();
    let shops = csv_rows(&app, &analyst, &format!("/ui/dashboard?date={DAY}&format=csv&table=shops")).await;
    let payments = csv_rows(&app, &analyst, &format!("/ui/dashboard?date={DAY}&format=csv&table=payments")).await;
    let top = csv_rows(&app, &analyst, &format!("/ui/dashboard?date={DAY}&format=csv&table=top_revenue")).await;
    let one_shop = page(&app, Some(&app.shop_token("001")), "/ui/dashboard/shops/001").await.text().await.unwrap();

    // Assert: the day defaults to the latest with data, and every figure is the computed one.
    assert!(html.contains(&format!("Figures for {DAY}")), "the latest day with data is shown");
    for figure in [
        "data-value=\"8.2500\">8.25<",
        "data-value=\"10.0000\">10.00<",
        "+37.5 % vs same weekday last week (6.00)",
        "+106.3 % vs average of the 2 earlier same weekdays with data, of the last 4 (4.00)",
        "Average basket (EUR)</h2><p class=\"big\">2.06<",
        "Average basket (USD)</h2><p class=\"big\">10.00<",
    ] {
        assert!(html.contains(figure), "missing {figure}");
    }
    assert!(html.contains("<td data-value=\"003\">003</td><td data-value=\"2025-07-27\">"), "003 did not report");
    assert!(!html.contains("<td data-value=\"001\">001</td><td data-value=\"2025-07"), "001 reported");
    assert_eq!(shops[0], ["Shop", "Currency", "Sales", "Transactions", "Units"]);
    assert_eq!(
        sorted(shops[1..].to_vec()),
        strings(&[
            &["001", "EUR", "3.7500", "3", "2"],
            &["002", "EUR", "4.5000", "1", "3"],
            &["002", "USD", "10.0000", "1", "1"]
        ])
    );
    assert_eq!(
        sorted(payments[1..].to_vec()),
        strings(&[
            &["card", "EUR", "6.0000", "3", "72.7 %"],
            &["card", "USD", "10.0000", "1", "100.0 %"],
            &["cash", "EUR", "2.2500", "1", "27.3 %"],
        ])
    );
    assert_eq!(top[1], ["SKU-C", "Cheese", "USD", "10.0000", "1"]);
    assert_eq!(
        top[2],
        ["SKU-A", "Milk", "EUR", "6.0000", "4"],
        "returns subtract; the name is the greatest of the two spellings"
    );
    assert!(one_shop.contains("data-value=\"3.7500\">3.75<"), "shop 001 alone: 3.75 EUR");
    assert!(!one_shop.contains("10.00<"), "shop 001 sold nothing in USD");
    assert!(one_shop.contains("&#60;b&#62;Milk") && !one_shop.contains("<b>Milk"), "text from shops is escaped");
}

#[tokio::test]
async fn the_trend_covers_30_or_90_days_with_the_period_before_beside_it() {
    // Arrange: a day 60 days before DAY: inside the 90-day trend only.
    let app = spawn_app().await;
    lake_with_known_figures(&app).await;
    upload(&app, "001", "2025-05-31", &["T1,2025-05-31T10:00:00,SKU-A,Milk,4,1.25,EUR,card"]).await;
    let analyst = app.token(Role::Analyst, None);
    let trend = |days: &'static str| format!("/ui/dashboard?date={DAY}&days={days}&format=csv&table=trend");

    // Act
    let thirty = csv_rows(&app, &analyst, &trend("30")).await;
    let ninety = csv_rows(&app, &analyst, &trend("90")).await;
    let seven = page(&app, Some(&analyst), &trend("7")).await;

    // Assert
    assert_eq!(thirty[0], ["Date", "Currency", "Sales", "Sales 30 days earlier"]);
    assert_eq!(ninety[0], ["Date", "Currency", "Sales", "Sales 90 days earlier"]);
    let day = |rows: &[Vec<String>], date: &str| rows.iter().find(|r| r[0] == date).cloned();
    assert_eq!(
        day(&thirty, "2025-07-30").unwrap()[2..],
        ["8.2500", ""],
        "EUR on the day; no data 30 days before is blank, not a zero"
    );
    assert!(day(&thirty, "2025-05-31").is_none(), "60 days back is outside the 30-day trend");
    assert_eq!(day(&ninety, "2025-05-31").unwrap()[2], "5.0000", "inside the 90-day trend");
    assert_eq!(seven.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn the_dashboard_links_the_nearest_days_with_data_of_its_scope() {
    // Arrange: days with data 07-16, 07-23, 07-27 (shop 003 only) and 07-30.
    let app = spawn_app().await;
    lake_with_known_figures(&app).await;
    let analyst = app.token(Role::Analyst, None);

    // Act
    let between = page(&app, Some(&analyst), "/ui/dashboard?date=2025-07-25").await.text().await.unwrap();
    let first = page(&app, Some(&analyst), "/ui/dashboard?date=2025-07-16").await.text().await.unwrap();
    let shop_001 = page(&app, Some(&analyst), "/ui/dashboard/shops/001?date=2025-07-25").await.text().await.unwrap();

    // Assert
    let link = |path: &str, date: &str, rel: &str| format!("href=\"{path}?date={date}&amp;days=30\" rel=\"{rel}\"");
    assert!(between.contains(&link("/ui/dashboard", "2025-07-23", "prev")), "{between}");
    assert!(between.contains(&link("/ui/dashboard", "2025-07-27", "next")), "{between}");
    assert!(first.contains("no earlier day with data"), "{first}");
    assert!(first.contains(&link("/ui/dashboard", "2025-07-23", "next")), "{first}");
    assert!(
        shop_001.contains(&link("/ui/dashboard/shops/001", "2025-07-30", "next")),
        "shop 001 has no data on 07-27 (only 003 has): {shop_001}"
    );
}

#[tokio::test]
async fn a_malformed_day_reads_as_a_page_in_a_browser_and_as_problem_json_elsewhere() {
    // Arrange
    let app = spawn_app().await;
    let analyst = app.token(Role::Analyst, None);
    let path = "/ui/dashboard?date=2025-13-40";

    // Act
    let browser = app
        .client
        .get(app.url(path))
        .bearer_auth(&analyst)
        .header("accept", "text/html,application/xhtml+xml,*/*;q=0.8")
        .send()
        .await
        .unwrap();
    let script = page(&app, Some(&analyst), path).await;

    // Assert
    assert_eq!(browser.status(), StatusCode::BAD_REQUEST);
    assert!(browser.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    assert!(browser.headers().contains_key("content-security-policy"), "the page keeps the pages' headers");
    let html = browser.text().await.unwrap();
    assert!(html.contains("2025-13-40") && html.contains("Back to the reporting pages"), "{html}");
    assert_eq!(script.status(), StatusCode::BAD_REQUEST);
    assert_eq!(script.headers()["content-type"], "application/problem+json");
    let problem: serde_json::Value = script.json().await.unwrap();
    assert!(problem["detail"].as_str().unwrap().contains("2025-13-40"), "{problem}");
}

/// The count of widget answers from `source` in `/metrics`.
async fn answers_from(app: &TestApp, source: &str) -> u64 {
    let text = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    let series = format!("shoplake_ui_answers_total{{source=\"{source}\"}} ");
    text.lines().find_map(|line| line.strip_prefix(series.as_str())).map_or(0, |v| v.trim().parse().unwrap())
}

#[tokio::test]
async fn a_widget_answer_is_kept_until_a_partition_it_reads_is_replaced() {
    // Arrange
    let app = spawn_app().await;
    lake_with_known_figures(&app).await;
    let analyst = app.token(Role::Analyst, None);
    let shops = format!("/ui/dashboard?date={DAY}&format=csv&table=shops");
    let row_of = |rows: &[Vec<String>], shop: &str, currency: &str| {
        rows.iter().find(|r| r[0] == shop && r[1] == currency).cloned().unwrap_or_default()
    };

    // Act
    let first = csv_rows(&app, &analyst, &shops).await;
    let kept_before = answers_from(&app, "kept").await;
    let again = csv_rows(&app, &analyst, &shops).await;
    let kept_after_again = answers_from(&app, "kept").await;
    // Another day's upload changes nothing this day's widgets read but the trend's days.
    upload(&app, "004", "2025-07-31", &["T1,2025-07-31T10:00:00,SKU-A,Milk,1,1.50,EUR,card"]).await;
    let after_next_day = csv_rows(&app, &analyst, &shops).await;
    upload(&app, "001", DAY, &["T9,2025-07-30T18:00:00,SKU-A,Milk,10,1.00,EUR,card"]).await;
    let after_replacement = csv_rows(&app, &analyst, &shops).await;

    // Assert
    assert_eq!(again, first);
    assert!(
        kept_after_again >= kept_before + 6,
        "the second view ran none of its six statements: kept {kept_before} -> {kept_after_again}"
    );
    assert_eq!(after_next_day, first, "a later day's upload leaves this day's figures");
    assert_eq!(row_of(&first, "001", "EUR")[2], "3.7500");
    assert_eq!(row_of(&after_replacement, "001", "EUR")[2], "10.0000", "the replaced shop-day is read anew");
}
