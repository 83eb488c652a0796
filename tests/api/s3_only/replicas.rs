//! Two `shoplake serve` replicas on one bucket and one database, uploads of the same shop-days
//! sent to both at once: the database serializes each shop-day, so the lake ends exactly as if
//! the uploads had been processed one by one in id order. And a replica that dies leaves its
//! uploads in flight to the others, never those of a live one.

use crate::helpers::{
    channel_body, get_json, partition_figures, query_json, s3_store, sample_csv, sample_total, sample_total_cents,
    server_env, Backend,
};
use crate::server_process::{test_token, ServerProcess};
use serde_json::Value;
use shoplake::domain::Role;
use shoplake::storage::BlobStore;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const SHOP_DAYS: [(&str, &str); 3] = [("001", "2025-07-30"), ("001", "2025-07-31"), ("002", "2025-07-30")];
const CLIENTS: usize = 6;
const UPLOADS_PER_CLIENT: usize = 6;

/// An upload answered 201: its id and rows (each upload has its own row count).
#[derive(Debug, Clone)]
struct Answered {
    shop: &'static str,
    date: &'static str,
    id: String,
    rows: usize,
}

/// Two `shoplake serve` processes on `backend` started at the same moment (both run the
/// start-up reconciler), with one more setting each; the directories hold their logs.
async fn start_two_replicas(
    backend: &Backend,
    (name, value): (&str, &str),
) -> (ServerProcess, ServerProcess, [tempfile::TempDir; 2]) {
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let envs = dirs.each_ref().map(|dir| {
        let mut env = server_env(backend, dir.path());
        env.push((name.to_owned(), value.to_owned()));
        env
    });
    let [pairs_a, pairs_b] =
        envs.each_ref().map(|env| env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect::<Vec<_>>());
    let (a, b) =
        tokio::join!(ServerProcess::start(dirs[0].path(), &pairs_a), ServerProcess::start(dirs[1].path(), &pairs_b));
    (a, b, dirs)
}

#[tokio::test]
async fn two_replicas_on_one_bucket_and_database_keep_each_shop_day_consistent() {
    // Arrange: two replicas started at the same moment, with 5 MiB parts so that the two
    // large uploads go through multipart uploads.
    let backend = Backend::fresh().await;
    let (a, b, _dirs) = start_two_replicas(&backend, ("SHOPLAKE_S3_PART_SIZE", "5MiB")).await;
    let urls = [a.url.clone(), b.url.clone()];

    // Act: clients upload the same shop-days to both replicas at once, each body distinct.
    let answered: Arc<Mutex<Vec<Answered>>> = Arc::default();
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|client| {
            let (urls, answered) = (urls.clone(), answered.clone());
            tokio::spawn(async move {
                let http = reqwest::Client::new();
                for n in 0..UPLOADS_PER_CLIENT {
                    let (shop, date) = SHOP_DAYS[(client + n) % SHOP_DAYS.len()];
                    // Distinct row counts; two uploads of ~6 MB (more than one part).
                    let rows =
                        if n == 0 && client < 2 { 95_000 + client } else { 10 + client * UPLOADS_PER_CLIENT + n };
                    let url = &urls[(client + n) % 2];
                    let response = http
                        .post(format!("{url}/v1/shops/{shop}/uploads?date={date}"))
                        .bearer_auth(test_token(Role::Shop, Some(shop)))
                        .header("content-type", "text/csv")
                        .body(sample_csv(date, rows))
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
                    let upload: Value = response.json().await.unwrap();
                    let id = upload["id"].as_str().unwrap().to_owned();
                    answered.lock().unwrap().push(Answered { shop, date, id, rows });
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }

    // Assert, per shop-day.
    let answered = answered.lock().unwrap().clone();
    assert_eq!(answered.len(), CLIENTS * UPLOADS_PER_CLIENT);
    let Backend::S3 { bucket, .. } = &backend else { panic!("runs on the s3 back end") };
    let s3 = s3_store(bucket).await;
    let http = reqwest::Client::new();
    let admin = test_token(Role::Admin, None);
    let analyst = test_token(Role::Analyst, None);
    for (shop, date) in SHOP_DAYS {
        let mine: Vec<&Answered> = answered.iter().filter(|u| u.shop == shop && u.date == date).collect();
        let newest = mine.iter().max_by(|x, y| x.id.cmp(&y.id)).unwrap();
        let listed = get_json(&http, &a.url(&format!("/v1/shops/{shop}/uploads?date={date}&limit=200")), &admin).await;
        let uploads = listed["items"].as_array().unwrap();
        assert_eq!(uploads.len(), mine.len(), "every upload recorded once: {listed}");
        // Exactly one current upload, the newest answered 201; the rest superseded by later ones.
        let current: Vec<&Value> = uploads.iter().filter(|u| u["status"] == "succeeded").collect();
        assert_eq!(current.len(), 1, "{shop}/{date}: {listed}");
        assert_eq!(current[0]["id"], newest.id.as_str());
        for upload in uploads.iter().filter(|u| u["status"] != "succeeded") {
            assert_eq!(upload["status"], "superseded", "{upload}");
            assert!(upload["superseded_by"].as_str().unwrap() > upload["id"].as_str().unwrap(), "{upload}");
        }
        // The Parquet object holds exactly the newest upload's rows.
        let key = format!("processed/shop_id={shop}/date={date}/data.parquet");
        let mut object = s3.get(&key).await.unwrap();
        let mut bytes = Vec::new();
        tokio::io::AsyncReadExt::read_to_end(&mut object, &mut bytes).await.unwrap();
        let (rows, cents, _, _) = partition_figures(bytes);
        assert_eq!((rows, cents), (newest.rows, sample_total_cents(newest.rows)), "{key}");
        // Both replicas' query engines agree with what the clients were answered.
        for server in [&a, &b] {
            let sql = format!(
                "SELECT count(*) AS n, SUM(price * quantity) AS total FROM sales_processed WHERE shop_id = '{shop}' AND date = '{date}'"
            );
            let answer = query_json(&http, &server.url, &analyst, &sql).await;
            assert_eq!(answer["rows"][0]["n"], newest.rows as i64, "{answer}");
            assert_eq!(answer["rows"][0]["total"], sample_total(newest.rows), "{answer}");
        }
    }
    // No multipart upload left open, no temporary or probe object, one raw object per upload.
    let open = s3.client().list_multipart_uploads().bucket(bucket).send().await.unwrap();
    assert!(open.uploads().is_empty(), "open multipart uploads: {:?}", open.uploads());
    let keys: Vec<String> = s3.list("").await.unwrap().into_iter().map(|o| o.key).collect();
    let mut by_area: BTreeMap<&str, usize> = BTreeMap::new();
    for key in &keys {
        let area = key.split('/').next().unwrap();
        *by_area.entry(area).or_default() += 1;
    }
    assert_eq!(by_area.get("raw"), Some(&answered.len()), "{keys:?}");
    assert_eq!(by_area.get("processed"), Some(&SHOP_DAYS.len()), "{keys:?}");
    assert_eq!(by_area.len(), 2, "nothing but raw/ and processed/: {keys:?}");
    a.terminate();
    b.terminate();
}

#[tokio::test]
async fn a_killed_replicas_upload_is_taken_over_and_a_live_replicas_is_left_alone() {
    // Arrange: two replicas reconciling every second, each with an upload whose body is still
    // arriving (recorded `received`, owned by that replica).
    let backend = Backend::fresh().await;
    let (a, b, _dirs) = start_two_replicas(&backend, ("SHOPLAKE_RECONCILE_INTERVAL_SECS", "1")).await;
    let http = reqwest::Client::new();
    let body_text = sample_csv("2025-07-30", 4000).into_bytes();
    let start_upload = |url: String, shop: &'static str| {
        let (sender, body) = channel_body();
        let request = http
            .post(format!("{url}/v1/shops/{shop}/uploads?date=2025-07-30"))
            .bearer_auth(test_token(Role::Shop, Some(shop)))
            .header("content-type", "text/csv")
            .body(body)
            .send();
        (sender, tokio::spawn(request))
    };
    let (to_a, _on_a) = start_upload(a.url.clone(), "001");
    let (to_b, on_b) = start_upload(b.url.clone(), "002");
    to_a.send(Ok(body_text[..8192].to_vec())).await.unwrap();
    to_b.send(Ok(body_text[..8192].to_vec())).await.unwrap();
    let admin = test_token(Role::Admin, None);
    let upload_of = |shop: &'static str| {
        let (http, admin, url) = (http.clone(), admin.clone(), b.url.clone());
        async move {
            let list = get_json(&http, &format!("{url}/v1/shops/{shop}/uploads"), &admin).await;
            list["items"].as_array().unwrap().first().cloned()
        }
    };
    for shop in ["001", "002"] {
        let mut recorded = None;
        for _ in 0..100 {
            recorded = upload_of(shop).await;
            if recorded.is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(recorded.expect("upload recorded")["status"], "received", "{shop}");
    }

    // Act: replica A dies; B's body keeps arriving, slowly but steadily.
    a.kill();
    drop(to_a);
    let started = std::time::Instant::now();
    let mut sent = 8192;
    let taken_over = loop {
        let upload = upload_of("001").await.unwrap();
        if upload["status"] != "received" {
            break upload;
        }
        assert!(started.elapsed() < Duration::from_secs(40), "A's upload was never taken over: {upload}");
        if sent < body_text.len() {
            let next = (sent + 4096).min(body_text.len() - 1);
            to_b.send(Ok(body_text[sent..next].to_vec())).await.unwrap();
            sent = next;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let b_meanwhile = upload_of("002").await.unwrap();
    to_b.send(Ok(body_text[sent..].to_vec())).await.unwrap();
    drop(to_b);
    let b_answer = on_b.await.unwrap().unwrap();

    // Assert: the dead replica's upload was finished by B (its body never arrived: failed, no
    // raw object), while B's own upload in flight was untouched and then succeeded.
    assert_eq!(taken_over["status"], "failed", "{taken_over}");
    assert_eq!(b_meanwhile["status"], "received", "a live replica's upload is left alone: {b_meanwhile}");
    assert_eq!(b_answer.status(), 201);
    let Backend::S3 { bucket, .. } = &backend else { panic!("runs on the s3 back end") };
    let raw: Vec<String> = s3_store(bucket).await.list("raw/").await.unwrap().into_iter().map(|o| o.key).collect();
    assert!(raw.iter().all(|k| k.starts_with("raw/shop_id=002/")), "{raw:?}");
    b.terminate();
}
