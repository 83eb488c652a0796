//! Every clause of the contract's auth section, on every route.

use crate::helpers::{assert_problem, sample_csv, spawn_app, spawn_app_with, TEST_SECRET};
use base64_url::encode as b64;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use serde_json::json;
use shoplake::domain::Role;

mod base64_url {
    /// Unpadded base64url, enough to forge tokens by hand.
    pub fn encode(bytes: &[u8]) -> String {
        const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut out = String::new();
        for chunk in bytes.chunks(3) {
            let n = chunk.iter().enumerate().fold(0u32, |acc, (i, b)| acc | (*b as u32) << (16 - 8 * i));
            for i in 0..=chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            }
        }
        out
    }
}

fn now() -> u64 {
    jsonwebtoken::get_current_timestamp()
}

fn hs256(claims: serde_json::Value, secret: &[u8]) -> String {
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(secret)).unwrap()
}

/// (method, path) of every authenticated route, with placeholders filled for shop 001.
fn protected_routes(upload_id: &str) -> Vec<(reqwest::Method, String)> {
    use reqwest::Method;
    vec![
        (Method::POST, "/v1/shops/001/uploads?date=2025-07-30".into()),
        (Method::GET, "/v1/shops/001/uploads".into()),
        (Method::GET, format!("/v1/uploads/{upload_id}")),
        (Method::GET, format!("/v1/uploads/{upload_id}/rejected-rows")),
    ]
}

#[tokio::test]
async fn missing_or_invalid_tokens_get_401_with_www_authenticate_on_every_route() {
    // Arrange
    let app = spawn_app().await;
    let id = uuid::Uuid::now_v7().to_string();
    let alg_none = format!(
        "{}.{}.",
        b64(br#"{"alg":"none","typ":"JWT"}"#),
        b64(json!({"sub":"x","role":"admin","exp": now() + 600}).to_string().as_bytes())
    );
    let expired = hs256(json!({"sub":"x","role":"admin","exp": now() - 3600}), TEST_SECRET.as_bytes());
    let not_yet =
        hs256(json!({"sub":"x","role":"admin","exp": now() + 7200, "nbf": now() + 3600}), TEST_SECRET.as_bytes());
    let forged = hs256(json!({"sub":"x","role":"admin","exp": now() + 600}), b"another-secret-another-secret-0123");
    let no_exp = hs256(json!({"sub":"x","role":"admin"}), TEST_SECRET.as_bytes());
    let shop_without_id = hs256(json!({"sub":"x","role":"shop","exp": now() + 600}), TEST_SECRET.as_bytes());
    let unknown_role = hs256(json!({"sub":"x","role":"root","exp": now() + 600}), TEST_SECRET.as_bytes());
    let huge = "a".repeat(20_000);
    let headers: Vec<Option<String>> = vec![
        None,
        Some("Basic dXNlcjpwYXNz".into()),
        Some("Bearer".into()),
        Some("Bearer garbage".into()),
        Some(format!("Bearer {alg_none}")),
        Some(format!("Bearer {expired}")),
        Some(format!("Bearer {not_yet}")),
        Some(format!("Bearer {forged}")),
        Some(format!("Bearer {no_exp}")),
        Some(format!("Bearer {shop_without_id}")),
        Some(format!("Bearer {unknown_role}")),
        Some(format!("Bearer {huge}")),
    ];
    for (method, path) in protected_routes(&id) {
        for header in &headers {
            // Act
            let mut request =
                app.client.request(method.clone(), app.url(&path)).header("content-type", "text/csv").body("a\n");
            if let Some(value) = header {
                request = request.header("authorization", value);
            }
            let response = request.send().await.unwrap();
            // Assert
            let www = response.headers().get("www-authenticate").map(|v| v.to_str().unwrap().to_owned());
            let what = format!("{method} {path} with {:?}", header.as_deref().map(|h| &h[..h.len().min(30)]));
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{what}");
            assert!(www.as_deref().is_some_and(|v| v.starts_with("Bearer")), "{what}: {www:?}");
            assert_problem(response, StatusCode::UNAUTHORIZED).await;
        }
    }
    assert!(app.files().await.iter().all(|f| !f.starts_with("raw/")), "nothing archived for refused requests");
}

#[tokio::test]
async fn a_shop_token_on_another_shops_path_gets_403() {
    let app = spawn_app().await;
    let token = app.shop_token("001");
    assert_problem(
        app.upload_csv(&token, "002", "2025-07-30", sample_csv("2025-07-30", 1)).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_problem(app.list_uploads(&token, "002", "").await, StatusCode::FORBIDDEN).await;
    assert!(app.files().await.iter().all(|f| !f.starts_with("raw/")));
}

#[tokio::test]
async fn another_shops_upload_id_answers_404_as_if_it_did_not_exist() {
    // Arrange: shop 002 uploads.
    let app = spawn_app().await;
    let theirs: serde_json::Value = app
        .upload_csv(&app.shop_token("002"), "002", "2025-07-30", sample_csv("2025-07-30", 1))
        .await
        .json()
        .await
        .unwrap();
    let id = theirs["id"].as_str().unwrap();
    let token = app.shop_token("001");
    // Act + Assert: same answer as for an id that does not exist.
    let theirs_problem = assert_problem(app.get_upload(&token, id).await, StatusCode::NOT_FOUND).await;
    let missing_problem =
        assert_problem(app.get_upload(&token, &uuid::Uuid::now_v7().to_string()).await, StatusCode::NOT_FOUND).await;
    assert_eq!(theirs_problem["type"], missing_problem["type"]);
    let rejected =
        app.client.get(app.url(&format!("/v1/uploads/{id}/rejected-rows"))).bearer_auth(&token).send().await.unwrap();
    assert_problem(rejected, StatusCode::NOT_FOUND).await;
    // The owner and an admin do see it.
    assert_eq!(app.get_upload(&app.shop_token("002"), id).await.status(), StatusCode::OK);
    assert_eq!(app.get_upload(&app.admin_token(), id).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn an_analyst_token_gets_403_on_upload_routes() {
    let app = spawn_app().await;
    let analyst = app.token(Role::Analyst, None);
    assert_problem(
        app.upload_csv(&analyst, "001", "2025-07-30", sample_csv("2025-07-30", 1)).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_problem(app.list_uploads(&analyst, "001", "").await, StatusCode::FORBIDDEN).await;
    assert_problem(app.get_upload(&analyst, &uuid::Uuid::now_v7().to_string()).await, StatusCode::FORBIDDEN).await;
}

#[tokio::test]
async fn issuer_and_audience_are_required_when_configured() {
    let app =
        spawn_app_with(&[("SHOPLAKE_JWT_ISSUER", "https://idp.example"), ("SHOPLAKE_JWT_AUDIENCE", "shoplake")]).await;
    let base = json!({"sub":"x","role":"admin","exp": now() + 600});
    let with = |extra: serde_json::Value| {
        let mut claims = base.clone();
        claims.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        hs256(claims, TEST_SECRET.as_bytes())
    };
    let cases = [
        (with(json!({})), StatusCode::UNAUTHORIZED),
        (with(json!({"iss": "https://idp.example"})), StatusCode::UNAUTHORIZED),
        (with(json!({"iss": "https://evil.example", "aud": "shoplake"})), StatusCode::UNAUTHORIZED),
        (with(json!({"iss": "https://idp.example", "aud": "other"})), StatusCode::UNAUTHORIZED),
        (with(json!({"iss": "https://idp.example", "aud": "shoplake"})), StatusCode::OK),
    ];
    for (token, expected) in cases {
        assert_eq!(app.list_uploads(&token, "001", "").await.status(), expected);
    }
}

#[tokio::test]
async fn rs256_public_key_accepts_its_tokens_and_refuses_hs256_signed_with_the_public_key() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/keys");
    let public_pem = std::fs::read_to_string(format!("{dir}/rsa_public.pem")).unwrap();
    let private_pem = std::fs::read(format!("{dir}/rsa_private.pem")).unwrap();
    let app = spawn_app_with(&[("SHOPLAKE_JWT_PUBLIC_KEY", &public_pem)]).await;
    let claims = json!({"sub":"x","role":"admin","exp": now() + 600});
    let rs = jsonwebtoken::encode(
        &Header::new(Algorithm::RS256),
        &claims,
        &EncodingKey::from_rsa_pem(&private_pem).unwrap(),
    )
    .unwrap();
    assert_eq!(app.list_uploads(&rs, "001", "").await.status(), StatusCode::OK);
    // The classic key-confusion attack: HS256 with the public key text as the secret.
    let confused = hs256(claims.clone(), public_pem.as_bytes());
    assert_problem(app.list_uploads(&confused, "001", "").await, StatusCode::UNAUTHORIZED).await;
    let plain = hs256(claims, TEST_SECRET.as_bytes());
    assert_problem(app.list_uploads(&plain, "001", "").await, StatusCode::UNAUTHORIZED).await;
}

#[tokio::test]
async fn es256_public_key_accepts_its_tokens() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/keys");
    let app = spawn_app_with(&[
        ("SHOPLAKE_JWT_PUBLIC_KEY", &format!("{dir}/ec_public.pem")),
        ("SHOPLAKE_JWT_PRIVATE_KEY", &format!("{dir}/ec_private.pem")),
    ])
    .await;
    let token = app.shop_token("001");
    assert_eq!(jsonwebtoken::decode_header(&token).unwrap().alg, Algorithm::ES256);
    assert_eq!(app.list_uploads(&token, "001", "").await.status(), StatusCode::OK);
}
