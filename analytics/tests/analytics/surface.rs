//! IV surface assembly.

use chrono::NaiveDate;
use ds_analytics::surface::otm_iv;
use ds_analytics::{build_surface, SurfaceChain};

#[test]
fn otm_side_with_fallback() {
    assert_eq!(otm_iv(90.0, 100.0, Some(0.3), Some(0.2)), Some(0.2)); // put below spot
    assert_eq!(otm_iv(100.0, 100.0, Some(0.3), Some(0.2)), Some(0.3)); // call at spot
    assert_eq!(otm_iv(110.0, 100.0, None, Some(0.2)), Some(0.2)); // fallback
    assert_eq!(otm_iv(110.0, 100.0, None, None), None);
}

#[test]
fn grid_union_of_strikes() {
    let e1 = NaiveDate::from_ymd_opt(2025, 1, 30).unwrap();
    let e2 = NaiveDate::from_ymd_opt(2025, 1, 23).unwrap();
    let (k1, c1, p1) = ([90.0, 100.0], [Some(0.31), Some(0.30)], [Some(0.25), None]);
    let (k2, c2, p2) = ([100.0, 110.0], [None, Some(0.28)], [Some(0.27), Some(0.26)]);
    let chains = [
        SurfaceChain {
            expiry: e1,
            spot: 100.0,
            strikes: &k1,
            call_ivs: &c1,
            put_ivs: &p1,
        },
        SurfaceChain {
            expiry: e2,
            spot: 100.0,
            strikes: &k2,
            call_ivs: &c2,
            put_ivs: &p2,
        },
    ];
    let s = build_surface(&chains);
    assert_eq!(s.expiries, vec![e2, e1]);
    assert_eq!(s.strikes, vec![90.0, 100.0, 110.0]);
    assert_eq!(
        s.ivs,
        vec![
            vec![None, Some(0.27), Some(0.28)],
            vec![Some(0.25), Some(0.30), None]
        ]
    );
    assert_eq!(build_surface(&[]), Default::default());
}
