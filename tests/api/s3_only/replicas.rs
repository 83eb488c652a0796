//! Two `shoplake serve` replicas on one bucket and one database, uploads of the same shop-days
//! sent to both at once: the database serializes each shop-day, so the lake ends exactly as if
//! the uploads had been processed one by one in id order.

use crate::helpers::{partition_figures, s3_store, sample_csv, sample_total, sample_total_cents, server_env, Backend};
use crate::server_process::{test_token, ServerProcess};
use serde_json::Value;
use shoplake::domain::Role;
use shoplake::storage::BlobStore;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

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

#[tokio::test]
async fn two_replicas_on_one_bucket_and_database_keep_each_shop_day_consistent() {
    // Arrange: two replicas started at the same moment (both run the start-up reconciler).
    let backend = Backend::fresh().await;
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (env_a, env_b) = (server_env(&backend, dir_a.path()), server_env(&backend, dir_b.path()));
    let pairs_a: Vec<(&str, &str)> = env_a.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let pairs_b: Vec<(&str, &str)> = env_b.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let (a, b) =
        tokio::join!(ServerProcess::start(dir_a.path(), &pairs_a), ServerProcess::start(dir_b.path(), &pairs_b));
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
                    let rows = 10 + client * UPLOADS_PER_CLIENT + n;
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
        let listed: Value = http
            .get(a.url(&format!("/v1/shops/{shop}/uploads?date={date}&limit=200")))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
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
            let answer: Value = http
                .post(server.url("/v1/query"))
                .bearer_auth(&analyst)
                .json(&serde_json::json!({ "sql": sql }))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
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
