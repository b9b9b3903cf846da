//! What keeps the engine within a phone's limits: the thread pool with a hard limit, the CPU
//! topology it is sized from, the process's memory readings and the deployment profiles.

pub mod memory;
mod pool;
mod profile;
pub mod topology;

pub use pool::ThreadPool;
pub use profile::{Profile, UnknownProfile};
pub use topology::{default_threads, CpuTopology};
