//! What keeps the engine within a phone's limits: the thread pool with a hard limit and the
//! process's memory readings.

pub mod memory;
mod pool;

pub use pool::{default_threads, ThreadPool};
