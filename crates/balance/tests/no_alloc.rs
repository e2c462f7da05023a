//! The pick path allocates nothing: a counting global allocator watches this thread while
//! every algorithm picks (and releases) thousands of times.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use rand::rngs::SmallRng;
use rand::SeedableRng;
use switchyard_balance::{Algorithm, PickRequest, Pool, PoolSpec, ServerId, ServerSpec};

struct Counting;

thread_local! {
    static WATCHING: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if WATCHING.with(Cell::get) {
            ALLOCATIONS.with(|a| a.set(a.get() + 1));
        }
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn picks_do_not_allocate() {
    for alg in Algorithm::ALL {
        let servers = (0..100)
            .map(|i| {
                ServerSpec::new(format!("s{i}"), ([127, 0, 0, 1], 9000 + i).into())
                    .with_weight(1 + i as u32 % 3)
            })
            .collect();
        let mut spec = PoolSpec::new("app", alg, servers);
        spec.params.hash_balance_factor = Some(125);
        let pool = Pool::new_all_up(spec, 0).unwrap();
        let ex = [ServerId::of_name("s3"), ServerId::of_name("s4")];
        let mut rng = SmallRng::seed_from_u64(1);
        let mut held = Vec::with_capacity(64);
        // arc_swap registers each thread once (a one-time thread-local node): warm up.
        drop(pool.pick(&PickRequest::new(), &mut rng, 0));
        WATCHING.with(|w| w.set(true));
        for k in 0..5000u64 {
            let req = PickRequest::new()
                .with_hash(k.wrapping_mul(0x9E37_79B9_7F4A_7C15))
                .with_exclude(if k % 5 == 0 { &ex } else { &[] });
            let p = pool.pick(&req, &mut rng, k).unwrap();
            if held.len() < 64 {
                held.push(p);
            } else {
                p.finish(true, std::time::Duration::from_micros(k % 900), k + 1);
            }
        }
        held.clear();
        WATCHING.with(|w| w.set(false));
        let n = ALLOCATIONS.with(|a| a.replace(0));
        assert_eq!(n, 0, "{alg}: {n} allocations while picking");
    }
}
