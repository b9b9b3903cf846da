//! Routes the core's `log` records to the platform's log: logcat on Android, the unified
//! log on Apple platforms, stderr elsewhere. The app picks the level with [`set_log_level`].

use std::sync::Once;

/// How much the engine logs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, uniffi::Enum)]
pub enum LogLevel {
    /// Nothing.
    Off,
    /// Failures only.
    Error,
    /// Failures and suspicious conditions (the default).
    Warn,
    /// One line per model load and similar events.
    Info,
    /// Details for debugging the SDK.
    Debug,
    /// Everything.
    Trace,
}

impl From<LogLevel> for log::LevelFilter {
    fn from(level: LogLevel) -> Self {
        match level {
            LogLevel::Off => log::LevelFilter::Off,
            LogLevel::Error => log::LevelFilter::Error,
            LogLevel::Warn => log::LevelFilter::Warn,
            LogLevel::Info => log::LevelFilter::Info,
            LogLevel::Debug => log::LevelFilter::Debug,
            LogLevel::Trace => log::LevelFilter::Trace,
        }
    }
}

/// The tag (Android) or subsystem (Apple) the SDK logs under.
const TAG: &str = "dev.bitnet";

static INSTALL: Once = Once::new();

/// Installs the platform logger once, at `Warn` (the app may change the level any time). An
/// app that installed its own `log` logger first keeps it. Every entry point that can log
/// calls it: on Android `JNI_OnLoad` does too, but it runs only when the runtime loads the
/// library (`System.loadLibrary`), not when JNA's `dlopen` does.
pub(crate) fn init() {
    INSTALL.call_once(|| {
        if install().is_ok() {
            log::set_max_level(log::LevelFilter::Warn);
        }
    });
}

/// Sets the level of the engine's logging (installing the platform logger if needed).
#[uniffi::export]
pub fn set_log_level(level: LogLevel) {
    init();
    log::set_max_level(level.into());
}

#[cfg(target_os = "android")]
fn install() -> Result<(), log::SetLoggerError> {
    // `init_once` ignores a second logger, so `Ok` whatever happened before.
    android_logger::init_once(
        android_logger::Config::default()
            .with_tag(TAG)
            .with_max_level(log::LevelFilter::Trace),
    );
    Ok(())
}

#[cfg(target_vendor = "apple")]
fn install() -> Result<(), log::SetLoggerError> {
    oslog::OsLogger::new(TAG).init()
}

#[cfg(not(any(target_os = "android", target_vendor = "apple")))]
fn install() -> Result<(), log::SetLoggerError> {
    static STDERR: StderrLogger = StderrLogger;
    log::set_logger(&STDERR)
}

/// Desktop hosts (JVM tests, tools): one line per record on stderr. Filtering is done by
/// `log`'s max level, so every record that reaches it is printed.
#[cfg(not(any(target_os = "android", target_vendor = "apple")))]
struct StderrLogger;

#[cfg(not(any(target_os = "android", target_vendor = "apple")))]
impl log::Log for StderrLogger {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &log::Record<'_>) {
        eprintln!(
            "[{TAG} {} {}] {}",
            record.level(),
            record.target(),
            record.args()
        );
    }

    fn flush(&self) {}
}
