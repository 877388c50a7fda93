//! The per-core run-to-completion loops and what they share with the management thread
//! (counters only; each worker writes its own).
pub mod backoff;
pub mod counters;
pub mod l2fwd;

pub use counters::{WorkerCounters, WorkerTotals};
