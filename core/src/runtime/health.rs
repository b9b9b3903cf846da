//! Health: an engine's metrics checked against alert thresholds.

use super::metrics::Metrics;

/// Alert thresholds; `Default` gives the product page's: memory > 1024 MiB, CPU > 80 %,
/// decode < 5 tokens/s, error rate > 5 %, latency > 5000 ms.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct HealthThresholds {
    /// Alert when resident memory exceeds this, in bytes.
    #[cfg_attr(feature = "uniffi", uniffi(default = 1073741824))]
    pub max_resident_bytes: u64,
    /// Alert when CPU use exceeds this, in percent of the CPUs the process may use.
    #[cfg_attr(feature = "uniffi", uniffi(default = 80))]
    pub max_cpu_percent: u32,
    /// Alert when the recent mean decode speed is below this, in tokens/s.
    #[cfg_attr(feature = "uniffi", uniffi(default = 5))]
    pub min_decode_tokens_per_s: u32,
    /// Alert when errors exceed this share of requests, in percent.
    #[cfg_attr(feature = "uniffi", uniffi(default = 5))]
    pub max_error_rate_percent: u32,
    /// Alert when the recent p95 latency exceeds this, in ms.
    #[cfg_attr(feature = "uniffi", uniffi(default = 5000))]
    pub max_latency_ms: u64,
}

impl Default for HealthThresholds {
    fn default() -> Self {
        HealthThresholds {
            max_resident_bytes: 1024 << 20,
            max_cpu_percent: 80,
            min_decode_tokens_per_s: 5,
            max_error_rate_percent: 5,
            max_latency_ms: 5000,
        }
    }
}

/// One threshold crossed.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
#[cfg_attr(feature = "uniffi", uniffi(name = "HealthAlert"))]
pub enum Alert {
    /// Resident memory above the limit.
    Memory {
        /// Resident memory, in bytes.
        resident_bytes: u64,
        /// The limit, in bytes.
        limit_bytes: u64,
    },
    /// CPU use above the limit.
    Cpu {
        /// CPU use, in percent.
        percent: f64,
        /// The limit, in percent.
        limit_percent: u32,
    },
    /// Decoding slower than the minimum.
    SlowDecode {
        /// Recent mean decode speed, in tokens/s.
        tokens_per_s: f64,
        /// The minimum, in tokens/s.
        min_tokens_per_s: u32,
    },
    /// Too many requests fail.
    ErrorRate {
        /// Errors per request, in percent.
        percent: f64,
        /// The limit, in percent.
        limit_percent: u32,
    },
    /// Requests take too long.
    Latency {
        /// Recent p95 latency, in ms.
        p95_ms: f64,
        /// The limit, in ms.
        limit_ms: u64,
    },
}

/// The metrics and the alerts they raise ([`Engine::health`](crate::engine::Engine::health)).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
#[cfg_attr(feature = "uniffi", uniffi(name = "EngineHealth"))]
pub struct Health {
    /// Every threshold crossed, in the order of [`Alert`]'s variants.
    pub alerts: Vec<Alert>,
    /// The figures checked.
    pub metrics: Metrics,
}

impl Health {
    /// Checks `metrics` against `t`; a figure that is unknown (no requests yet, no reader on
    /// this platform) raises nothing.
    pub fn check(metrics: Metrics, t: &HealthThresholds) -> Health {
        let m = &metrics;
        let mut alerts = Vec::new();
        if let Some(bytes) = m.resident_bytes.filter(|&b| b > t.max_resident_bytes) {
            alerts.push(Alert::Memory {
                resident_bytes: bytes,
                limit_bytes: t.max_resident_bytes,
            });
        }
        if let Some(percent) = m.cpu_percent.filter(|&c| c > f64::from(t.max_cpu_percent)) {
            alerts.push(Alert::Cpu {
                percent,
                limit_percent: t.max_cpu_percent,
            });
        }
        let min_speed = f64::from(t.min_decode_tokens_per_s);
        if let Some(speed) = m.decode_tokens_per_s.filter(|&s| s < min_speed) {
            alerts.push(Alert::SlowDecode {
                tokens_per_s: speed,
                min_tokens_per_s: t.min_decode_tokens_per_s,
            });
        }
        let rate = m.error_rate_percent;
        if rate > f64::from(t.max_error_rate_percent) {
            alerts.push(Alert::ErrorRate {
                percent: rate,
                limit_percent: t.max_error_rate_percent,
            });
        }
        if let Some(p95) = m.latency_p95_ms.filter(|&l| l > t.max_latency_ms as f64) {
            alerts.push(Alert::Latency {
                p95_ms: p95,
                limit_ms: t.max_latency_ms,
            });
        }
        Health { alerts, metrics }
    }

    /// No alert.
    pub fn is_healthy(&self) -> bool {
        self.alerts.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_threshold_raises_its_alert_and_unknowns_raise_none() {
        let t = HealthThresholds::default();
        assert!(Health::check(Metrics::default(), &t).is_healthy());
        let bad = Metrics {
            requests: 20,
            errors: 2,
            error_rate_percent: 10.0,
            latency_p95_ms: Some(6000.0),
            decode_tokens_per_s: Some(4.0),
            resident_bytes: Some(2 << 30),
            cpu_percent: Some(95.0),
            ..Metrics::default()
        };
        let alerts = Health::check(bad, &t).alerts;
        assert_eq!(
            alerts,
            vec![
                Alert::Memory {
                    resident_bytes: 2 << 30,
                    limit_bytes: 1 << 30
                },
                Alert::Cpu {
                    percent: 95.0,
                    limit_percent: 80
                },
                Alert::SlowDecode {
                    tokens_per_s: 4.0,
                    min_tokens_per_s: 5
                },
                Alert::ErrorRate {
                    percent: 10.0,
                    limit_percent: 5
                },
                Alert::Latency {
                    p95_ms: 6000.0,
                    limit_ms: 5000
                },
            ]
        );
        let fine = Metrics {
            requests: 20,
            errors: 1,
            error_rate_percent: 5.0,
            latency_p95_ms: Some(5000.0),
            decode_tokens_per_s: Some(5.0),
            resident_bytes: Some(1 << 30),
            cpu_percent: Some(80.0),
            ..Metrics::default()
        };
        assert!(Health::check(fine, &t).is_healthy());
    }
}
