//! What an operator runs into when deploying the service: the variables Kubernetes injects,
//! secrets mounted as files, logs written to a file, a browser opening the root URL.

use crate::helpers::{server_env, spawn_app, Backend, TEST_SECRET};
use crate::server_process::{test_token, ServerProcess};
use reqwest::StatusCode;
use shoplake::domain::Role;

/// The server's environment on this run's back end, with `drop` removed and `add` added.
fn env_without(
    backend: &Backend,
    dir: &std::path::Path,
    drop: &[&str],
    add: &[(&str, String)],
) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> =
        server_env(backend, dir).into_iter().filter(|(k, _)| !drop.contains(&k.as_str())).collect();
    env.extend(add.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
    env
}

async fn start(dir: &std::path::Path, env: &[(String, String)]) -> ServerProcess {
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    ServerProcess::start(dir, &pairs).await
}

#[tokio::test]
async fn a_pod_with_the_variables_of_a_kubernetes_service_named_shoplake_starts_and_serves() {
    // Arrange: what Kubernetes injects for Services `shoplake` and `shoplake-api` on port 8080.
    let (dir, backend) = (tempfile::tempdir().unwrap(), Backend::fresh().await);
    let links = [
        ("SHOPLAKE_PORT", "tcp://10.96.0.11:8080"),
        ("SHOPLAKE_SERVICE_HOST", "10.96.0.11"),
        ("SHOPLAKE_SERVICE_PORT", "8080"),
        ("SHOPLAKE_PORT_8080_TCP", "tcp://10.96.0.11:8080"),
        ("SHOPLAKE_PORT_8080_TCP_PROTO", "tcp"),
        ("SHOPLAKE_PORT_8080_TCP_PORT", "8080"),
        ("SHOPLAKE_PORT_8080_TCP_ADDR", "10.96.0.11"),
        ("SHOPLAKE_API_SERVICE_HOST", "10.96.0.12"),
        ("SHOPLAKE_API_PORT", "tcp://10.96.0.12:80"),
    ];
    let add: Vec<(&str, String)> = links.iter().map(|(k, v)| (*k, (*v).to_owned())).collect();
    let env = env_without(&backend, dir.path(), &[], &add);

    // Act
    let server = start(dir.path(), &env).await;
    let ready = reqwest::get(server.url("/readyz")).await.unwrap();

    // Assert: it runs (a typo'd setting is still refused: config::raw's unit tests).
    assert_eq!(ready.status(), StatusCode::OK);
}

#[tokio::test]
async fn the_jwt_secret_and_the_database_url_are_read_from_mounted_secret_files() {
    // Arrange: Docker/Kubernetes secrets, one value per file, each ending with a newline.
    let (dir, backend) = (tempfile::tempdir().unwrap(), Backend::fresh().await);
    let secrets = tempfile::tempdir().unwrap();
    let database_url = server_env(&backend, dir.path())
        .into_iter()
        .find(|(k, _)| k == "SHOPLAKE_DATABASE_URL")
        .map(|(_, v)| v)
        .unwrap();
    std::fs::write(secrets.path().join("jwt"), format!("{TEST_SECRET}\n")).unwrap();
    std::fs::write(secrets.path().join("db"), format!("{database_url}\n")).unwrap();
    let file = |name: &str| secrets.path().join(name).display().to_string();
    let env = env_without(
        &backend,
        dir.path(),
        &["SHOPLAKE_JWT_SECRET", "SHOPLAKE_DATABASE_URL"],
        &[("SHOPLAKE_JWT_SECRET_FILE", file("jwt")), ("SHOPLAKE_DATABASE_URL_FILE", file("db"))],
    );

    // Act: a token signed with the secret's value, and an upload recorded in the database.
    let server = start(dir.path(), &env).await;
    let token = test_token(Role::Shop, Some("001"));
    let client = reqwest::Client::new();
    let body = crate::helpers::sample_csv("2025-07-30", 3);
    let upload = client
        .post(server.url("/v1/shops/001/uploads?date=2025-07-30"))
        .bearer_auth(&token)
        .header("content-type", "text/csv")
        .body(body)
        .send()
        .await
        .unwrap();
    let list = client.get(server.url("/v1/shops/001/uploads")).bearer_auth(&token).send().await.unwrap();

    // Assert
    assert_eq!(upload.status(), StatusCode::CREATED);
    assert_eq!(list.status(), StatusCode::OK);
    let list: serde_json::Value = list.json().await.unwrap();
    assert_eq!(list["items"].as_array().map(Vec::len), Some(1), "{list}");
    if let Backend::Local = backend {
        let path = database_url.trim_start_matches("sqlite://");
        assert!(std::path::Path::new(path).exists(), "the database named in the file is used: {path}");
    }
}

#[tokio::test]
async fn pretty_logs_written_to_a_file_carry_no_colour_codes() {
    // Arrange
    let (dir, backend) = (tempfile::tempdir().unwrap(), Backend::fresh().await);
    let env = env_without(
        &backend,
        dir.path(),
        &["SHOPLAKE_LOG"],
        &[("SHOPLAKE_LOG_FORMAT", "pretty".into()), ("SHOPLAKE_LOG", "info".into())],
    );

    // Act: start, answer a request, stop; stderr goes to a file.
    let server = start(dir.path(), &env).await;
    reqwest::get(server.url("/healthz")).await.unwrap();
    let log = server.terminate();

    // Assert
    assert!(log.contains("shoplake stopped"), "the log has lines: {log}");
    assert!(!log.contains('\u{1b}'), "ANSI escape codes in a log file: {log:?}");
}

#[tokio::test]
async fn a_browser_opening_the_root_url_is_sent_to_the_reporting_pages_which_link_the_api_docs() {
    // Arrange
    let app = spawn_app().await;
    let no_redirects = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();

    // Act
    let root = no_redirects.get(app.url("/")).header("accept", "text/html").send().await.unwrap();
    let followed = reqwest::get(app.url("/")).await.unwrap();

    // Assert
    assert_eq!(root.status(), StatusCode::TEMPORARY_REDIRECT);
    assert_eq!(root.headers()["location"], "/ui/");
    assert_eq!(followed.status(), StatusCode::OK);
    let sign_in = followed.text().await.unwrap();
    assert!(sign_in.contains("<form method=\"post\" action=\"/ui/session\""), "the sign-in page");
    assert!(sign_in.contains("href=\"/docs/\""), "which links the API docs");
}
