//! Promises of the hash algorithms at the pool level, as an operator meets them: taking
//! one of N servers out (admin disable, health down) remaps about 1/N of the keys and
//! no key between survivors (ring) or nearly none (maglev); putting it back restores
//! every key; `hash_balance_factor` caps a hot key's server for both algorithms.

mod common;

use common::{index, spec};
use proptest::prelude::*;
use rand::rngs::SmallRng;
use rand::SeedableRng;
use switchyard_balance::{hash_bytes, AdminState, Algorithm, PickRequest, Pool};

const KEYS: u64 = 4000;

fn owners(pool: &Pool, seed: u64) -> Vec<usize> {
    let mut rng = SmallRng::seed_from_u64(seed);
    (0..KEYS)
        .map(|k| {
            let req = PickRequest::new().with_hash(hash_bytes(&k.to_le_bytes()));
            index(pool.pick(&req, &mut rng, 0).unwrap().name())
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Disabling one of N servers moves its own keys (about 1/N of them) and, for the
    /// ring none, for maglev only a sliver of the others; enabling it restores them all.
    #[test]
    fn taking_one_server_out_remaps_about_one_nth_and_putting_it_back_restores(
        n in 3usize..=12,
        out in 0usize..12,
        maglev in any::<bool>(),
    ) {
        let out = out % n;
        let alg = if maglev { Algorithm::Maglev } else { Algorithm::RingHash };
        let pool = Pool::new_all_up(spec(alg, &vec![1; n]), 0).unwrap();
        let before = owners(&pool, 1);
        let name = format!("s{out}");
        pool.set_admin(&name, AdminState::Disabled).unwrap();
        let during = owners(&pool, 2);
        let owned = before.iter().filter(|&&o| o == out).count();
        let mut between_survivors = 0;
        for (b, d) in before.iter().zip(&during) {
            prop_assert_ne!(*d, out);
            if *b != out && b != d {
                between_survivors += 1;
            }
        }
        let share = owned as f64 / KEYS as f64;
        // The removed server's share: 1/N, loosely (the ring's spread is ~1/sqrt(160)).
        prop_assert!(share > 0.5 / n as f64 && share < 1.6 / n as f64, "{alg}: share {share}");
        let limit = if maglev { KEYS as usize / 50 } else { 0 };
        prop_assert!(between_survivors <= limit, "{alg}: {between_survivors} keys moved between survivors");
        pool.set_admin(&name, AdminState::Normal).unwrap();
        prop_assert_eq!(owners(&pool, 3), before);
    }
}

/// A hot key under `hash_balance_factor = 125`: no server holds more than
/// `ceil(1.25 × in-flight / N)` of the requests in flight, whichever hash algorithm.
#[test]
fn bounded_loads_cap_a_hot_key_for_ring_hash_and_maglev() {
    let n = 5u64;
    for alg in [Algorithm::RingHash, Algorithm::Maglev] {
        let mut s = spec(alg, &[1; 5]);
        s.params.hash_balance_factor = Some(125);
        let pool = Pool::new_all_up(s, 0).unwrap();
        let mut rng = SmallRng::seed_from_u64(4);
        let req = PickRequest::new().with_hash(hash_bytes(b"hot"));
        let mut held = Vec::new();
        for total in 1..=100u64 {
            held.push(pool.pick(&req, &mut rng, 0).unwrap());
            let snap = pool.snapshot();
            let max = snap
                .servers()
                .iter()
                .map(|x| x.stats().in_flight())
                .max()
                .unwrap();
            let bound = (125 * total).div_ceil(100 * n);
            assert!(
                max <= bound,
                "{alg}: after {total} held, a server has {max} > {bound}"
            );
        }
        drop(held);
        // Released: the key goes back to its own server.
        let home = pool.pick(&req, &mut rng, 0).unwrap().name().to_string();
        assert_eq!(pool.pick(&req, &mut rng, 0).unwrap().name(), home, "{alg}");
    }
}
