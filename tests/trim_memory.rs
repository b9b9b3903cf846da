//! `Engine::trim` returns freed memory to the OS: after sessions on the small preset come and
//! go, glibc keeps their freed buffers in its heap until trimmed. (Its own test binary, so the
//! process's resident memory is this test's alone.)

use bitnet_authoring::synth::Preset;
use bitnet_core::engine::{Input, SessionConfig};
use bitnet_core::runtime::memory::resident_bytes;
use bitnet_tests::{generate, greedy, load, preset_model, user};

#[test]
fn trim_returns_what_dropped_sessions_left_in_the_heap() {
    let dir = tempfile::tempdir().unwrap();
    let path = preset_model(dir.path(), Preset::Small, 1);
    let engine = load(&path);
    // Sessions of decreasing size: each frees buffers the next one only partly reuses.
    for context in [2048, 1536, 1024, 512] {
        let mut session = engine
            .session(SessionConfig {
                context_length: context,
                ..SessionConfig::default()
            })
            .unwrap();
        generate(
            &mut session,
            Input::Chat {
                messages: vec![user("Hello there")],
            },
            &greedy(2),
        )
        .unwrap();
    }
    let before = resident_bytes().expect("resident memory is readable here");
    let trimmed = engine.trim();
    let after = resident_bytes().unwrap();
    eprintln!(
        "resident {} MiB before trim, {} MiB after; reported {} MiB released",
        before >> 20,
        after >> 20,
        trimmed.released_bytes >> 20
    );
    assert_eq!(trimmed.sessions, 0, "every session was dropped");
    assert!(after <= before, "{after} > {before}");
    if cfg!(all(target_os = "linux", target_env = "gnu")) {
        assert!(trimmed.released_bytes > 0, "glibc kept the freed buffers");
    }
}
