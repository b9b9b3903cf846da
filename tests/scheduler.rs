//! The engine's limit on concurrent generations on the tiny synthetic model: over the limit,
//! requests wait for a slot in arrival order, time out in the queue with a typed error when
//! their request timeout passes, and stop waiting when cancelled.
//!
//! Each running request holds its slot by blocking in its sink on its first streamed piece
//! until the test releases it, so every step happens at a known point; nothing depends on
//! timing except the timeout itself.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use bitnet_core::engine::{
    CancelToken, Engine, EngineConfig, Event, FinishReason, Generation, Input, SessionConfig,
};
use bitnet_core::runtime::Profile;
use bitnet_core::Error;
use bitnet_tests::{assert_invalid_option, greedy, tiny_model};

/// A raw-text prompt whose greedy continuation streams one piece per token.
const PROMPT: &str = "The answer is";

/// Longest any step may take before the test fails instead of hanging.
const STEP: Duration = Duration::from_secs(30);

fn engine(dir: &std::path::Path, limit: usize, timeout_ms: Option<u64>) -> Engine {
    let config = EngineConfig {
        threads: 1,
        max_concurrent_generations: Some(limit),
        request_timeout_ms: timeout_ms,
        ..EngineConfig::default()
    };
    Engine::load(tiny_model(dir), config).expect("loads")
}

/// Generations running at once, as the requests themselves see it: from their first piece
/// until they are released (they generate one token, so that is their end).
#[derive(Default)]
struct Meter {
    now: AtomicUsize,
    most: AtomicUsize,
}

/// Starts request `index` (one token) on its own session and thread: at its piece it reports
/// `index` on `started` and blocks until `release` gets a message.
fn start(
    engine: &Engine,
    index: usize,
    meter: &Arc<Meter>,
    started: &Sender<usize>,
    release: Receiver<()>,
) -> thread::JoinHandle<bitnet_core::Result<Generation>> {
    let mut session = engine.session(SessionConfig::default()).expect("session");
    let (meter, started) = (Arc::clone(meter), started.clone());
    thread::spawn(move || {
        let mut first = true;
        let mut sink = |event: Event<'_>| {
            if matches!(event, Event::Text(_)) && std::mem::take(&mut first) {
                let now = meter.now.fetch_add(1, Ordering::SeqCst) + 1;
                meter.most.fetch_max(now, Ordering::SeqCst);
                started.send(index).expect("the test listens");
                release.recv_timeout(STEP).expect("released");
                meter.now.fetch_sub(1, Ordering::SeqCst);
            }
        };
        session.generate(
            Input::Text {
                text: PROMPT.into(),
            },
            &greedy(1),
            None,
            &mut sink,
        )
    })
}

/// Waits until the engine counts `running` generations and `queued` waiting requests.
fn wait_for_depth(engine: &Engine, running: usize, queued: usize) {
    let deadline = Instant::now() + STEP;
    loop {
        let m = engine.metrics();
        if (m.generating, m.queued) == (running, queued) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "depth {:?}",
            (m.generating, m.queued)
        );
        thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn over_the_limit_requests_wait_and_start_in_arrival_order_never_more_than_the_limit_at_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = engine(dir.path(), 2, None);
    let meter = Arc::new(Meter::default());
    let (started_tx, started) = mpsc::channel();
    let mut releases = Vec::new();
    let mut threads = Vec::new();
    for index in 0..8 {
        let (release, wait) = mpsc::channel();
        releases.push(release);
        threads.push(start(&engine, index, &meter, &started_tx, wait));
        if index < 2 {
            // The first two get a slot at once and reach their first piece.
            assert_eq!(started.recv_timeout(STEP), Ok(index));
        } else {
            // The others queue, each behind the one before.
            wait_for_depth(&engine, 2, index - 1);
        }
    }
    assert_eq!(engine.metrics().queued, 6);
    // Each finished request lets exactly the oldest waiting one start.
    let mut order = vec![0, 1];
    for (index, release) in releases.iter().enumerate() {
        release.send(()).expect("running");
        if index + 2 < 8 {
            order.push(started.recv_timeout(STEP).expect("the next one starts"));
        }
    }
    for t in threads {
        let generation = t.join().expect("no panic").expect("generates");
        assert!(!generation.text.is_empty());
    }
    assert_eq!(order, (0..8).collect::<Vec<_>>());
    assert_eq!(meter.most.load(Ordering::SeqCst), 2);
    let m = engine.metrics();
    assert_eq!((m.generating, m.queued, m.requests, m.errors), (0, 0, 8, 0));
    assert!(m.queue_wait_p95_ms.expect("waits recorded") > 0.0);
    assert_eq!(m.queue_wait_p50_ms.map(|ms| ms >= 0.0), Some(true));
}

#[test]
fn a_request_times_out_in_the_queue_and_a_cancelled_one_stops_waiting() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = engine(dir.path(), 1, Some(200));
    let meter = Arc::new(Meter::default());
    let (started_tx, started) = mpsc::channel();
    let (release, wait) = mpsc::channel();
    // One token: after its release the holder returns without another timeout check.
    let holder = start(&engine, 0, &meter, &started_tx, wait);
    assert_eq!(started.recv_timeout(STEP), Ok(0));

    let mut session = engine.session(SessionConfig::default()).expect("session");
    let asked = Instant::now();
    let err = session
        .generate(
            Input::Text {
                text: PROMPT.into(),
            },
            &greedy(4),
            None,
            &mut |_: Event<'_>| {},
        )
        .unwrap_err();
    assert!(matches!(err, Error::Timeout { limit_ms: 200 }), "{err}");
    assert!(asked.elapsed() >= Duration::from_millis(200));
    assert!(
        session.history().is_empty(),
        "a timed-out request leaves no trace"
    );
    wait_for_depth(&engine, 1, 0);

    // Cancelled from another thread while it waits: it ends at once as cancelled, empty.
    let cancel = CancelToken::new();
    let canceller = {
        let (engine, cancel) = (engine.clone(), cancel.clone());
        thread::spawn(move || {
            wait_for_depth(&engine, 1, 1);
            cancel.cancel();
        })
    };
    let generation = session
        .generate(
            Input::Text {
                text: PROMPT.into(),
            },
            &greedy(4),
            Some(&cancel),
            &mut |_: Event<'_>| {},
        )
        .expect("a cancelled request is not an error");
    canceller.join().expect("no panic");
    assert_eq!(generation.finish_reason, FinishReason::Cancelled);
    assert!(generation.text.is_empty() && generation.tokens.is_empty());
    wait_for_depth(&engine, 1, 0);

    release.send(()).expect("running");
    let held = holder.join().expect("no panic").expect("generates");
    assert_eq!(held.finish_reason, FinishReason::MaxTokens);
    assert_eq!(engine.metrics().errors, 1);
}

#[test]
fn profiles_set_the_limit_and_zero_is_an_invalid_option() {
    let limits: Vec<_> = Profile::ALL
        .iter()
        .map(|&p| EngineConfig::from_profile(p).max_concurrent_generations)
        .collect();
    assert_eq!(limits, [Some(1), Some(2), Some(5), Some(10)]);
    assert_eq!(EngineConfig::default().max_concurrent_generations, None);
    let config = EngineConfig {
        max_concurrent_generations: Some(0),
        ..EngineConfig::default()
    };
    assert_invalid_option(config, "max_concurrent_generations");
}
