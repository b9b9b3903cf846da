//! The Linux host source: the hottest `/sys/class/thermal/thermal_zone*/temp` against
//! temperature thresholds. Lets the CLI's governor work on a Linux machine; phones use the
//! platform's own signal through [`ThermalMonitor`](super::ThermalMonitor).

use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::{ThermalReading, ThermalSource, ThermalState};

/// Where Linux publishes its thermal zones.
pub const SYSFS_THERMAL: &str = "/sys/class/thermal";

/// How long a reading is reused before the zones are read again (some drivers query the
/// sensor on every read).
const REFRESH: Duration = Duration::from_millis(500);

/// Zone temperatures at which each state starts, in millidegrees Celsius (sysfs's unit).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HostThresholds {
    /// Fair from this temperature (default 70 °C).
    pub fair_mc: i64,
    /// Serious from this temperature (default 85 °C).
    pub serious_mc: i64,
    /// Critical from this temperature (default 95 °C).
    pub critical_mc: i64,
}

impl Default for HostThresholds {
    fn default() -> Self {
        HostThresholds {
            fair_mc: 70_000,
            serious_mc: 85_000,
            critical_mc: 95_000,
        }
    }
}

impl HostThresholds {
    /// The state of a zone at `millidegrees`.
    pub fn state(&self, millidegrees: i64) -> ThermalState {
        match millidegrees {
            t if t >= self.critical_mc => ThermalState::Critical,
            t if t >= self.serious_mc => ThermalState::Serious,
            t if t >= self.fair_mc => ThermalState::Fair,
            _ => ThermalState::Nominal,
        }
    }
}

/// The hottest thermal zone of a Linux host, read at most every 500 ms.
#[derive(Debug)]
pub struct HostThermal {
    /// `<root>/thermal_zone*/temp` files.
    zones: Vec<PathBuf>,
    thresholds: HostThresholds,
    last: Mutex<Option<(Instant, ThermalReading)>>,
}

impl HostThermal {
    /// The zones under `root` (normally [`SYSFS_THERMAL`]; tests pass a fake tree).
    /// Fails with `NotFound` when no zone has a readable temperature, `InvalidInput` when the
    /// thresholds do not increase.
    pub fn new(root: &Path, thresholds: HostThresholds) -> std::io::Result<HostThermal> {
        if !(thresholds.fair_mc < thresholds.serious_mc
            && thresholds.serious_mc < thresholds.critical_mc)
        {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "thermal thresholds must increase: fair < serious < critical",
            ));
        }
        let mut zones: Vec<PathBuf> = std::fs::read_dir(root)?
            .filter_map(|entry| entry.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with("thermal_zone"))
            .map(|e| e.path().join("temp"))
            .filter(|temp| read_millidegrees(temp).is_some())
            .collect();
        zones.sort();
        if zones.is_empty() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("no readable thermal_zone*/temp under {}", root.display()),
            ));
        }
        Ok(HostThermal {
            zones,
            thresholds,
            last: Mutex::new(None),
        })
    }

    /// The hottest readable zone now, in millidegrees Celsius.
    pub fn hottest_millidegrees(&self) -> Option<i64> {
        self.zones.iter().filter_map(|z| read_millidegrees(z)).max()
    }
}

impl ThermalSource for HostThermal {
    fn reading(&self) -> ThermalReading {
        let mut last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
        match *last {
            Some((at, reading)) if at.elapsed() < REFRESH => reading,
            _ => {
                let state = self
                    .hottest_millidegrees()
                    .map_or(ThermalState::Nominal, |t| self.thresholds.state(t));
                let reading = ThermalReading::of(state);
                *last = Some((Instant::now(), reading));
                reading
            }
        }
    }
}

/// A zone's `temp` file: an integer in millidegrees; `None` when unreadable or negative (a
/// sensor that is off).
fn read_millidegrees(path: &Path) -> Option<i64> {
    let t: i64 = std::fs::read_to_string(path).ok()?.trim().parse().ok()?;
    (t >= 0).then_some(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zone(root: &Path, name: &str, temp: &str) {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::write(dir.join("temp"), temp).expect("write");
    }

    #[test]
    fn the_hottest_zone_sets_the_state() {
        let root = tempfile::tempdir().expect("tempdir");
        zone(root.path(), "thermal_zone0", "45000\n");
        zone(root.path(), "thermal_zone1", "87500\n");
        zone(root.path(), "thermal_zone2", "garbage\n");
        zone(root.path(), "cooling_device0", "99000\n");
        let host = HostThermal::new(root.path(), HostThresholds::default()).expect("zones");
        assert_eq!(host.zones.len(), 2);
        assert_eq!(host.hottest_millidegrees(), Some(87_500));
        assert_eq!(host.reading().state, ThermalState::Serious);
    }

    #[test]
    fn thresholds_map_temperatures() {
        let t = HostThresholds::default();
        assert_eq!(t.state(20_000), ThermalState::Nominal);
        assert_eq!(t.state(70_000), ThermalState::Fair);
        assert_eq!(t.state(85_000), ThermalState::Serious);
        assert_eq!(t.state(120_000), ThermalState::Critical);
    }

    #[test]
    fn no_zones_or_bad_thresholds_are_errors() {
        let root = tempfile::tempdir().expect("tempdir");
        let err = HostThermal::new(root.path(), HostThresholds::default()).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
        zone(root.path(), "thermal_zone0", "45000");
        let flat = HostThresholds {
            fair_mc: 50_000,
            serious_mc: 50_000,
            critical_mc: 60_000,
        };
        let err = HostThermal::new(root.path(), flat).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
        let missing = root.path().join("missing");
        assert!(HostThermal::new(&missing, HostThresholds::default()).is_err());
    }
}
