//! What keeps the engine within a phone's limits: the thread pool with a hard limit, the
//! process's memory and CPU readings, the thermal governor, and the service limits, metrics
//! and health checks.

pub mod cpu;
pub mod health;
pub mod limits;
pub mod memory;
pub mod metrics;
mod pool;
pub mod thermal;

pub use pool::{default_threads, ThreadPool};
