//! The one integration-test binary. Each module tests a feature through the
//! real binaries or the real servers on loopback, with temp folders.

mod support;

mod cli;
mod closed;
mod config;
mod daemon;
mod directory;
mod end_to_end;
mod first_hour;
mod healing;
mod http;
mod layout;
mod nat;
mod ops;
mod owner;
mod queue;
mod reach;
mod relay;
mod replicas;
mod swarm;
mod tls;
mod tree;
mod trust;
mod web;
