//! `--shard I/N`: a run on the hosts of shard I of N (0-based), so that N processes (the
//! workers of a Kubernetes Indexed Job, a CI matrix) cover a fleet between them. A host's
//! shard is decided by rendezvous hashing of its inventory name: each of the N shards gets a
//! weight from a fixed 64-bit hash of (name, shard), and the heaviest wins. So the shards
//! partition any host list exactly (each host has one heaviest shard), whatever the inventory
//! order, a host added to the inventory lands in one shard and moves no other host, and going
//! from N to N+1 shards moves only the hosts the new shard wins. Consistent hashing on a ring
//! has the same stability but needs virtual nodes to balance; with N small, computing N
//! weights per host is cheap and balanced by construction.

mod check;

pub use check::shard_check;

use anyhow::{bail, Result};

/// Shard `index` of `count` (as JSON: `{"index": I, "count": N}`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl Shard {
    /// `I/N`, with 0 <= I < N.
    pub fn parse(text: &str) -> Result<Shard> {
        let Some((i, n)) = text.trim().split_once('/') else {
            bail!("`{text}` is not a shard: write I/N, as 0/4 for the first of four");
        };
        let (Ok(index), Ok(count)) = (i.trim().parse::<u32>(), n.trim().parse::<u32>()) else {
            bail!("`{text}` is not a shard: write I/N with whole numbers, as 0/4");
        };
        Shard::new(index, count)
    }

    pub fn new(index: u32, count: u32) -> Result<Shard> {
        if count == 0 || index >= count {
            bail!("shard {index}/{count} does not exist: shards are numbered 0 to N-1 of N (N at least 1)");
        }
        Ok(Shard { index, count })
    }

    /// Whether `host` falls in this shard.
    pub fn owns(&self, host: &str) -> bool {
        owner(host, self.count) == self.index
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// The shard of `count` that `host` falls in: the heaviest (the lowest number on a tie).
pub fn owner(host: &str, count: u32) -> u32 {
    (0..count)
        .max_by_key(|s| (weight(host, *s), std::cmp::Reverse(*s)))
        .unwrap_or(0)
}

/// FNV-1a of the name, a separator and the shard number, finished with splitmix64's mixer:
/// fixed, so every version and machine agrees on the shards.
fn weight(host: &str, shard: u32) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in host
        .bytes()
        .chain(std::iter::once(0xff))
        .chain(shard.to_le_bytes())
    {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_partition_balance_and_stay_put() {
        let hosts: Vec<String> = (0..3000)
            .map(|i| format!("web{i:04}.example.com"))
            .collect();
        let n = 7;
        let mut sizes = vec![0usize; n as usize];
        for h in &hosts {
            let owners: Vec<u32> = (0..n)
                .filter(|i| Shard::new(*i, n).unwrap().owns(h))
                .collect();
            assert_eq!(owners.len(), 1, "{h}: {owners:?}");
            sizes[owners[0] as usize] += 1;
        }
        // Balanced within a few percent of 3000 / 7.
        assert!(sizes.iter().all(|s| (380..=480).contains(s)), "{sizes:?}");
        // Going to 8 shards moves only the hosts the new shard wins.
        for h in &hosts {
            let (before, after) = (owner(h, 7), owner(h, 8));
            assert!(after == before || after == 7, "{h}: {before} -> {after}");
        }
        // Fixed: the same answer on every machine and in every version.
        assert_eq!(
            owner("web0001.example.com", 4),
            owner("web0001.example.com", 4)
        );
        assert_eq!(
            (0..8)
                .map(|i| owner(&format!("h{i}"), 3))
                .collect::<Vec<_>>(),
            FIXED
        );
        assert!(Shard::parse("4/4").is_err());
        assert!(Shard::parse("1of4").is_err());
        assert_eq!(Shard::parse(" 3/4 ").unwrap(), Shard { index: 3, count: 4 });
    }

    /// The shards of `h0`..`h7` among 3: pinned, so a change of the hash is noticed.
    const FIXED: [u32; 8] = [2, 0, 0, 1, 2, 0, 1, 0];
}
