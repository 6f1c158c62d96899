//! The bound on events waiting for JavaScript. Every event crosses through a threadsafe
//! function whose queue has no limit of its own; when JavaScript falls behind (a busy event
//! loop under a flood of hostile connections), the queue would grow without end. Events are
//! counted from the call until JavaScript has converted them (or the queue is torn down);
//! past [`MAX_QUEUED`], warnings (the only events nothing waits for) are dropped and counted.

use crate::convert::IngestEvent;
use napi::bindgen_prelude::{ToNapiValue, TypeName};
use napi::{sys, ValueType};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

/// Events waiting for JavaScript beyond which warnings are dropped.
pub(crate) const MAX_QUEUED: usize = 1024;

/// Counters shared by the producer (the core's callback) and the queued events.
#[derive(Debug, Default)]
pub(crate) struct QueueCounters {
    queued: AtomicUsize,
    dropped: AtomicU64,
}

impl QueueCounters {
    /// Whether an event may be queued now; `droppable` events are refused over the bound.
    pub fn admit(self: &Arc<Self>, event: IngestEvent, droppable: bool) -> Option<QueuedEvent> {
        if droppable && self.queued.load(Ordering::Relaxed) >= MAX_QUEUED {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        self.queued.fetch_add(1, Ordering::Relaxed);
        Some(QueuedEvent { event: Some(event), counters: self.clone() })
    }

    /// Warnings dropped so far because JavaScript was behind.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// An event on its way to JavaScript; it leaves the count when converted or discarded.
pub(crate) struct QueuedEvent {
    event: Option<IngestEvent>,
    counters: Arc<QueueCounters>,
}

impl Drop for QueuedEvent {
    fn drop(&mut self) {
        self.counters.queued.fetch_sub(1, Ordering::Relaxed);
    }
}

impl TypeName for QueuedEvent {
    fn type_name() -> &'static str {
        "IngestEvent"
    }

    fn value_type() -> ValueType {
        ValueType::Object
    }
}

impl ToNapiValue for QueuedEvent {
    unsafe fn to_napi_value(env: sys::napi_env, mut val: Self) -> napi::Result<sys::napi_value> {
        match val.event.take() {
            Some(event) => IngestEvent::to_napi_value(env, event),
            None => Err(napi::Error::new(napi::Status::GenericFailure, "event already delivered")),
        }
    }
}
