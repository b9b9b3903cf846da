//! Deployment profiles: the product page's named presets of thread limit and memory budget,
//! with the generations each lets run at once, how many may wait, and whether concurrent
//! decodes share passes over the weights.
//!
//! Mobile and edge put one user's latency first: few generations at once, unbounded waiting
//! (an app's own requests, bounded by their timeout), each decode on its own. Server and cloud
//! put throughput over many sessions first: more generations at once, a bounded wait queue
//! (a request that would wait behind 4 × the running ones is refused with `Busy`, so a client
//! can retry elsewhere instead of timing out), and continuous batching of decodes.
//!
//! Budgets are in MiB (1 MiB = 1024 × 1024 bytes): "512 MB" on the product page is read as
//! 512 MiB, the unit phone OSes report app memory limits in.

use std::fmt;
use std::str::FromStr;

use crate::model::{HeadPrecision, KvPrecision};

/// A named preset of thread limit, memory budget and concurrent generations, smallest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum Profile {
    /// 2 threads, 512 MiB (mapped weights not counted), 1 generation at a time, a Q4_K output
    /// head and a Q8_0 KV cache: a phone app in the foreground.
    Mobile,
    /// 4 threads, 1024 MiB, 2 generations at once: a tablet, a single-board computer, a kiosk.
    Edge,
    /// 8 threads, 2048 MiB, 5 generations at once: a shared server process.
    Server,
    /// 16 threads, 4096 MiB, 10 generations at once: a dedicated cloud instance.
    Cloud,
}

impl Profile {
    /// Every profile, smallest budget first.
    pub const ALL: [Profile; 4] = [
        Profile::Mobile,
        Profile::Edge,
        Profile::Server,
        Profile::Cloud,
    ];

    /// The profile's name as written on the command line (`"mobile"`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Profile::Mobile => "mobile",
            Profile::Edge => "edge",
            Profile::Server => "server",
            Profile::Cloud => "cloud",
        }
    }

    /// Worker threads of the profile.
    pub fn threads(self) -> usize {
        match self {
            Profile::Mobile => 2,
            Profile::Edge => 4,
            Profile::Server => 8,
            Profile::Cloud => 16,
        }
    }

    /// Generations the profile lets run at once (the others wait in arrival order): 1 on a
    /// phone, where two at once only halve each one's speed, up to 10 on a cloud instance.
    pub fn max_concurrent_generations(self) -> usize {
        match self {
            Profile::Mobile => 1,
            Profile::Edge => 2,
            Profile::Server => 5,
            Profile::Cloud => 10,
        }
    }

    /// The output head precision of the profile: on a phone, where decode reads the weights at
    /// the memory's speed, [`HeadPrecision::Q4K`] — 2B4T reads 706 MB per token instead of
    /// 1178 MB with its F16 head. Its best candidates re-scored from the F16 rows, it keeps the
    /// F16 head's top-1 token and greedy text on every measured position and the demo model's
    /// task accuracy, at a mean total variation of 1.6 % between the sampled distributions
    /// (docs/PERFORMANCE.md). The others keep the head as the file stores it (`None`).
    pub fn head_precision(self) -> Option<HeadPrecision> {
        match self {
            Profile::Mobile => Some(HeadPrecision::Q4K),
            Profile::Edge | Profile::Server | Profile::Cloud => None,
        }
    }

    /// The KV cache precision of the profile: on a phone, [`KvPrecision::Q8_0`] — half the
    /// F16 cache's bytes (2B4T: 40 800 instead of 76 800 bytes per token of context, so twice
    /// the context in the budget), read faster in a long context's decode (1.18–1.37× at 4096
    /// tokens on x86_64, docs/PERFORMANCE.md), at a logit error the size of the F16 cache's own against F32. The
    /// others keep the model's default (`None`: F16 for ternary models).
    pub fn kv_precision(self) -> Option<KvPrecision> {
        match self {
            Profile::Mobile => Some(KvPrecision::Q8_0),
            Profile::Edge | Profile::Server | Profile::Cloud => None,
        }
    }

    /// Requests that may wait for a generation slot before more are refused with
    /// [`Error::Busy`](crate::Error::Busy): no bound on mobile and edge, 4 × the concurrent
    /// generations on server (20) and cloud (40).
    pub fn max_queued_generations(self) -> Option<usize> {
        match self {
            Profile::Mobile | Profile::Edge => None,
            Profile::Server | Profile::Cloud => Some(4 * self.max_concurrent_generations()),
        }
    }

    /// Whether sessions decoding at the same moment share one pass over the weights
    /// (continuous batching): on server and cloud, whose priority is throughput; off on mobile
    /// and edge, whose priority is one generation's latency.
    pub fn batches_decodes(self) -> bool {
        matches!(self, Profile::Server | Profile::Cloud)
    }

    /// Whether the mapped (file-backed) weights count against the profile's budget: not on
    /// a phone, where the limit the OS enforces leaves clean file pages out (iOS's jetsam
    /// limits `phys_footprint`, which does not include them; Android reclaims them under
    /// memory pressure before its low-memory killer acts), so the budget is for the memory
    /// the app holds (KV caches, buffers, tokenizer, a re-quantised head). The other
    /// profiles count them, as a server's memory limit (a cgroup's) counts page cache.
    pub fn counts_mapped_weights(self) -> bool {
        self != Profile::Mobile
    }

    /// Memory budget of the profile, in bytes.
    pub fn memory_budget_bytes(self) -> u64 {
        let mib = match self {
            Profile::Mobile => 512,
            Profile::Edge => 1024,
            Profile::Server => 2048,
            Profile::Cloud => 4096,
        };
        mib << 20
    }

    /// The smallest profile whose budget holds `bytes`, if any.
    pub fn smallest_holding(bytes: u64) -> Option<Profile> {
        Profile::ALL
            .into_iter()
            .find(|p| p.memory_budget_bytes() >= bytes)
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A name that is not a profile's.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown profile {0:?} (expected mobile, edge, server or cloud)")]
pub struct UnknownProfile(pub String);

impl FromStr for Profile {
    type Err = UnknownProfile;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Profile::ALL
            .into_iter()
            .find(|p| p.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownProfile(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_match_the_product_page() {
        let table: Vec<_> = Profile::ALL
            .iter()
            .map(|p| (p.name(), p.threads(), p.memory_budget_bytes() >> 20))
            .collect();
        assert_eq!(
            table,
            [
                ("mobile", 2, 512),
                ("edge", 4, 1024),
                ("server", 8, 2048),
                ("cloud", 16, 4096)
            ]
        );
    }

    #[test]
    fn throughput_profiles_batch_decodes_and_bound_their_queue() {
        let table: Vec<_> = Profile::ALL
            .iter()
            .map(|p| (p.batches_decodes(), p.max_queued_generations()))
            .collect();
        assert_eq!(
            table,
            [
                (false, None),
                (false, None),
                (true, Some(20)),
                (true, Some(40))
            ]
        );
    }

    #[test]
    fn phones_quantise_the_head_and_the_kv_cache() {
        let table: Vec<_> = Profile::ALL
            .iter()
            .map(|p| (p.head_precision(), p.kv_precision()))
            .collect();
        assert_eq!(
            table,
            [
                (Some(HeadPrecision::Q4K), Some(KvPrecision::Q8_0)),
                (None, None),
                (None, None),
                (None, None)
            ]
        );
    }

    #[test]
    fn names_round_trip_and_unknown_names_are_errors() {
        for p in Profile::ALL {
            assert_eq!(p.name().parse::<Profile>(), Ok(p));
            assert_eq!(p.to_string(), p.name());
        }
        assert_eq!("Edge".parse::<Profile>(), Ok(Profile::Edge));
        assert_eq!(
            "phone".parse::<Profile>(),
            Err(UnknownProfile("phone".into()))
        );
    }

    #[test]
    fn smallest_holding_picks_the_first_budget_that_fits() {
        assert_eq!(Profile::smallest_holding(1), Some(Profile::Mobile));
        assert_eq!(Profile::smallest_holding(512 << 20), Some(Profile::Mobile));
        assert_eq!(
            Profile::smallest_holding((512 << 20) + 1),
            Some(Profile::Edge)
        );
        assert_eq!(Profile::smallest_holding(3 << 30), Some(Profile::Cloud));
        assert_eq!(Profile::smallest_holding(5 << 30), None);
    }
}
