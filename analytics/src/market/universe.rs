//! Universes: named sets of products, built in or read from a TOML file.
//!
//! A universe file is TOML with an optional `name` and `description` and a
//! `products` array of product tables, each parsed and validated exactly like
//! a `[[products]]` entry of the configuration file ([`ProductSpec`]'s serde
//! implementation: unknown keys rejected, exchange defaults filled in). The
//! built-in universes are such files, embedded at build time from
//! `market/universes/`, so they go through the same parser and validation.

use std::path::Path;

use serde::Deserialize;

use super::ProductSpec;
use crate::AnalyticsError;

/// Names of the built-in universes, for [`Universe::by_name`] and help texts.
pub const BUILT_IN_UNIVERSES: [&str; 3] = ["default", "nse-fo", "crypto"];

/// The product of the crypto universe [`Universe::demo`] adds to `default`.
const DEMO_ALWAYS_OPEN: &str = "BTC";

fn built_in_text(name: &str) -> Option<&'static str> {
    match name {
        "default" => Some(include_str!("universes/default.toml")),
        "nse-fo" => Some(include_str!("universes/nse-fo.toml")),
        "crypto" => Some(include_str!("universes/crypto.toml")),
        _ => None,
    }
}

/// The file format.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UniverseFile {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    description: Option<String>,
    products: Vec<ProductSpec>,
}

/// A validated set of products: at least one, names unique.
#[derive(Debug, Clone, PartialEq)]
pub struct Universe {
    name: String,
    description: Option<String>,
    products: Vec<ProductSpec>,
}

impl Universe {
    /// A universe of `products`.
    ///
    /// # Errors
    /// [`AnalyticsError::InvalidUniverse`] when `products` is empty or two
    /// products share a name.
    pub fn new(name: &str, products: Vec<ProductSpec>) -> Result<Self, AnalyticsError> {
        let invalid = |reason: String| AnalyticsError::InvalidUniverse {
            universe: name.to_owned(),
            reason,
        };
        if products.is_empty() {
            return Err(invalid("no products".into()));
        }
        let mut names: Vec<&str> = products.iter().map(|p| p.name.as_str()).collect();
        names.sort_unstable();
        if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
            return Err(invalid(format!("product {:?} is listed twice", w[0])));
        }
        Ok(Self {
            name: name.to_owned(),
            description: None,
            products,
        })
    }

    /// A built-in universe: `default` (the four products of SPEC §2 with the
    /// parameters every golden output was made with), `nse-fo` (NSE indices
    /// and F&O stocks) or `crypto` (BTC and ETH on the 24/7 exchange).
    ///
    /// # Errors
    /// [`AnalyticsError::UnknownUniverse`] for any other name.
    pub fn by_name(name: &str) -> Result<Self, AnalyticsError> {
        let text =
            built_in_text(name).ok_or_else(|| AnalyticsError::UnknownUniverse(name.to_owned()))?;
        Self::from_toml_str(name, text)
    }

    /// What `up` runs by default: the `default` universe plus `crypto`'s BTC,
    /// so that at any hour one product is in session.
    ///
    /// # Errors
    /// Only if a built-in file were invalid (the unit tests rule that out).
    pub fn demo() -> Result<Self, AnalyticsError> {
        let mut products = Self::by_name("default")?.products;
        let crypto = Self::by_name("crypto")?;
        let btc = crypto.product(DEMO_ALWAYS_OPEN).cloned().ok_or_else(|| {
            AnalyticsError::InvalidUniverse {
                universe: "crypto".into(),
                reason: format!("{DEMO_ALWAYS_OPEN} is missing"),
            }
        })?;
        products.push(btc);
        let mut demo = Self::new("demo", products)?;
        demo.description = Some("default plus BTC, which trades 24/7".into());
        Ok(demo)
    }

    /// Parses a universe file's text; `fallback_name` names it when the file
    /// has no `name`.
    ///
    /// # Errors
    /// [`AnalyticsError::InvalidUniverse`] with the parser's message (line,
    /// column and, for a bad product, which product and why).
    pub fn from_toml_str(fallback_name: &str, text: &str) -> Result<Self, AnalyticsError> {
        let file: UniverseFile =
            toml::from_str(text).map_err(|e| AnalyticsError::InvalidUniverse {
                universe: fallback_name.to_owned(),
                reason: e.to_string(),
            })?;
        let name = file.name.as_deref().unwrap_or(fallback_name);
        let mut universe = Self::new(name, file.products)?;
        universe.description = file.description;
        Ok(universe)
    }

    /// Reads a universe file (the one place this crate touches the file
    /// system; it is a configuration load, done once at start-up). The file
    /// stem names the universe when the file has no `name`.
    ///
    /// # Errors
    /// [`AnalyticsError::InvalidUniverse`] when the file cannot be read or
    /// parsed.
    pub fn from_file(path: &Path) -> Result<Self, AnalyticsError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| AnalyticsError::InvalidUniverse {
            universe: shown.clone(),
            reason: e.to_string(),
        })?;
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or(shown.as_str());
        // Errors name the file, not just the universe, so the user can find it.
        Self::from_toml_str(stem, &text).map_err(|e| match e {
            AnalyticsError::InvalidUniverse { reason, .. } => AnalyticsError::InvalidUniverse {
                universe: shown.clone(),
                reason,
            },
            other => other,
        })
    }

    /// The universe's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The file's description, if any.
    #[must_use]
    pub fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }

    /// The products, in file order.
    #[must_use]
    pub fn products(&self) -> &[ProductSpec] {
        &self.products
    }

    /// The products, by value (e.g. for the configuration's product list).
    #[must_use]
    pub fn into_products(self) -> Vec<ProductSpec> {
        self.products
    }

    /// The product called `name`.
    #[must_use]
    pub fn product(&self, name: &str) -> Option<&ProductSpec> {
        self.products.iter().find(|p| p.name == name)
    }

    /// Number of products (never 0).
    #[must_use]
    pub fn len(&self) -> usize {
        self.products.len()
    }

    /// Always `false`: a universe has at least one product.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.products.is_empty()
    }
}
