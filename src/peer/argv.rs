//! The peer's command line before clap reads it: `peer search` takes
//! words that start with a hyphen (`-budget` excludes) without a `--`.

/// Flags that take a value, of the peer and of `search`: what follows them
/// is their value, not a query word.
const VALUE_FLAGS: &[&str] = &[
    "-c",
    "--config",
    "--peer-name",
    "--listen",
    "--directory",
    "--share-dir",
    "--download-dir",
    "--state-dir",
    "--accept-uploads",
    "--limit",
];

/// Flags without a value that `search` takes.
const SEARCH_SWITCHES: &[&str] = &["-h", "--help", "--json"];

/// Lets `peer search annual -budget --limit 5` mean what it says: after
/// `search`, every argument that is not one of the peer's flags (or a
/// flag's value) or another `--word` is a query word, moved behind a `--`
/// so that `-budget` is not taken for a flag; `--word` stays a flag, so an
/// unknown one is a usage error. Other command lines are left as they are.
pub fn search_words_last(args: Vec<std::ffi::OsString>) -> Vec<std::ffi::OsString> {
    let is_flag = |a: &str| a.starts_with('-') && a.len() > 1;
    let takes_value = |a: &str| VALUE_FLAGS.contains(&a);
    // Find the subcommand: the first argument that is no flag or value.
    let mut i = 1;
    while i < args.len() {
        let a = args[i].to_string_lossy();
        if !is_flag(&a) {
            break;
        }
        i += if takes_value(&a) { 2 } else { 1 };
    }
    if args.get(i).is_none_or(|a| a != "search") {
        return args;
    }
    let (mut flags, mut words) = (args[..=i].to_vec(), Vec::new());
    let mut rest = args[i + 1..].iter();
    while let Some(a) = rest.next() {
        let text = a.to_string_lossy();
        let known = SEARCH_SWITCHES.contains(&&*text)
            || takes_value(&text)
            || VALUE_FLAGS
                .iter()
                .any(|f| text.starts_with(&format!("{f}=")));
        if text == "--" {
            words.extend(rest.cloned());
            break;
        } else if known {
            flags.push(a.clone());
            if takes_value(&text) {
                flags.extend(rest.next().cloned());
            }
        } else if text.starts_with("--") {
            // A mistyped flag (`--jsn`, `--limt 1`) is left to clap, which
            // refuses it (exit 2) and suggests the flag meant.
            flags.push(a.clone());
        } else {
            words.push(a.clone());
        }
    }
    if !words.is_empty() {
        flags.push("--".into());
        flags.extend(words);
    }
    flags
}

#[cfg(test)]
mod tests {
    use super::search_words_last;

    fn rewrite(line: &str) -> String {
        let args = line.split(' ').map(Into::into).collect();
        let out: Vec<String> = search_words_last(args)
            .into_iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        out.join(" ")
    }

    #[test]
    fn search_words_may_start_with_a_hyphen_and_flags_go_anywhere() {
        for (given, meant) in [
            (
                "peer search annual -budget",
                "peer search -- annual -budget",
            ),
            (
                "peer --config c.toml search annual -budget --limit 5 -c d.toml",
                "peer --config c.toml search --limit 5 -c d.toml -- annual -budget",
            ),
            (
                "peer search -draft --limit=3 report -- --literal",
                "peer search --limit=3 -- -draft report --literal",
            ),
            ("peer search --help", "peer search --help"),
            // A mistyped flag is not a query word: clap refuses it.
            ("peer search hunter --jsn", "peer search --jsn -- hunter"),
            (
                "peer search hunter --limt 1",
                "peer search --limt -- hunter 1",
            ),
            ("peer get -x", "peer get -x"),
            (
                "peer browse peer2 --config c.toml",
                "peer browse peer2 --config c.toml",
            ),
        ] {
            assert_eq!(rewrite(given), meant, "{given}");
        }
    }
}
