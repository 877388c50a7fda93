//! perf harness (see issue 6)
