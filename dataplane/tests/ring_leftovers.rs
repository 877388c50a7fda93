//! A ring's watch handle (dpdk/ring.rs) on a real DPDK ring: it sees how many packets wait, it
//! cannot take them while an end is alive, and once both ends are gone it frees exactly what was
//! left (the count the runtime reports as `drop_at_stop`) and returns the mbufs to the pool.
//! EAL starts once per process, so this file holds one test.
use dataplane::config::Hugepages;
use dataplane::dpdk::mbuf::Mbuf;
use dataplane::dpdk::{Burst, Eal, EalOptions, Mempool, Ring};

#[test]
fn a_watch_counts_and_frees_what_is_left_once_both_ends_are_gone() {
    let eal = Eal::init(&EalOptions {
        lcores: "0".into(),
        main_lcore: 0,
        memory_mb: 64,
        hugepages: Hugepages::Off,
        huge_dir: None,
        pci: vec![],
        log_level: "notice".into(),
        extra: vec![],
        file_prefix: None,
    })
    .expect("EAL");
    // No per-core cache, so `available` is exact.
    let pool = Mempool::new("leftovers", 255, 0).expect("pool");
    let all = pool.available();
    let (mut producer, mut consumer) = Ring::spsc("left", 64).expect("ring");
    let watch = consumer.watch();
    assert!(watch.is_empty());

    let mut b = Burst::new();
    for _ in 0..5 {
        assert!(b.push(Mbuf::alloc(&pool).expect("mbuf")).is_ok(), "room");
    }
    assert_eq!(producer.enqueue(&mut b), 5);
    assert_eq!((watch.len(), watch.is_empty()), (5, false));
    assert_eq!(pool.available(), all - 5);

    // The consumer takes two and frees them; three stay in the ring.
    assert_eq!(consumer.dequeue(&mut b, 2), 2);
    b.clear();
    assert_eq!(watch.len(), 3);
    assert_eq!(pool.available(), all - 3);

    // While an end lives, the watch takes nothing.
    drop(producer);
    let Err(watch) = watch.free_remaining() else {
        panic!("freed while the consumer is alive");
    };
    assert_eq!(watch.len(), 3);
    assert_eq!(pool.available(), all - 3);

    drop(consumer);
    assert_eq!(watch.free_remaining().ok(), Some(3));
    assert_eq!(pool.available(), all, "every mbuf back in the pool");
    drop(pool);
    drop(eal);
}
