//! The share table's tests: scans, renames, settling, the hash cache,
//! piece lists, links.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::table::PIECES_DIR;
use super::*;
use crate::id::FileId;
use crate::pieces;

#[test]
fn scan_hashes_files_and_reports_changes() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("a.txt"), b"alpha").unwrap();
    fs::create_dir(dir.path().join("sub")).unwrap();
    fs::write(dir.path().join("sub/b.txt"), b"beta").unwrap();
    fs::write(dir.path().join(".hidden"), b"secret").unwrap();
    fs::write(dir.path().join("c.bin.part"), b"partial").unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink("/etc/hostname", dir.path().join("link")).unwrap();

    let table = ShareTable::new(dir.path());
    let first = table.rescan().unwrap();
    let mut names: Vec<_> = first.added.iter().map(|f| f.name.as_str()).collect();
    names.sort();
    assert_eq!(names, vec!["a.txt", "sub/b.txt"]);
    let a = table.get(&FileId::of(b"alpha")).unwrap();
    assert_eq!((a.file.name.as_str(), a.file.size), ("a.txt", 5));
    assert_eq!(table.bytes_hashed(), 9);

    // Nothing changed: nothing hashed, nothing to announce.
    assert!(table.rescan().unwrap().is_empty());
    assert_eq!(table.bytes_hashed(), 9);

    fs::remove_file(dir.path().join("sub/b.txt")).unwrap();
    fs::rename(dir.path().join("a.txt"), dir.path().join("renamed.txt")).unwrap();
    let change = table.rescan().unwrap();
    assert_eq!(change.removed, vec![FileId::of(b"beta")]);
    assert_eq!(change.added.len(), 1);
    assert_eq!(change.added[0].name, "renamed.txt");
}

#[test]
fn same_bytes_twice_are_shared_once_under_both_paths_until_both_go() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("one"), b"same").unwrap();
    fs::write(dir.path().join("two"), b"same").unwrap();
    let table = ShareTable::new(dir.path());
    let added = table.rescan().unwrap().added;
    assert_eq!(added.len(), 1);
    assert_eq!(
        (added[0].name.as_str(), &added[0].other_names[..]),
        ("one", &["two".to_string()][..])
    );
    fs::remove_file(dir.path().join("one")).unwrap();
    let change = table.rescan().unwrap();
    assert!(change.removed.is_empty());
    // Announced again with its one name left.
    assert_eq!(change.added.len(), 1);
    assert_eq!(table.files().to_vec()[0].name, "two");
    assert!(table.files().to_vec()[0].other_names.is_empty());
}

#[test]
fn the_listing_is_shared_until_the_share_changes_and_then_says_so() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("b.txt"), b"beta").unwrap();
    fs::write(dir.path().join("a.txt"), b"alpha").unwrap();
    let table = ShareTable::new(dir.path());
    table.rescan().unwrap();
    let first = table.files();
    let names = |files: &[crate::wire::SharedFile]| {
        files.iter().map(|f| f.name.clone()).collect::<Vec<_>>()
    };
    assert_eq!(names(&first.to_vec()), ["a.txt", "b.txt"]);
    // Asked again with nothing changed: the same listing, not a copy.
    assert!(std::sync::Arc::ptr_eq(&first, &table.files()));
    // A rescan that finds nothing new keeps it too.
    assert!(table.rescan().unwrap().is_empty());
    assert!(std::sync::Arc::ptr_eq(&first, &table.files()));
    fs::write(dir.path().join("c.txt"), b"gamma").unwrap();
    fs::remove_file(dir.path().join("a.txt")).unwrap();
    table.rescan_paths(&[dir.path().join("c.txt")]).unwrap();
    assert_eq!(names(&table.files().to_vec()), ["a.txt", "b.txt", "c.txt"]);
    table.rescan().unwrap();
    let last = table.files();
    assert_eq!(names(&last.to_vec()), ["b.txt", "c.txt"]);
    // What was handed out before stays as it was.
    assert_eq!(names(&first.to_vec()), ["a.txt", "b.txt"]);
}

/// A rescan of named paths sees what changed there, and only there;
/// a full rescan afterwards finds nothing more to say about them.
#[test]
fn a_rescan_of_named_paths_looks_only_there_and_agrees_with_a_full_one() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for (path, body) in [
        ("keep/a.txt", "a"),
        ("old/b.txt", "b"),
        ("old/deep/c.txt", "c"),
        ("gone.txt", "g"),
    ] {
        fs::create_dir_all(root.join(path).parent().unwrap()).unwrap();
        fs::write(root.join(path), body).unwrap();
    }
    let table = ShareTable::new(root);
    assert_eq!(table.rescan().unwrap().added.len(), 4);
    let names = |t: &ShareTable| {
        t.files()
            .to_vec()
            .iter()
            .map(|f| f.name.clone())
            .collect::<Vec<_>>()
    };

    // A folder renamed, a file removed, a new folder copied in, and a
    // file added where nobody reports it.
    fs::rename(root.join("old"), root.join("new")).unwrap();
    fs::remove_file(root.join("gone.txt")).unwrap();
    fs::create_dir_all(root.join("fresh/inner")).unwrap();
    fs::write(root.join("fresh/inner/d.txt"), "d").unwrap();
    fs::write(root.join("keep/unreported.txt"), "u").unwrap();
    let reported: Vec<PathBuf> = ["old", "new", "gone.txt", "fresh", "fresh/inner/d.txt"]
        .iter()
        .map(|p| root.join(p))
        .collect();
    let change = table.rescan_paths(&reported).unwrap();
    let mut added: Vec<&str> = change.added.iter().map(|f| f.name.as_str()).collect();
    added.sort();
    assert_eq!(
        added,
        vec!["fresh/inner/d.txt", "new/b.txt", "new/deep/c.txt"]
    );
    assert_eq!(change.removed, vec![FileId::of(b"g")]);
    assert_eq!(
        names(&table),
        vec![
            "fresh/inner/d.txt",
            "keep/a.txt",
            "new/b.txt",
            "new/deep/c.txt"
        ]
    );
    // The full rescan adds only what was not reported.
    let change = table.rescan().unwrap();
    assert_eq!(change.added.len(), 1);
    assert_eq!(change.added[0].name, "keep/unreported.txt");
    assert!(change.removed.is_empty());

    // A copy of a shared file: the same file, now under two names.
    fs::write(root.join("new/a copy.txt"), "a").unwrap();
    let change = table.rescan_paths(&[root.join("new/a copy.txt")]).unwrap();
    assert_eq!(change.added.len(), 1);
    assert_eq!(change.added[0].name, "keep/a.txt");
    assert_eq!(change.added[0].other_names, vec!["new/a copy.txt"]);
    fs::remove_file(root.join("keep/a.txt")).unwrap();
    let change = table.rescan_paths(&[root.join("keep/a.txt")]).unwrap();
    assert!(change.removed.is_empty());
    assert_eq!(change.added[0].name, "new/a copy.txt");
    assert!(change.added[0].other_names.is_empty());
    fs::write(root.join("keep/a.txt"), "a").unwrap();
    table.rescan_paths(&[root.join("keep/a.txt")]).unwrap();

    // Hidden paths, part files and paths through a link add nothing.
    fs::create_dir_all(root.join(".git")).unwrap();
    fs::write(root.join(".git/x"), "x").unwrap();
    fs::write(root.join("keep/e.bin.part"), "p").unwrap();
    let outside = tempfile::tempdir().unwrap();
    fs::write(outside.path().join("secret.txt"), "s").unwrap();
    std::os::unix::fs::symlink(outside.path(), root.join("link")).unwrap();
    let reported: Vec<PathBuf> = [".git/x", "keep/e.bin.part", "link", "link/secret.txt"]
        .iter()
        .map(|p| root.join(p))
        .collect();
    assert!(table.rescan_paths(&reported).unwrap().is_empty());
    // A path outside the folder falls back to a full rescan, which
    // agrees.
    assert!(table
        .rescan_paths(&[outside.path().join("secret.txt")])
        .unwrap()
        .is_empty());
    assert_eq!(table.files().count(), 5);
}

#[test]
fn moved_files_are_not_hashed_again_while_running_or_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (share, state) = (dir.path().join("share"), dir.path().join("state"));
    fs::create_dir_all(share.join("films")).unwrap();
    fs::create_dir_all(&state).unwrap();
    fs::write(share.join("films/a.mkv"), vec![1u8; 300_000]).unwrap();
    fs::write(share.join("films/b.mkv"), vec![2u8; 200_000]).unwrap();
    let table = ShareTable::with_state(&share, Some(&state), Duration::ZERO);
    table.rescan().unwrap();
    assert_eq!(table.bytes_hashed(), 500_000);
    // A folder renamed while the peer runs: the new paths, nothing hashed.
    fs::rename(share.join("films"), share.join("movies")).unwrap();
    let change = table
        .rescan_paths(&[share.join("films"), share.join("movies")])
        .unwrap();
    let mut names: Vec<&str> = change.added.iter().map(|f| f.name.as_str()).collect();
    names.sort();
    assert_eq!(names, vec!["movies/a.mkv", "movies/b.mkv"]);
    assert!(change.removed.is_empty());
    assert_eq!(table.bytes_hashed(), 500_000);
    table.save_cache();
    // Moved while it was not running: a restart hashes nothing either.
    fs::rename(share.join("movies/a.mkv"), share.join("a.mkv")).unwrap();
    let restarted = ShareTable::with_state(&share, Some(&state), Duration::ZERO);
    restarted.rescan().unwrap();
    assert_eq!(restarted.bytes_hashed(), 0);
    assert_eq!(
        restarted
            .get(&FileId::of(&[1u8; 300_000]))
            .unwrap()
            .file
            .name,
        "a.mkv"
    );
    // A different file that took the old place is hashed.
    fs::write(share.join("movies/a.mkv"), vec![3u8; 300_000]).unwrap();
    restarted.rescan().unwrap();
    assert_eq!(restarted.bytes_hashed(), 300_000);
    assert!(restarted.get(&FileId::of(&[3u8; 300_000])).is_some());
}

#[test]
fn a_file_still_being_written_waits_until_it_settles() {
    let dir = tempfile::tempdir().unwrap();
    let table = ShareTable::with_state(dir.path(), None, Duration::from_secs(3600));
    let path = dir.path().join("growing.iso");
    fs::write(&path, b"first part").unwrap();
    assert!(table.rescan().unwrap().is_empty());
    assert_eq!((table.unsettled(), table.bytes_hashed()), (1, 0));
    // It grew between the two looks: still not shared.
    fs::write(&path, b"first part, second part").unwrap();
    assert!(table.rescan().unwrap().is_empty());
    assert_eq!(table.unsettled(), 1);
    // Unchanged since the last look (a look at the held-back paths
    // alone, as the watcher's thread takes it): shared now.
    fs::write(dir.path().join("unrelated.txt"), b"not looked at").unwrap();
    let change = table.rescan_paths(&table.unsettled_paths()).unwrap();
    assert_eq!(change.added.len(), 1);
    assert_eq!(change.added[0].id, FileId::of(b"first part, second part"));
    assert_eq!(table.unsettled(), 0);
}

#[test]
fn the_hash_cache_spares_rehashing_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let share = dir.path().join("share");
    fs::create_dir(&share).unwrap();
    let state = dir.path().join("state");
    fs::create_dir(&state).unwrap();
    let cache = state.join(cache::CACHE_FILE);
    fs::write(share.join("a.bin"), vec![1u8; 5000]).unwrap();
    fs::write(share.join("b.bin"), vec![2u8; 7000]).unwrap();

    let first = ShareTable::with_state(&share, Some(&state), Duration::ZERO);
    first.rescan().unwrap();
    assert_eq!(first.bytes_hashed(), 12_000);

    let second = ShareTable::with_state(&share, Some(&state), Duration::ZERO);
    let change = second.rescan().unwrap();
    assert_eq!(second.bytes_hashed(), 0);
    assert_eq!(change.added.len(), 2);
    assert_eq!(second.files().to_vec(), first.files().to_vec());

    // A changed file is rehashed, and only it.
    fs::write(share.join("b.bin"), vec![3u8; 6000]).unwrap();
    let third = ShareTable::with_state(&share, Some(&state), Duration::ZERO);
    third.rescan().unwrap();
    assert_eq!(third.bytes_hashed(), 6000);
    assert!(third.get(&FileId::of(&[3u8; 6000])).is_some());

    // A garbage cache is rebuilt, not trusted and not fatal.
    fs::write(&cache, b"{ not json").unwrap();
    let fourth = ShareTable::with_state(&share, Some(&state), Duration::ZERO);
    fourth.rescan().unwrap();
    assert_eq!(fourth.bytes_hashed(), 11_000);
    let fifth = ShareTable::with_state(&share, Some(&state), Duration::ZERO);
    fifth.rescan().unwrap();
    assert_eq!(fifth.bytes_hashed(), 0);
}

/// The table is the hash cache once the first scan has used the file:
/// what a watcher's rescan or a verified download put in it is saved, a
/// file gone leaves it, and a start that finds everything as cached
/// writes nothing.
#[test]
fn the_hash_cache_is_saved_from_the_table() {
    let dir = tempfile::tempdir().unwrap();
    let (share, state) = (dir.path().join("share"), dir.path().join("state"));
    fs::create_dir_all(share.join("sub")).unwrap();
    fs::create_dir(&state).unwrap();
    let cache = state.join(cache::CACHE_FILE);
    fs::write(share.join("a.bin"), vec![1u8; 5000]).unwrap();
    let first = ShareTable::with_state(&share, Some(&state), Duration::ZERO);
    first.rescan().unwrap();
    // A file the watcher reports, and one added as verified.
    fs::write(share.join("sub/b.bin"), vec![2u8; 3000]).unwrap();
    first.rescan_paths(&[share.join("sub")]).unwrap();
    fs::write(share.join("c.bin"), vec![3u8; 2000]).unwrap();
    first
        .add_verified(&share.join("c.bin"), FileId::of(&[3u8; 2000]))
        .unwrap();
    first.save_cache();

    let second = ShareTable::with_state(&share, Some(&state), Duration::ZERO);
    let before = fs::read(&cache).unwrap();
    let stamp = fs::metadata(&cache).unwrap().modified().unwrap();
    second.rescan().unwrap();
    assert_eq!(
        second.bytes_hashed(),
        0,
        "all three were in the saved cache"
    );
    assert_eq!(second.files().count(), 3);
    assert_eq!(fs::metadata(&cache).unwrap().modified().unwrap(), stamp);
    assert_eq!(
        fs::read(&cache).unwrap(),
        before,
        "nothing changed, nothing written"
    );

    // A file gone leaves the saved cache; the others stay in it.
    fs::remove_file(share.join("sub/b.bin")).unwrap();
    second.rescan().unwrap();
    let text = fs::read_to_string(&cache).unwrap();
    assert!(!text.contains("b.bin") && text.contains("a.bin") && text.contains("c.bin"));
    fs::write(share.join("sub/b.bin"), vec![2u8; 3000]).unwrap();
    let third = ShareTable::with_state(&share, Some(&state), Duration::ZERO);
    third.rescan().unwrap();
    assert_eq!(
        third.bytes_hashed(),
        3000,
        "only the file that was gone is hashed"
    );
}

#[test]
fn piece_lists_are_kept_checked_and_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let (share, state) = (dir.path().join("share"), dir.path().join("state"));
    fs::create_dir_all(&share).unwrap();
    let data = crate::fuzz::noise(3_000_000, 2);
    fs::write(share.join("big.bin"), &data).unwrap();
    fs::write(share.join("small.txt"), b"small").unwrap();
    let table = ShareTable::with_state(&share, Some(&state), Duration::ZERO);
    table.rescan().unwrap();
    let id = FileId::of(&data);
    let cvs = table.pieces(&id).unwrap();
    assert_eq!(pieces::merge(data.len() as u64, &cvs), Some(id));
    assert!(table.pieces(&FileId::of(b"small")).unwrap().is_empty());
    assert!(table.pieces(&FileId::of(b"absent")).is_err());
    // A damaged stored list is not served: it is recomputed from the file.
    let stored = state.join(PIECES_DIR).join(id.to_string());
    let mut bytes = fs::read(&stored).unwrap();
    bytes[5] ^= 1;
    fs::write(&stored, &bytes).unwrap();
    let hashed = table.bytes_hashed();
    assert_eq!(table.pieces(&id).unwrap(), cvs);
    assert_eq!(table.bytes_hashed(), hashed + data.len() as u64);
    assert_eq!(fs::read(&stored).unwrap(), cvs.concat());
}

#[test]
fn missing_folder_is_an_error_naming_it() {
    let table = ShareTable::new(Path::new("/nonexistent/hubshare"));
    let err = table.rescan().unwrap_err();
    assert!(err.to_string().contains("/nonexistent/hubshare"));
}

#[test]
fn symbolic_links_are_skipped_unless_followed_and_never_opened_by_default() {
    use std::os::unix::fs::symlink;
    let root = tempfile::tempdir().unwrap();
    let (share, outside) = (root.path().join("share"), root.path().join("outside"));
    fs::create_dir_all(share.join("sub")).unwrap();
    fs::create_dir_all(&outside).unwrap();
    fs::write(share.join("own.txt"), b"own").unwrap();
    fs::write(outside.join("private.txt"), b"private").unwrap();
    fs::write(outside.join("other.txt"), b"other").unwrap();
    symlink(outside.join("private.txt"), share.join("leak.txt")).unwrap();
    symlink(&outside, share.join("leakdir")).unwrap();
    // A loop back up the tree.
    symlink(&share, share.join("sub/loop")).unwrap();

    let table = ShareTable::new(&share);
    let names = |t: &ShareTable| {
        let mut n: Vec<String> = t.files().to_vec().iter().map(|e| e.name.clone()).collect();
        n.sort();
        n
    };
    table.rescan().unwrap();
    assert_eq!(names(&table), vec!["own.txt"]);
    assert!(table.get(&FileId::of(b"private")).is_none());
    assert!(table.get(&FileId::of(b"other")).is_none());
    // A shared file swapped for a link after the scan is not read through it.
    let own = share.join("own.txt");
    fs::remove_file(&own).unwrap();
    symlink(outside.join("private.txt"), &own).unwrap();
    assert!(table.open(&own).is_err());
    // Nor a file below a folder that was swapped for a link.
    fs::write(share.join("sub/inner.txt"), b"inner").unwrap();
    fs::write(outside.join("inner.txt"), b"INNER").unwrap();
    let inner = share.join("sub/inner.txt");
    assert!(table.open(&inner).is_ok());
    fs::rename(share.join("sub"), root.path().join("sub-moved")).unwrap();
    symlink(&outside, share.join("sub")).unwrap();
    let err = table.open(&inner).unwrap_err();
    // (A link where a folder is expected: ENOTDIR; as the file: ELOOP.)
    assert!(
        matches!(err.raw_os_error(), Some(libc::ENOTDIR | libc::ELOOP)),
        "{err}"
    );
    fs::remove_file(share.join("sub")).unwrap();
    fs::rename(root.path().join("sub-moved"), share.join("sub")).unwrap();
    fs::remove_file(&inner).unwrap();
    fs::remove_file(outside.join("inner.txt")).unwrap();
    // Nor is a FIFO put in its place (it would block the reader).
    fs::remove_file(&own).unwrap();
    let status = std::process::Command::new("mkfifo").arg(&own).status();
    if status.is_ok_and(|s| s.success()) {
        let err = table.open(&own).unwrap_err();
        assert!(err.to_string().contains("not a regular file"), "{err}");
    }
    fs::remove_file(&own).unwrap();
    fs::write(&own, b"own").unwrap();

    // Followed on request: what the links point to is shared, once each,
    // and the loop adds nothing twice.
    let following = ShareTable::new(&share).following_symlinks(true);
    following.rescan().unwrap();
    assert_eq!(following.files().count(), 3, "{:?}", names(&following));
    assert!(following.get(&FileId::of(b"other")).is_some());
    let private = following.get(&FileId::of(b"private")).unwrap();
    assert!(following.open(&private.path).is_ok());

    // A link above the share folder is the owner's own choice: opened
    // through (the walk, as the one-call open refuses any link), while a
    // link below it still is not.
    let via = root.path().join("via-link");
    symlink(&share, &via).unwrap();
    let linked = ShareTable::new(&via);
    linked.rescan().unwrap();
    let own_entry = linked.get(&FileId::of(b"own")).unwrap();
    let (mut file, meta) = linked.open(&own_entry.path).unwrap();
    let mut text = String::new();
    std::io::Read::read_to_string(&mut file, &mut text).unwrap();
    assert_eq!((text.as_str(), meta.len()), ("own", 3));
    fs::remove_file(&own).unwrap();
    symlink(outside.join("private.txt"), &own).unwrap();
    assert!(linked.open(&own_entry.path).is_err());
}

#[test]
fn further_folders_are_shared_under_their_own_top_folder() {
    let dir = tempfile::tempdir().unwrap();
    let (main, music, state) = (
        dir.path().join("share"),
        dir.path().join("My Music"),
        dir.path().join("state"),
    );
    fs::create_dir_all(&main).unwrap();
    fs::create_dir_all(&state).unwrap();
    fs::create_dir_all(music.join("album")).unwrap();
    fs::write(main.join("top.txt"), b"top").unwrap();
    fs::write(music.join("album/01.flac"), b"one").unwrap();
    let extra = vec![("Music".to_string(), music.clone())];
    let table =
        ShareTable::with_state(&main, Some(&state), Duration::ZERO).with_extra(extra.clone());
    table.rescan().unwrap();
    let names: Vec<String> = table
        .files()
        .to_vec()
        .iter()
        .map(|f| f.name.clone())
        .collect();
    assert_eq!(names, vec!["Music/album/01.flac", "top.txt"]);
    // Served from its own folder.
    let one = table.get(&FileId::of(b"one")).unwrap();
    assert_eq!(one.path, music.join("album/01.flac"));
    let mut text = String::new();
    std::io::Read::read_to_string(&mut table.open(&one.path).unwrap().0, &mut text).unwrap();
    assert_eq!(text, "one");
    // A change there, seen by a rescan of that path alone.
    fs::write(music.join("album/02.flac"), b"two").unwrap();
    let change = table.rescan_paths(&[music.join("album/02.flac")]).unwrap();
    assert_eq!(change.added.len(), 1);
    assert_eq!(change.added[0].name, "Music/album/02.flac");
    // The hash cache keeps them: a table made again hashes nothing.
    table.save_cache();
    let again = ShareTable::with_state(&main, Some(&state), Duration::ZERO).with_extra(extra);
    again.rescan().unwrap();
    assert_eq!(again.bytes_hashed(), 0);
    assert_eq!(again.files().count(), 3);
    // And what it holds elsewhere is found for a folder fetch.
    let held = ShareTable::held(
        &main,
        std::slice::from_ref(&music),
        &state,
        &FileId::of(b"two"),
    );
    assert_eq!(held, Some(music.join("album/02.flac")));
}

/// Many small changes to a big table (patched in place: the index by id
/// and the listing are not sorted again) leave it as a table made from
/// scratch of the same files would be, and say what changed.
#[test]
fn small_changes_patch_the_table_to_what_a_fresh_one_would_be() {
    use super::entries::{Entries, Slot};
    use super::scan::Stat;
    use crate::wire::FileList;
    use std::collections::BTreeMap;
    // A fixed sequence, so a failure can be replayed.
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    // Few ids among many paths: the same bytes at several paths, often.
    let slot = |name: &str, id: u64| {
        let stat = Stat {
            size: id * 10,
            mtime: None,
            node: (0, 0),
        };
        Slot::new(name.to_string(), FileId::of(&id.to_le_bytes()), stat)
    };
    let mut now: BTreeMap<PathBuf, Slot> = BTreeMap::new();
    for i in 0..400 {
        let name = format!("d{}/f{i}", i % 7);
        now.insert(Path::new("/s").join(&name), slot(&name, next(150)));
    }
    let mut table = Entries::of(now.clone());
    for round in 0..200 {
        let mut gone = Vec::new();
        let mut put = Vec::new();
        for _ in 0..next(4) {
            let k = now.keys().nth(next(now.len() as u64) as usize).cloned();
            if let Some(k) = k {
                now.remove(&k);
                gone.push(k);
            }
        }
        for _ in 0..next(4) {
            let name = format!("d{}/g{}", next(9), next(600));
            let s = slot(&name, next(150));
            now.insert(Path::new("/s").join(&name), s.clone());
            put.push((Path::new("/s").join(&name), s));
        }
        let before: BTreeMap<FileId, SharedFileOf> = files_of(&table);
        let change = table.update(gone, put);
        let fresh = Entries::of(now.clone());
        assert_eq!(table.to_vec(), fresh.to_vec(), "round {round}");
        assert_eq!(table.bytes(), fresh.bytes(), "round {round}");
        let paths: Vec<_> = table
            .iter()
            .map(|v| (v.path.to_path_buf(), v.to_slot()))
            .collect();
        let fresh_paths: Vec<_> = fresh
            .iter()
            .map(|v| (v.path.to_path_buf(), v.to_slot()))
            .collect();
        assert_eq!(paths, fresh_paths, "round {round}");
        for f in fresh.to_vec() {
            assert_eq!(table.file(&f.id).as_ref(), Some(&f), "round {round}");
        }
        // The change is the difference of the listings.
        let after = files_of(&table);
        let mut removed: Vec<FileId> = before
            .keys()
            .filter(|id| !after.contains_key(id))
            .copied()
            .collect();
        let mut added: Vec<_> = after
            .iter()
            .filter(|(id, f)| before.get(id) != Some(f))
            .map(|(_, f)| f.clone())
            .collect();
        let mut said_removed = change.removed.clone();
        let mut said_added = change.added.clone();
        for v in [&mut removed, &mut said_removed] {
            v.sort();
        }
        added.sort_by_key(|f| f.id);
        said_added.sort_by_key(|f| f.id);
        assert_eq!(said_removed, removed, "round {round}");
        assert_eq!(said_added, added, "round {round}");
    }
}

type SharedFileOf = crate::wire::SharedFile;

fn files_of(e: &super::entries::Entries) -> std::collections::BTreeMap<FileId, SharedFileOf> {
    use crate::wire::FileList;
    e.to_vec().into_iter().map(|f| (f.id, f)).collect()
}
