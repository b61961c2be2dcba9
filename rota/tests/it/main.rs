//! Rota's integration tests, in one test binary: the platform, its processes and its peers, over
//! real sockets. `common` holds the shared harness; each module is one area of behaviour.

mod common;

mod api_restart;
mod auth;
mod broker;
mod browser;
mod connect;
mod deploy;
mod elasticsearch_peers;
mod embedded_crash;
mod kafka_cli;
mod kafka_clients;
mod kafka_hands_on;
mod kafka_peer;
mod kafka_security;
mod kibana;
mod limits;
mod mongodb_outage;
mod on_apache_kafka;
mod openapi;
mod ops;
mod rest;
mod rides;
mod scale;
mod simulator_crash;
mod split;
mod system_view;
mod up;
