//! The dashboard page (`gateway/assets/dashboard/`), embedded in the binary and
//! served at `/dashboard/` with its MIME types, `Cache-Control: no-cache` and an
//! `ETag`, so a browser revalidates cheaply and never runs a stale script.

use crate::state::AppState;
use axum::extract::Path;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use std::hash::{Hash, Hasher};
use std::sync::OnceLock;

macro_rules! asset {
    ($path:literal) => {
        (
            $path,
            include_bytes!(concat!("../assets/dashboard/", $path)).as_slice(),
        )
    };
}

/// Every file of the dashboard, by path under `/dashboard/`.
const FILES: &[(&str, &[u8])] = &[
    asset!("index.html"),
    asset!("app.css"),
    asset!("app.js"),
    asset!("chain.js"),
    asset!("delta.js"),
    asset!("charts.js"),
    asset!("favicon.svg"),
    asset!("format.js"),
    asset!("market.js"),
    asset!("picker.js"),
    asset!("test-hooks.js"),
    asset!("ws.js"),
    asset!("vendor/uPlot.LICENSE"),
    asset!("vendor/uPlot.iife.min.js"),
    asset!("vendor/uPlot.min.css"),
];

/// What the page needs and nothing more (no inline scripts or styles).
const CSP: &str = "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:";

/// The MIME type of `path` by extension.
pub fn mime(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, e)| e) {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("json") => "application/json",
        Some("png") => "image/png",
        _ => "text/plain; charset=utf-8",
    }
}

/// `(path, bytes, etag)` of every file, the ETags computed once.
fn files() -> &'static [(&'static str, &'static [u8], HeaderValue)] {
    static F: OnceLock<Vec<(&'static str, &'static [u8], HeaderValue)>> = OnceLock::new();
    F.get_or_init(|| {
        FILES
            .iter()
            .map(|&(path, bytes)| {
                let mut h = std::collections::hash_map::DefaultHasher::new();
                bytes.hash(&mut h);
                let tag = format!("\"{:016x}-{:x}\"", h.finish(), bytes.len());
                // Hex digits and quotes only: always a valid header value.
                let tag = HeaderValue::from_str(&tag)
                    .unwrap_or_else(|_| HeaderValue::from_static("\"0\""));
                (path, bytes, tag)
            })
            .collect()
    })
}

/// `/`, `/dashboard` and `/dashboard/…`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { redirect("dashboard/") }))
        .route("/dashboard", get(|| async { redirect("dashboard/") }))
        .route("/dashboard/", get(|headers: HeaderMap| async move { serve("index.html", &headers) }))
        .route(
            "/dashboard/{*path}",
            get(|Path(path): Path<String>, headers: HeaderMap| async move { serve(&path, &headers) }),
        )
}

/// A relative redirect, so the page also works behind a path prefix.
fn redirect(to: &'static str) -> Response {
    (StatusCode::TEMPORARY_REDIRECT, [(header::LOCATION, to)]).into_response()
}

fn serve(path: &str, headers: &HeaderMap) -> Response {
    let Some((path, bytes, etag)) = files().iter().find(|(p, _, _)| *p == path) else {
        return (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "not found\n",
        )
            .into_response();
    };
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|t| t.trim() == etag.to_str().unwrap_or_default() || t.trim() == "*")
        });
    let common = [
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        (header::ETAG, etag.clone()),
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        ),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
    ];
    if fresh {
        return (StatusCode::NOT_MODIFIED, common).into_response();
    }
    let ct = [(header::CONTENT_TYPE, HeaderValue::from_static(mime(path)))];
    (StatusCode::OK, common, ct, *bytes).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_dashboard_file_is_embedded() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/dashboard");
        let mut on_disk = Vec::new();
        let mut dirs = vec![root.clone()];
        while let Some(d) = dirs.pop() {
            for e in std::fs::read_dir(&d).expect("assets dir") {
                let p = e.expect("entry").path();
                if p.is_dir() {
                    dirs.push(p);
                } else {
                    on_disk.push(
                        p.strip_prefix(&root)
                            .expect("under root")
                            .to_string_lossy()
                            .replace('\\', "/"),
                    );
                }
            }
        }
        on_disk.sort();
        let mut embedded: Vec<String> = FILES.iter().map(|(p, _)| (*p).to_owned()).collect();
        embedded.sort();
        assert_eq!(on_disk, embedded, "update FILES in gateway/src/assets.rs");
    }

    #[test]
    fn mime_types() {
        assert_eq!(mime("app.js"), "text/javascript; charset=utf-8");
        assert_eq!(mime("vendor/uPlot.min.css"), "text/css; charset=utf-8");
        assert_eq!(mime("favicon.svg"), "image/svg+xml");
        assert_eq!(mime("index.html"), "text/html; charset=utf-8");
    }
}
