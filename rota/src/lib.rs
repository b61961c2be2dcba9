//! The `rota` binary's library: command-line flags, the built-in broker, `rota kafka`'s Kafka tools,
//! and the wiring that runs the parts in one process; with the `bench` feature, the benchmark
//! harness. The parts themselves live in their own crates.

#[cfg(feature = "bench")]
pub mod bench;
#[cfg(feature = "bench")]
pub mod bench_connect;
pub mod broker;
pub mod cli;
pub mod healthcheck;
pub mod kafka_cli;
pub mod memory;
pub mod platform;
pub mod telemetry;
