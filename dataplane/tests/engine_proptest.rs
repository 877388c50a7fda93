//! The fuzz target's driver as a bounded property test (the stable-toolchain fallback of
//! `dataplane/fuzz`'s `engine` target): arbitrary records of frames on two ports of two
//! workers, through the whole engine; never a panic, never a lost packet.
use dataplane::worker::engine::fuzz;
use proptest::prelude::*;

/// One record: control byte (worker, port, template, clock step) and its bytes.
fn record() -> impl Strategy<Value = (u8, Vec<u8>)> {
    (any::<u8>(), prop::collection::vec(any::<u8>(), 0..80))
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 2000,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn the_engine_never_panics_nor_loses_a_packet(records in prop::collection::vec(record(), 1..24)) {
        let mut data = Vec::new();
        for (ctrl, bytes) in records {
            data.push(ctrl);
            data.push(bytes.len() as u8);
            data.extend(bytes);
        }
        fuzz::drive(&data);
    }
}
