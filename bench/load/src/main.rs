//! `shoplake-load`: N concurrent clients send a fixed number of uploads, each a distinct
//! shop-day file of R rows, and report statuses, throughput and latency percentiles.
//!
//! ```text
//! shoplake-load --url http://127.0.0.1:8080 --token $ADMIN_TOKEN --clients 200 --requests 4000 --rows 2000
//! ```
//! Request `i` goes to shop `i % shops` and day `i / shops` after 2025-01-01, so no two requests
//! carry the same bytes (no duplicate short-cut). Latency is from sending the request to having
//! read the whole response. Prints one human summary to stderr and one JSON line to stdout.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

struct Args {
    url: String,
    token: String,
    clients: usize,
    requests: usize,
    rows: usize,
    shops: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut args =
        Args { url: String::new(), token: String::new(), clients: 200, requests: 4000, rows: 2000, shops: 200 };
    let mut words = std::env::args().skip(1);
    while let Some(flag) = words.next() {
        let value = words.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let number = || value.parse::<usize>().map_err(|_| format!("{flag} takes a whole number, not {value}"));
        match flag.as_str() {
            "--url" => args.url = value.trim_end_matches('/').to_owned(),
            "--token" => args.token = value,
            "--clients" => args.clients = number()?,
            "--requests" => args.requests = number()?,
            "--rows" => args.rows = number()?,
            "--shops" => args.shops = number()?,
            other => return Err(format!("unknown option {other}")),
        }
    }
    if args.url.is_empty() || args.token.is_empty() {
        return Err("--url and --token are required".into());
    }
    Ok(args)
}

/// The day `offset` days after 2025-01-01, as YYYY-MM-DD (civil-from-days, no date crate).
fn day(offset: usize) -> String {
    let days = 20_089 + offset as i64; // 2025-01-01 is day 20,089 since 1970-01-01
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// A valid sales file of `rows` rows for `date`; `salt` varies prices so files differ.
fn sales_csv(date: &str, rows: usize, salt: usize) -> Vec<u8> {
    let mut text = String::with_capacity(rows * 90 + 100);
    text.push_str("transaction_id,sold_at,sku,product_name,quantity,unit_price,currency,payment_method\n");
    for i in 0..rows {
        let cents = 100 + (i * 37 + salt * 11) % 9_900;
        text.push_str(&format!(
            "T{salt}-{i:06},{date}T{:02}:{:02}:{:02},SKU{:05},Olive oil 1l,{},{}.{:02},EUR,card\n",
            8 + i % 12,
            i % 60,
            (i * 7) % 60,
            i % 5_000,
            1 + i % 4,
            cents / 100,
            cents % 100
        ));
    }
    text.into_bytes()
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank].as_secs_f64() * 1e3
}

#[tokio::main]
async fn main() {
    let args = match parse_args() {
        Ok(args) => Arc::new(args),
        Err(message) => {
            eprintln!("shoplake-load: {message}");
            std::process::exit(2);
        }
    };
    let client = reqwest::Client::builder().pool_max_idle_per_host(args.clients).build().expect("client");
    let next = Arc::new(AtomicUsize::new(0));
    let latencies = Arc::new(Mutex::new(Vec::with_capacity(args.requests)));
    let statuses: Arc<Mutex<BTreeMap<String, usize>>> = Arc::default();
    let bytes_sent = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..args.clients)
        .map(|_| {
            let (args, client, next) = (args.clone(), client.clone(), next.clone());
            let (latencies, statuses, bytes_sent) = (latencies.clone(), statuses.clone(), bytes_sent.clone());
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= args.requests {
                        return;
                    }
                    let (shop, date) = (format!("{:03}", 1 + i % args.shops), day(i / args.shops));
                    let body = sales_csv(&date, args.rows, i);
                    bytes_sent.fetch_add(body.len(), Ordering::Relaxed);
                    let sent_at = Instant::now();
                    let outcome = client
                        .post(format!("{}/v1/shops/{shop}/uploads?date={date}", args.url))
                        .bearer_auth(&args.token)
                        .header("content-type", "text/csv")
                        .body(body)
                        .send()
                        .await;
                    let label = match outcome {
                        Ok(response) => {
                            let status = response.status().as_u16().to_string();
                            let _ = response.bytes().await;
                            status
                        }
                        Err(error) if error.is_timeout() => "timeout".to_owned(),
                        Err(_) => "connection error".to_owned(),
                    };
                    latencies.lock().unwrap().push(sent_at.elapsed());
                    *statuses.lock().unwrap().entry(label).or_default() += 1;
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await.expect("worker");
    }
    let elapsed = started.elapsed().as_secs_f64();
    let mut latencies = latencies.lock().unwrap().clone();
    latencies.sort();
    let statuses = statuses.lock().unwrap().clone();
    let megabytes = bytes_sent.load(Ordering::Relaxed) as f64 / 1e6;
    let summary = serde_json::json!({
        "clients": args.clients,
        "requests": args.requests,
        "rows_per_file": args.rows,
        "elapsed_s": (elapsed * 1000.0).round() / 1000.0,
        "requests_per_s": (args.requests as f64 / elapsed * 10.0).round() / 10.0,
        "megabytes_per_s": (megabytes / elapsed * 10.0).round() / 10.0,
        "latency_ms": {
            "p50": percentile(&latencies, 50.0),
            "p90": percentile(&latencies, 90.0),
            "p99": percentile(&latencies, 99.0),
            "max": percentile(&latencies, 100.0),
        },
        "statuses": statuses,
    });
    eprintln!(
        "{} clients, {} uploads of {} rows in {:.2} s: {:.1} uploads/s ({:.1} MB/s); latency p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms; statuses {:?}",
        args.clients,
        args.requests,
        args.rows,
        elapsed,
        args.requests as f64 / elapsed,
        megabytes / elapsed,
        percentile(&latencies, 50.0),
        percentile(&latencies, 90.0),
        percentile(&latencies, 99.0),
        percentile(&latencies, 100.0),
        statuses
    );
    println!("{summary}");
}
