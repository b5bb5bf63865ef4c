//! The gateway's REST endpoints over projections written by the real pipeline
//! (feed → enricher → projector → MongoDB), outside development mode: every
//! endpoint's happy path and bad input, pagination, the older design's aliases,
//! the OpenAPI document against the router, the offline docs page, metrics.

use ds_gateway::auth::jwt::{Claims, JwtKeys};
use ds_gateway::auth::{users, Role};
use ds_tests::*;
use serde_json::Value;
use std::collections::HashSet;
use std::time::Duration;

use ds_tests::http::{no_limit, projected_day, req, start, string_items, Resp, SECRET};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_endpoint_over_the_real_pipeline() {
    let env = TestEnv::start().await;
    let (report, enrich, project) = projected_day(&env).await;
    let (addr, gw) = start(&env, no_limit()).await;
    let a = addr.as_str();
    users::add_user(&env.db, "quant@example.com", "quant-password", Role::Viewer)
        .await
        .expect("user");
    let u = users::find_by_email(&env.db, "quant@example.com")
        .await
        .expect("q")
        .expect("user");
    let token = JwtKeys::from_secret(SECRET.as_bytes())
        .sign(&Claims::new(&u.id, Role::Viewer))
        .expect("sign");
    let auth = format!("Bearer {token}");
    let h = [("Authorization", auth.as_str())];
    let get = |path: String| async move { req(a, "GET", &path, &h, None).await };
    let problem =
        |path: &'static str, status| async move { get(path.into()).await.problem(status) };
    let ok = |r: Resp| {
        assert_eq!(r.status, 200, "{}", r.body);
        r.json()
    };

    // Reference data.
    let v = ok(get("/api/v1/products".into()).await);
    assert_eq!(v["next_cursor"], Value::Null);
    let nifty = v["items"]
        .as_array()
        .and_then(|i| i.iter().find(|p| p["name"] == "NIFTY"))
        .expect("NIFTY")
        .clone();
    assert_eq!(nifty["exchange"], "NSE");
    assert!(
        nifty["rate"].is_number()
            && nifty["dividend_yield"].is_number()
            && nifty["strike_step"].is_number()
    );
    let v = ok(get("/api/v1/products/NIFTY/expiries".into()).await);
    let expiries = string_items(&v);
    assert!(!expiries.is_empty());
    assert!(
        expiries.windows(2).all(|w| w[0] < w[1]),
        "ascending: {expiries:?}"
    );
    problem("/api/v1/products/NOPE/expiries", 404).await;

    // Underlying: latest, ticks with pagination, ranges, bars.
    let v = ok(get("/api/v1/underlying/NIFTY/latest".into()).await);
    assert_eq!(v["seq"], report.ticks);
    assert_eq!(v["ts"], "2025-01-15T10:00:00Z");
    let mut seen = HashSet::new();
    let mut last_ts = i64::MAX;
    let mut path = "/api/v1/underlying/NIFTY/ticks?limit=100".to_owned();
    let mut pages = 0;
    loop {
        let v = ok(get(path.clone()).await);
        pages += 1;
        for t in v["items"].as_array().expect("items") {
            let ts = t["ts_unix_ns"].as_i64().expect("ts_unix_ns");
            assert!(ts <= last_ts, "newest first");
            last_ts = ts;
            assert!(t["ts"]
                .as_str()
                .is_some_and(|s| s.starts_with("2025-01-15T")));
            assert!(t.get("_id").is_none() && t.get("written_at").is_none());
            assert!(seen.insert(t["seq"].as_u64().expect("seq")), "no repeats");
        }
        match v["next_cursor"].as_str() {
            Some(c) => path = format!("/api/v1/underlying/NIFTY/ticks?limit=100&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(seen.len() as u64, report.ticks);
    assert_eq!(pages, 4);
    let v = ok(get("/api/v1/underlying/NIFTY/ticks?order=asc&limit=2".into()).await);
    assert_eq!(v["items"][0]["seq"], 1);
    let cursor = v["next_cursor"].as_str().expect("cursor").to_owned();
    let v2 = ok(get(format!(
        "/api/v1/underlying/NIFTY/ticks?order=asc&limit=2&cursor={cursor}"
    ))
    .await);
    assert_eq!(v2["items"][0]["seq"], 3);
    get(format!("/api/v1/underlying/NIFTY/ticks?cursor={cursor}"))
        .await
        .problem(400);
    // [09:15, 09:20) IST, as RFC 3339 and as unix ms: five one-minute ticks.
    let v = ok(get(
        "/api/v1/underlying/NIFTY/ticks?from=2025-01-15T09:15:00%2B05:30&to=2025-01-15T03:50:00Z"
            .into(),
    )
    .await);
    assert_eq!(v["items"].as_array().map(Vec::len), Some(5), "{v}");
    let v =
        ok(get("/api/v1/underlying/NIFTY/ticks?from=1736912700000&to=1736913000000".into()).await);
    assert_eq!(v["items"].as_array().map(Vec::len), Some(5), "{v}");
    for (q, what) in [
        ("from=yesterday", "from"),
        ("to=2025-13-01T00:00:00Z", "to"),
        ("from=1736913000000&to=1736912700000", "after"),
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("limit=ten", "limit"),
        ("cursor=garbage", "cursor"),
        ("order=sideways", "order"),
        ("limit=1&limit=2", "query"),
    ] {
        let p = get(format!("/api/v1/underlying/NIFTY/ticks?{q}"))
            .await
            .problem(400);
        assert!(
            p["detail"].as_str().is_some_and(|d| d.contains(what)),
            "{q}: {p}"
        );
    }
    problem("/api/v1/underlying/NOPE/ticks", 404).await;
    problem("/api/v1/underlying/NOPE/latest", 404).await;
    let v = ok(get("/api/v1/underlying/NIFTY/bars?interval=5m&limit=1000&order=asc".into()).await);
    let bars = v["items"].as_array().expect("bars");
    assert!(bars.len() >= 70, "{}", bars.len());
    assert_eq!(bars[0]["interval"], "5m");
    assert_eq!(bars[0]["start"], "2025-01-15T03:45:00Z");
    assert!(bars[0]["start_unix_ns"].is_i64() && bars[0]["open"].is_number());
    let v = ok(get("/api/v1/underlying/NIFTY/bars?limit=10".into()).await);
    assert_eq!(v["items"][0]["interval"], "1m");
    assert!(v["next_cursor"].is_string());
    let p = problem("/api/v1/underlying/NIFTY/bars?interval=2m", 400).await;
    assert!(p["detail"]
        .as_str()
        .is_some_and(|d| d.contains("1m, 5m, 15m")));

    // Chains: latest (nearest expiry by default), history, bad input.
    let v = ok(get("/api/v1/chain/NIFTY/latest".into()).await);
    assert_eq!(v["expiry"], expiries[0].as_str(), "nearest expiry");
    assert!(v["calls"].as_array().is_some_and(|c| !c.is_empty()));
    assert!(v["ts"].is_string() && v["ts_unix_ns"].is_i64());
    let last = expiries.last().expect("expiry");
    let v = ok(get(format!("/api/v1/chain/NIFTY/latest?expiry={last}")).await);
    assert_eq!(v["expiry"], last.as_str());
    problem("/api/v1/chain/NIFTY/latest?expiry=30-01-2025", 400).await;
    problem("/api/v1/chain/NIFTY/latest?expiry=2099-01-01", 404).await;
    let v = ok(get(format!("/api/v1/chain/NIFTY/history?expiry={last}&limit=5")).await);
    assert_eq!(v["items"].as_array().map(Vec::len), Some(5));
    assert!(v["items"]
        .as_array()
        .is_some_and(|i| i.iter().all(|c| c["expiry"] == last.as_str())));
    assert!(v["next_cursor"].is_string());
    problem("/api/v1/chain/NIFTY/history?expiry=soon", 400).await;

    // Analytics.
    let v = ok(get("/api/v1/analytics/NIFTY/pcr?limit=1000".into()).await);
    let points = v["items"].as_array().expect("points");
    assert_eq!(points.len() as u64, report.chains);
    assert!(
        points[0]["pcr_oi"].is_number()
            && points[0]["expiry"].is_string()
            && points[0]["ts"].is_string()
    );
    assert!(points[0].get("calls").is_none(), "analytics fields only");
    let v = ok(get(format!(
        "/api/v1/analytics/NIFTY/pcr?expiry={last}&from=2025-01-15T09:00:00Z"
    ))
    .await);
    assert!(v["items"]
        .as_array()
        .is_some_and(|i| i.iter().all(|p| p["expiry"] == last.as_str())));
    problem("/api/v1/analytics/NIFTY/pcr?from=nope", 400).await;
    let v = ok(get("/api/v1/analytics/NIFTY/max-pain".into()).await);
    let pain = v["pain"].as_array().expect("pain");
    let min = pain
        .iter()
        .min_by(|x, y| {
            x["total_pain"]
                .as_f64()
                .unwrap_or(0.0)
                .total_cmp(&y["total_pain"].as_f64().unwrap_or(0.0))
        })
        .expect("curve");
    assert_eq!(min["strike"], v["max_pain_strike"], "{v}");
    let v = ok(get("/api/v1/analytics/NIFTY/iv-surface".into()).await);
    let rows = v["ivs"].as_array().expect("ivs");
    assert_eq!(rows.len(), v["expiries"].as_array().map_or(0, Vec::len));
    assert!(!rows.is_empty());
    assert!(rows
        .iter()
        .all(|r| r.as_array().map(Vec::len) == v["strikes"].as_array().map(Vec::len)));
    assert!(rows
        .iter()
        .flat_map(|r| r.as_array().into_iter().flatten())
        .any(Value::is_number));
    let v = ok(get(format!("/api/v1/analytics/NIFTY/oi-buildup?expiry={last}")).await);
    let items = v["items"].as_array().expect("items");
    let total: u64 = v["counts"]
        .as_object()
        .expect("counts")
        .values()
        .filter_map(Value::as_u64)
        .sum();
    assert_eq!(total as usize, items.len());
    assert!(items.iter().all(|i| i["oi_change"].is_i64()
        && i["buildup"].is_string()
        && (i["side"] == "call" || i["side"] == "put")));
    problem("/api/v1/analytics/NOPE/iv-surface", 404).await;
    problem("/api/v1/analytics/NIFTY/oi-buildup?expiry=x", 400).await;

    // The older design's paths.
    for p in [
        "/api/data/products",
        "/api/data/underlying/NIFTY",
        "/api/data/chain/NIFTY",
        "/api/analytics/pcr/NIFTY",
        "/api/analytics/volatility-surface/NIFTY",
        "/api/docs",
    ] {
        ok(get(p.into()).await);
    }
    assert_eq!(
        ok(get("/api/data/underlying/NIFTY".into()).await)["seq"],
        report.ticks
    );

    // OpenAPI: valid, every route of SPEC §7 documented, every documented route served.
    let doc = ok(req(a, "GET", "/api/v1/openapi.json", &[], None).await);
    assert!(
        doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")),
        "{}",
        doc["openapi"]
    );
    let paths = doc["paths"].as_object().expect("paths");
    let spec_routes = [
        ("get", "/health/live"),
        ("get", "/health/ready"),
        ("get", "/metrics"),
        ("get", "/api/v1/openapi.json"),
        ("post", "/api/v1/auth/register"),
        ("post", "/api/v1/auth/login"),
        ("post", "/api/v1/auth/refresh"),
        ("get", "/api/v1/auth/me"),
        ("post", "/api/v1/auth/api-keys"),
        ("get", "/api/v1/auth/api-keys"),
        ("delete", "/api/v1/auth/api-keys/{id}"),
        ("get", "/api/v1/admin/users"),
        ("get", "/api/v1/admin/dlq"),
        ("post", "/api/v1/admin/dlq/{seq}/retry"),
        ("get", "/api/v1/products"),
        ("get", "/api/v1/products/{product}/expiries"),
        ("get", "/api/v1/underlying/{product}/latest"),
        ("get", "/api/v1/underlying/{product}/ticks"),
        ("get", "/api/v1/underlying/{product}/bars"),
        ("get", "/api/v1/chain/{product}/latest"),
        ("get", "/api/v1/chain/{product}/history"),
        ("get", "/api/v1/analytics/{product}/pcr"),
        ("get", "/api/v1/analytics/{product}/max-pain"),
        ("get", "/api/v1/analytics/{product}/iv-surface"),
        ("get", "/api/v1/analytics/{product}/oi-buildup"),
        ("get", "/api/data/products"),
        ("get", "/api/data/underlying/{product}"),
        ("get", "/api/data/chain/{product}"),
        ("get", "/api/analytics/pcr/{product}"),
        ("get", "/api/analytics/volatility-surface/{product}"),
        ("post", "/api/auth/register"),
        ("post", "/api/auth/login"),
        ("post", "/api/auth/verify"),
        ("get", "/api/docs"),
    ];
    for (m, p) in spec_routes {
        assert!(
            paths.get(p).and_then(|o| o.get(m)).is_some(),
            "{m} {p} is documented"
        );
    }
    for (p, ops) in paths {
        let concrete = p
            .replace("{product}", "NIFTY")
            .replace("{id}", "000000000000000000000000")
            .replace("{seq}", "1");
        for m in ops.as_object().expect("ops").keys() {
            let r = req(
                a,
                &m.to_uppercase(),
                &concrete,
                &h,
                if m == "post" { Some("{}") } else { None },
            )
            .await;
            assert_ne!(r.status, 405, "{m} {p}");
            assert!(
                !(r.status == 404 && r.body.contains("no such route")),
                "{m} {p} is routed"
            );
        }
    }
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());

    // The docs page loads from the gateway only.
    let page = req(a, "GET", "/docs", &[], None).await;
    assert_eq!(page.status, 200);
    let mut refs = Vec::new();
    for attr in ["src=\"", "href=\""] {
        for part in page.body.split(attr).skip(1) {
            refs.push(part.split('"').next().unwrap_or_default().to_owned());
        }
    }
    assert!(refs.len() >= 3, "{refs:?}");
    for r in &refs {
        assert!(
            r.starts_with('/') && !r.starts_with("//"),
            "local only: {r}"
        );
        let asset = req(a, "GET", r, &[], None).await;
        assert_eq!(asset.status, 200, "{r}");
    }
    assert!(!page.body.contains("http://") && !page.body.contains("https://"));
    let init = req(a, "GET", "/docs/init.js", &[], None).await;
    assert!(init.body.contains("/api/v1/openapi.json") && init.body.contains("validatorUrl: null"));

    // Metrics by route template, bounded labels.
    let m = req(a, "GET", "/metrics", &[], None).await;
    assert!(m.body.contains(r#"deltastream_http_requests_total{route="/api/v1/underlying/{product}/ticks",status="200"}"#), "{}", m.body);
    assert!(m.body.contains(
        r#"deltastream_http_request_seconds_bucket{route="/api/v1/chain/{product}/latest""#
    ));
    assert!(!m.body.contains("NIFTY/ticks"));

    // Gzip when asked.
    let r = req(
        a,
        "GET",
        "/api/v1/chain/NIFTY/history?limit=50",
        &[h[0], ("Accept-Encoding", "gzip")],
        None,
    )
    .await;
    assert_eq!(
        r.headers.get("content-encoding").map(String::as_str),
        Some("gzip")
    );

    // Development mode reads anonymously.
    let (dev_addr, dev) = gateway(&env);
    let r = eventually("dev gateway", Duration::from_secs(15), || async {
        tokio::net::TcpStream::connect(&dev_addr).await.ok()?;
        Some(req(&dev_addr, "GET", "/api/v1/chain/NIFTY/latest", &[], None).await)
    })
    .await;
    assert_eq!(r.status, 200, "{}", r.body);

    dev.stop().await.expect("dev gateway stops");
    gw.stop().await.expect("gateway stops");
    enrich.stop().await.expect("enricher stops");
    project.stop().await.expect("projector stops");
}
