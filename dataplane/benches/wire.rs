// replaced by the wire benchmarks
fn main() {}
