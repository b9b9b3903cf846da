//! What keeps the engine within a phone's limits: the executor (thread pool with a hard limit,
//! kernel table, thermal governor), the CPU
//! topology it is sized from, the process's memory and CPU readings, the deployment profiles,
//! the thermal governor, and the service limits (rate, concurrent generations), metrics and
//! health checks.

pub mod cpu;
mod executor;
pub mod health;
pub mod limits;
pub mod memory;
pub mod metrics;
mod pool;
mod profile;
pub mod queue;
pub mod thermal;
pub mod topology;

pub use executor::Executor;
pub use pool::{CallerPin, ThreadPool};
pub use profile::{Profile, UnknownProfile};
pub use topology::{default_threads, max_threads, CpuTopology, MIN_THREAD_CAP, THREADS_PER_CPU};
