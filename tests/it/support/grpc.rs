//! A direct gRPC client of the directory, the messages it sends, and what
//! its answers say.

use std::sync::Arc;

use hubshare::proto::directory_grpc::DirectoryClient;

use super::check::b3;

/// A file as a Login or Announce carries it: named `name`, its id the hash
/// of the name.
pub fn pb_file(name: &str) -> hubshare::proto::directory::SharedFile {
    hubshare::proto::directory::SharedFile {
        id: b3(name.as_bytes()),
        size: name.len() as u64,
        name: name.to_string(),
        ..Default::default()
    }
}

/// A Login of `name` (with the name's own test key, advertising
/// 127.0.0.1) sharing `files` (see [`pb_file`]).
pub fn pb_login(name: &str, files: &[&str]) -> hubshare::proto::directory::LoginRequest {
    hubshare::proto::directory::LoginRequest {
        name: name.to_string(),
        http_addr: "http://127.0.0.1:9".to_string(),
        identity_key: key_of(name),
        files: files.iter().map(|f| pb_file(f)).collect(),
        ..Default::default()
    }
}

/// A raw gRPC client for the directory at `addr`.
pub fn grpc(addr: &str) -> DirectoryClient {
    let env = Arc::new(grpcio::Environment::new(1));
    DirectoryClient::new(grpcio::ChannelBuilder::new(env).connect(addr))
}

/// An identity key for the raw-gRPC peer `name` (the same every time, so a
/// test can log the same peer in again).
pub fn key_of(name: &str) -> String {
    b3(format!("identity key of {name}").as_bytes())
}
