//! The source tree is the architecture: these tests read `src/` and check
//! the import rules ARCHITECTURE.md gives, and that no two parts of the
//! code import each other (directly or around a loop).
//!
//! A "part" is a room, a folder whose files work together (`wire`,
//! `directory`, `peer/share`, `peer/serve`, `peer/fetch`), or a file on its
//! own (the leaves at the top, and the files directly in `peer/`). Imports
//! inside a room are its own business. `pub use` lines in a `mod.rs` or in
//! `lib.rs` only re-export, so they are not imports; `mod` lines neither.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Module path of every source file ("" is the crate root), with its text.
fn sources() -> BTreeMap<String, String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut out = BTreeMap::new();
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read src") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                if path.file_name() != Some("bin".as_ref()) {
                    stack.push(path);
                }
                continue;
            }
            if path.extension() != Some("rs".as_ref()) {
                continue;
            }
            let rel = path.strip_prefix(&root).unwrap().with_extension("");
            let mut parts: Vec<String> = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
                parts.pop();
            }
            let text = std::fs::read_to_string(&path).expect("read source");
            out.insert(parts.join("::"), text);
        }
    }
    out
}

/// The modules `module` refers to (by a `crate::`, `super::` or `self::`
/// path, or by the name of one of its own children), each resolved to the
/// longest known module path.
fn imports(module: &str, text: &str, known: &BTreeSet<String>) -> BTreeSet<String> {
    let join = |base: &str, seg: &str| {
        if base.is_empty() {
            seg.to_string()
        } else {
            format!("{base}::{seg}")
        }
    };
    let has_children = known
        .iter()
        .any(|k| k != module && (module.is_empty() || k.starts_with(&join(module, ""))));
    let parent = module.rsplit_once("::").map_or("", |(p, _)| p);
    // The longest module path that `base::rest` starts with.
    let resolve = |base: &str, rest: &str| -> String {
        let mut best = base.to_string();
        let mut path = base.to_string();
        for seg in rest.split("::").map(str::trim) {
            if seg.is_empty()
                || !seg
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            {
                break;
            }
            path = join(&path, seg);
            if known.contains(&path) {
                best = path.clone();
            }
        }
        best
    };
    // One line per statement for `use` lists that span lines.
    let mut lines: Vec<String> = Vec::new();
    let mut open_use = false;
    for line in text.lines().map(str::trim) {
        match lines.last_mut() {
            Some(last) if open_use => last.push_str(line),
            _ => lines.push(line.to_string()),
        }
        let statement = lines.last().map_or("", String::as_str);
        open_use = (statement.starts_with("use ") || statement.starts_with("pub use "))
            && !statement.ends_with(';');
    }
    let mut out = BTreeSet::new();
    // Inside an inline `mod tests { ... }`, `super` is the file's module.
    let mut inline = false;
    for line in lines.iter().map(String::as_str) {
        if line.starts_with("mod ") && line.ends_with('{') {
            inline = true;
            continue;
        }
        let reexport = has_children && line.starts_with("pub use ");
        if line.starts_with("//")
            || line.starts_with("mod ")
            || line.starts_with("pub mod ")
            || reexport
        {
            continue;
        }
        let bytes = line.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            let starts_word = (bytes[i].is_ascii_lowercase())
                && (i == 0
                    || !(bytes[i - 1].is_ascii_alphanumeric()
                        || bytes[i - 1] == b'_'
                        || bytes[i - 1] == b':'));
            if !starts_word {
                i += 1;
                continue;
            }
            let end = i + line[i..]
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(line.len() - i);
            let word = &line[i..end];
            let Some(after) = line[end..].strip_prefix("::") else {
                i = end;
                continue;
            };
            let base = match word {
                "crate" => Some(String::new()),
                "super" if inline => Some(module.to_string()),
                "super" => Some(parent.to_string()),
                "self" => Some(module.to_string()),
                child if known.contains(&join(module, child)) => Some(join(module, child)),
                _ => None,
            };
            if let Some(base) = base {
                if let Some(group) = after.strip_prefix('{') {
                    let group = &group[..group.rfind('}').unwrap_or(group.len())];
                    for item in group.split(',') {
                        out.insert(resolve(&base, item));
                    }
                } else {
                    let stop = after
                        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
                        .unwrap_or(after.len());
                    out.insert(resolve(&base, &after[..stop]));
                }
            }
            i = end;
        }
    }
    out.remove(module);
    out
}

/// The rooms: folders whose files form one part.
const ROOMS: [&str; 5] = [
    "wire",
    "directory",
    "peer::share",
    "peer::serve",
    "peer::fetch",
];

fn part_of(module: &str) -> String {
    ROOMS
        .iter()
        .find(|r| module == **r || module.starts_with(&format!("{r}::")))
        .map_or_else(|| module.to_string(), |r| r.to_string())
}

/// Which parts `part` may import, by the rules in ARCHITECTURE.md.
fn allowed(part: &str, target: &str) -> bool {
    const LEAVES: [&str; 11] = [
        "id", "names", "pieces", "hash", "fsutil", "random", "sync", "fuzz", "error", "logging",
        "units",
    ];
    let leaf = |p: &str| LEAVES.contains(&p);
    let peer_side = |p: &str| p == "peer" || p.starts_with("peer::");
    if part == target {
        return true;
    }
    match part {
        // The crate root and the in-process directory join the two sides.
        "" | "in_process" => true,
        p if leaf(p) => leaf(target),
        "wire" => leaf(target),
        "config" => leaf(target) || target == "wire",
        "directory" => leaf(target) || target == "wire" || target == "config",
        p if peer_side(p) => {
            let common = leaf(target) || target == "wire" || target == "config";
            common
                || match p {
                    "peer::share" | "peer::serve" => false,
                    "peer::fetch" => matches!(target, "peer::client" | "peer::share"),
                    _ => peer_side(target),
                }
        }
        _ => false,
    }
}

/// Every import between parts, as (from, to) pairs.
fn edges() -> BTreeSet<(String, String)> {
    let src = sources();
    let known: BTreeSet<String> = src.keys().cloned().collect();
    let mut out = BTreeSet::new();
    for (module, text) in &src {
        let from = part_of(module);
        for target in imports(module, text, &known) {
            let to = part_of(&target);
            if to != from {
                out.insert((from.clone(), to));
            }
        }
    }
    out
}

#[test]
fn every_import_follows_the_rules_in_architecture_md() {
    let edges = edges();
    // The reader sees what it should: these are known imports.
    for must in [
        ("peer::core", "peer::serve"),
        ("peer::session", "peer::client"),
        ("directory", "wire"),
        ("peer::fetch", "peer::client"),
        ("in_process", "directory"),
        ("in_process", "peer"),
    ] {
        assert!(
            edges.contains(&(must.0.to_string(), must.1.to_string())),
            "the import reader missed {must:?}: {edges:?}"
        );
    }
    let broken: Vec<String> = edges
        .iter()
        .filter(|(from, to)| !allowed(from, to))
        .map(|(from, to)| format!("{from} imports {to}"))
        .collect();
    assert!(
        broken.is_empty(),
        "imports against the rules:\n{}",
        broken.join("\n")
    );
}

#[test]
fn no_part_of_the_code_imports_itself_around_a_loop() {
    let edges = edges();
    let mut graph: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (from, to) in &edges {
        graph.entry(from).or_default().push(to);
    }
    // Depth-first search; a node met again while on the path closes a loop.
    fn visit<'a>(
        node: &'a str,
        graph: &BTreeMap<&'a str, Vec<&'a str>>,
        path: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
    ) -> Option<Vec<String>> {
        if let Some(i) = path.iter().position(|n| *n == node) {
            let mut cycle: Vec<String> = path[i..].iter().map(|s| s.to_string()).collect();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if !done.insert(node) {
            return None;
        }
        path.push(node);
        for next in graph.get(node).into_iter().flatten() {
            if let Some(c) = visit(next, graph, path, done) {
                return Some(c);
            }
        }
        path.pop();
        None
    }
    let mut done = BTreeSet::new();
    for node in graph.keys() {
        if let Some(cycle) = visit(node, &graph, &mut Vec::new(), &mut done) {
            panic!("import cycle: {}", cycle.join(" -> "));
        }
    }
}
