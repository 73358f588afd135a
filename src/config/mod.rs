//! Configuration of the two processes. Each reads one TOML file
//! (`config/server.toml`, `config/peer1.toml`, ...); every key has a default
//! except what a person must choose, and command-line flags override the file.
//! Parsing is split from reading the file so tests feed strings. A wrong file
//! fails at start with the file, the key and what is wrong.

mod defaults;
mod load;
mod peer;
mod relay;
mod server;
#[cfg(test)]
mod tests;

pub use load::ConfigError;
pub use peer::PeerConfig;
pub use relay::RelayConfig;
pub use server::{ServerConfig, StoreKind};
