//! Hashing for the maps the workers read on every packet (services, neighbours, reply owners).
//!
//! std's `HashMap` defaults to SipHash-1-3, whose per-lookup cost (about 20 ns) showed as 7 % of a
//! NAT packet in the engine benchmark. These maps are keyed by addresses and ports already folded
//! into one or two words, so one multiply-xorshift round per word spreads them well. Maps whose
//! contents come from the configuration only use the unseeded [`WordMap`]; a map that learns
//! from the network (neighbours seen in ARP) uses [`SeededWordMap`], seeded per table, so senders
//! cannot aim at one chain.

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};

use super::sched::mix64;

/// A hasher for keys that are already one or two well-spread words: one SplitMix round each.
#[derive(Default)]
pub struct WordHasher(u64);

impl Hasher for WordHasher {
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = mix64(self.0 ^ b as u64);
        }
    }
    #[inline]
    fn write_u32(&mut self, x: u32) {
        self.0 = mix64(self.0 ^ x as u64);
    }
    #[inline]
    fn write_u64(&mut self, x: u64) {
        self.0 = mix64(self.0 ^ x);
    }
    #[inline]
    fn write_u128(&mut self, x: u128) {
        self.0 = mix64(mix64(self.0 ^ (x >> 64) as u64) ^ x as u64);
    }
}

/// A map over configuration-made word keys.
pub type WordMap<K, V> = HashMap<K, V, BuildHasherDefault<WordHasher>>;

/// [`WordHasher`] started from a per-table random seed.
#[derive(Clone, Debug)]
pub struct Seeded(u64);

impl Default for Seeded {
    fn default() -> Self {
        Seeded(RandomState::new().hash_one(0x6e65_6967_u64))
    }
}

impl BuildHasher for Seeded {
    type Hasher = WordHasher;
    #[inline]
    fn build_hasher(&self) -> WordHasher {
        WordHasher(self.0)
    }
}

/// A map over word keys that the network can choose.
pub type SeededWordMap<K, V> = HashMap<K, V, Seeded>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_spread_and_seeds_differ() {
        let m: WordMap<u64, u32> = (0..1000u64).map(|k| (k << 32, k as u32)).collect();
        assert_eq!(
            (0..1000u64)
                .filter(|k| m.get(&(k << 32)) == Some(&(*k as u32)))
                .count(),
            1000
        );
        let (a, b) = (Seeded::default(), Seeded::default());
        assert_ne!(a.hash_one(7u32), b.hash_one(7u32), "two tables, two seeds");
        assert_eq!(a.hash_one(7u32), a.hash_one(7u32));
    }
}
