//! Configuration as data: one struct with a doc comment per field and defaults in
//! one place, read from an optional TOML file, then overridden by environment
//! variables (`DS_*`) and flags (the CLI applies those), in that order.

use crate::{Error, Result};
use ds_analytics::market::{default_products, ProductSpec, Universe, BUILT_IN_UNIVERSES};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// A secret that never prints.
#[derive(Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }
    /// The value, for the one place that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// The feed's settings.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct FeedConfig {
    /// Milliseconds between two ticks of a product in live mode.
    pub tick_interval_ms: u64,
    /// An option chain per expiry every this many ticks.
    pub chain_every_ticks: u32,
    /// How many of the next expiries get a chain.
    pub expiries: usize,
    /// Strikes on each side of the ATM strike.
    pub strikes_each_side: usize,
    /// Publishes awaiting their ack at most.
    pub publish_window: usize,
}

impl Default for FeedConfig {
    fn default() -> Self {
        Self {
            tick_interval_ms: 1000,
            chain_every_ticks: 5,
            expiries: 3,
            strikes_each_side: 10,
            publish_window: 1024,
        }
    }
}

/// Everything a DeltaStream component can be configured with.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// NATS server URL(s), comma-separated for a cluster (`DS_NATS_URL`). `up` starts
    /// its own server when unset; other commands use `nats://127.0.0.1:4222`.
    pub nats_url: Option<String>,
    /// NATS credential file (`DS_NATS_CREDS`): an nkey seed (`SU…`) or a `.creds`
    /// file; see README, "Permissions on the bus".
    pub nats_creds: Option<PathBuf>,
    /// NATS user (`DS_NATS_USER`), for servers configured with passwords.
    pub nats_user: Option<String>,
    /// NATS password (`DS_NATS_PASSWORD`), with `nats_user`.
    pub nats_password: Option<Secret>,
    /// CA certificate (PEM) the NATS servers' TLS certificates are checked
    /// against (`DS_NATS_CA`); with it, connections require TLS.
    pub nats_ca: Option<PathBuf>,
    /// Credential of the DLQ re-drive responder that `enrich` runs beside the
    /// enricher (`DS_NATS_REDRIVE_CREDS`); see README.
    pub nats_redrive_creds: Option<PathBuf>,
    /// MongoDB URL (`DS_MONGO_URL`). `up` starts its own mongod when unset; other
    /// commands use `mongodb://127.0.0.1:27017`.
    pub mongo_url: Option<String>,
    /// MongoDB database of the projections (`DS_MONGO_DB`).
    pub mongo_db: String,
    /// Gateway listen address `host:port` (`DS_HTTP_ADDR`).
    pub http_addr: String,
    /// Where `up` keeps the embedded servers' data (`DS_DATA_DIR`).
    pub data_dir: PathBuf,
    /// Development mode (`DS_DEV=1`, `--dev`): generated JWT secret, anonymous reads.
    pub dev: bool,
    /// JWT signing secret, at least 32 bytes outside development mode (`DS_JWT_SECRET`).
    pub jwt_secret: Option<Secret>,
    /// JSON logs (`DS_LOG_JSON=1`).
    pub log_json: bool,
    /// Stream retention in days.
    pub stream_max_age_days: u64,
    /// The universe traded (`DS_UNIVERSE`, `--universe`): a built-in name
    /// (`default`, `nse-fo`, `crypto`, or `demo` = `default` plus the always-open
    /// BTC) or the path of a universe file (TOML, `products = [...]`). Unset: the
    /// command's own (`demo` for `up`, `default` otherwise), unless `products`
    /// lists products, which are then the whole universe.
    pub universe: Option<String>,
    /// Products of this file: added to the universe (one with the name of a
    /// universe product replaces it), or, with no `universe`, the products
    /// traded. Each is a product table as in a universe file (see
    /// `ds_analytics::market::ProductSpec`). After [`Config::resolve_products`],
    /// every product traded.
    #[serde(default)]
    pub products: Vec<ProductSpec>,
    /// The feed's settings.
    pub feed: FeedConfig,
    /// How long a component waits for NATS and MongoDB at start-up, in seconds
    /// (`DS_CONNECT_DEADLINE`; 0 or `forever`: no limit). Unset: long-running
    /// components (enrich, project, gateway, feed) wait forever, one-shot
    /// commands 10 s ([`crate::connect::Patience::of`]).
    pub connect_deadline_secs: Option<u64>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            nats_url: None,
            nats_creds: None,
            nats_user: None,
            nats_password: None,
            nats_ca: None,
            nats_redrive_creds: None,
            mongo_url: None,
            mongo_db: crate::mongo::DEFAULT_DB.into(),
            http_addr: "127.0.0.1:8080".into(),
            data_dir: PathBuf::from(".deltastream"),
            dev: false,
            jwt_secret: None,
            log_json: false,
            stream_max_age_days: 30,
            universe: None,
            products: default_products(),
            feed: FeedConfig::default(),
            connect_deadline_secs: None,
        }
    }
}

impl Config {
    /// Reads `path` (TOML) over the defaults, or the defaults alone when `None`,
    /// then the `DS_*` environment. The products are not resolved yet: apply the
    /// flags, then call [`Config::resolve_products`].
    ///
    /// # Errors
    /// [`Error::Config`] when the file cannot be read or has unknown or ill-typed keys.
    pub fn load(path: Option<&Path>) -> Result<Self> {
        let text = match path {
            Some(p) => std::fs::read_to_string(p)
                .map_err(|e| Error::Config(format!("reading {}: {e}", p.display())))?,
            None => String::new(),
        };
        // Parsed even without a file, so `products` is what the file lists
        // (nothing), not the default universe's.
        let shown = path.map_or_else(|| "defaults".to_owned(), |p| p.display().to_string());
        let mut cfg =
            toml::from_str::<Config>(&text).map_err(|e| Error::Config(format!("{shown}: {e}")))?;
        cfg.apply_env(|k| std::env::var(k).ok());
        if let Ok(v) = std::env::var("DS_CONNECT_DEADLINE") {
            parse_deadline(&v)?;
        }
        Ok(cfg)
    }

    /// Settles the products traded, the one place they are decided: the
    /// universe (`universe`, else `default_universe` unless the file lists
    /// products) with the file's `products` added to it or replacing its
    /// products of the same name; then validates the whole configuration.
    ///
    /// # Errors
    /// [`Error::Config`] for an unknown universe, an unreadable or invalid
    /// universe file, or what [`Config::validate`] refuses.
    pub fn resolve_products(&mut self, default_universe: &str) -> Result<()> {
        let extra = std::mem::take(&mut self.products);
        let chosen = match (&self.universe, extra.is_empty()) {
            (Some(u), _) => Some(u.clone()),
            (None, true) => Some(default_universe.to_owned()),
            (None, false) => None,
        };
        let mut products = match &chosen {
            Some(u) => universe(u)?.into_products(),
            None => Vec::new(),
        };
        for p in extra {
            match products.iter_mut().find(|q| q.name == p.name) {
                Some(q) => *q = p,
                None => products.push(p),
            }
        }
        self.products = products;
        self.validate()
    }

    /// Overrides fields from `DS_*` environment variables (read through `get`).
    pub fn apply_env(&mut self, get: impl Fn(&str) -> Option<String>) {
        if let Some(v) = get("DS_NATS_URL").filter(|v| !v.is_empty()) {
            self.nats_url = Some(v);
        }
        if let Some(v) = get("DS_NATS_CREDS").filter(|v| !v.is_empty()) {
            self.nats_creds = Some(PathBuf::from(v));
        }
        if let Some(v) = get("DS_NATS_USER").filter(|v| !v.is_empty()) {
            self.nats_user = Some(v);
        }
        if let Some(v) = get("DS_NATS_PASSWORD").filter(|v| !v.is_empty()) {
            self.nats_password = Some(Secret::new(v));
        }
        if let Some(v) = get("DS_NATS_CA").filter(|v| !v.is_empty()) {
            self.nats_ca = Some(PathBuf::from(v));
        }
        if let Some(v) = get("DS_NATS_REDRIVE_CREDS").filter(|v| !v.is_empty()) {
            self.nats_redrive_creds = Some(PathBuf::from(v));
        }
        if let Some(v) = get("DS_MONGO_URL").filter(|v| !v.is_empty()) {
            self.mongo_url = Some(v);
        }
        if let Some(v) = get("DS_MONGO_DB").filter(|v| !v.is_empty()) {
            self.mongo_db = v;
        }
        if let Some(v) = get("DS_HTTP_ADDR").filter(|v| !v.is_empty()) {
            self.http_addr = v;
        }
        if let Some(v) = get("DS_DATA_DIR").filter(|v| !v.is_empty()) {
            self.data_dir = PathBuf::from(v);
        }
        if let Some(v) = get("DS_JWT_SECRET").filter(|v| !v.is_empty()) {
            self.jwt_secret = Some(Secret::new(v));
        }
        if let Some(v) = get("DS_DEV") {
            self.dev = truthy(&v);
        }
        if let Some(v) = get("DS_UNIVERSE").filter(|v| !v.is_empty()) {
            self.universe = Some(v);
        }
        if let Some(v) = get("DS_LOG_JSON") {
            self.log_json = truthy(&v);
        }
        if let Some(Ok(secs)) = get("DS_CONNECT_DEADLINE").map(|v| parse_deadline(&v)) {
            self.connect_deadline_secs = Some(secs);
        }
    }

    /// Checks cross-field rules.
    ///
    /// # Errors
    /// [`Error::Config`] naming the offending field.
    pub fn validate(&self) -> Result<()> {
        if self.products.is_empty() {
            return Err(Error::Config("no products configured".into()));
        }
        let mut names = std::collections::BTreeSet::new();
        for p in &self.products {
            if !ds_schemas::subjects::is_product_token(&p.name) {
                return Err(Error::Config(format!(
                    "product name {:?} is not [A-Z0-9_]+",
                    p.name
                )));
            }
            if !names.insert(p.name.as_str()) {
                return Err(Error::Config(format!(
                    "product {} is configured twice",
                    p.name
                )));
            }
        }
        if self.feed.expiries == 0 || self.feed.chain_every_ticks == 0 {
            return Err(Error::Config(
                "feed.expiries and feed.chain_every_ticks must be at least 1".into(),
            ));
        }
        Ok(())
    }

    /// The NATS URL(s) to use (the default local one when unset).
    pub fn nats_url_or_default(&self) -> &str {
        self.nats_url.as_deref().unwrap_or(crate::nats::DEFAULT_URL)
    }

    /// The MongoDB URL to use (the default local one when unset).
    pub fn mongo_url_or_default(&self) -> &str {
        self.mongo_url
            .as_deref()
            .unwrap_or(crate::mongo::DEFAULT_URL)
    }

    /// The configured product called `name`.
    pub fn product(&self, name: &str) -> Option<&ProductSpec> {
        self.products.iter().find(|p| p.name == name)
    }

    /// The configured products called `names`, in that order (every one when
    /// `names` is empty).
    ///
    /// # Errors
    /// Naming the first unknown product and the configured ones.
    pub fn products_named(
        &self,
        names: &[String],
    ) -> std::result::Result<Vec<ProductSpec>, String> {
        if names.is_empty() {
            return Ok(self.products.clone());
        }
        names
            .iter()
            .map(|n| {
                self.product(n).cloned().ok_or_else(|| {
                    let known: Vec<&str> = self.products.iter().map(|p| p.name.as_str()).collect();
                    format!("unknown product {n:?} (configured: {})", known.join(", "))
                })
            })
            .collect()
    }
}

/// The universe `choice` names: `demo`, a built-in universe, or a universe file.
///
/// # Errors
/// [`Error::Config`] when it is none of these, or the file is invalid.
pub fn universe(choice: &str) -> Result<Universe> {
    let parsed = if choice == "demo" {
        Universe::demo()
    } else if BUILT_IN_UNIVERSES.contains(&choice) {
        Universe::by_name(choice)
    } else if choice.ends_with(".toml") || Path::new(choice).is_file() {
        Universe::from_file(Path::new(choice))
    } else {
        return Err(Error::Config(format!(
            "unknown universe {choice:?}: give demo, {}, or the path of a universe file (.toml)",
            BUILT_IN_UNIVERSES.join(", ")
        )));
    };
    parsed.map_err(|e| Error::Config(e.to_string()))
}

/// A start-up deadline in seconds; `forever` (or 0) for none.
fn parse_deadline(v: &str) -> Result<u64> {
    let v = v.trim();
    if v.eq_ignore_ascii_case("forever") {
        return Ok(0);
    }
    v.parse().map_err(|_| {
        Error::Config(format!(
            "DS_CONNECT_DEADLINE={v:?}: expected seconds, or `forever`"
        ))
    })
}

fn truthy(v: &str) -> bool {
    matches!(
        v.trim().to_ascii_lowercase().as_str(),
        "1" | "true" | "yes" | "on"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_overrides_file_and_defaults() {
        let mut c: Config =
            toml::from_str("mongo_db = \"x\"\nhttp_addr = \"0.0.0.0:1\"").expect("toml");
        assert_eq!(c.mongo_db, "x");
        c.apply_env(|k| match k {
            "DS_HTTP_ADDR" => Some("127.0.0.1:9".into()),
            "DS_DEV" => Some("1".into()),
            "DS_JWT_SECRET" => Some("s3cret".into()),
            "DS_CONNECT_DEADLINE" => Some("forever".into()),
            "DS_NATS_PASSWORD" => Some("hunter2".into()),
            _ => None,
        });
        assert_eq!(
            c.nats_password.as_ref().map(|p| p.to_string()),
            Some("***".into())
        );
        assert!(!format!("{c:?}").contains("hunter2"));
        assert_eq!(c.http_addr, "127.0.0.1:9");
        assert!(c.dev);
        assert_eq!(format!("{:?}", c.jwt_secret), "Some(Secret(***))");
        c.resolve_products("default").expect("default universe");
        assert_eq!(c.products.len(), 4);
        assert_eq!(c.connect_deadline_secs, Some(0));
        assert_eq!(parse_deadline("30").ok(), Some(30));
        assert!(parse_deadline("soon").is_err());
    }

    #[test]
    fn the_universe_and_the_files_products_resolve_in_one_place() {
        // Nothing chosen: the command's default universe.
        let mut c: Config = toml::from_str("").expect("toml");
        assert!(c.products.is_empty());
        c.resolve_products("demo").expect("demo");
        let names: Vec<&str> = c.products.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["NIFTY", "BANKNIFTY", "AAPL", "TSLA", "BTC"]);
        // A universe by name, one product replaced and one added from the file.
        let text = r#"
universe = "crypto"
products = [
  { name = "BTC", exchange = "CRYPTO", spot = 50000.0, strike_step = 500.0, annual_vol = 0.6 },
  { name = "SOL", exchange = "CRYPTO", spot = 150.0, strike_step = 5.0, annual_vol = 0.9 },
]"#;
        let mut c: Config = toml::from_str(text).expect("toml");
        c.resolve_products("default").expect("crypto");
        let names: Vec<&str> = c.products.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["BTC", "ETH", "SOL"]);
        assert_eq!(c.products[0].spot, 50000.0);
        // Products alone are the whole universe.
        let mut c: Config = toml::from_str(
            "products = [{ name = \"X\", exchange = \"US\", spot = 10.0, strike_step = 1.0, annual_vol = 0.3 }]",
        )
        .expect("toml");
        c.resolve_products("default").expect("products");
        assert_eq!(c.products.len(), 1);
        // The environment picks a universe too.
        let mut c: Config = toml::from_str("").expect("toml");
        c.apply_env(|k| (k == "DS_UNIVERSE").then(|| "nse-fo".to_owned()));
        c.resolve_products("default").expect("nse-fo");
        assert_eq!(c.products.len(), 205);
        // Unknown names are refused with the choices.
        let mut c: Config = toml::from_str("universe = \"nse\"").expect("toml");
        let e = c.resolve_products("default").expect_err("unknown");
        assert!(e.to_string().contains("nse-fo"), "{e}");
    }

    #[test]
    fn unknown_keys_are_refused() {
        assert!(toml::from_str::<Config>("nats_ulr = \"x\"").is_err());
    }
}
