//! The per-core run-to-completion loops and what they share with the management thread
//! (counters only; each worker writes its own).
pub mod backoff;
pub mod clock;
pub mod counters;
pub mod gate;

pub mod engine;
pub mod l2fwd;
pub mod lb;
pub mod loop_trace;
pub mod meta;
pub mod stats;

pub use counters::{Counter, WorkerCounters, WorkerTotals};
