//! Paced wakeups shared by every task that batches its work in time: publisher reads
//! (`conn.rs`), player and sink writes, the HLS packager, the recorder and FLV sources.
//!
//! At real-time rates the cost of a wakeup dominates the cost of the bytes, so these tasks
//! do not wake per frame: they sleep until the next tick of one process-wide grid.

use std::time::Duration;

/// The next multiple of `interval` on a process-wide grid. Every paced connection wakes on the
/// same ticks, so one timer firing serves all of them in a single runtime wakeup instead of one
/// wakeup per connection spread over the interval.
pub(crate) fn paced_deadline(interval: Duration) -> tokio::time::Instant {
    static EPOCH: std::sync::OnceLock<tokio::time::Instant> = std::sync::OnceLock::new();
    let epoch = *EPOCH.get_or_init(tokio::time::Instant::now);
    let now = tokio::time::Instant::now();
    let step = interval.as_micros().max(1);
    let elapsed = now.duration_since(epoch).as_micros();
    let next = (elapsed / step + 1) * step;
    epoch + Duration::from_micros(next as u64)
}
