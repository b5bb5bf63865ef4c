//! The gateway's security through a real socket, outside development mode:
//! registration and login, token checks (no token, malformed, wrong signature,
//! expired, `alg: none`, other algorithms, deleted user), refresh rotation and
//! revocation, API keys, roles, hostile input, body limits, rate limiting.

use ds_gateway::auth::jwt::{Claims, JwtKeys};
use ds_gateway::auth::{users, Role};
use ds_gateway::Settings;
use ds_runtime::config::Secret;
use ds_tests::*;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

use ds_tests::http::{no_limit, req, start, SECRET};

fn b64(s: &str) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let b = s.as_bytes();
    let mut out = String::new();
    for c in b.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..=c.len() {
            out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

fn bearer(t: &str) -> String {
    format!("Bearer {t}")
}

/// `POST path` with `{email, password}`.
async fn login(a: &str, path: &str, email: &str, password: &str) -> ds_tests::http::Resp {
    let body = json!({"email": email, "password": password}).to_string();
    req(a, "POST", path, &[], Some(&body)).await
}

/// `POST path` with `{"refresh_token": token}` (refresh, logout).
async fn with_refresh_token(a: &str, path: &str, token: &str) -> ds_tests::http::Resp {
    let body = json!({ "refresh_token": token }).to_string();
    req(a, "POST", path, &[], Some(&body)).await
}

/// Creates an API key called `name` as the caller of `headers`.
async fn create_key(a: &str, headers: &[(&str, &str)], name: &str) -> ds_tests::http::Resp {
    let body = json!({ "name": name }).to_string();
    req(a, "POST", "/api/v1/auth/api-keys", headers, Some(&body)).await
}

/// `DELETE path` as the caller of `headers`.
async fn delete(a: &str, path: &str, headers: &[(&str, &str)]) -> ds_tests::http::Resp {
    req(a, "DELETE", path, headers, None).await
}

/// A request expected to be refused: method, path, headers, body, status.
type Refused<'a> = (
    &'a str,
    &'a str,
    &'a [(&'a str, &'a str)],
    Option<&'a str>,
    u16,
);

/// Sends each request and asserts it is refused with its problem+json status.
async fn refused(a: &str, cases: &[Refused<'_>]) {
    for &(method, path, headers, body, status) in cases {
        req(a, method, path, headers, body).await.problem(status);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refuses_to_start_without_a_strong_secret() {
    let env = TestEnv::start().await;
    for secret in [
        None,
        Some("short"),
        Some("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
    ] {
        let mut cfg = env.cfg.clone();
        cfg.dev = false;
        cfg.jwt_secret = secret.map(Secret::new);
        let err = ds_gateway::check_config(&cfg).expect_err("refused");
        assert!(err.to_string().contains("DS_JWT_SECRET"), "{err}");
        let state = ds_gateway::AppState::new(
            Arc::new(cfg),
            env.db.clone(),
            env.connect(ds_runtime::auth::Component::Gateway).await,
        )
        .await
        .expect("state");
        let (_t, shutdown) = ds_runtime::shutdown::Shutdown::new();
        assert!(ds_gateway::serve(state, shutdown).await.is_err());
    }
    // Development mode without a secret is allowed (a random one is generated).
    let mut cfg = env.cfg.clone();
    cfg.dev = true;
    cfg.jwt_secret = None;
    assert!(ds_gateway::check_config(&cfg).is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_keys_roles_and_hostile_input() {
    let env = TestEnv::start().await;
    let (addr, gw) = start(&env, no_limit()).await;
    let a = addr.as_str();
    let admin = users::add_user(&env.db, "Root@Example.com", "admin-password-1", Role::Admin)
        .await
        .expect("admin added");
    assert_eq!(admin.email, "root@example.com");
    let login_admin = || {
        login(
            a,
            "/api/v1/auth/login",
            "root@example.com",
            "admin-password-1",
        )
    };
    assert!(matches!(
        users::add_user(
            &env.db,
            "root@example.com",
            "another-password",
            Role::Viewer
        )
        .await,
        Err(ds_gateway::auth::AuthError::EmailTaken(_))
    ));

    // Register: a viewer with a token; duplicates and bad input refused.
    let creds = r#"{"email":"ana@example.com","password":"correct horse"}"#;
    let r = req(a, "POST", "/api/v1/auth/register", &[], Some(creds)).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let v = r.json();
    assert_eq!(v["user"]["role"], "viewer");
    assert_eq!(v["user"]["email"], "ana@example.com");
    let viewer_token = v["token"].as_str().expect("token").to_owned();
    let viewer_id = v["user"]["id"].as_str().expect("id").to_owned();
    req(a, "POST", "/api/v1/auth/register", &[], Some(creds))
        .await
        .problem(409);
    let bad_bodies = [
        r#"{"email":"not-an-email","password":"correct horse"}"#,
        r#"{"email":"bo@example.com","password":"short"}"#,
        r#"{"email":{"$gt":""},"password":"correct horse"}"#,
        r#"{"email":"bo@example.com","password":{"$ne":null}}"#,
        r#"{"email":"bo@example.com","password":"correct horse","role":"admin"}"#,
        r#"{"email":"bo@example.com""#,
        r#"[]"#,
    ];
    for b in bad_bodies {
        let p = req(a, "POST", "/api/v1/auth/register", &[], Some(b))
            .await
            .problem(400);
        assert!(p["detail"].as_str().is_some(), "{b}");
    }
    req(
        a,
        "POST",
        "/api/v1/auth/register",
        &[("Content-Type", "text/plain")],
        Some(creds),
    )
    .await
    .problem(415);
    let huge = format!(
        r#"{{"email":"x@example.com","password":"{}"}}"#,
        "p".repeat(100 * 1024)
    );
    req(a, "POST", "/api/v1/auth/register", &[], Some(&huge))
        .await
        .problem(413);
    // The older design's path is the same endpoint.
    let r = login(a, "/api/auth/register", "cy@example.com", "correct horse").await;
    assert_eq!(r.status, 201, "{}", r.body);

    // Login: wrong password and unknown user look the same; injection never matches.
    let p = login(a, "/api/v1/auth/login", "ana@example.com", "wrong horse")
        .await
        .problem(401);
    let p2 = login(a, "/api/v1/auth/login", "nobody@example.com", "wrong horse")
        .await
        .problem(401);
    assert_eq!(p["detail"], p2["detail"]);
    let injection = r#"{"email":{"$gt":""},"password":{"$gt":""}}"#;
    refused(
        a,
        &[("POST", "/api/v1/auth/login", &[], Some(injection), 400)],
    )
    .await;
    let r = login_admin().await;
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    let admin_token = v["token"].as_str().expect("token").to_owned();
    let refresh1 = v["refresh_token"].as_str().expect("refresh").to_owned();
    assert_eq!(v["user"]["role"], "admin");
    let r = login(a, "/api/auth/login", "ana@example.com", "correct horse").await;
    assert_eq!(r.status, 200, "{}", r.body);

    // Data endpoints need credentials; each kind of bad token is a 401.
    let data = "/api/v1/products";
    let p = req(a, "GET", data, &[], None).await.problem(401);
    assert!(p["detail"]
        .as_str()
        .is_some_and(|d| d.contains("authentication required")));
    let keys = JwtKeys::from_secret(SECRET.as_bytes());
    let other = JwtKeys::from_secret(b"another-secret-0123456789-abcdefghijkl");
    let mut expired = Claims::new(&viewer_id, Role::Viewer);
    expired.iat -= 7200;
    expired.exp = expired.iat + 900;
    let mut wrong_aud = Claims::new(&viewer_id, Role::Viewer);
    wrong_aud.aud = "someone-else".into();
    let claims_json = serde_json::to_string(&Claims::new(&viewer_id, Role::Admin)).expect("claims");
    let alg_none = format!(
        "{}.{}.",
        b64(r#"{"alg":"none","typ":"JWT"}"#),
        b64(&claims_json)
    );
    // A valid HS256 token relabelled HS512: any algorithm but HS256 is refused.
    let good = keys
        .sign(&Claims::new(&viewer_id, Role::Admin))
        .expect("sign");
    let (_, rest) = good.split_once('.').expect("jwt");
    let hs512 = format!("{}.{rest}", b64(r#"{"alg":"HS512","typ":"JWT"}"#));
    let cases: Vec<(String, &str)> = vec![
        ("Bearer not-a-token".into(), "malformed"),
        ("Basic YWxhZGRpbjpvcGVuc2VzYW1l".into(), "Bearer"),
        (
            bearer(
                &other
                    .sign(&Claims::new(&viewer_id, Role::Viewer))
                    .expect("sign"),
            ),
            "signature",
        ),
        (bearer(&keys.sign(&expired).expect("sign")), "expired"),
        (bearer(&keys.sign(&wrong_aud).expect("sign")), "audience"),
        (bearer(&alg_none), ""),
        (bearer(&hs512), "algorithm"),
    ];
    for (h, why) in &cases {
        let p = req(a, "GET", data, &[("Authorization", h)], None)
            .await
            .problem(401);
        assert!(
            p["detail"].as_str().is_some_and(|d| d.contains(why)),
            "{h}: {p}"
        );
        let v = req(a, "POST", "/api/auth/verify", &[("Authorization", h)], None).await;
        assert_eq!(v.status, 401);
        assert_eq!(v.json()["valid"], false);
    }
    let vh = bearer(&viewer_token);
    let vhs: &[(&str, &str)] = &[("Authorization", &vh)];
    let ok = req(a, "GET", data, vhs, None).await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_eq!(ok.json()["items"].as_array().map(Vec::len), Some(4));
    let v = req(a, "POST", "/api/auth/verify", vhs, None).await;
    assert_eq!(v.status, 200, "{}", v.body);
    assert_eq!(
        v.json(),
        json!({"valid": true, "user_id": viewer_id, "email": "ana@example.com"})
    );
    let me = req(a, "GET", "/api/v1/auth/me", vhs, None).await;
    assert_eq!(me.json()["email"], "ana@example.com");
    req(a, "GET", "/api/v1/auth/me", &[], None)
        .await
        .problem(401);

    // Roles: a viewer is refused admin routes, an admin is served.
    for (m, p) in [
        ("GET", "/api/v1/admin/users"),
        ("GET", "/api/v1/admin/dlq"),
        ("POST", "/api/v1/admin/dlq/1/retry"),
    ] {
        refused(a, &[(m, p, vhs, None, 403), (m, p, &[], None, 401)]).await;
    }
    let admin_h = bearer(&admin_token);
    let ah: &[(&str, &str)] = &[("Authorization", &admin_h)];
    let r = req(a, "GET", "/api/v1/admin/users", ah, None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["items"].as_array().map(Vec::len), Some(3));
    assert!(!r.body.contains("password"), "no hashes listed");
    let r = req(a, "GET", "/api/v1/admin/dlq?limit=10", ah, None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["items"], json!([]));
    refused(
        a,
        &[
            ("GET", "/api/v1/admin/dlq?limit=0", ah, None, 400),
            ("POST", "/api/v1/admin/dlq/99/retry", ah, None, 404),
            ("POST", "/api/v1/admin/dlq/abc/retry", ah, None, 400),
        ],
    )
    .await;

    // Refresh tokens rotate; a used one is refused and revokes the family.
    let r = with_refresh_token(a, "/api/v1/auth/refresh", &refresh1).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let refresh2 = r.json()["refresh_token"]
        .as_str()
        .expect("refresh")
        .to_owned();
    assert_ne!(refresh1, refresh2);
    let p = with_refresh_token(a, "/api/v1/auth/refresh", &refresh1)
        .await
        .problem(401);
    assert!(
        p["detail"].as_str().is_some_and(|d| d.contains("revoked")),
        "{p}"
    );
    let second = json!({"refresh_token": refresh2}).to_string();
    let refresh = "/api/v1/auth/refresh";
    refused(
        a,
        &[
            ("POST", refresh, &[], Some(&second), 401),
            (
                "POST",
                refresh,
                &[],
                Some(r#"{"refresh_token":{"$ne":""}}"#),
                400,
            ),
            (
                "POST",
                refresh,
                &[],
                Some(r#"{"refresh_token":"made-up"}"#),
                401,
            ),
        ],
    )
    .await;
    // Logout revokes.
    let r = login_admin().await;
    let refresh3 = r.json()["refresh_token"]
        .as_str()
        .expect("refresh")
        .to_owned();
    let r = with_refresh_token(a, "/api/v1/auth/logout", &refresh3).await;
    assert_eq!(r.status, 204);
    with_refresh_token(a, "/api/v1/auth/refresh", &refresh3)
        .await
        .problem(401);

    // API keys: shown once, stored hashed, role capped, usable, revocable.
    let keys_path = "/api/v1/auth/api-keys";
    refused(
        a,
        &[
            (
                "POST",
                keys_path,
                vhs,
                Some(r#"{"name":"bot","role":"admin"}"#),
                400,
            ),
            ("POST", keys_path, vhs, Some(r#"{"name":""}"#), 400),
            ("POST", keys_path, &[], Some(r#"{"name":"bot"}"#), 401),
        ],
    )
    .await;
    let r = create_key(a, vhs, "bot").await;
    assert_eq!(r.status, 201, "{}", r.body);
    let created = r.json();
    let key = created["key"].as_str().expect("key").to_owned();
    let key_id = created["id"].as_str().expect("id").to_owned();
    assert!(key.starts_with("dsk_"));
    assert_eq!(created["role"], "viewer");
    let stored = env
        .db
        .collection::<mongodb::bson::Document>("api_keys")
        .find_one(mongodb::bson::doc! {"_id": &key_id})
        .await
        .expect("query")
        .expect("stored");
    assert!(
        !format!("{stored:?}").contains(&key),
        "the key itself is never stored"
    );
    let r = req(a, "GET", data, &[("X-Api-Key", &key)], None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    refused(
        a,
        &[
            (
                "GET",
                "/api/v1/admin/users",
                &[("X-Api-Key", &key)],
                None,
                403,
            ),
            (
                "GET",
                data,
                &[("X-Api-Key", "dsk_not-a-real-key")],
                None,
                401,
            ),
            ("GET", data, &[("X-Api-Key", "{\"$gt\":\"\"}")], None, 401),
        ],
    )
    .await;
    let listed = eventually("last use recorded", Duration::from_secs(5), || async {
        let r = req(a, "GET", "/api/v1/auth/api-keys", vhs, None).await;
        let v = r.json();
        v["items"][0]["last_used_at"].is_string().then_some(r)
    })
    .await;
    assert!(!listed.body.contains(&key), "secrets are never listed");
    assert!(listed.json()["items"][0]["created_at"].is_string());
    // Another user cannot delete it; hostile ids are just unknown.
    let admin_created = create_key(a, ah, "ops").await;
    let admin_key_id = admin_created.json()["id"].as_str().expect("id").to_owned();
    assert_eq!(admin_created.json()["role"], "admin");
    for id in [
        admin_key_id.as_str(),
        "%24where",
        "%7B%22%24gt%22%3A%22%22%7D",
        "000000000000000000000000",
    ] {
        let path = format!("{keys_path}/{id}");
        refused(a, &[("DELETE", &path, vhs, None, 404)]).await;
    }
    let r = delete(a, &format!("/api/v1/auth/api-keys/{key_id}"), vhs).await;
    assert_eq!(r.status, 204, "{}", r.body);
    req(a, "GET", data, &[("X-Api-Key", &key)], None)
        .await
        .problem(401);

    // NoSQL-shaped path and query values are data: 404/400, never a match.
    refused(
        a,
        &[
            ("GET", "/api/v1/underlying/%24gt/latest", vhs, None, 404),
            (
                "GET",
                "/api/v1/underlying/%7B%22%24ne%22%3Anull%7D/ticks",
                vhs,
                None,
                404,
            ),
            (
                "GET",
                "/api/v1/chain/NIFTY/latest?expiry=%7B%22%24gt%22%3A%22%22%7D",
                vhs,
                None,
                400,
            ),
            ("DELETE", "/api/v1/admin/users/%24where", ah, None, 404),
        ],
    )
    .await;
    let r = req(
        a,
        "GET",
        "/api/v1/chain/NIFTY/latest?expiry[$ne]=x",
        vhs,
        None,
    )
    .await;
    assert!(r.status == 404 || r.status == 400, "{}", r.body);

    // A deleted user's token and keys stop working.
    let r = create_key(a, vhs, "bot2").await;
    let key2 = r.json()["key"].as_str().expect("key").to_owned();
    let r = delete(a, &format!("/api/v1/admin/users/{viewer_id}"), ah).await;
    assert_eq!(r.status, 204, "{}", r.body);
    let p = req(a, "GET", data, vhs, None).await.problem(401);
    assert!(
        p["detail"]
            .as_str()
            .is_some_and(|d| d.contains("no longer exists")),
        "{p}"
    );
    req(a, "GET", data, &[("X-Api-Key", &key2)], None)
        .await
        .problem(401);
    assert!(users::find_by_email(&env.db, "ana@example.com")
        .await
        .expect("query")
        .is_none());

    // Framework errors are problem+json too, with the request id.
    let r = req(a, "POST", data, ah, None).await;
    r.problem(405);
    assert!(r.headers.contains_key("allow"));
    let r = req(
        a,
        "GET",
        "/api/v1/nope",
        &[("X-Request-Id", "abc-123")],
        None,
    )
    .await;
    r.problem(404);
    assert_eq!(
        r.headers.get("x-request-id").map(String::as_str),
        Some("abc-123")
    );
    let r = req(a, "GET", "/health/live", &[], None).await;
    assert!(
        r.headers
            .get("x-request-id")
            .is_some_and(|id| id.len() >= 32),
        "generated id"
    );

    gw.stop().await.expect("gateway stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn floods_get_429_with_retry_after() {
    let env = TestEnv::start().await;
    let settings = Settings {
        rate_limit_rps: 1.0,
        rate_limit_burst: 3.0,
        cors_origins: vec!["https://app.example".into()],
        ..Settings::default()
    };
    let (addr, gw) = start(&env, settings).await;
    let a = addr.as_str();
    // Anonymous clients are limited per IP (their 401s count too).
    for _ in 0..3 {
        req(a, "GET", "/api/v1/products", &[], None)
            .await
            .problem(401);
    }
    let r = req(a, "GET", "/api/v1/products", &[], None).await;
    r.problem(429);
    let retry: u64 = r
        .headers
        .get("retry-after")
        .and_then(|v| v.parse().ok())
        .expect("Retry-After");
    assert!((1..=2).contains(&retry), "{retry}");
    // Authenticated clients have their own bucket.
    users::add_user(&env.db, "rl@example.com", "rate-limit-pw", Role::Viewer)
        .await
        .expect("user");
    let keys = JwtKeys::from_secret(SECRET.as_bytes());
    let u = users::find_by_email(&env.db, "rl@example.com")
        .await
        .expect("q")
        .expect("user");
    let t = bearer(&keys.sign(&Claims::new(&u.id, Role::Viewer)).expect("sign"));
    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(
            req(a, "GET", "/api/v1/products", &[("Authorization", &t)], None)
                .await
                .status,
        );
    }
    assert_eq!(statuses, vec![200, 200, 200, 429, 429]);
    // Health and docs are not limited.
    for _ in 0..5 {
        assert_eq!(req(a, "GET", "/health/live", &[], None).await.status, 200);
    }
    // CORS for the configured origin only.
    let pre = [
        ("Origin", "https://app.example"),
        ("Access-Control-Request-Method", "GET"),
        ("Access-Control-Request-Headers", "authorization"),
    ];
    let r = req(a, "OPTIONS", "/api/v1/products", &pre, None).await;
    assert_eq!(
        r.headers
            .get("access-control-allow-origin")
            .map(String::as_str),
        Some("https://app.example")
    );
    let r = req(
        a,
        "GET",
        "/health/live",
        &[("Origin", "https://evil.example")],
        None,
    )
    .await;
    assert!(!r.headers.contains_key("access-control-allow-origin"));
    gw.stop().await.expect("gateway stops");
}
