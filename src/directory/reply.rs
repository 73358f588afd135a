//! The Search reply, encoded as protobuf bytes straight from the results
//! the store lends ([`HitView`]), while it holds its state: no owned copy
//! of a result and no protobuf message object in between. A reply of 100
//! results with 3 sources each is about 600 strings; copying them into
//! messages, encoding those and freeing them was a third of a search's
//! time in the directory.
//!
//! The bytes are what `pb::SearchReply` encodes to (fields in number
//! order, proto3 defaults left out); the tests parse them with the
//! generated code and compare. [`SEARCH`] is the Search method with this
//! reply type: the service registers it in place of the generated one,
//! and clients keep decoding `pb::SearchReply`.

use grpcio::{GrpcSlice, Marshaller, Method, MethodType};

use crate::wire::proto::directory as pb;
use crate::wire::{HitView, Matches, SourceView};

/// A `SearchReply`, encoded.
#[derive(Debug, Default)]
pub struct EncodedReply(Vec<u8>);

/// The Search method of the generated service, replying with
/// [`EncodedReply`] bytes.
pub const SEARCH: Method<pb::SearchRequest, EncodedReply> = Method {
    ty: MethodType::Unary,
    name: "/hubshare.directory.Directory/Search",
    req_mar: Marshaller {
        ser: grpcio::pb_ser,
        de: grpcio::pb_de,
    },
    resp_mar: Marshaller {
        ser: EncodedReply::ser,
        de: EncodedReply::de,
    },
};

// Field numbers, from proto/directory.proto.
const REPLY_RESULTS: u32 = 1;
const REPLY_TOTAL: u32 = 2;
const REPLY_TOTAL_ESTIMATED: u32 = 3;
const RESULT_ID: u32 = 1;
const RESULT_SIZE: u32 = 2;
const RESULT_NAMES: u32 = 3;
const RESULT_SOURCES: u32 = 4;
const RESULT_SOURCE_COUNT: u32 = 5;
const SOURCE_PEER: u32 = 1;
const SOURCE_HTTP_ADDR: u32 = 2;
const SOURCE_NAME: u32 = 3;
const SOURCE_SIZE: u32 = 4;
const SOURCE_KEYPRINT: u32 = 5;
const SOURCE_FIREWALLED: u32 = 6;

/// Wire types.
const VARINT: u32 = 0;
const LEN: u32 = 2;

/// A file id is sent as 64 hex digits.
const ID_HEX_LEN: usize = 64;

impl EncodedReply {
    /// An empty reply (no results yet) with room for `limit` results.
    pub fn with_capacity(limit: usize) -> EncodedReply {
        // About 300 bytes a result with three sources.
        EncodedReply(Vec::with_capacity(limit.min(1000) * 320 + 16))
    }

    /// Appends one result.
    pub fn push(&mut self, hit: &HitView<'_>) {
        let out = &mut self.0;
        put_key(out, REPLY_RESULTS, LEN);
        put_varint(out, result_len(hit) as u64);
        put_key(out, RESULT_ID, LEN);
        put_varint(out, ID_HEX_LEN as u64);
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        for b in hit.id.as_bytes() {
            out.push(DIGITS[(b >> 4) as usize]);
            out.push(DIGITS[(b & 15) as usize]);
        }
        put_uint(out, RESULT_SIZE, hit.size);
        for name in hit.names {
            put_str(out, RESULT_NAMES, name);
        }
        for s in hit.sources {
            put_key(out, RESULT_SOURCES, LEN);
            put_varint(out, source_len(s) as u64);
            put_str(out, SOURCE_PEER, s.peer);
            put_str(out, SOURCE_HTTP_ADDR, s.http_addr.as_str());
            put_str(out, SOURCE_NAME, s.name);
            put_uint(out, SOURCE_SIZE, s.size);
            if let Some(kp) = s.http_addr.pin_text() {
                put_str(out, SOURCE_KEYPRINT, kp);
            }
            if s.http_addr.firewalled() {
                put_uint(out, SOURCE_FIREWALLED, 1);
            }
        }
        put_uint(out, RESULT_SOURCE_COUNT, hit.source_count as u64);
    }

    /// Ends the reply with the number of matches.
    pub fn finish(mut self, matches: Matches) -> EncodedReply {
        put_uint(&mut self.0, REPLY_TOTAL, matches.total as u64);
        if matches.estimated {
            put_uint(&mut self.0, REPLY_TOTAL_ESTIMATED, 1);
        }
        self
    }

    /// The encoded bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    fn ser(reply: &EncodedReply, buf: &mut GrpcSlice) -> grpcio::Result<()> {
        *buf = GrpcSlice::from(reply.as_bytes());
        Ok(())
    }

    fn de(mut reader: grpcio::MessageReader) -> grpcio::Result<EncodedReply> {
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut reader, &mut bytes)
            .map_err(|e| grpcio::Error::Codec(Box::new(e)))?;
        Ok(EncodedReply(bytes))
    }
}

fn varint_len(v: u64) -> usize {
    // 7 bits a byte; 0 still takes one.
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Every field number here is below 16: its key is one byte.
fn put_key(out: &mut Vec<u8>, field: u32, wire: u32) {
    debug_assert!(field < 16);
    out.push((field << 3 | wire) as u8);
}

/// A string field (left out when empty, as proto3 does).
fn put_str(out: &mut Vec<u8>, field: u32, s: &str) {
    if s.is_empty() {
        return;
    }
    put_key(out, field, LEN);
    put_varint(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

fn str_len(s: &str) -> usize {
    len_len(s.len())
}

/// The encoded size of a string field of `n` bytes (left out when empty).
fn len_len(n: usize) -> usize {
    match n {
        0 => 0,
        n => 1 + varint_len(n as u64) + n,
    }
}

/// An integer field (left out when 0, as proto3 does).
fn put_uint(out: &mut Vec<u8>, field: u32, v: u64) {
    if v != 0 {
        put_key(out, field, VARINT);
        put_varint(out, v);
    }
}

fn uint_len(v: u64) -> usize {
    match v {
        0 => 0,
        v => 1 + varint_len(v),
    }
}

fn source_len(s: &SourceView<'_>) -> usize {
    // Lengths only: slicing the address text would read it (a cache miss
    // a source, twice) before `push` copies it.
    let (addr, pin) = s.http_addr.text_lens();
    str_len(s.peer)
        + len_len(addr)
        + str_len(s.name)
        + uint_len(s.size)
        + len_len(pin)
        + uint_len(u64::from(s.http_addr.firewalled()))
}

fn result_len(hit: &HitView<'_>) -> usize {
    let id = 1 + varint_len(ID_HEX_LEN as u64) + ID_HEX_LEN;
    let names: usize = hit.names.iter().map(|n| str_len(n)).sum();
    let sources: usize = hit
        .sources
        .iter()
        .map(|s| {
            let n = source_len(s);
            1 + varint_len(n as u64) + n
        })
        .sum();
    id + uint_len(hit.size) + names + sources + uint_len(hit.source_count as u64)
}

#[cfg(test)]
mod tests {
    use protobuf::Message;

    use super::*;
    use crate::id::FileId;
    use crate::wire::HttpAddr;

    /// The reply as the generated code builds it, for comparison.
    fn by_protobuf(hits: &[HitView<'_>], matches: Matches) -> Vec<u8> {
        let results = hits
            .iter()
            .map(|h| pb::SearchResult {
                id: h.id.to_hex(),
                size: h.size,
                names: h.names.iter().map(|n| n.to_string()).collect(),
                sources: h
                    .sources
                    .iter()
                    .map(|s| pb::Source {
                        peer: s.peer.to_string(),
                        http_addr: s.http_addr.to_string(),
                        name: s.name.to_string(),
                        size: s.size,
                        keyprint: s.http_addr.pin_text().unwrap_or_default().to_string(),
                        firewalled: s.http_addr.firewalled(),
                        ..Default::default()
                    })
                    .collect(),
                source_count: h.source_count as u32,
                ..Default::default()
            })
            .collect();
        pb::SearchReply {
            results,
            total: matches.total as u64,
            total_estimated: matches.estimated,
            ..Default::default()
        }
        .write_to_bytes()
        .expect("encode")
    }

    #[test]
    fn encodes_the_bytes_the_generated_code_encodes() {
        let pin = crate::wire::KeyPrint::of_spki(b"spki");
        let addrs = [
            HttpAddr::parse("http://127.0.0.1:8080").unwrap(),
            HttpAddr::parse("https://[::1]:65535")
                .unwrap()
                .pinned(Some(pin)),
            HttpAddr::parse("https://192.0.2.9:7001")
                .unwrap()
                .pinned(Some(pin))
                .firewalled_as(true),
        ];
        // Lengths around the one- and two-byte varint boundary (127/128),
        // sizes of 0 (left out) and above 2^32, a name with multi-byte
        // characters, a result with no sources.
        let long = "x".repeat(300);
        let names: Vec<String> = vec![
            "a.txt".into(),
            "é/ü – 名前.mp3".into(),
            "y".repeat(120),
            "z".repeat(121),
            long.clone(),
        ];
        let ids: Vec<FileId> = (0u8..4).map(|i| FileId::from([i * 60; 32])).collect();
        let mut sources = Vec::new();
        for (i, name) in names.iter().enumerate() {
            sources.push(SourceView {
                peer: ["alice", "bob", "carol-the-long-named-peer"][i % 3],
                http_addr: &addrs[i % 3],
                name,
                size: [0, 1, 127, 128, 5 << 33][i],
            });
        }
        let name_refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let hits = [
            HitView {
                id: &ids[0],
                size: 0,
                names: &name_refs[..1],
                sources: &sources[..1],
                source_count: 1,
            },
            HitView {
                id: &ids[1],
                size: 5 << 33,
                names: &name_refs,
                sources: &sources,
                source_count: 70_000,
            },
            HitView {
                id: &ids[2],
                size: 128,
                names: &[],
                sources: &[],
                source_count: 0,
            },
            HitView {
                id: &ids[3],
                size: 16_383,
                names: &name_refs[2..4],
                sources: &sources[2..4],
                source_count: 2,
            },
        ];
        for matches in [
            Matches {
                total: 0,
                estimated: false,
            },
            Matches {
                total: 4,
                estimated: false,
            },
            Matches {
                total: 1 << 40,
                estimated: true,
            },
        ] {
            for n in 0..=hits.len() {
                let mut reply = EncodedReply::with_capacity(n);
                for h in &hits[..n] {
                    reply.push(h);
                }
                let reply = reply.finish(matches);
                assert_eq!(
                    reply.as_bytes(),
                    by_protobuf(&hits[..n], matches),
                    "{n} results, {matches:?}"
                );
                let parsed = pb::SearchReply::parse_from_bytes(reply.as_bytes()).expect("parses");
                assert_eq!(parsed.results.len(), n);
                assert_eq!(parsed.total, matches.total as u64);
            }
        }
    }

    #[test]
    fn varint_lengths_match_the_encoding() {
        for v in [0, 1, 127, 128, 16_383, 16_384, u32::MAX as u64, u64::MAX] {
            let mut out = Vec::new();
            put_varint(&mut out, v);
            assert_eq!(out.len(), varint_len(v), "{v}");
        }
    }
}
