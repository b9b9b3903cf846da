//! A model file changed on disk while an engine has it mapped: truncated mid-generation (what
//! would raise SIGBUS on the next read of a missing page), grown, or rewritten in place. The
//! process survives and the engine answers `Error::ModelFileChanged` from then on.
//!
//! The truncation runs in a child process (this test binary, re-run on one ignored test), so a
//! SIGBUS that kills it fails the parent's test instead of the whole test binary. Without the
//! engine's SIGBUS handling the child dies of signal 7.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

use bitnet_authoring::synth::Preset;
use bitnet_core::engine::{Input, SessionConfig};
use bitnet_core::gguf::FileChange;
use bitnet_core::Error;
use bitnet_tests::{generate, greedy, load, preset_model, tiny_model, user};

/// Where the child finds the model it truncates.
const CHILD_MODEL_ENV: &str = "BITNET_TRUNCATED_MODEL";
/// What the child prints when it ends as required.
const CHILD_OK: &str = "child: a read met the cut pages; ModelFileChanged, then refused again";

#[test]
fn truncated_mid_generation_is_a_typed_error_not_a_sigbus() {
    let dir = tempfile::tempdir().unwrap();
    let path = preset_model(dir.path(), Preset::Small, 1);
    let output = Command::new(std::env::current_exe().unwrap())
        .args([
            "child_truncates_the_model_mid_generation",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_MODEL_ENV, &path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(
            output.status.signal(),
            None,
            "the child was killed by a signal\n{stdout}\n{stderr}"
        );
    }
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains(CHILD_OK), "{stdout}\n{stderr}");
}

/// Run by the test above in a child process: generates on a copy of the model while another
/// thread truncates the file to nothing, and checks what the engine reports. A forward pass is
/// nearly all of a generation's time, so the cut lands inside one (a read meets the missing
/// pages) on the first attempt all but never; a cut between passes is caught by the check
/// before the next one, which is not the case under test, so it is tried again.
#[test]
#[ignore = "run in a child process by truncated_mid_generation_is_a_typed_error_not_a_sigbus"]
fn child_truncates_the_model_mid_generation() {
    let Some(source) = std::env::var_os(CHILD_MODEL_ENV).map(PathBuf::from) else {
        return;
    };
    for attempt in 0..5 {
        let path = source.with_extension(format!("{attempt}.gguf"));
        std::fs::copy(&source, &path).unwrap();
        let engine = load(&path);
        let mut session = engine.session(SessionConfig::default()).unwrap();
        let cutter = std::thread::spawn({
            let path = path.clone();
            move || {
                std::thread::sleep(Duration::from_millis(50));
                File::options()
                    .write(true)
                    .open(&path)
                    .unwrap()
                    .set_len(0)
                    .unwrap();
            }
        });
        let error = loop {
            match generate(
                &mut session,
                Input::Chat {
                    messages: vec![user("Hello")],
                },
                &greedy(32),
            ) {
                Ok(_) => session.reset(),
                Err(error) => break error,
            }
        };
        cutter.join().unwrap();
        let Error::ModelFileChanged { change, .. } = error else {
            panic!("expected ModelFileChanged, got {error:?}");
        };
        // The engine stays refused: its weights are gone.
        let again = generate(
            &mut session,
            Input::Chat {
                messages: vec![user("Hi")],
            },
            &greedy(4),
        );
        assert_changed(again.map(drop));
        println!("attempt {attempt}: {change}");
        if change == FileChange::Truncated {
            println!("{CHILD_OK}");
            return;
        }
    }
    panic!("no cut landed inside a forward pass in 5 attempts");
}

#[test]
fn a_file_grown_after_load_is_refused_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let path = tiny_model(dir.path());
    let engine = load(&path);
    let mut session = engine.session(SessionConfig::default()).unwrap();
    generate(
        &mut session,
        Input::Chat {
            messages: vec![user("Hello")],
        },
        &greedy(2),
    )
    .unwrap();
    OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap()
        .write_all(&[0; 4096])
        .unwrap();
    let result = generate(
        &mut session,
        Input::Chat {
            messages: vec![user("Hi")],
        },
        &greedy(2),
    );
    assert_changed(result.map(drop));
}

#[test]
fn a_file_rewritten_in_place_is_refused_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let path = tiny_model(dir.path());
    let engine = load(&path);
    let mut session = engine.session(SessionConfig::default()).unwrap();
    rewrite_in_place(&path);
    let result = generate(
        &mut session,
        Input::Chat {
            messages: vec![user("Hi")],
        },
        &greedy(2),
    );
    assert_changed(result.map(drop));
    // A fresh load of the new contents is a new engine, and works.
    let reloaded = load(&path);
    let mut session = reloaded.session(SessionConfig::default()).unwrap();
    generate(
        &mut session,
        Input::Chat {
            messages: vec![user("Hi")],
        },
        &greedy(2),
    )
    .unwrap();
}

#[test]
fn a_file_replaced_by_rename_leaves_the_loaded_engine_working() {
    // Replacing the path (write elsewhere, rename over it) is how a download should install a
    // model: the mapped file is untouched.
    let dir = tempfile::tempdir().unwrap();
    let path = tiny_model(dir.path());
    let engine = load(&path);
    let mut session = engine.session(SessionConfig::default()).unwrap();
    let staged = dir.path().join("staged.gguf");
    std::fs::copy(&path, &staged).unwrap();
    std::fs::rename(&staged, &path).unwrap();
    generate(
        &mut session,
        Input::Chat {
            messages: vec![user("Hi")],
        },
        &greedy(2),
    )
    .unwrap();
}

/// Writes the file's own bytes back over it and moves its modification time, as an app
/// re-downloading a model in place would.
fn rewrite_in_place(path: &Path) {
    let bytes = std::fs::read(path).unwrap();
    let mut file = File::options().write(true).open(path).unwrap();
    file.write_all(&bytes).unwrap();
    // Timestamps are coarse (a few ms on some file systems): make the change unmistakable.
    file.set_modified(SystemTime::now() + Duration::from_secs(60))
        .unwrap();
}

fn assert_changed(result: bitnet_core::Result<()>) {
    match result {
        Err(Error::ModelFileChanged { .. }) => {}
        other => panic!("expected ModelFileChanged, got {other:?}"),
    }
}
