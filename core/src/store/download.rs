//! Resumable, verified downloads: stream to `<file>.<sha256 prefix>.part`, resume it with
//! `Range` after a dropped connection or a restart, hash while streaming, and rename it to
//! the final name only when the SHA-256 matches. The final path never holds a partial file.

use std::fs::File;
use std::io::{Read, Write};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use super::{CatalogEntry, StoreError};
use crate::engine::CancelToken;

/// How a download behaves; the defaults suit a phone on a mobile network.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct DownloadOptions {
    /// Least time between two progress reports, in ms (the last report is always sent).
    pub progress_interval_ms: u64,
    /// Attempts after the first when a connection fails, drops, stalls or gets a 5xx status.
    pub retries: u32,
    /// Wait before the first retry, in ms; doubled for each next one.
    pub first_backoff_ms: u64,
    /// Longest wait between retries, in ms.
    pub max_backoff_ms: u64,
    /// A connection that delivers no byte for this long is dropped (and retried), in ms. A
    /// cancel takes effect at the next byte or at this timeout, whichever comes first.
    pub stall_timeout_ms: u64,
    /// Longest wait for a connection and the response headers, in ms.
    pub connect_timeout_ms: u64,
}

impl Default for DownloadOptions {
    fn default() -> Self {
        DownloadOptions {
            progress_interval_ms: 250,
            retries: 5,
            first_backoff_ms: 500,
            max_backoff_ms: 30_000,
            stall_timeout_ms: 30_000,
            connect_timeout_ms: 30_000,
        }
    }
}

impl DownloadOptions {
    /// Sets [`progress_interval_ms`](Self::progress_interval_ms).
    pub fn progress_interval_ms(mut self, ms: u64) -> Self {
        self.progress_interval_ms = ms;
        self
    }

    /// Sets [`retries`](Self::retries).
    pub fn retries(mut self, n: u32) -> Self {
        self.retries = n;
        self
    }

    /// Sets both backoffs, [`first_backoff_ms`](Self::first_backoff_ms) and
    /// [`max_backoff_ms`](Self::max_backoff_ms).
    pub fn backoff_ms(mut self, first: u64, max: u64) -> Self {
        self.first_backoff_ms = first;
        self.max_backoff_ms = max;
        self
    }

    /// Sets [`stall_timeout_ms`](Self::stall_timeout_ms) and
    /// [`connect_timeout_ms`](Self::connect_timeout_ms).
    pub fn timeouts_ms(mut self, stall: u64, connect: u64) -> Self {
        self.stall_timeout_ms = stall;
        self.connect_timeout_ms = connect;
        self
    }
}

/// Where a download stands.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct DownloadProgress {
    /// Bytes on disk (a resumed download starts with what it had), in bytes.
    pub done_bytes: u64,
    /// The file's size, in bytes.
    pub total_bytes: u64,
    /// Speed since this download started (resumed bytes excluded), in bytes/s.
    pub bytes_per_s: f64,
    /// Time left at that speed, in ms; `None` before any byte arrived.
    pub eta_ms: Option<u64>,
}

/// Why one request ended early: give up, or try again from what is on disk.
enum Attempt {
    Fatal(StoreError),
    Retry(StoreError),
}

/// One download of `entry` into `part`, then verified; the caller renames it.
pub(super) struct Download<'a> {
    pub entry: &'a CatalogEntry,
    pub part: &'a std::path::Path,
    pub options: &'a DownloadOptions,
    pub cancel: &'a CancelToken,
    pub progress: &'a mut dyn FnMut(&DownloadProgress),
}

/// The part file being written, its hash so far and the progress clock.
struct Sink<'a> {
    file: File,
    hasher: Sha256,
    done: u64,
    started: Instant,
    start_bytes: u64,
    last_report: Option<Instant>,
    interval: Duration,
    total: u64,
    progress: &'a mut dyn FnMut(&DownloadProgress),
}

impl Sink<'_> {
    fn report(&mut self, force: bool) {
        let now = Instant::now();
        if !force && self.last_report.is_some_and(|t| now - t < self.interval) {
            return;
        }
        self.last_report = Some(now);
        let secs = (now - self.started).as_secs_f64();
        let new = self.done - self.start_bytes;
        let bytes_per_s = if secs > 0.0 { new as f64 / secs } else { 0.0 };
        let eta_ms = (bytes_per_s > 0.0)
            .then(|| ((self.total - self.done) as f64 / bytes_per_s * 1000.0) as u64);
        (self.progress)(&DownloadProgress {
            done_bytes: self.done,
            total_bytes: self.total,
            bytes_per_s,
            eta_ms,
        });
    }

    /// Drops what is on disk: the server sent the whole file again.
    fn restart(&mut self, path: &std::path::Path) -> Result<(), StoreError> {
        self.file.set_len(0).map_err(StoreError::io(path))?;
        self.hasher = Sha256::new();
        self.done = 0;
        self.start_bytes = 0;
        Ok(())
    }
}

impl Download<'_> {
    /// Downloads what the part file lacks and checks the SHA-256; the part file then holds
    /// the verified model.
    pub(super) fn run(self) -> Result<(), StoreError> {
        let Download {
            entry,
            part,
            options,
            cancel,
            progress,
        } = self;
        let first = entry.urls.first().ok_or_else(|| StoreError::NoUrl {
            id: entry.id.clone(),
        })?;
        let (file, hasher, done) = open_part(part)?;
        let mut sink = Sink {
            file,
            hasher,
            done,
            started: Instant::now(),
            start_bytes: done,
            last_report: None,
            interval: Duration::from_millis(options.progress_interval_ms),
            total: entry.size_bytes,
            progress,
        };
        sink.report(true);
        let agent = agent(options);
        let mut url = first;
        let mut failures = 0u32;
        while sink.done < entry.size_bytes {
            if cancel.is_cancelled() {
                return Err(StoreError::Cancelled {
                    done_bytes: sink.done,
                });
            }
            match fetch(&agent, url, part, &mut sink, options, cancel) {
                Ok(()) => {}
                Err(Attempt::Fatal(e)) => return Err(e),
                Err(Attempt::Retry(e)) => {
                    failures += 1;
                    if failures > options.retries {
                        return Err(e);
                    }
                    log::warn!("download of {} failed ({e}); retry {failures}", entry.id);
                    url = &entry.urls[failures as usize % entry.urls.len()];
                    let backoff = options
                        .first_backoff_ms
                        .saturating_mul(1 << (failures - 1).min(20))
                        .min(options.max_backoff_ms);
                    sleep_unless_cancelled(backoff, cancel);
                }
            }
        }
        sink.report(true);
        let actual = hex(&sink.hasher.finalize());
        if actual != entry.sha256 {
            drop(sink.file);
            let _ = std::fs::remove_file(part);
            return Err(StoreError::ChecksumMismatch {
                expected: entry.sha256.clone(),
                actual,
            });
        }
        sink.file.sync_all().map_err(StoreError::io(part))
    }
}

/// Opens (or creates) the part file for appending, with the hash of what it holds.
fn open_part(part: &std::path::Path) -> Result<(File, Sha256, u64), StoreError> {
    let mut file = File::options()
        .create(true)
        .read(true)
        .append(true)
        .open(part)
        .map_err(StoreError::io(part))?;
    let mut hasher = Sha256::new();
    let done = hash_into(&mut file, &mut hasher).map_err(StoreError::io(part))?;
    Ok((file, hasher, done))
}

/// Feeds everything `reader` holds to `hasher`; the byte count.
pub(super) fn hash_into(reader: &mut impl Read, hasher: &mut Sha256) -> std::io::Result<u64> {
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0;
    loop {
        match reader.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => {
                hasher.update(&buf[..n]);
                total += n as u64;
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

fn agent(options: &DownloadOptions) -> ureq::Agent {
    let connect = Some(Duration::from_millis(options.connect_timeout_ms));
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_connect(connect)
        .timeout_recv_response(connect)
        .timeout_per_read(Some(Duration::from_millis(options.stall_timeout_ms)))
        .build()
        .into()
}

/// One request for the bytes the part file lacks, streamed into it.
fn fetch(
    agent: &ureq::Agent,
    url: &str,
    part: &std::path::Path,
    sink: &mut Sink<'_>,
    options: &DownloadOptions,
    cancel: &CancelToken,
) -> Result<(), Attempt> {
    let failed = |e: &(dyn std::error::Error + 'static)| {
        let timed_out = matches!(
            e.downcast_ref::<ureq::Error>(),
            Some(ureq::Error::Timeout(_))
        ) || e.downcast_ref::<std::io::Error>().is_some_and(|io| {
            io.kind() == std::io::ErrorKind::TimedOut
                || io
                    .get_ref()
                    .and_then(|inner| inner.downcast_ref::<ureq::Error>())
                    .is_some_and(|u| matches!(u, ureq::Error::Timeout(_)))
        });
        Attempt::Retry(if timed_out {
            StoreError::Stalled {
                after_ms: options.stall_timeout_ms,
                url: url.to_owned(),
            }
        } else {
            StoreError::Network {
                detail: e.to_string(),
                url: url.to_owned(),
            }
        })
    };
    let mut request = agent.get(url);
    if sink.done > 0 {
        request = request.header("Range", format!("bytes={}-", sink.done));
    }
    let response = request.call().map_err(|e| failed(&e))?;
    let status = response.status().as_u16();
    let http = |status| StoreError::Http {
        status,
        url: url.to_owned(),
    };
    match status {
        206 if content_range_start(&response) == Some(sink.done) => {}
        // The whole file (the server ignores Range, or this is the first request).
        200 => {
            if sink.done > 0 {
                log::info!("{url} ignored the Range request: starting over");
                sink.restart(part).map_err(Attempt::Fatal)?;
            }
        }
        // A range that does not start where asked: start over.
        206 => {
            sink.restart(part).map_err(Attempt::Fatal)?;
            return Err(Attempt::Retry(http(status)));
        }
        416 => {
            // Nothing past what is on disk: a stale part of another size. Start over.
            sink.restart(part).map_err(Attempt::Fatal)?;
            return Err(Attempt::Retry(http(status)));
        }
        500..=599 | 408 | 429 => return Err(Attempt::Retry(http(status))),
        _ => return Err(Attempt::Fatal(http(status))),
    }
    let mut body = response.into_body().into_reader();
    let mut buf = vec![0u8; 64 << 10];
    loop {
        if cancel.is_cancelled() {
            return Err(Attempt::Fatal(StoreError::Cancelled {
                done_bytes: sink.done,
            }));
        }
        let n = match body.read(&mut buf) {
            Ok(0) if sink.done < sink.total => {
                return Err(Attempt::Retry(StoreError::Network {
                    detail: format!("connection closed at byte {}", sink.done),
                    url: url.to_owned(),
                }))
            }
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) => return Err(failed(&e)),
        };
        if sink.done + n as u64 > sink.total {
            let _ = sink.file.set_len(0);
            return Err(Attempt::Fatal(StoreError::SizeMismatch {
                expected: sink.total,
            }));
        }
        sink.file
            .write_all(&buf[..n])
            .map_err(|e| Attempt::Fatal(StoreError::io(part)(e)))?;
        sink.hasher.update(&buf[..n]);
        sink.done += n as u64;
        sink.report(false);
    }
}

/// The first byte position of a `Content-Range: bytes START-END/TOTAL` header.
fn content_range_start(response: &ureq::http::Response<ureq::Body>) -> Option<u64> {
    let value = response.headers().get("content-range")?.to_str().ok()?;
    let range = value.strip_prefix("bytes ")?;
    range.split('-').next()?.trim().parse().ok()
}

/// Waits `ms`, waking early when `cancel` is cancelled.
fn sleep_unless_cancelled(ms: u64, cancel: &CancelToken) {
    let until = Instant::now() + Duration::from_millis(ms);
    while !cancel.is_cancelled() {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        std::thread::sleep(left.min(Duration::from_millis(20)));
    }
}

/// Lowercase hex of `bytes`.
pub(super) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
