//! The gateway's own settings (rate limits, CORS, timeouts, body size, the
//! WebSocket conflation age), read from `DS_*` environment variables with
//! defaults in one place.

use crate::ws::WsOptions;
use std::time::Duration;

/// HTTP settings of the REST API.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Sustained requests per second per client (`DS_RATE_LIMIT_RPS`); 0 disables limiting.
    pub rate_limit_rps: f64,
    /// Burst size per client (`DS_RATE_LIMIT_BURST`).
    pub rate_limit_burst: f64,
    /// Origins allowed by CORS (`DS_CORS_ORIGINS`, comma-separated, `*` for any);
    /// empty means same-origin only (no CORS headers).
    pub cors_origins: Vec<String>,
    /// A request taking longer is answered 408 (`DS_HTTP_TIMEOUT_MS`).
    pub request_timeout: Duration,
    /// Largest request body accepted, in bytes (`DS_HTTP_BODY_LIMIT`); larger is 413.
    pub body_limit: usize,
    /// [`WsOptions::conflate_after_age`] (`DS_WS_CONFLATE_AFTER_MS`, or `off`).
    pub ws_conflate_after_age: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            rate_limit_rps: 50.0,
            rate_limit_burst: 100.0,
            cors_origins: Vec::new(),
            request_timeout: Duration::from_secs(10),
            body_limit: 64 * 1024,
            ws_conflate_after_age: WsOptions::default().conflate_after_age,
        }
    }
}

impl Settings {
    /// The WebSocket limits: the defaults with these settings' conflation age.
    pub fn ws_options(&self) -> WsOptions {
        WsOptions {
            conflate_after_age: self.ws_conflate_after_age,
            ..WsOptions::default()
        }
    }

    /// The defaults overridden by the process environment.
    pub fn from_env() -> Self {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// The defaults overridden by `get` (unparsable values keep the default, with a warning).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Self {
        let mut s = Self::default();
        let num = |key: &str| -> Option<f64> {
            let v = get(key)?;
            match v.trim().parse::<f64>() {
                Ok(n) if n.is_finite() && n >= 0.0 => Some(n),
                _ => {
                    tracing::warn!(key, value = %v, "ignoring invalid setting");
                    None
                }
            }
        };
        if let Some(v) = num("DS_RATE_LIMIT_RPS") {
            s.rate_limit_rps = v;
        }
        if let Some(v) = num("DS_RATE_LIMIT_BURST") {
            s.rate_limit_burst = v.max(1.0);
        }
        if let Some(v) = num("DS_HTTP_TIMEOUT_MS") {
            s.request_timeout = Duration::from_millis(v as u64);
        }
        if let Some(v) = num("DS_HTTP_BODY_LIMIT") {
            s.body_limit = v as usize;
        }
        match get("DS_WS_CONFLATE_AFTER_MS").as_deref().map(str::trim) {
            Some("off") => s.ws_conflate_after_age = Duration::MAX,
            Some(_) => {
                if let Some(v) = num("DS_WS_CONFLATE_AFTER_MS") {
                    s.ws_conflate_after_age = Duration::from_millis(v as u64);
                }
            }
            None => {}
        }
        if let Some(v) = get("DS_CORS_ORIGINS") {
            s.cors_origins = v
                .split(',')
                .map(|o| o.trim().to_owned())
                .filter(|o| !o.is_empty())
                .collect();
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_overrides_defaults() {
        let s = Settings::from_lookup(|k| match k {
            "DS_RATE_LIMIT_RPS" => Some("5".into()),
            "DS_RATE_LIMIT_BURST" => Some("x".into()),
            "DS_CORS_ORIGINS" => Some("https://a.example, https://b.example".into()),
            "DS_WS_CONFLATE_AFTER_MS" => Some("100".into()),
            _ => None,
        });
        assert_eq!(
            s.ws_options().conflate_after_age,
            Duration::from_millis(100)
        );
        let off = Settings::from_lookup(|k| (k == "DS_WS_CONFLATE_AFTER_MS").then(|| "off".into()));
        assert_eq!(off.ws_conflate_after_age, Duration::MAX);
        assert_eq!(s.rate_limit_rps, 5.0);
        assert_eq!(s.rate_limit_burst, 100.0);
        assert_eq!(s.cors_origins.len(), 2);
    }
}
