//! The request and response shapes of the REST API, for the OpenAPI document
//! (responses built from projection documents follow these shapes).

use crate::auth::{apikeys::KeyInfo, users::User, Role};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// An RFC 7807 problem (`application/problem+json`).
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// Always `about:blank`.
    #[schema(example = "about:blank")]
    pub r#type: String,
    /// The status's reason phrase.
    #[schema(example = "Bad Request")]
    pub title: String,
    /// The HTTP status.
    #[schema(example = 400)]
    pub status: u16,
    /// What exactly is wrong.
    #[schema(example = "interval must be one of 1m, 5m, 15m, got \"2m\"")]
    pub detail: String,
}

/// A configured product.
#[derive(Debug, Serialize, ToSchema)]
pub struct Product {
    /// Token, e.g. `NIFTY`.
    pub name: String,
    /// `NSE` or `US`.
    pub exchange: String,
    /// IANA time zone of the exchange.
    pub timezone: String,
    /// Risk-free rate used for pricing.
    pub rate: f64,
    /// Dividend yield used for pricing.
    pub dividend_yield: f64,
    /// Distance between listed strikes.
    pub strike_step: f64,
}

/// An `EnrichedUnderlying` tick.
#[derive(Debug, Serialize, ToSchema)]
pub struct Tick {
    /// Product.
    pub product: String,
    /// Price.
    pub price: f64,
    /// Event time, UTC ns.
    pub ts_unix_ns: i64,
    /// Event time, RFC 3339.
    pub ts: String,
    /// Feed sequence per product.
    pub seq: u64,
    /// Traded in this tick.
    pub volume: u64,
    /// First price of the trading day.
    pub session_open: f64,
    /// Highest price of the trading day so far.
    pub session_high: f64,
    /// Lowest price of the trading day so far.
    pub session_low: f64,
    /// (price − session_open) / session_open × 100.
    pub change_pct: f64,
    /// `MD_RAW` stream sequence of the source tick.
    pub source_seq: u64,
}

/// A closed OHLC bar with indicators.
#[derive(Debug, Serialize, ToSchema)]
pub struct Bar {
    /// Product.
    pub product: String,
    /// `1m`, `5m` or `15m`.
    pub interval: String,
    /// Bar start, UTC ns.
    pub start_unix_ns: i64,
    /// Bar start, RFC 3339.
    pub start: String,
    /// Open.
    pub open: f64,
    /// High.
    pub high: f64,
    /// Low.
    pub low: f64,
    /// Close.
    pub close: f64,
    /// Sum of tick volumes.
    pub volume: u64,
    /// Tick count.
    pub ticks: u64,
    /// SMA(20) of closes, once warmed up.
    pub sma_20: Option<f64>,
    /// EMA(9).
    pub ema_9: Option<f64>,
    /// EMA(21).
    pub ema_21: Option<f64>,
    /// RSI(14).
    pub rsi_14: Option<f64>,
    /// MACD line.
    pub macd: Option<f64>,
    /// MACD signal.
    pub macd_signal: Option<f64>,
    /// MACD histogram.
    pub macd_hist: Option<f64>,
    /// Bollinger upper band.
    pub bb_upper: Option<f64>,
    /// Bollinger middle band.
    pub bb_middle: Option<f64>,
    /// Bollinger lower band.
    pub bb_lower: Option<f64>,
}

/// OI build-up class of a quote.
#[derive(Debug, Serialize, ToSchema)]
#[allow(clippy::enum_variant_names)]
pub enum BuildupName {
    /// No clear signal.
    #[serde(rename = "NEUTRAL")]
    Neutral,
    /// Price up, OI up.
    #[serde(rename = "LONG_BUILDUP")]
    LongBuildup,
    /// Price down, OI up.
    #[serde(rename = "SHORT_BUILDUP")]
    ShortBuildup,
    /// Price up, OI down.
    #[serde(rename = "SHORT_COVERING")]
    ShortCovering,
    /// Price down, OI down.
    #[serde(rename = "LONG_UNWINDING")]
    LongUnwinding,
}

/// An option quote with IV, Greeks and OI change.
#[derive(Debug, Serialize, ToSchema)]
pub struct Quote {
    /// Strike.
    pub strike: f64,
    /// Bid.
    pub bid: f64,
    /// Ask.
    pub ask: f64,
    /// Last traded price.
    pub last: f64,
    /// Volume.
    pub volume: u64,
    /// Open interest.
    pub open_interest: u64,
    /// Implied volatility (0.2 = 20 %); null where none reproduces the price.
    pub iv: Option<f64>,
    /// Delta.
    pub delta: Option<f64>,
    /// Gamma.
    pub gamma: Option<f64>,
    /// Theta per calendar day.
    pub theta: Option<f64>,
    /// Vega per vol point.
    pub vega: Option<f64>,
    /// Rho per rate point.
    pub rho: Option<f64>,
    /// OI change against the previous snapshot.
    pub oi_change: i64,
    /// Build-up class.
    pub buildup: BuildupName,
}

/// An enriched option chain snapshot.
#[derive(Debug, Serialize, ToSchema)]
pub struct Chain {
    /// Product.
    pub product: String,
    /// Expiry, ISO date.
    pub expiry: String,
    /// Spot at the snapshot.
    pub spot: f64,
    /// Event time, UTC ns.
    pub ts_unix_ns: i64,
    /// Event time, RFC 3339.
    pub ts: String,
    /// Sequence per product and expiry.
    pub seq: u64,
    /// Strikes; `calls[i]` and `puts[i]` are at `strikes[i]`.
    pub strikes: Vec<f64>,
    /// Calls.
    pub calls: Vec<Quote>,
    /// Puts.
    pub puts: Vec<Quote>,
    /// Σ put OI / Σ call OI.
    pub pcr_oi: f64,
    /// Σ put volume / Σ call volume.
    pub pcr_volume: f64,
    /// Strike nearest spot.
    pub atm_strike: f64,
    /// ATM call last + ATM put last.
    pub atm_straddle: f64,
    /// Max-pain strike.
    pub max_pain_strike: f64,
    /// Σ call OI.
    pub total_call_oi: u64,
    /// Σ put OI.
    pub total_put_oi: u64,
    /// Mean IV at the ATM strike.
    pub atm_iv: Option<f64>,
    /// Rate used.
    pub rate: f64,
    /// Dividend yield used.
    pub dividend_yield: f64,
    /// Time to expiry in years used.
    pub time_to_expiry_years: f64,
    /// `MD_RAW` sequence of the source chain.
    pub source_seq: u64,
}

/// One point of the put-call ratio series.
#[derive(Debug, Serialize, ToSchema)]
pub struct PcrPoint {
    /// Product.
    pub product: String,
    /// Expiry, ISO date.
    pub expiry: String,
    /// Event time, UTC ns.
    pub ts_unix_ns: i64,
    /// Event time, RFC 3339.
    pub ts: String,
    /// Chain sequence.
    pub seq: u64,
    /// Spot.
    pub spot: f64,
    /// PCR by open interest.
    pub pcr_oi: f64,
    /// PCR by volume.
    pub pcr_volume: f64,
    /// Σ call OI.
    pub total_call_oi: u64,
    /// Σ put OI.
    pub total_put_oi: u64,
}

/// Writers' payout at one settlement strike.
#[derive(Debug, Serialize, ToSchema)]
pub struct PainPoint {
    /// Settlement strike.
    pub strike: f64,
    /// Σ call OI × max(0, strike − K).
    pub call_pain: f64,
    /// Σ put OI × max(0, K − strike).
    pub put_pain: f64,
    /// call_pain + put_pain.
    pub total_pain: f64,
}

/// Max pain of the latest chain of an expiry.
#[derive(Debug, Serialize, ToSchema)]
pub struct MaxPain {
    /// Product.
    pub product: String,
    /// Expiry.
    pub expiry: String,
    /// Snapshot time, UTC ns.
    pub ts_unix_ns: i64,
    /// Snapshot time, RFC 3339.
    pub ts: String,
    /// Spot.
    pub spot: f64,
    /// The strike minimising total pain (ties: the lower).
    pub max_pain_strike: f64,
    /// The pain curve, by strike.
    pub pain: Vec<PainPoint>,
}

/// The implied-volatility surface from the latest chain of every expiry.
#[derive(Debug, Serialize, ToSchema)]
pub struct IvSurface {
    /// Product.
    pub product: String,
    /// Expiries (rows), ascending.
    pub expiries: Vec<String>,
    /// Strikes (columns), ascending.
    pub strikes: Vec<f64>,
    /// `ivs[e][k]`: out-of-the-money IV at `expiries[e]`, `strikes[k]`, or null.
    pub ivs: Vec<Vec<Option<f64>>>,
    /// Spot of the newest chain used.
    pub spot: Option<f64>,
    /// Newest snapshot used, UTC ns.
    pub ts_unix_ns: Option<i64>,
    /// Newest snapshot used, RFC 3339.
    pub ts: Option<String>,
}

/// OI change and build-up of one strike and side.
#[derive(Debug, Serialize, ToSchema)]
pub struct OiRow {
    /// Strike.
    pub strike: f64,
    /// `call` or `put`.
    pub side: String,
    /// Open interest.
    pub open_interest: u64,
    /// OI change against the previous snapshot.
    pub oi_change: i64,
    /// Last price.
    pub last: f64,
    /// Build-up class.
    pub buildup: BuildupName,
}

/// OI build-up of the latest chain of an expiry.
#[derive(Debug, Serialize, ToSchema)]
pub struct OiBuildup {
    /// Product.
    pub product: String,
    /// Expiry.
    pub expiry: String,
    /// Snapshot time, UTC ns.
    pub ts_unix_ns: i64,
    /// Snapshot time, RFC 3339.
    pub ts: String,
    /// Per strike and side.
    pub items: Vec<OiRow>,
    /// Rows per build-up class (every class present, possibly 0).
    #[schema(value_type = Object, example = json!({"NEUTRAL": 30, "LONG_BUILDUP": 4, "SHORT_BUILDUP": 3, "SHORT_COVERING": 2, "LONG_UNWINDING": 3}))]
    pub counts: serde_json::Value,
}

/// A dead letter in `MD_DLQ`.
#[derive(Debug, Serialize, ToSchema)]
pub struct DlqEntry {
    /// Sequence in `MD_DLQ` (for retry).
    pub dlq_seq: u64,
    /// DLQ subject.
    pub dlq_subject: String,
    /// Processor that gave up.
    pub processor: String,
    /// Original subject.
    pub subject: String,
    /// Original stream.
    pub stream: String,
    /// Original stream sequence.
    pub stream_seq: u64,
    /// `Ds-Schema` of the original message.
    pub schema: String,
    /// Original bytes, hex.
    pub payload: String,
    /// Why it failed.
    pub error: String,
    /// Delivery attempts.
    pub deliveries: u64,
    /// When, UTC ns.
    pub failed_at_unix_ns: i64,
    /// When, RFC 3339.
    pub failed_at: String,
}

/// Result of a DLQ re-drive.
#[derive(Debug, Serialize, ToSchema)]
pub struct Retried {
    /// The DLQ entry re-driven.
    pub dlq_seq: u64,
    /// Sequence of the re-published message in its original stream.
    pub republished_seq: u64,
}

macro_rules! page {
    ($name:ident, $item:ty, $doc:literal) => {
        #[doc = $doc]
        #[derive(Debug, Serialize, ToSchema)]
        pub struct $name {
            /// The items.
            pub items: Vec<$item>,
            /// Pass back as `cursor` for the next page; null on the last page.
            pub next_cursor: Option<String>,
        }
    };
}

page!(ProductList, Product, "Configured products.");
page!(ExpiryList, String, "Expiries (ISO dates), ascending.");
page!(TickPage, Tick, "A page of ticks.");
page!(BarPage, Bar, "A page of bars.");
page!(ChainPage, Chain, "A page of chain snapshots.");
page!(PcrPage, PcrPoint, "A page of PCR points.");
page!(UserList, User, "Users.");
page!(KeyList, KeyInfo, "API keys (without secrets).");
page!(DlqList, DlqEntry, "Dead letters, oldest first.");

/// `POST /api/v1/auth/register` and `login`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    /// E-mail address.
    #[schema(example = "ana@example.com")]
    pub email: String,
    /// Password, at least 8 characters.
    #[schema(example = "correct horse battery")]
    pub password: String,
}

/// `POST /api/v1/auth/refresh` and `logout`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    /// A refresh token from `login` or `refresh`.
    pub refresh_token: String,
}

/// An issued access token.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    /// JWT access token (HS256), for `Authorization: Bearer`.
    pub token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until `token` expires.
    pub expires_in: i64,
    /// Single-use refresh token (login and refresh only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// The user.
    pub user: User,
}

/// `POST /api/v1/auth/api-keys`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    /// Human name, e.g. the program using it.
    #[schema(example = "backtester")]
    pub name: String,
    /// Role of the key, at most the owner's (default: the owner's).
    pub role: Option<Role>,
}

/// A new API key: the only time the secret is shown.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedKey {
    /// The secret, for `X-Api-Key`.
    pub key: String,
    /// Its description.
    #[serde(flatten)]
    pub info: KeyInfo,
}

/// `POST /api/auth/verify` (older design).
#[derive(Debug, Serialize, ToSchema)]
pub struct Verified {
    /// Whether the bearer token is valid.
    pub valid: bool,
    /// Its user.
    pub user_id: Option<String>,
    /// The user's e-mail.
    pub email: Option<String>,
}
