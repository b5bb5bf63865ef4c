//! Which products share a partition (pure).
//!
//! A partition of the enricher is a group of products read by one durable
//! consumer with a filter subject per product (nats-server 2.10's multiple
//! filter subjects). One consumer per product made nats-server read every
//! message block once per product to find each consumer's next message (205
//! filtered consumers on one interleaved stream for `nse-fo`, a third of its
//! CPU); [`GROUPS`] consumers read it [`GROUPS`] times at most, and 16 leases
//! instead of 206 are renewed.
//!
//! A product's group is a hash of its name alone, so adding or removing a
//! product moves no other, and every instance computes the same groups without
//! sharing anything. Order, checkpoints and fencing stay per product: a group's
//! consumer starts after the lowest checkpoint of its products, and each
//! product skips what it has already applied.

use std::collections::BTreeMap;

/// How many groups the products are hashed into: the most enricher instances
/// that can share work (a group is read by one instance at a time).
pub const GROUPS: u32 = 16;

/// The group of `product` (0 ≤ group < [`GROUPS`]): 32-bit FNV-1a of the name.
pub fn group_of(product: &str) -> u32 {
    let hash = product.bytes().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    hash % GROUPS
}

/// The partition name of group `group` (`g00` … `g15`).
pub fn group_name(group: u32) -> String {
    format!("g{group:02}")
}

/// The partition that holds `product`.
pub fn partition_of(product: &str) -> String {
    group_name(group_of(product))
}

/// The groups that hold at least one of `products`, each with its products in
/// ascending order.
pub fn groups<'a>(products: impl IntoIterator<Item = &'a str>) -> BTreeMap<String, Vec<String>> {
    let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for p in products {
        groups
            .entry(partition_of(p))
            .or_default()
            .push(p.to_owned());
    }
    for members in groups.values_mut() {
        members.sort();
        members.dedup();
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;
    use ds_analytics::market::Universe;

    #[test]
    fn a_products_group_is_fixed_by_its_name() {
        // Golden: changing these moves every product's checkpointed consumer.
        let got: Vec<u32> = ["NIFTY", "BANKNIFTY", "AAPL", "TSLA", "BTC", "ETH"]
            .iter()
            .map(|p| group_of(p))
            .collect();
        assert_eq!(got, [9, 15, 11, 15, 0, 12]);
        assert_eq!(partition_of("NIFTY"), "g09");
    }

    #[test]
    fn every_product_is_in_exactly_one_group() {
        let products: Vec<String> = Universe::by_name("nse-fo")
            .expect("nse-fo")
            .into_products()
            .into_iter()
            .map(|p| p.name)
            .collect();
        let groups = groups(products.iter().map(String::as_str));
        let mut all: Vec<&String> = groups.values().flatten().collect();
        all.sort();
        let mut want: Vec<&String> = products.iter().collect();
        want.sort();
        assert_eq!(all, want);
        for (name, members) in &groups {
            assert!(members.iter().all(|p| &partition_of(p) == name));
        }
        // 205 products fill every group, none with more than twice its share.
        assert_eq!(groups.len(), GROUPS as usize);
        let fair = products.len().div_ceil(GROUPS as usize);
        assert!(
            groups.values().all(|m| m.len() <= 2 * fair),
            "{:?}",
            groups.values().map(Vec::len).collect::<Vec<_>>()
        );
    }

    #[test]
    fn adding_a_product_moves_no_other() {
        let before = groups(["NIFTY", "AAPL"]);
        let after = groups(["NIFTY", "AAPL", "ZZZ"]);
        for (name, members) in &before {
            for p in members {
                assert!(after[name].contains(p));
            }
        }
    }
}
