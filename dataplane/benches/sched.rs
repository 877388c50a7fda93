// replaced by the sched benchmarks
fn main() {}
