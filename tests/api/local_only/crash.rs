//! Crash safety: the real binary is killed with SIGKILL at random moments while clients upload
//! concurrently, and restarted, again and again. Afterwards no upload is stuck, every upload
//! answered 201 is current or superseded by a later one, each partition holds exactly the rows
//! of its current upload (count and exact sum), and no temporary or orphan raw file is left.
//!
//! `SHOPLAKE_CRASH_CYCLES` (default 50) and `SHOPLAKE_CRASH_SEED` make longer or repeated runs:
//! `scripts/crash.sh 500`.

use crate::helpers::{files_in, sample_csv, sample_total, TEST_SECRET};
use crate::server_process::{test_token, ServerProcess};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use shoplake::domain::Role;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const SHOP_DAYS: [(&str, &str); 4] =
    [("001", "2025-07-30"), ("001", "2025-07-31"), ("002", "2025-07-30"), ("003", "2025-07-30")];
const CLIENTS: usize = 6;

/// A small deterministic generator (xorshift64*), so a failing seed can be replayed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
}

/// An upload the server answered 201: its id, shop-day and rows.
#[derive(Debug, Clone)]
struct Answered {
    id: String,
    shop: &'static str,
    date: &'static str,
    rows: usize,
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_concurrent_uploads_loses_nothing_and_leaves_nothing_behind() {
    let cycles = env_number("SHOPLAKE_CRASH_CYCLES", 50);
    let seed = env_number("SHOPLAKE_CRASH_SEED", std::process::id() as u64 * 2_654_435_761 + 1);
    eprintln!("crash test: {cycles} cycles, SHOPLAKE_CRASH_SEED={seed}");
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (storage, database) =
        (data.display().to_string(), format!("sqlite://{}", dir.path().join("state.db").display()));
    let envs = [
        ("SHOPLAKE_JWT_SECRET", TEST_SECRET),
        ("SHOPLAKE_STORAGE", storage.as_str()),
        ("SHOPLAKE_DATABASE_URL", database.as_str()),
        ("SHOPLAKE_LOG", "warn"),
    ];
    let answered: Arc<Mutex<Vec<Answered>>> = Arc::default();
    let mut rng = Rng(seed | 1);
    let mut kills = 0;

    // The kill comes at a random moment up to `ceiling_ms` after the start. The floor of the
    // test — as many uploads answered as cycles — must not depend on the machine's speed: a
    // cycle that answered nothing while the run is behind that pace doubles the ceiling (one
    // ahead of it halves it back), and cycling goes on (up to three times the planned cycles)
    // until the floor is reached.
    let mut ceiling_ms = 260;
    let mut cycle = 0;
    while cycle < cycles || (answered.lock().unwrap().len() < cycles as usize && cycle < 3 * cycles) {
        let answered_before = answered.lock().unwrap().len();
        // Arrange: a fresh process on the same directory and database.
        let server = ServerProcess::start(dir.path(), &envs).await;
        assert_nothing_in_flight_or_temporary(&server, &data, &format!("after restart {cycle}")).await;
        // Act: clients upload until the process is killed at a random moment.
        let clients: Vec<_> = (0..CLIENTS)
            .map(|client| {
                let (url, answered) = (server.url.clone(), answered.clone());
                let client_seed = rng.below(u64::MAX) | 1;
                tokio::spawn(upload_until_refused(url, answered, Rng(client_seed), cycle, client))
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(10 + rng.below(ceiling_ms))).await;
        server.kill();
        kills += 1;
        for client in clients {
            client.await.unwrap();
        }
        // Behind the pace of one answer per cycle: later kills; ahead of it: back to early ones.
        let answered_now = answered.lock().unwrap().len();
        if answered_now == answered_before && answered_now < (cycle + 1) as usize {
            ceiling_ms = (ceiling_ms * 2).min(10_000);
        } else if answered_now >= (cycle + 1) as usize {
            ceiling_ms = (ceiling_ms / 2).max(260);
        }
        cycle += 1;
    }
    eprintln!("crash test: {cycle} cycles, kill moments up to {ceiling_ms} ms after start");

    // Assert, on a last restart.
    let server = ServerProcess::start(dir.path(), &envs).await;
    assert_nothing_in_flight_or_temporary(&server, &data, "after the last restart").await;
    let answered = answered.lock().unwrap().clone();
    assert!(answered.len() >= cycles as usize, "too few uploads were answered to test anything: {}", answered.len());
    let admin = test_token(Role::Admin, None);
    let client = reqwest::Client::new();
    let mut uploads: BTreeMap<String, Value> = BTreeMap::new();
    for (shop, _) in SHOP_DAYS {
        for upload in all_uploads(&client, &server, &admin, shop).await {
            uploads.insert(upload["id"].as_str().unwrap().to_owned(), upload);
        }
    }
    // Every upload answered 201 is still current, or superseded by a later upload.
    for a in &answered {
        let upload = uploads.get(&a.id).unwrap_or_else(|| panic!("answered upload {} is gone", a.id));
        match upload["status"].as_str().unwrap() {
            "succeeded" => {}
            "superseded" => {
                let by = upload["superseded_by"].as_str().unwrap();
                assert!(by > a.id.as_str(), "{} superseded by an earlier upload {by}", a.id);
            }
            other => panic!("upload {} was answered 201 but is now {other}: {upload}", a.id),
        }
        assert_eq!(upload["rows_accepted"], a.rows, "{upload}");
        let raw = data.join(upload["raw_key"].as_str().unwrap());
        assert!(raw.exists(), "the raw original of answered upload {} is gone", a.id);
    }
    // Each shop-day: one current upload, not older than any answered one, whose rows are
    // exactly the partition's rows.
    let totals = partition_totals(&client, &server).await;
    let catalog = catalog_rows(&client, &server, &admin).await;
    for (shop, date) in SHOP_DAYS {
        let current: Vec<&Value> = uploads
            .values()
            .filter(|u| u["shop_id"] == shop && u["date"] == date && u["status"] == "succeeded")
            .collect();
        let latest_answered = answered.iter().filter(|a| a.shop == shop && a.date == date).map(|a| &a.id).max();
        let Some(latest_answered) = latest_answered else {
            continue;
        };
        assert_eq!(current.len(), 1, "{shop}/{date} has {} current uploads", current.len());
        let current = current[0];
        assert!(current["id"].as_str().unwrap() >= latest_answered.as_str(), "{shop}/{date}: {current}");
        let rows = current["rows_accepted"].as_u64().unwrap() as usize;
        let expected_sha = hex::encode(Sha256::digest(sample_csv(date, rows).as_bytes()));
        assert_eq!(current["sha256"], expected_sha, "{shop}/{date}: the current upload's bytes are not its rows'");
        assert_eq!(
            totals.get(&(shop.to_owned(), date.to_owned())),
            Some(&(rows as u64, sample_total(rows))),
            "{shop}/{date}: the partition does not hold exactly the current upload's rows ({current})"
        );
        assert_eq!(catalog.get(&(shop.to_owned(), date.to_owned())), Some(&(rows as u64)), "{shop}/{date} catalog");
    }
    // No raw file without its upload (a body stored but never recorded is removed at start-up).
    for raw in files_in(&data.join("raw")) {
        let id = raw.rsplit('/').next().unwrap().split('.').next().unwrap().to_owned();
        assert!(uploads.contains_key(&id), "orphan raw file {raw}");
    }
    eprintln!(
        "crash test: {kills} SIGKILLs survived; {} uploads recorded, {} answered 201 (status, rows and raw file of each checked); {} partitions holding {} rows checked against their current upload",
        uploads.len(),
        answered.len(),
        totals.len(),
        totals.values().map(|(n, _)| n).sum::<u64>()
    );
    server.kill();
}

/// Uploads random shop-day files until the server stops answering; records each 201.
async fn upload_until_refused(
    url: String,
    answered: Arc<Mutex<Vec<Answered>>>,
    mut rng: Rng,
    cycle: u64,
    client_no: usize,
) {
    let http = reqwest::Client::new();
    for n in 0.. {
        let (shop, date) = SHOP_DAYS[rng.below(SHOP_DAYS.len() as u64) as usize];
        let rows = 1 + rng.below(400) as usize;
        let form = reqwest::multipart::Form::new().text("date", date).part(
            "file",
            reqwest::multipart::Part::bytes(sample_csv(date, rows).into_bytes())
                .file_name(format!("c{cycle}-{client_no}-{n}.csv"))
                .mime_str("text/csv")
                .unwrap(),
        );
        let sent = http
            .post(format!("{url}/v1/shops/{shop}/uploads"))
            .bearer_auth(test_token(Role::Shop, Some(shop)))
            .multipart(form)
            .send()
            .await;
        let Ok(response) = sent else {
            return; // killed: this request's outcome is unknown to the client
        };
        let status = response.status();
        let Ok(body) = response.json::<Value>().await else {
            return;
        };
        match status.as_u16() {
            201 => answered.lock().unwrap().push(Answered {
                id: body["id"].as_str().unwrap().to_owned(),
                shop,
                date,
                rows,
            }),
            200 => {} // the same bytes are already current: nothing written
            other => panic!("unexpected {other} for {shop}/{date} ({rows} rows): {body}"),
        }
    }
}

async fn assert_nothing_in_flight_or_temporary(server: &ServerProcess, data: &Path, when: &str) {
    let admin = test_token(Role::Admin, None);
    let client = reqwest::Client::new();
    for (shop, _) in SHOP_DAYS {
        for status in ["received", "processing"] {
            let list = get_json(&client, server, &format!("/v1/shops/{shop}/uploads?status={status}"), &admin).await;
            assert_eq!(list["items"].as_array().unwrap().len(), 0, "{when}: {shop} has uploads {status}: {list}");
        }
    }
    let temporary = files_in(&data.join(".tmp"));
    assert!(temporary.is_empty(), "{when}: temporary files left: {temporary:?}");
}

/// Every upload of a shop, following the list's cursor.
async fn all_uploads(client: &reqwest::Client, server: &ServerProcess, token: &str, shop: &str) -> Vec<Value> {
    let mut found = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let query = match &cursor {
            Some(c) => format!("?limit=100&cursor={c}"),
            None => "?limit=100".to_owned(),
        };
        let page = get_json(client, server, &format!("/v1/shops/{shop}/uploads{query}"), token).await;
        found.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return found,
        }
    }
}

/// (shop, date) -> (count(*), exact SUM(price * quantity)) from the query engine.
async fn partition_totals(
    client: &reqwest::Client,
    server: &ServerProcess,
) -> BTreeMap<(String, String), (u64, String)> {
    let sql = "SELECT shop_id, date, count(*) AS n, SUM(price * quantity) AS total FROM sales_processed GROUP BY shop_id, date";
    let response = client
        .post(server.url("/v1/query"))
        .bearer_auth(test_token(Role::Analyst, None))
        .json(&json!({ "sql": sql }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    body["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let key = (r["shop_id"].as_str().unwrap().to_owned(), r["date"].as_str().unwrap().to_owned());
            (key, (r["n"].as_u64().unwrap(), r["total"].as_str().unwrap().to_owned()))
        })
        .collect()
}

/// (shop, date) -> rows, as the catalog records each partition.
async fn catalog_rows(
    client: &reqwest::Client,
    server: &ServerProcess,
    token: &str,
) -> BTreeMap<(String, String), u64> {
    let body = get_json(client, server, "/v1/catalog/tables/sales_processed/partitions", token).await;
    body["items"]
        .as_array()
        .unwrap_or_else(|| panic!("partitions: {body}"))
        .iter()
        .map(|p| {
            (
                (p["shop_id"].as_str().unwrap().to_owned(), p["date"].as_str().unwrap().to_owned()),
                p["rows"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// `GET path` with a bearer token, as JSON.
async fn get_json(client: &reqwest::Client, server: &ServerProcess, path: &str, token: &str) -> Value {
    client.get(server.url(path)).bearer_auth(token).send().await.unwrap().json().await.unwrap()
}
