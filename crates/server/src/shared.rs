//! The state every connection, sink, packager and recorder task shares: configuration, the
//! event callback, the media bus, the connection tables, ids, shutdown and the task tracker.
//! It knows none of its users (conn, hls, record, origin …): they import it, never the
//! reverse, and what only some of them need (the HLS and recording registries) is owned by
//! [`crate::Server`] and handed to those.

use crate::bus::Registry;
use crate::config::ServerConfig;
use crate::events::{Decision, ServerEvent};
use crate::stats::ConnCounters;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub(crate) type EventCallback = Arc<dyn Fn(ServerEvent) + Send + Sync>;

/// A live connection, for stats and kill_connection.
pub(crate) struct ConnHandle {
    pub counters: Arc<ConnCounters>,
    /// Cancelled by kill_connection or, as a child of the server's token, by shutdown.
    pub cancel: CancellationToken,
}

/// A sink, FLV source or relay task, for detaching it.
pub(crate) struct SinkHandle {
    pub cancel: CancellationToken,
}

/// State shared by the listener, every connection and sink task, and the handle.
pub(crate) struct Shared {
    pub config: ServerConfig,
    callback: EventCallback,
    pub registry: Registry,
    pub connections: Mutex<HashMap<u64, ConnHandle>>,
    pub sinks: Mutex<HashMap<u64, SinkHandle>>,
    pub sources: Mutex<HashMap<u64, SinkHandle>>,
    decisions: Mutex<HashMap<u64, oneshot::Sender<Decision>>>,
    next_id: AtomicU64,
    /// Cancelled once, at shutdown; every connection and sink token is its child.
    pub shutdown: CancellationToken,
    pub tasks: TaskTracker,
    /// Per-entry wall-clock bases of the ingest timeline.
    pub timelines: Arc<crate::timeline::EntryTimelines>,
    pub total_connections: AtomicU64,
    pub refused_connections: AtomicU64,
    /// Connection slots (global and per-IP caps) of the RTMP and HTTP listeners.
    pub slots: Arc<crate::slots::Slots>,
}

impl Shared {
    pub fn new(config: ServerConfig, callback: EventCallback, shutdown: CancellationToken) -> Self {
        Shared {
            config,
            callback,
            registry: Registry::default(),
            connections: Mutex::new(HashMap::new()),
            sinks: Mutex::new(HashMap::new()),
            sources: Mutex::new(HashMap::new()),
            decisions: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            shutdown,
            tasks: TaskTracker::new(),
            timelines: Default::default(),
            total_connections: AtomicU64::new(0),
            refused_connections: AtomicU64::new(0),
            slots: Default::default(),
        }
    }

    /// The caps of listener `kind`.
    pub fn caps(&self, kind: crate::slots::Kind) -> crate::slots::Caps {
        use crate::slots::{Caps, Kind};
        match kind {
            Kind::Rtmp => Caps { global: self.config.max_connections, per_ip: self.config.max_connections_per_ip },
            Kind::Http => Caps { global: self.config.http_max_connections, per_ip: self.config.http_max_connections_per_ip },
        }
    }

    pub fn emit(&self, event: ServerEvent) {
        (self.callback)(event);
    }

    pub fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Register a request and return its id and the receiver of the decision.
    pub fn new_request(&self) -> (u64, oneshot::Receiver<Decision>) {
        let id = self.next_id();
        let (tx, rx) = oneshot::channel();
        self.decisions.lock().insert(id, tx);
        (id, rx)
    }

    /// Hand `decision` to the connection waiting on request `id`; false when none waits.
    pub fn decide(&self, id: u64, decision: Decision) -> bool {
        match self.decisions.lock().remove(&id) {
            Some(tx) => tx.send(decision).is_ok(),
            None => false,
        }
    }

    pub fn forget_request(&self, id: u64) {
        self.decisions.lock().remove(&id);
    }
}
