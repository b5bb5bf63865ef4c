//! WebSocket authentication outside development mode: a socket without a valid
//! token is closed with 4401 (at once for a bad token, after the timeout when
//! none is sent), and the same tokens and API keys as REST are accepted, in
//! the URL or as the first message.

mod ws_support;

use ds_gateway::ws::WsOptions;
use ds_runtime::config::Secret;
use ds_tests::*;
use serde_json::json;
use std::time::{Duration, Instant};
use ws_support::*;

async fn expect_close(ws: &mut Ws, within: Duration) -> (u16, String) {
    loop {
        match next(ws, within).await {
            Got::Json(_) => continue,
            Got::Closed(code, reason) => return (code, reason),
            Got::Nothing => panic!("expected a close frame"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sockets_without_a_valid_token_are_closed_with_4401() {
    let env = TestEnv::start().await;
    let mut cfg = env.cfg.clone();
    cfg.dev = false;
    cfg.jwt_secret = Some(Secret::new("a-test-secret-that-is-long-enough-0123456789"));
    let opts = WsOptions {
        auth_timeout: Duration::from_secs(1),
        ..WsOptions::default()
    };
    let (addr, gw) = gateway_with(&env, cfg, opts).await;

    // No token: pings work, anything else is refused, then 4401 after the timeout.
    let t0 = Instant::now();
    let mut ws = connect(&addr, "").await;
    send(&mut ws, json!({"op": "ping"})).await;
    assert_eq!(
        next_json(&mut ws, Duration::from_secs(5)).await["event"],
        "pong"
    );
    send_op(&mut ws, "subscribe", "product", "NIFTY").await;
    assert_eq!(
        next_json(&mut ws, Duration::from_secs(5)).await["event"],
        "error"
    );
    let (code, reason) = expect_close(&mut ws, Duration::from_secs(5)).await;
    assert_eq!(code, 4401, "{reason}");
    assert!(
        t0.elapsed() >= Duration::from_millis(900),
        "{:?}",
        t0.elapsed()
    );

    // A bad token: 4401 at once.
    for q in ["?token=not-a-token", "?token=dsk_nope"] {
        let t0 = Instant::now();
        let mut ws = connect(&addr, q).await;
        let (code, reason) = expect_close(&mut ws, Duration::from_secs(5)).await;
        assert_eq!(code, 4401, "{q}: {reason}");
        assert!(t0.elapsed() < Duration::from_millis(900));
    }
    let mut ws = connect(&addr, "").await;
    send(&mut ws, json!({"op": "auth", "token": "garbage"})).await;
    assert_eq!(expect_close(&mut ws, Duration::from_secs(5)).await.0, 4401);

    // A user's token, in the URL or as the first message.
    let r = http::req(
        &addr,
        "POST",
        "/api/v1/auth/register",
        &[],
        Some(
            &json!({"email": "trader@example.com", "password": "correct horse battery staple"})
                .to_string(),
        ),
    )
    .await;
    assert!(matches!(r.status, 200 | 201), "{} {}", r.status, r.body);
    let token = r.json()["token"].as_str().expect("token").to_owned();
    let mut ws = connect(&addr, &format!("?token={token}")).await;
    let ev = next_json(&mut ws, Duration::from_secs(5)).await;
    assert_eq!(ev["event"], "authenticated", "{ev}");
    send_op(&mut ws, "subscribe", "chain", "NIFTY").await;
    read_until_event(&mut ws, Duration::from_secs(5), "subscribed").await;

    let mut ws = connect(&addr, "").await;
    send(&mut ws, json!({"op": "auth", "token": token})).await;
    assert_eq!(
        next_json(&mut ws, Duration::from_secs(5)).await["event"],
        "authenticated"
    );
    tokio::time::sleep(Duration::from_millis(1500)).await; // past the auth timeout: still open
    send(&mut ws, json!({"op": "ping"})).await;
    read_until_event(&mut ws, Duration::from_secs(5), "pong").await;

    // An API key.
    let bearer = format!("Bearer {token}");
    let r = http::req(
        &addr,
        "POST",
        "/api/v1/auth/api-keys",
        &[("Authorization", bearer.as_str())],
        Some(&json!({"name": "ws-test"}).to_string()),
    )
    .await;
    assert!(matches!(r.status, 200 | 201), "{} {}", r.status, r.body);
    let v = r.json();
    let key = v["key"]
        .as_str()
        .or_else(|| v["api_key"].as_str())
        .expect("key")
        .to_owned();
    let mut ws = connect(&addr, &format!("?token={key}")).await;
    assert_eq!(
        next_json(&mut ws, Duration::from_secs(5)).await["event"],
        "authenticated"
    );

    gw.stop().await.expect("gateway stops");
}
