//! The first thin slice end to end, through real servers: feed → MD_RAW →
//! enricher → MD_ENRICHED → projector → MongoDB → gateway.

use ds_runtime::collections::{UNDERLYING_LATEST, UNDERLYING_TICKS};
use ds_tests::*;
use mongodb::bson::doc;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ticks_flow_from_feed_to_rest() {
    let (env, cfg) = TestEnv::start_small_day().await;
    let report = feed_day(&env, &cfg, "2025-01-15", &["NIFTY"], 7).await;
    assert_eq!(report.ticks, 376, "09:15..=15:30 at one tick a minute");
    assert!(report.chains > 0);

    let enrich = enricher(&env);
    let project = projector(&env);
    eventually("all ticks projected", Duration::from_secs(60), || async {
        (count(&env.db, UNDERLYING_TICKS).await == 376).then_some(())
    })
    .await;
    let latest = env
        .db
        .collection::<mongodb::bson::Document>(UNDERLYING_LATEST)
        .find_one(doc! {"_id": "NIFTY"})
        .await
        .expect("query")
        .expect("latest NIFTY");
    assert_eq!(latest.get_i64("seq"), Ok(376));

    let (addr, gw) = gateway(&env);
    let (status, body) = eventually("gateway answers", Duration::from_secs(10), || async {
        tokio::net::TcpStream::connect(&addr).await.ok()?;
        Some(http_get(&addr, "/api/v1/underlying/NIFTY/latest", &[]).await)
    })
    .await;
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v["product"], "NIFTY");
    assert_eq!(v["seq"], 376);
    assert!(v["price"].as_f64().is_some_and(|p| p > 0.0));
    // 15:30 Asia/Kolkata, the session close.
    assert_eq!(v["ts"], "2025-01-15T10:00:00Z", "{v}");

    let (status, body) = http_get(&addr, "/health/ready", &[]).await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = http_get(&addr, "/api/v1/underlying/NOPE/latest", &[]).await;
    assert_eq!(status, 404);

    gw.stop().await.expect("gateway stops");
    enrich.stop().await.expect("enricher stops");
    project.stop().await.expect("projector stops");
}
