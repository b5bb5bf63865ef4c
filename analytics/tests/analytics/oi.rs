//! OI change and build-up classification, and the tracker state machine.

use ds_analytics::oi::{compare, OiUpdate};
use ds_analytics::{enrich_chain, Buildup, ChainInput, ChainSnapshot, OiChange, OiTracker, Quote};

fn q(last: f64, oi: u64) -> Quote {
    Quote {
        bid: 0.0,
        ask: 0.0,
        last,
        volume: 0,
        open_interest: oi,
    }
}

#[test]
fn classification_table() {
    let cases = [
        (1.0, 5, Buildup::LongBuildup),
        (-1.0, 5, Buildup::ShortBuildup),
        (1.0, -5, Buildup::ShortCovering),
        (-1.0, -5, Buildup::LongUnwinding),
        (0.0, 5, Buildup::Neutral),
        (1.0, 0, Buildup::Neutral),
        (0.0, 0, Buildup::Neutral),
        (f64::NAN, 5, Buildup::Neutral),
    ];
    for (dp, doi, want) in cases {
        assert_eq!(Buildup::classify(dp, doi), want, "{dp} {doi}");
    }
    assert_eq!(Buildup::LongBuildup.as_str(), "LONG_BUILDUP");
}

#[test]
fn tracker_first_snapshot_then_changes() {
    let mut t = OiTracker::new();
    let strikes = [100.0, 110.0];
    let first = t.update(
        &strikes,
        &[q(5.0, 100), q(2.0, 50)],
        &[q(3.0, 80), q(7.0, 0)],
    );
    assert!(first
        .calls
        .iter()
        .chain(&first.puts)
        .all(|c| *c == OiChange::default()));

    // Strike 100 kept, 110 removed, 120 new.
    let strikes2 = [100.0, 120.0];
    let second = t.update(
        &strikes2,
        &[q(6.0, 120), q(1.0, 10)],
        &[q(2.0, 60), q(1.0, 5)],
    );
    assert_eq!(
        second,
        OiUpdate {
            calls: vec![
                OiChange {
                    oi_change: 20,
                    buildup: Buildup::LongBuildup
                },
                OiChange::default(),
            ],
            puts: vec![
                OiChange {
                    oi_change: -20,
                    buildup: Buildup::LongUnwinding
                },
                OiChange::default(),
            ],
        }
    );
    // Checkpoint round trip, then reset.
    let json = serde_json::to_string(&t).unwrap();
    let restored: OiTracker = serde_json::from_str(&json).unwrap();
    assert_eq!(restored, t);
    assert_eq!(t.snapshot().unwrap().strikes, strikes2.to_vec());
    t.reset();
    assert!(t.snapshot().is_none());
}

#[test]
fn enrich_chain_uses_previous_snapshot() {
    let strikes = [100.0];
    let (c1, p1) = ([q(5.0, 100)], [q(3.0, 100)]);
    let (c2, p2) = ([q(4.0, 150)], [q(4.0, 90)]);
    let chain = |calls, puts| ChainInput {
        spot: 100.0,
        strikes: &strikes,
        calls,
        puts,
        time_to_expiry_years: 0.1,
        rate: 0.05,
        dividend_yield: 0.0,
        min_tick: 0.05,
    };
    let first = enrich_chain(&chain(&c1, &p1), None).unwrap();
    let second = enrich_chain(&chain(&c2, &p2), Some(&first.snapshot)).unwrap();
    assert_eq!(
        second.calls[0].oi,
        OiChange {
            oi_change: 50,
            buildup: Buildup::ShortBuildup
        }
    );
    assert_eq!(
        second.puts[0].oi,
        OiChange {
            oi_change: -10,
            buildup: Buildup::ShortCovering
        }
    );
    // Against an empty previous snapshot everything is neutral.
    let (calls, puts) = compare(Some(&ChainSnapshot::default()), &strikes, &c2, &p2);
    assert_eq!(
        (calls[0], puts[0]),
        (OiChange::default(), OiChange::default())
    );
}
