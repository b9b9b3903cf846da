//! What keeps the engine within a phone's limits. So far: the thread pool with a hard limit.

mod pool;

pub use pool::{default_threads, ThreadPool};
