//! Generates the protobuf messages and the grpcio service code for
//! `proto/directory.proto` into `OUT_DIR`, with the vendored `protoc`, so a
//! build needs no system protobuf compiler.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::{env, fs};

use protobuf::Message;

fn main() {
    let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let proto = Path::new("proto/directory.proto");
    println!("cargo:rerun-if-changed={}", proto.display());

    let protoc = protoc_bin_vendored::protoc_bin_path().expect("vendored protoc for this platform");
    let descriptor_path = out.join("directory.desc");
    let status = Command::new(protoc)
        .arg("--include_imports")
        .arg("--proto_path=proto")
        .arg(format!(
            "--descriptor_set_out={}",
            descriptor_path.display()
        ))
        .arg("directory.proto")
        .status()
        .expect("run protoc");
    assert!(status.success(), "protoc failed on {}", proto.display());

    let bytes = fs::read(&descriptor_path).expect("read descriptor set");
    let set = protobuf::descriptor::FileDescriptorSet::parse_from_bytes(&bytes)
        .expect("parse descriptor set");
    let files = set.get_file();
    let targets = vec!["directory.proto".to_string()];

    let messages = protobuf_codegen::gen(files, &targets, &Default::default());
    let services = grpcio_compiler::codegen::gen(files, &targets);
    for generated in messages.into_iter().chain(services) {
        let text = String::from_utf8(generated.content).expect("generated code is UTF-8");
        // `include!` rejects inner attributes and inner doc comments.
        let cleaned: String = text
            .lines()
            .filter(|l| !l.starts_with("#![") && !l.starts_with("//!"))
            .map(|l| format!("{l}\n"))
            .collect();
        fs::write(out.join(&generated.name), cleaned).expect("write generated code");
    }
}
