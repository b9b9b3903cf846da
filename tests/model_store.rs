//! The model store against a loopback server with injected faults: resumed downloads after
//! dropped connections and restarts, servers without `Range`, corrupted bytes, error statuses,
//! stalls, cancels, a full disk; a watcher that never sees a partial file at the final path;
//! import, verify, list and delete.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bitnet_core::engine::{CancelToken, EngineConfig};
use bitnet_core::store::{
    Catalog, CatalogEntry, DownloadOptions, DownloadProgress, ModelStore, StoreError,
};
use bitnet_tests::loopback::{Behaviour, Server};
use bitnet_tests::tiny_model;

/// The tiny model's bytes, its catalog entry (served by `server`) and the server.
struct Fixture {
    _dir: tempfile::TempDir,
    store_dir: PathBuf,
    bytes: Vec<u8>,
    entry: CatalogEntry,
    server: Server,
}

fn sha256_hex(bytes: &[u8]) -> String {
    // The store's own hash is what is under test: compute the expected one with the
    // system's sha256sum.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f");
    std::fs::write(&path, bytes).unwrap();
    let out = std::process::Command::new("sha256sum")
        .arg(&path)
        .output()
        .expect("sha256sum");
    String::from_utf8(out.stdout).unwrap()[..64].to_owned()
}

fn catalog_json(url: &str, size: usize, sha256: &str) -> String {
    format!(
        r#"{{"models": [{{"id": "tiny", "name": "Tiny", "file_name": "tiny.gguf",
            "urls": ["{url}"], "size_bytes": {size}, "sha256": "{sha256}", "format": "I2_S",
            "arch": "bitnet-b1.58", "license": "MIT",
            "memory": {{"fixed_bytes": 1, "kv_bytes_per_token": 1, "context_tokens": 256,
                        "min_context_tokens": 256}}}}]}}"#
    )
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(tiny_model(dir.path())).unwrap();
    let server = Server::start(bytes.clone());
    let json = catalog_json(server.url(), bytes.len(), &sha256_hex(&bytes));
    let entry = Catalog::from_json(&json).unwrap().models.remove(0);
    Fixture {
        store_dir: dir.path().join("models"),
        _dir: dir,
        bytes,
        entry,
        server,
    }
}

/// Quick retries, short timeouts.
fn options() -> DownloadOptions {
    DownloadOptions::default()
        .retries(3)
        .backoff_ms(10, 50)
        .timeouts_ms(500, 2000)
        .progress_interval_ms(0)
}

fn download(
    f: &Fixture,
    store: &ModelStore,
) -> (Result<PathBuf, StoreError>, Vec<DownloadProgress>) {
    let mut events = Vec::new();
    let result = store.download(&f.entry, &options(), &CancelToken::new(), &mut |p| {
        events.push(*p)
    });
    (result, events)
}

fn at(f: &Fixture, share: f64) -> u64 {
    (f.bytes.len() as f64 * share) as u64
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn connections_dropped_at_30_and_99_percent_resume_to_the_right_file() {
    for share in [0.30, 0.99] {
        let f = fixture();
        let store = ModelStore::open(&f.store_dir).unwrap();
        let cut = at(&f, share);
        f.server.set(Behaviour {
            drop_at: Some(cut),
            ..Behaviour::default()
        });
        let (result, events) = download(&f, &store);
        let path = result.unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), f.bytes);
        assert_eq!(f.server.ranges(), [None, Some(cut)], "resumed at the cut");
        assert_eq!(files_in(&f.store_dir), ["tiny.gguf"], "no part file left");
        // Progress only grows and ends at the total.
        assert!(events
            .windows(2)
            .all(|w| w[0].done_bytes <= w[1].done_bytes));
        assert_eq!(events.last().unwrap().done_bytes, f.bytes.len() as u64);
        // Installed: a second call returns at once, without a request.
        download(&f, &store).0.unwrap();
        assert_eq!(f.server.ranges().len(), 2);
        store.verify(&f.entry).unwrap();
    }
}

#[test]
fn a_new_store_resumes_the_part_file_a_cancelled_one_left() {
    let f = fixture();
    f.server.set(Behaviour {
        chunk_delay: Some(Duration::from_millis(5)),
        ..Behaviour::default()
    });
    let first = ModelStore::open(&f.store_dir).unwrap();
    let cancel = CancelToken::new();
    let half = at(&f, 0.5);
    let result = first.download(&f.entry, &options(), &cancel, &mut |p| {
        if p.done_bytes >= half {
            cancel.cancel();
        }
    });
    let Err(StoreError::Cancelled { done_bytes }) = result else {
        panic!("expected Cancelled, got {result:?}");
    };
    assert!(done_bytes >= half);
    assert_eq!(
        first.partial_bytes(&f.entry),
        done_bytes,
        "the part file is kept"
    );
    assert!(!first.path_of(&f.entry).exists());
    // As after an app restart: a new store object, nothing in memory.
    f.server.set(Behaviour::default());
    let second = ModelStore::open(&f.store_dir).unwrap();
    let (result, events) = download(&f, &second);
    assert_eq!(std::fs::read(result.unwrap()).unwrap(), f.bytes);
    assert_eq!(f.server.ranges().last(), Some(&Some(done_bytes)));
    assert_eq!(
        events[0].done_bytes, done_bytes,
        "progress starts from the part"
    );
}

#[test]
fn a_server_that_ignores_range_restarts_cleanly() {
    let f = fixture();
    let store = ModelStore::open(&f.store_dir).unwrap();
    f.server.set(Behaviour {
        drop_at: Some(at(&f, 0.5)),
        ignore_range: true,
        ..Behaviour::default()
    });
    let (result, _) = download(&f, &store);
    assert_eq!(std::fs::read(result.unwrap()).unwrap(), f.bytes);
    // It asked to resume, got the whole file, and started over.
    assert_eq!(f.server.ranges(), [None, Some(at(&f, 0.5))]);
}

#[test]
fn a_corrupted_byte_is_a_checksum_error_and_installs_nothing() {
    let f = fixture();
    let store = ModelStore::open(&f.store_dir).unwrap();
    f.server.set(Behaviour {
        corrupt_at: Some(at(&f, 0.7)),
        ..Behaviour::default()
    });
    let (result, _) = download(&f, &store);
    match result {
        Err(StoreError::ChecksumMismatch { expected, actual }) => {
            assert_eq!(expected, f.entry.sha256);
            assert_ne!(actual, expected);
        }
        other => panic!("expected ChecksumMismatch, got {other:?}"),
    }
    assert_eq!(
        files_in(&f.store_dir),
        Vec::<String>::new(),
        "no final, no part file"
    );
}

#[test]
fn error_statuses_stalls_and_cancels_have_their_typed_outcomes() {
    let f = fixture();
    let store = ModelStore::open(&f.store_dir).unwrap();
    f.server.set(Behaviour {
        status: Some(404),
        ..Behaviour::default()
    });
    let (result, _) = download(&f, &store);
    assert!(
        matches!(result, Err(StoreError::Http { status: 404, .. })),
        "{result:?}"
    );
    assert_eq!(f.server.ranges().len(), 1, "a 404 is not retried");

    f.server.set(Behaviour {
        status: Some(500),
        ..Behaviour::default()
    });
    let (result, _) = download(&f, &store);
    assert!(
        matches!(result, Err(StoreError::Http { status: 500, .. })),
        "{result:?}"
    );
    assert_eq!(f.server.ranges().len(), 1 + 4, "a 500 is retried 3 times");

    f.server.set(Behaviour {
        stall_at: Some(at(&f, 0.2)),
        ..Behaviour::default()
    });
    let started = Instant::now();
    let (result, _) = download(&f, &store);
    assert!(
        matches!(result, Err(StoreError::Stalled { after_ms: 500, .. })),
        "{result:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(30));
    assert_eq!(
        store.partial_bytes(&f.entry),
        at(&f, 0.2),
        "what arrived is kept"
    );

    // Cancelled from another thread while the server trickles.
    f.server.set(Behaviour {
        chunk_delay: Some(Duration::from_millis(20)),
        ..Behaviour::default()
    });
    let cancel = CancelToken::new();
    let canceller = {
        let cancel = cancel.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            cancel.cancel();
        })
    };
    let result = store.download(&f.entry, &options(), &cancel, &mut |_| {});
    canceller.join().unwrap();
    assert!(
        matches!(result, Err(StoreError::Cancelled { .. })),
        "{result:?}"
    );
    assert!(!store.path_of(&f.entry).exists());
}

#[test]
fn a_full_disk_is_insufficient_storage_before_any_byte() {
    let f = fixture();
    let size = f.bytes.len() as u64;
    let store = ModelStore::open(&f.store_dir).unwrap().with_quota(size - 1);
    let (result, events) = download(&f, &store);
    match result {
        Err(StoreError::InsufficientStorage { needed, available }) => {
            assert_eq!((needed, available), (size, size - 1));
        }
        other => panic!("expected InsufficientStorage, got {other:?}"),
    }
    assert!(events.is_empty());
    assert!(f.server.ranges().is_empty(), "no request was made");
    assert_eq!(files_in(&f.store_dir), Vec::<String>::new());
}

#[test]
fn the_final_path_never_holds_a_partial_file() {
    let f = fixture();
    let store = ModelStore::open(&f.store_dir).unwrap();
    f.server.set(Behaviour {
        drop_at: Some(at(&f, 0.4)),
        chunk_delay: Some(Duration::from_millis(1)),
        ..Behaviour::default()
    });
    let target = store.path_of(&f.entry);
    let done = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let watcher = {
        let (done, seen, target) = (Arc::clone(&done), Arc::clone(&seen), target.clone());
        std::thread::spawn(move || {
            let mut polls = 0u64;
            while !done.load(Ordering::Acquire) {
                if let Ok(meta) = std::fs::metadata(&target) {
                    seen.lock().unwrap().push(meta.len());
                }
                polls += 1;
            }
            polls
        })
    };
    let (result, _) = download(&f, &store);
    done.store(true, Ordering::Release);
    let polls = watcher.join().unwrap();
    result.unwrap();
    assert!(polls > 100, "the watcher looked {polls} times");
    let size = f.bytes.len() as u64;
    assert!(
        seen.lock().unwrap().iter().all(|&len| len == size),
        "the final path held a partial file"
    );
}

#[test]
fn import_verify_list_and_delete() {
    let f = fixture();
    let store = ModelStore::open(&f.store_dir).unwrap();
    let source = f._dir.path().join("bitnet-b1.58-i2_s-5.gguf");
    // With a catalog entry: checked against its SHA-256, copied under its name.
    let path = store.import(&source, Some(&f.entry), true).unwrap();
    assert_eq!(path, store.path_of(&f.entry));
    assert!(source.exists(), "copied, not moved");
    store.verify(&f.entry).unwrap();
    // Without one: any file the engine can plan, under its own name, moved.
    let other = f._dir.path().join("other.gguf");
    std::fs::copy(&source, &other).unwrap();
    store.import(&other, None, false).unwrap();
    assert!(!other.exists(), "moved");
    // Not a model.
    let junk = f._dir.path().join("junk.gguf");
    std::fs::write(&junk, b"not a model").unwrap();
    assert!(matches!(
        store.import(&junk, None, true),
        Err(StoreError::InvalidModel { .. })
    ));
    // A file that is not the entry's.
    let mut wrong = f.bytes.clone();
    wrong[100] ^= 1;
    std::fs::write(&junk, &wrong).unwrap();
    assert!(matches!(
        store.import(&junk, Some(&f.entry), true),
        Err(StoreError::ChecksumMismatch { .. })
    ));

    let catalog = Catalog::from_json(&catalog_json(
        f.server.url(),
        f.bytes.len(),
        &f.entry.sha256,
    ))
    .unwrap();
    let budget = EngineConfig {
        memory_budget_bytes: Some(1 << 20),
        ..EngineConfig::default()
    };
    let listed = store.list(&catalog, &EngineConfig::default()).unwrap();
    let names: Vec<_> = listed.iter().map(|m| m.file_name.as_str()).collect();
    assert_eq!(names, ["other.gguf", "tiny.gguf"]);
    let tiny = &listed[1];
    assert_eq!(tiny.catalog_id.as_deref(), Some("tiny"));
    assert_eq!(tiny.arch.as_deref(), Some("bitnet-b1.58"));
    assert_eq!(tiny.format.as_deref(), Some("I2_S"));
    assert!(tiny.fits && tiny.memory.is_some());
    assert!(
        !store.list(&catalog, &budget).unwrap()[1].fits,
        "1 MiB is too small"
    );

    // A changed installed file fails verification.
    std::fs::write(&path, &wrong).unwrap();
    assert!(matches!(
        store.verify(&f.entry),
        Err(StoreError::ChecksumMismatch { .. })
    ));
    store.delete("tiny.gguf").unwrap();
    store.delete("other.gguf").unwrap();
    assert!(matches!(
        store.delete("tiny.gguf"),
        Err(StoreError::NotInstalled { .. })
    ));
    assert!(matches!(
        store.delete("../escape.gguf"),
        Err(StoreError::InvalidName { .. })
    ));
    assert_eq!(files_in(&f.store_dir), Vec::<String>::new());
}

#[test]
fn cli_pull_shows_progress_and_resumes_after_ctrl_c() {
    let f = fixture();
    let catalog = f._dir.path().join("catalog.json");
    std::fs::write(
        &catalog,
        catalog_json(f.server.url(), f.bytes.len(), &f.entry.sha256),
    )
    .unwrap();
    let pull = || {
        let mut command = std::process::Command::new(bitnet_tests::bitnet_bin());
        command
            .args(["models", "pull", "tiny", "--dir"])
            .arg(&f.store_dir)
            .arg("--catalog")
            .arg(&catalog)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        command
    };
    f.server.set(Behaviour {
        chunk_delay: Some(Duration::from_millis(50)),
        ..Behaviour::default()
    });
    let child = pull().spawn().unwrap();
    let store = ModelStore::open(&f.store_dir).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while store.partial_bytes(&f.entry) < 64 << 10 {
        assert!(Instant::now() < deadline, "the download never started");
        std::thread::sleep(Duration::from_millis(10));
    }
    let interrupted = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(interrupted.success());
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("MiB ("), "progress lines: {stderr}");
    assert!(stderr.contains("resumes"), "{stderr}");
    let kept = store.partial_bytes(&f.entry);
    assert!(kept > 0 && !store.path_of(&f.entry).exists());

    f.server.set(Behaviour::default());
    let output = pull().output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("resuming tiny"), "{stderr}");
    assert_eq!(f.server.ranges().last(), Some(&Some(kept)));
    assert_eq!(std::fs::read(store.path_of(&f.entry)).unwrap(), f.bytes);
}
