//! The source tree is the architecture: these tests read `src/` and check
//! the import rules ARCHITECTURE.md gives, and that no two parts of the
//! code import each other (directly or around a loop).
//!
//! A "part" is a room, a folder whose files work together (`config`,
//! `wire`, `directory`, `peer/share`, `peer/serve`, `peer/fetch`), or a file on its
//! own (the leaves at the top, and the files directly in `peer/`). Imports
//! inside a room may not loop either: no two files import each other,
//! directly or around a loop, anywhere in the tree. `pub use` lines in a
//! `mod.rs` or in `lib.rs` only re-export, so they are not imports; `mod`
//! lines neither, and an import of a re-exported name counts as an import
//! of the file that defines it. A folder root (`mod.rs`, `lib.rs`) only
//! introduces: its doc, its modules and its re-exports, nothing else. No
//! source file is longer than [`MAX_FILE_LINES`].
//!
//! `HUBSHARE_LAYOUT_ROOT` points these tests at another checkout (to see
//! them fail on an older tree).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

/// Most lines a source file may have (as `wc -l` counts them).
const MAX_FILE_LINES: usize = 800;

/// The checkout whose tree is read.
fn checkout() -> PathBuf {
    std::env::var_os("HUBSHARE_LAYOUT_ROOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}

/// Module path of every source file ("" is the crate root), with its text.
fn sources() -> BTreeMap<String, String> {
    let root = checkout().join("src");
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

/// A source's statements, one a line: `use` lists that span lines joined.
fn statements(text: &str) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut open_use = false;
    for line in text.lines().map(str::trim) {
        match lines.last_mut() {
            Some(last) if open_use => last.push_str(line),
            _ => lines.push(line.to_string()),
        }
        let statement = lines.last().map_or("", String::as_str);
        open_use = (statement.starts_with("use ")
            || statement.starts_with("pub use ")
            || statement.starts_with("pub(crate) use "))
            && !statement.ends_with(';');
    }
    lines
}

/// For each module with children, the names it re-exports from a child
/// (`pub use child::{A, b::C}`) and the module each comes from.
type Reexports = BTreeMap<String, BTreeMap<String, String>>;

fn reexports(src: &BTreeMap<String, String>) -> Reexports {
    let known: BTreeSet<&str> = src.keys().map(String::as_str).collect();
    let mut out = Reexports::new();
    for (module, text) in src {
        for line in statements(text) {
            let Some(rest) = line.strip_prefix("pub use ") else {
                continue;
            };
            let rest = rest.trim_end_matches(';');
            let (prefix, items) = match rest.split_once("::{") {
                Some((prefix, group)) => (prefix, group.trim_end_matches('}').to_string()),
                None => match rest.rsplit_once("::") {
                    Some((prefix, item)) => (prefix, item.to_string()),
                    None => continue,
                },
            };
            let mut from = module.clone();
            for seg in prefix.split("::") {
                from = match seg {
                    "self" => from,
                    "crate" => String::new(),
                    seg if from.is_empty() => seg.to_string(),
                    seg => format!("{from}::{seg}"),
                };
            }
            for item in items.split(',').map(str::trim).filter(|i| !i.is_empty()) {
                let (path, name) = match item.rsplit_once("::") {
                    Some((path, name)) => (format!("{from}::{path}"), name),
                    None => (from.clone(), item),
                };
                let name = name.split(" as ").last().unwrap_or(name).trim();
                if known.contains(path.as_str()) && path != *module {
                    out.entry(module.clone())
                        .or_default()
                        .insert(name.to_string(), path);
                }
            }
        }
    }
    out
}

/// The modules `module` refers to (by a `crate::`, `super::` or `self::`
/// path, or by the name of one of its own children), each resolved to the
/// longest known module path, and through a re-export to the module that
/// defines the name.
fn imports(
    module: &str,
    text: &str,
    known: &BTreeSet<String>,
    reexported: &Reexports,
) -> BTreeSet<String> {
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
    // The longest module path that `base::rest` starts with; a name that
    // module re-exports leads to the module it comes from.
    let resolve = |base: &str, rest: &str| -> String {
        let mut best = base.to_string();
        let mut path = base.to_string();
        for seg in rest.split("::").map(str::trim) {
            let seg = seg.split(" as ").next().unwrap_or(seg).trim();
            if let Some(from) = reexported.get(&best).and_then(|names| names.get(seg)) {
                return from.clone();
            }
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
            } else {
                break;
            }
        }
        best
    };
    let lines = statements(text);
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
const ROOMS: [&str; 8] = [
    "config",
    "relay",
    "wire",
    "tls",
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
    const LEAVES: [&str; 15] = [
        "id", "names", "pieces", "hash", "fsutil", "random", "sync", "fuzz", "error", "logging",
        "units", "html", "base64", "pace", "passhash",
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
        "tls" => leaf(target) || target == "wire",
        "config" => leaf(target) || target == "wire",
        "relay" => leaf(target) || target == "wire" || target == "config",
        "directory" => {
            leaf(target)
                || target == "wire"
                || target == "config"
                || target == "tls"
                || target == "relay"
        }
        p if peer_side(p) => {
            let common = leaf(target) || target == "wire" || target == "config" || target == "tls";
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

/// Every import between two source files, as (from, to) module pairs.
fn file_edges() -> BTreeSet<(String, String)> {
    let src = sources();
    let known: BTreeSet<String> = src.keys().cloned().collect();
    let reexported = reexports(&src);
    let mut out = BTreeSet::new();
    for (module, text) in &src {
        for target in imports(module, text, &known, &reexported) {
            out.insert((module.clone(), target));
        }
    }
    out
}

/// Every import between parts, as (from, to) pairs.
fn edges() -> BTreeSet<(String, String)> {
    file_edges()
        .into_iter()
        .map(|(from, to)| (part_of(&from), part_of(&to)))
        .filter(|(from, to)| from != to)
        .collect()
}

/// A loop in `edges`, as the nodes around it (the first one again at the
/// end), if there is one.
fn find_cycle(edges: &BTreeSet<(String, String)>) -> Option<Vec<String>> {
    let mut graph: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (from, to) in edges {
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
    graph
        .keys()
        .find_map(|node| visit(node, &graph, &mut Vec::new(), &mut done))
}

/// Loops in `edges`, each as [`find_cycle`] gives it, until none is left
/// (the edge closing each one taken out before looking again).
fn cycles(edges: &BTreeSet<(String, String)>) -> Vec<String> {
    let mut edges = edges.clone();
    let mut out = Vec::new();
    while let Some(cycle) = find_cycle(&edges) {
        let n = cycle.len();
        edges.remove(&(cycle[n - 2].clone(), cycle[n - 1].clone()));
        out.push(cycle.join(" -> "));
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
    let found = cycles(&edges());
    assert!(
        found.is_empty(),
        "import cycles between parts:\n{}",
        found.join("\n")
    );
}

#[test]
fn no_two_files_import_each_other_around_a_loop() {
    let edges = file_edges();
    let found = cycles(&edges);
    assert!(
        found.is_empty(),
        "import cycles between files:\n{}",
        found.join("\n")
    );
    // The reader sees imports inside a room, through re-exports too.
    for must in [
        ("peer::fetch::download", "peer::fetch::swarm"),
        ("peer::serve::routes", "peer::serve::context"),
        ("peer::fetch::folder", "peer::fetch::download"),
    ] {
        assert!(
            edges.contains(&(must.0.to_string(), must.1.to_string())),
            "the import reader missed {must:?}"
        );
    }
}

#[test]
fn every_folder_root_only_introduces() {
    let root = checkout().join("src");
    let mut roots = vec![root.join("lib.rs")];
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read src") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.file_name() == Some("mod.rs".as_ref()) {
                roots.push(path);
            }
        }
    }
    let mut doing = Vec::new();
    for path in roots {
        let text = std::fs::read_to_string(&path).expect("read root");
        let mut more: Vec<String> = Vec::new();
        for line in statements(&text) {
            let introduces = line.is_empty()
                || line.starts_with("//")
                || line.starts_with("#[")
                || line.starts_with("#![")
                || [
                    "mod ",
                    "pub mod ",
                    "pub(crate) mod ",
                    "pub use ",
                    "pub(crate) use ",
                ]
                .iter()
                .any(|p| line.starts_with(p) && line.ends_with(';'));
            if !introduces {
                more.push(line);
            }
        }
        if let Some(first) = more.first() {
            let rel = path.strip_prefix(&root).unwrap_or(&path);
            let n = more.len();
            doing.push(format!("{}: {n} statements, from `{first}`", rel.display()));
        }
    }
    assert!(
        doing.is_empty(),
        "folder roots that do more than introduce (move this into a file of its own):\n{}",
        doing.join("\n")
    );
}

#[test]
fn no_source_file_is_longer_than_the_limit() {
    let root = checkout();
    let mut long = Vec::new();
    let mut stack: Vec<PathBuf> = ["src", "tests", "benches"]
        .iter()
        .map(|d| root.join(d))
        .collect();
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension() == Some("rs".as_ref()) {
                let text = std::fs::read_to_string(&path).expect("read source");
                let lines = text.matches('\n').count();
                if lines > MAX_FILE_LINES {
                    let rel = path.strip_prefix(&root).unwrap_or(&path);
                    long.push(format!("{}: {lines} lines", rel.display()));
                }
            }
        }
    }
    long.sort();
    assert!(
        long.is_empty(),
        "source files over {MAX_FILE_LINES} lines (split them by job):\n{}",
        long.join("\n")
    );
}
