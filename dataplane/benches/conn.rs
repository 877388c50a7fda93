// replaced by the conn benchmarks
fn main() {}
