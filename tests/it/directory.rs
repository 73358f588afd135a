//! The directory's gRPC door: token rules and bad input, through a real
//! server on a free loopback port and a raw gRPC client that sends what a
//! well-behaved peer never would.

use grpcio::RpcStatusCode;
use hubshare::proto::directory as pb;
use hubshare::proto::directory_grpc::DirectoryClient;
use hubshare::{DirectoryServer, ServerConfig};

use hubshare::fuzz::Rng;

use crate::support::*;

/// A directory on a free port, its state (the names file) in the temp
/// folder returned with it: never in the folder the tests run in.
fn start() -> (DirectoryServer, DirectoryClient, tempfile::TempDir) {
    let state = tempfile::tempdir().unwrap();
    let config = ServerConfig {
        state_dir: Some(state.path().to_path_buf()),
        listen: "127.0.0.1:0".parse().unwrap(),
        max_files_per_call: 100,
        // These tests log in hundreds of times from one address on purpose.
        login_rate: 100_000,
        login_burst: 100_000,
        tls: false,
        ..ServerConfig::default()
    };
    let server = DirectoryServer::start(&config).expect("directory starts");
    let client = grpc(&server.addr().to_string());
    (server, client, state)
}

use crate::support::pb_file as file;

fn login(c: &DirectoryClient, name: &str, files: &[&str]) -> Result<pb::LoginReply, grpcio::Error> {
    c.login(&pb_login(name, files))
}

fn search(c: &DirectoryClient, query: &str, limit: u32) -> Result<pb::SearchReply, grpcio::Error> {
    c.search(&pb::SearchRequest {
        query: query.to_string(),
        limit,
        ..Default::default()
    })
}

/// Every file name the directory lists, sorted.
fn everything(c: &DirectoryClient) -> Vec<String> {
    let mut names: Vec<String> = search(c, "t", 1000)
        .unwrap()
        .results
        .into_iter()
        .flat_map(|r| r.names.into_vec())
        .collect();
    names.sort();
    names
}

/// The status code and message of a refused call.
fn refused<T: std::fmt::Debug>(r: Result<T, grpcio::Error>) -> (RpcStatusCode, String) {
    match r {
        Err(grpcio::Error::RpcFailure(s)) => (s.code(), s.message().to_string()),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn a_wrong_token_is_refused_and_changes_nothing() {
    let (server, c, _state) = start();
    let alice = login(&c, "alice", &["a.txt", "b.txt"]).unwrap();
    assert!(alice.token.len() >= 32, "token too short: {}", alice.token);
    let mallory = login(&c, "mallory", &["m.txt"]).unwrap();
    assert_ne!(alice.token, mallory.token);
    let before = everything(&c);
    assert_eq!(before, vec!["a.txt", "b.txt", "m.txt"]);

    for token in [
        "",
        "0123456789abcdef0123456789abcdef",
        &format!("{}x", alice.token),
    ] {
        let (code, msg) = refused(c.announce(&pb::AnnounceRequest {
            token: token.to_string(),
            added: vec![file("evil.txt")].into(),
            removed: vec![b3(b"a.txt")].into(),
            ..Default::default()
        }));
        assert_eq!(code, RpcStatusCode::UNAUTHENTICATED, "{msg}");
        assert!(msg.contains("log in again"), "{msg}");
        let (code, _) = refused(c.logout(&pb::LogoutRequest {
            token: token.to_string(),
            ..Default::default()
        }));
        assert_eq!(code, RpcStatusCode::UNAUTHENTICATED);
        let (code, _) = refused(c.heartbeat(&pb::HeartbeatRequest {
            token: token.to_string(),
            ..Default::default()
        }));
        assert_eq!(code, RpcStatusCode::UNAUTHENTICATED);
    }
    assert_eq!(everything(&c), before);

    // Mallory's own token acts only on Mallory's files.
    c.announce(&pb::AnnounceRequest {
        token: mallory.token.clone(),
        removed: vec![b3(b"a.txt")].into(),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(everything(&c), before);
    c.logout(&pb::LogoutRequest {
        token: mallory.token.clone(),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(everything(&c), vec!["a.txt", "b.txt"]);
    // A token used once to log out is dead.
    let (code, _) = refused(c.heartbeat(&pb::HeartbeatRequest {
        token: mallory.token,
        ..Default::default()
    }));
    assert_eq!(code, RpcStatusCode::UNAUTHENTICATED);
    server.shutdown();
}

#[test]
fn bad_input_gets_invalid_argument_with_a_clear_message_and_changes_nothing() {
    let (server, c, _state) = start();
    login(&c, "alice", &["a.txt"]).unwrap();
    let before = everything(&c);
    let long_name = "x".repeat(10 * 1024);
    let bad_id = "z".repeat(64);

    let mut bad_file = file("ok.txt");
    bad_file.id = "1234".into();
    let mut traversal = file("x");
    traversal.name = "../../etc/passwd".into();
    let too_many: Vec<String> = (0..101).map(|i| format!("f{i}.txt")).collect();
    let too_many: Vec<&str> = too_many.iter().map(String::as_str).collect();

    let cases: Vec<(&str, Result<(), grpcio::Error>, &str)> = vec![
        ("empty peer name", login(&c, "", &[]).map(drop), "empty"),
        (
            "10 KiB peer name",
            login(&c, &long_name, &[]).map(drop),
            "10240 bytes",
        ),
        (
            "peer name with a space",
            login(&c, "a b", &[]).map(drop),
            "not allowed",
        ),
        (
            "malformed file id in Login",
            c.login(&pb::LoginRequest {
                name: "bob".into(),
                http_addr: "http://127.0.0.1:9".into(),
                identity_key: key_of("bob"),
                files: vec![bad_file].into(),
                ..Default::default()
            })
            .map(drop),
            "64 hex digits",
        ),
        (
            "path in a file name",
            c.login(&pb::LoginRequest {
                name: "bob".into(),
                http_addr: "http://127.0.0.1:9".into(),
                identity_key: key_of("bob"),
                files: vec![traversal].into(),
                ..Default::default()
            })
            .map(drop),
            "file name",
        ),
        (
            "too many files",
            login(&c, "bob", &too_many).map(drop),
            "limit is 100",
        ),
        (
            "bad http address",
            c.login(&pb::LoginRequest {
                name: "bob".into(),
                http_addr: "ftp://x".into(),
                identity_key: key_of("bob"),
                ..Default::default()
            })
            .map(drop),
            "http://host:port",
        ),
        (
            "malformed id in Search",
            search(&c, &format!("id:{bad_id}"), 10).map(drop),
            "64 hex digits",
        ),
        (
            "short id in Search",
            search(&c, "id:abc", 10).map(drop),
            "64 hex digits",
        ),
        ("empty query", search(&c, "  ", 10).map(drop), "empty"),
        (
            "overlong query",
            search(&c, &"q".repeat(1000), 10).map(drop),
            "limit is",
        ),
        ("limit 0", search(&c, "a", 0).map(drop), "out of range"),
        (
            "limit 10^9",
            search(&c, "a", 1_000_000_000).map(drop),
            "out of range",
        ),
        (
            "malformed id in Locate",
            c.locate(&pb::LocateRequest {
                id: bad_id.clone(),
                ..Default::default()
            })
            .map(drop),
            "64 hex digits",
        ),
        (
            "traversal as an id in Locate",
            c.locate(&pb::LocateRequest {
                id: "../../etc/passwd".into(),
                ..Default::default()
            })
            .map(drop),
            "64 hex digits",
        ),
        (
            "bad peer name in GetPeer",
            c.get_peer(&pb::GetPeerRequest {
                name: long_name.clone(),
                ..Default::default()
            })
            .map(drop),
            "limit is 64",
        ),
    ];
    for (what, result, needle) in cases {
        let (code, msg) = refused(result);
        assert_eq!(code, RpcStatusCode::INVALID_ARGUMENT, "{what}: {msg}");
        assert!(
            msg.contains(needle),
            "{what}: message {msg:?} lacks {needle:?}"
        );
    }
    // Nothing changed, no one else logged in, and the server still answers.
    assert_eq!(everything(&c), before);
    let (code, _) = refused(c.get_peer(&pb::GetPeerRequest {
        name: "bob".into(),
        ..Default::default()
    }));
    assert_eq!(code, RpcStatusCode::NOT_FOUND);
    let found = search(&c, &b3(b"a.txt"), 1).unwrap();
    assert_eq!(found.results[0].names.to_vec(), vec!["a.txt".to_string()]);
    server.shutdown();
}

#[test]
fn search_groups_sources_and_locate_lists_them() {
    let (server, c, _state) = start();
    login(&c, "alice", &["Report 2026.pdf", "notes.txt"]).unwrap();
    login(&c, "bob", &["Report 2026.pdf"]).unwrap();
    let found = search(&c, "REPORT pdf", 10).unwrap();
    assert_eq!(found.total, 1);
    let hit = &found.results[0];
    assert_eq!(hit.id, b3(b"Report 2026.pdf"));
    let peers: Vec<&str> = hit.sources.iter().map(|s| s.peer.as_str()).collect();
    assert_eq!(peers, vec!["alice", "bob"]);
    assert!(search(&c, "report txt", 10).unwrap().results.is_empty());
    let located = c
        .locate(&pb::LocateRequest {
            id: hit.id.clone(),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(located.sources.len(), 2);
    let (code, _) = refused(c.locate(&pb::LocateRequest {
        id: b3(b"absent"),
        ..Default::default()
    }));
    assert_eq!(code, RpcStatusCode::NOT_FOUND);
    server.shutdown();
}

#[test]
fn the_query_language_works_through_grpc() {
    let (server, c, _state) = start();
    login(
        &c,
        "alice",
        &[
            "Annual_Report_2025.pdf",
            "report draft.docx",
            "passport.jpg",
        ],
    )
    .unwrap();
    let names = |q: &str| -> Vec<String> {
        search(&c, q, 10)
            .unwrap()
            .results
            .into_iter()
            .map(|r| r.names[0].clone())
            .collect()
    };
    assert_eq!(names("port ext:jpg"), vec!["passport.jpg"]);
    assert_eq!(names("report -draft"), vec!["Annual_Report_2025.pdf"]);
    assert_eq!(names("\"report draft\""), vec!["report draft.docx"]);
    assert_eq!(names("report size<20"), vec!["report draft.docx"]);
    let reply = search(&c, "port", 1).unwrap();
    assert_eq!((reply.results.len(), reply.total), (1, 3));
    let (code, msg) = refused(search(&c, "report size>oops", 10));
    assert_eq!(code, RpcStatusCode::INVALID_ARGUMENT);
    assert!(msg.contains("sizes look like"), "{msg}");
    server.shutdown();
}

#[test]
fn a_flood_of_searches_from_one_session_is_limited_while_another_is_served() {
    let state = tempfile::tempdir().unwrap();
    let config = ServerConfig {
        state_dir: Some(state.path().to_path_buf()),
        listen: "127.0.0.1:0".parse().unwrap(),
        search_rate: 2,
        search_burst: 5,
        tls: false,
        ..ServerConfig::default()
    };
    let server = DirectoryServer::start(&config).expect("directory starts");
    let c = grpc(&server.addr().to_string());
    let flooder = login(&c, "flooder", &["a.txt"]).unwrap().token;
    let calm = login(&c, "calm", &["b.txt"]).unwrap().token;
    let search_as = |token: &str| {
        c.search(&pb::SearchRequest {
            query: "txt".into(),
            limit: 10,
            token: token.to_string(),
            ..Default::default()
        })
    };
    let results: Vec<_> = (0..30).map(|_| search_as(&flooder)).collect();
    let limited: Vec<String> = results
        .into_iter()
        .filter_map(|r| match r {
            Err(grpcio::Error::RpcFailure(s)) if s.code() == RpcStatusCode::RESOURCE_EXHAUSTED => {
                Some(s.message().to_string())
            }
            Ok(_) => None,
            Err(other) => panic!("unexpected failure: {other:?}"),
        })
        .collect();
    assert!(limited.len() >= 20, "only {} of 30 limited", limited.len());
    assert!(limited[0].contains("at most 2 a second"), "{}", limited[0]);
    // Another session is still served, at once.
    assert_eq!(search_as(&calm).unwrap().total, 2);
    server.shutdown();
}

/// Random field values for the property test.
trait Hostile {
    fn hostile_text(&mut self) -> String;
    fn hostile_file(&mut self) -> pb::SharedFile;
}

impl Hostile for Rng {
    /// A string from pieces a hostile client likes: separators, dots,
    /// control characters, non-ASCII, hex, query operators, huge runs.
    fn hostile_text(&mut self) -> String {
        const PIECES: [&str; 20] = [
            "a", "Z", "0", "f", "..", "/", "\\", "\0", "\n", " ", "-", "\"", "ext:", "size>", "é",
            "😀", "\u{202e}", "%00", "http://", ":",
        ];
        match self.below(10) {
            0 => String::new(),
            1 => "x".repeat(self.below(20_000)),
            2 => b3(&self.bytes(8)),
            _ => Rng::text(self, &PIECES),
        }
    }
    fn hostile_file(&mut self) -> pb::SharedFile {
        pb::SharedFile {
            id: self.hostile_text(),
            size: self.next_u64() >> self.below(64),
            name: self.hostile_text(),
            ..Default::default()
        }
    }
}

/// A method of the directory's service that sends and receives raw bytes.
fn raw_method(name: &str) -> grpcio::Method<Vec<u8>, Vec<u8>> {
    // The signature grpcio's Marshaller wants.
    #[allow(clippy::ptr_arg)]
    fn ser(v: &Vec<u8>, buf: &mut grpcio::GrpcSlice) -> grpcio::Result<()> {
        *buf = grpcio::GrpcSlice::from(v.clone());
        Ok(())
    }
    fn de(mut r: grpcio::MessageReader) -> grpcio::Result<Vec<u8>> {
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut r, &mut v).map_err(|e| grpcio::Error::Codec(e.into()))?;
        Ok(v)
    }
    grpcio::Method {
        ty: grpcio::MethodType::Unary,
        name: Box::leak(format!("/hubshare.directory.Directory/{name}").into_boxed_str()),
        req_mar: grpcio::Marshaller { ser, de },
        resp_mar: grpcio::Marshaller { ser, de },
    }
}

/// An answer is fine if it is a reply, or a refusal with a code that says
/// what was wrong and a message; INTERNAL only from grpcio's own decoding
/// of bytes that are no protobuf message.
fn check_answer<T>(what: &str, r: Result<T, grpcio::Error>) {
    match r {
        Ok(_) => {}
        Err(grpcio::Error::RpcFailure(s)) => {
            let code = s.code();
            let message = s.message().to_string();
            let clear = matches!(
                code,
                RpcStatusCode::INVALID_ARGUMENT
                    | RpcStatusCode::UNAUTHENTICATED
                    | RpcStatusCode::NOT_FOUND
                    | RpcStatusCode::ALREADY_EXISTS
                    | RpcStatusCode::PERMISSION_DENIED
            ) || (code == RpcStatusCode::INTERNAL
                && message.starts_with("Failed to deserialize"));
            assert!(clear && !message.is_empty(), "{what}: {code:?} {message:?}");
        }
        Err(e) => panic!("{what}: {e}"),
    }
}

#[test]
fn random_bytes_and_random_field_values_never_break_a_handler() {
    let state = tempfile::tempdir().unwrap();
    let config = ServerConfig {
        state_dir: Some(state.path().to_path_buf()),
        listen: "127.0.0.1:0".parse().unwrap(),
        search_rate: 1_000_000,
        search_burst: 1_000_000,
        announce_rate: 1_000_000,
        announce_burst: 1_000_000,
        login_rate: 1_000_000,
        login_burst: 1_000_000,
        address_search_rate: 1_000_000,
        address_search_burst: 1_000_000,
        tls: false,
        ..ServerConfig::default()
    };
    let server = DirectoryServer::start(&config).expect("directory starts");
    let addr = server.addr().to_string();
    let c = grpc(&addr);
    let env = std::sync::Arc::new(grpcio::Environment::new(1));
    let raw = grpcio::Client::new(grpcio::ChannelBuilder::new(env).connect(&addr));
    let opt = || grpcio::CallOption::default().timeout(std::time::Duration::from_secs(5));
    let token = login(&c, "steady", &["steady state.txt"]).unwrap().token;
    let mut rng = Rng(0x5eed_1234_abcd_0001);

    // Random bytes as the request of every method.
    let methods = [
        "Login",
        "Announce",
        "Heartbeat",
        "Search",
        "Locate",
        "GetPeer",
        "Logout",
    ];
    for round in 0..700 {
        let m = methods[round % methods.len()];
        let body = rng.bytes(if round % 5 == 0 { 4000 } else { 60 });
        check_answer(m, raw.unary_call(&raw_method(m), &body, opt()));
    }

    // Well-formed messages with random field values.
    for round in 0..300 {
        let tok = if round % 3 == 0 {
            token.clone()
        } else {
            rng.hostile_text()
        };
        let files: Vec<pb::SharedFile> = (0..rng.below(5)).map(|_| rng.hostile_file()).collect();
        check_answer(
            "Login",
            c.login_opt(
                &pb::LoginRequest {
                    name: rng.hostile_text(),
                    http_addr: rng.hostile_text(),
                    identity_key: if round % 2 == 0 {
                        key_of("fuzz")
                    } else {
                        rng.hostile_text()
                    },
                    files: files.clone().into(),
                    ..Default::default()
                },
                opt(),
            ),
        );
        check_answer(
            "Announce",
            c.announce_opt(
                &pb::AnnounceRequest {
                    token: tok.clone(),
                    added: files.into(),
                    removed: (0..rng.below(3))
                        .map(|_| rng.hostile_text())
                        .collect::<Vec<_>>()
                        .into(),
                    ..Default::default()
                },
                opt(),
            ),
        );
        check_answer(
            "Search",
            c.search_opt(
                &pb::SearchRequest {
                    query: rng.hostile_text(),
                    limit: rng.next_u64() as u32,
                    token: tok.clone(),
                    ..Default::default()
                },
                opt(),
            ),
        );
        check_answer(
            "Locate",
            c.locate_opt(
                &pb::LocateRequest {
                    id: rng.hostile_text(),
                    ..Default::default()
                },
                opt(),
            ),
        );
        check_answer(
            "GetPeer",
            c.get_peer_opt(
                &pb::GetPeerRequest {
                    name: rng.hostile_text(),
                    ..Default::default()
                },
                opt(),
            ),
        );
        check_answer(
            "Heartbeat",
            c.heartbeat_opt(
                &pb::HeartbeatRequest {
                    token: rng.hostile_text(),
                    ..Default::default()
                },
                opt(),
            ),
        );
    }

    // The directory still works, and the steady peer's file is still there.
    let found = search(&c, "steady", 10).unwrap();
    assert_eq!(found.results.len(), 1);
    assert_eq!(found.results[0].names[0], "steady state.txt");
    c.heartbeat(&pb::HeartbeatRequest {
        token,
        ..Default::default()
    })
    .expect("the steady session is intact");
}
