//! Products from configuration and the built-in universes.

use ds_analytics::market::{
    default_products, Exchange, ExpiryRule, ProductSpec, Smile, Universe, BUILT_IN_UNIVERSES,
};
use ds_analytics::AnalyticsError;
use proptest::prelude::*;

#[test]
fn every_built_in_universe_parses_and_validates() {
    for name in BUILT_IN_UNIVERSES {
        let u = Universe::by_name(name).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(u.name(), name);
        assert!(!u.is_empty() && u.description().is_some());
        for p in u.products() {
            p.validate().unwrap();
        }
        // What the configuration file's serde would give back.
        let json = serde_json::to_string(u.products()).unwrap();
        let back: Vec<ProductSpec> = serde_json::from_str(&json).unwrap();
        assert_eq!(back, u.products(), "{name}");
    }
    assert_eq!(
        Universe::by_name("nse").unwrap_err(),
        AnalyticsError::UnknownUniverse("nse".into())
    );
}

#[test]
fn default_universe_is_todays_four() {
    // Same parameters as every golden output: the file and the function agree.
    let u = Universe::by_name("default").unwrap();
    assert_eq!(u.products(), default_products());
    for p in u.products() {
        assert_eq!(p.expiry, ExpiryRule::Weekly, "{}", p.name);
        assert!(
            p.smile.is_none() && p.listed_strikes.is_none(),
            "{}",
            p.name
        );
        assert_eq!(p.min_tick, p.exchange.default_min_tick());
    }
}

#[test]
fn demo_adds_one_always_open_product() {
    let demo = Universe::demo().unwrap();
    let names: Vec<&str> = demo.products().iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["NIFTY", "BANKNIFTY", "AAPL", "TSLA", "BTC"]);
    assert!(demo.products().iter().any(|p| p.exchange.is_always_open()));
}

#[test]
fn nse_fo_universe() {
    let u = Universe::by_name("nse-fo").unwrap();
    assert!((190..=210).contains(&u.len()), "{} products", u.len());
    let indices = ["NIFTY", "BANKNIFTY", "FINNIFTY", "MIDCPNIFTY", "NIFTYNXT50"];
    for p in u.products() {
        assert_eq!(p.exchange, Exchange::Nse, "{}", p.name);
        let n = p
            .listed_strikes
            .expect("every nse-fo product lists its strikes");
        let steps_per_spot = p.strike_step / p.spot;
        assert!(
            (0.0005..=0.05).contains(&steps_per_spot),
            "{}: step {} at spot {}",
            p.name,
            p.strike_step,
            p.spot
        );
        assert!(p.smile.is_some() && p.lot_size >= 1, "{}", p.name);
        if indices.contains(&p.name.as_str()) {
            assert!((80..=120).contains(&n), "{}: {n} strikes", p.name);
            let weekly = p.name == "NIFTY";
            let rule = if weekly {
                ExpiryRule::Weekly
            } else {
                ExpiryRule::Monthly
            };
            assert_eq!(p.expiry, rule, "{}", p.name);
        } else {
            assert!((20..=50).contains(&n), "{}: {n} strikes", p.name);
            assert_eq!(p.expiry, ExpiryRule::Monthly, "{}", p.name);
        }
    }
    for name in indices
        .iter()
        .chain(&["RELIANCE", "HDFCBANK", "TCS", "M_M", "BAJAJ_AUTO"])
    {
        assert!(u.product(name).is_some(), "{name} missing");
    }
}

#[test]
fn crypto_universe() {
    let u = Universe::by_name("crypto").unwrap();
    for name in ["BTC", "ETH"] {
        let p = u.product(name).unwrap();
        assert_eq!(
            (p.exchange, p.expiry),
            (Exchange::Crypto, ExpiryRule::Daily)
        );
        assert_eq!((p.rate, p.dividend_yield), (0.0, 0.0));
    }
}

/// A universe of one product `X` on `exchange`, with `extra` fields after the
/// required ones.
fn one(exchange: &str, spot: f64, strike_step: f64, extra: &str) -> String {
    format!(
        r#"products = [{{ name = "X", exchange = "{exchange}", spot = {spot}, strike_step = {strike_step}, annual_vol = 0.2{extra} }}]"#
    )
}

#[test]
fn universe_files_are_validated_like_the_config() {
    let ok = r#"
        name = "mine"
        [[products]]
        name = "MSFT"
        exchange = "US"
        spot = 400
        strike_step = 5
        annual_vol = 0.22

        [[products]]
        name = "SOL"
        exchange = "CRYPTO"
        spot = 150
        strike_step = 5
        annual_vol = 0.8
        listed_strikes = 31
        smile = { skew = 0.0, curvature = 0.1 }
    "#;
    let u = Universe::from_toml_str("fallback", ok).unwrap();
    assert_eq!(u.name(), "mine");
    let msft = u.product("MSFT").unwrap();
    // Exchange defaults fill in what the file leaves out.
    assert_eq!(
        (msft.rate, msft.expiry, msft.lot_size, msft.min_tick),
        (0.045, ExpiryRule::Weekly, 100, 0.01)
    );
    assert_eq!(u.product("SOL").unwrap().expiry, ExpiryRule::Daily);

    // (file, a word the error must contain)
    let bad = [
        (r#"products = []"#.to_owned(), "no products"),
        (
            r#"colour = 1
            products = []"#
                .to_owned(),
            "colour",
        ),
        (one("US", 1.0, 1.0, ", colour = 1"), "colour"),
        (one("US", -1.0, 1.0, ""), "spot"),
        (one("LSE", 1.0, 1.0, ""), "LSE"),
        (one("US", 1.0, 1.0, r#", expiry = "hourly""#), "hourly"),
        (
            one("US", 1.0, 1.0, ", listed_strikes = 0"),
            "listed_strikes",
        ),
        (
            one("US", 1.0, 1.0, ", smile = { skew = 2.0, curvature = 0.0 }"),
            "skew",
        ),
        (one("NSE", 1.0, 0.01, ""), "min_tick"),
        (one("US", 1.0, 1.0, ", lot_size = 0"), "lot_size"),
        (
            r#"products = [
                { name = "X", exchange = "US", spot = 1, strike_step = 1, annual_vol = 0.2 },
                { name = "X", exchange = "NSE", spot = 1, strike_step = 1, annual_vol = 0.2 },
            ]"#
            .to_owned(),
            "twice",
        ),
    ];
    for (i, (text, word)) in bad.iter().enumerate() {
        let err = Universe::from_toml_str("bad", text)
            .unwrap_err()
            .to_string();
        assert!(err.contains(word), "case {i}: {err:?} lacks {word:?}");
    }
}

#[test]
fn universe_from_file() {
    let dir = std::env::temp_dir().join(format!("ds-universe-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("desk.toml");
    std::fs::write(
        &path,
        r#"products = [{ name = "NIFTY", exchange = "NSE", spot = 26000, strike_step = 50, annual_vol = 0.12 }]"#,
    )
    .unwrap();
    let u = Universe::from_file(&path).unwrap();
    assert_eq!((u.name(), u.len()), ("desk", 1));
    let missing = Universe::from_file(&dir.join("nope.toml")).unwrap_err();
    assert!(missing.to_string().contains("nope.toml"), "{missing}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn smile_shape() {
    let smile = Smile {
        skew: -0.1,
        curvature: 0.02,
    };
    let (atm, fwd, t) = (0.2, 100.0, 0.25);
    assert_eq!(smile.vol(atm, fwd, fwd, t), atm);
    // One standard deviation down (K = F·e^{-σ√T}): 1 + 0.1 + 0.02.
    let down = fwd * (-atm * t.sqrt()).exp();
    assert!((smile.vol(atm, fwd, down, t) - atm * 1.12).abs() < 1e-12);
    assert!(smile.vol(atm, fwd, 80.0, t) > smile.vol(atm, fwd, 120.0, t));
    assert_eq!(Smile::FLAT.vol(atm, fwd, 150.0, t), atm);
    // Far wings are clamped to 5 × ATM.
    assert_eq!(smile.vol(atm, fwd, 1e-6, t), atm * 5.0);
}

#[test]
fn strike_ladder_table() {
    let mut spec = ProductSpec::new("X", Exchange::Nse, 26_000.0, 50.0, 0.12).unwrap();
    // Unset: the caller's count.
    assert_eq!(
        spec.strike_ladder(26_010.0, 3),
        [25_950.0, 26_000.0, 26_050.0]
    );
    spec.listed_strikes = Some(4);
    assert_eq!(
        spec.strike_ladder(26_010.0, 3),
        [25_950.0, 26_000.0, 26_050.0, 26_100.0]
    );
    // Near zero the non-positive strikes are left out.
    assert_eq!(spec.strike_ladder(60.0, 3), [50.0, 100.0, 150.0]);
    assert_eq!(spec.strike_ladder(10.0, 3), [50.0, 100.0]);
    spec.listed_strikes = Some(0);
    assert!(spec.strike_ladder(26_000.0, 3).is_empty());
}

proptest! {
    /// The ladder lists exactly the requested strikes, on the grid, consecutive,
    /// centred on the strike nearest spot.
    #[test]
    fn strike_ladder_is_centred(
        spot in 100.0_f64..200_000.0,
        step in prop::sample::select(vec![0.5, 1.0, 2.5, 5.0, 50.0, 100.0]),
        n in 1_u32..150,
    ) {
        prop_assume!(spot / step > f64::from(n));
        let mut spec = ProductSpec::new("X", Exchange::Us, spot, step, 0.2).unwrap();
        spec.listed_strikes = Some(n);
        let ladder = spec.strike_ladder(spot, 7);
        prop_assert_eq!(ladder.len(), n as usize);
        let atm = spec.nearest_strike(spot);
        let i = ladder.iter().position(|&k| k == atm);
        prop_assert!(i.is_some(), "ATM {} not in ladder", atm);
        let i = i.unwrap();
        prop_assert_eq!(i, (n as usize - 1) / 2);
        for w in ladder.windows(2) {
            prop_assert!((w[1] - w[0] - step).abs() < 1e-9 * spot);
        }
    }
}
