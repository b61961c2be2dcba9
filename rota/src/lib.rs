//! The `rota` binary's library: command-line flags, the built-in broker, the wiring that runs the
//! parts in one process, and the benchmark harness. The parts themselves live in their own crates.

pub mod bench;
pub mod bench_connect;
pub mod broker;
pub mod cli;
pub mod healthcheck;
pub mod platform;
pub mod telemetry;
