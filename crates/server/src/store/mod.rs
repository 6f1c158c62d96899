//! Where finished HLS segments live: the live edge in memory, the rest of the DVR window on
//! disk, under one global memory budget and one disk budget.
//!
//! # Life of a segment
//! The packager hands each finished segment to [`StreamStore::insert`]: it is in memory
//! ([`State::Memory`]) and counted against the memory budget. The playlist calls
//! [`StoredSegment::leave_live_edge`] when the live playlist stops listing it: if it is still
//! kept (DVR window, or the kept segments behind the live list) it is queued for the disk
//! writer ([`State::Spilling`]), which writes it once, sequentially, without fsync (segments
//! can be rebuilt from nothing: after a restart the DVR window starts empty), and then drops
//! the memory copy ([`State::Disk`]). When the segment leaves the playlist its last
//! [`Stored`] reference is dropped and its file is deleted by the writer.
//!
//! # Budgets
//! * Memory: when the in-memory segments of every rendition together exceed
//!   `memory_budget_bytes`, the oldest ones are queued for disk early, live edge included
//!   (the origin serves them from the page cache then). A segment that cannot be spilled
//!   because the disk writer is [`MAX_SPILL_QUEUE_BYTES`] behind is dropped if it is past the
//!   live edge (the DVR window shortens) and stays in memory if it is on the live edge.
//! * Disk: when the files exceed `disk_budget_bytes`, the oldest are deleted ([`State::Lost`]):
//!   the DVR windows shorten, oldest first across all renditions.
//! * A write that fails (disk full, I/O error) loses that segment if it is past the live edge
//!   and keeps it in memory if it is on it: live HLS never stops for the disk. The error is
//!   kept for diagnostics ([`StoreStats::error`]) and cleared by the next successful write.
//!
//! So HLS costs the process at most the memory budget + [`MAX_SPILL_QUEUE_BYTES`] in finished
//! segments (plus each rendition's open segment, bounded by the segmenter's hard cap), except
//! while the disk refuses writes or cannot keep up and the live edges alone exceed the budget.
//!
//! # Directory
//! [`SegmentStore::open`] creates the directory private (0700), takes an exclusive lock on its
//! marker file (a second server on the same directory gets a clear error) and clears what a
//! previous run left (after a kill -9 nothing of it is served: segments are served only as
//! listed by this run's playlists, and its files are removed). A non-empty directory without
//! the marker is refused rather than cleared. Each packaged stream writes to its own
//! subdirectory named by a number, never by the (client-chosen) stream name.

mod disk;
#[cfg(test)]
mod tests;

use bytes::Bytes;
use disk::Job;
use parking_lot::Mutex;
use std::collections::VecDeque;
use std::fs::File;
use std::path::PathBuf;
#[cfg(test)]
use std::path::Path;
#[cfg(test)]
use std::os::unix::fs::PermissionsExt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};

pub(crate) use disk::{map_file, Residency};

/// Bytes queued for the disk writer at most; past it, segments past the live edge that
/// should be spilled are dropped instead (the disk cannot keep up).
pub const MAX_SPILL_QUEUE_BYTES: u64 = 64 * 1024 * 1024;
/// Name of the marker (and lock) file that makes a directory a segment store.
const MARKER: &str = ".klive-hls-store";

/// Where and how much. `Default`: memory only (no directory), as an embedding without a
/// configured directory gets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreConfig {
    /// Directory of the on-disk part; `None` keeps every segment in memory and ignores the
    /// budgets.
    pub directory: Option<PathBuf>,
    /// In-memory segments of all renditions together, bytes; 0 picks
    /// [`default_memory_budget`].
    pub memory_budget_bytes: u64,
    /// Segment files together, bytes; 0 = no budget (the filesystem's size is the limit).
    pub disk_budget_bytes: u64,
}

/// A 128th of the machine's RAM, between 64 MiB and 1 GiB (192 MiB on 24 GiB).
pub fn default_memory_budget() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let (pages, page) = unsafe { (libc::sysconf(libc::_SC_PHYS_PAGES), libc::sysconf(libc::_SC_PAGESIZE)) };
    let ram = if pages > 0 && page > 0 { pages as u64 * page as u64 } else { 8 << 30 };
    (ram / 128).clamp(64 << 20, 1 << 30)
}

/// The store right now, for diagnostics and metrics.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StoreStats {
    /// The on-disk directory, when there is one.
    pub directory: Option<String>,
    /// Finished segments in memory, bytes and count.
    pub memory_bytes: u64,
    /// Count of the above.
    pub memory_segments: u64,
    /// The memory budget, bytes (0: memory only, no budget).
    pub memory_budget_bytes: u64,
    /// Segment files, bytes and count.
    pub disk_bytes: u64,
    /// Count of the above.
    pub disk_segments: u64,
    /// The disk budget, bytes (0: none).
    pub disk_budget_bytes: u64,
    /// Bytes waiting for the disk writer.
    pub spill_queue_bytes: u64,
    /// Segments written to disk since start.
    pub spilled_segments: u64,
    /// Of those, written before they left the live edge because of the memory budget.
    pub early_spills: u64,
    /// Segments dropped before their window ended (disk full or too slow, disk budget).
    pub lost_segments: u64,
    /// The last disk error, while no write has succeeded since.
    pub error: Option<String>,
}

/// Where a segment's bytes are.
#[derive(Debug)]
pub(crate) enum State {
    /// In memory only.
    Memory(Bytes),
    /// In memory, queued for (or being written by) the disk writer.
    Spilling(Bytes),
    /// In its file only.
    Disk,
    /// Dropped before its time (disk full, disk budget): not servable.
    Lost,
}

/// What a reader gets: bytes in memory, or the file to map.
#[derive(Debug)]
pub(crate) enum Body {
    Memory(Bytes),
    File(PathBuf),
}

/// One finished segment in the store. Its file, if any, is deleted when the last
/// reference goes.
#[derive(Debug)]
pub(crate) struct StoredSegment {
    len: u64,
    path: PathBuf,
    state: Mutex<State>,
    /// The live playlist lists it: never dropped for memory, kept in memory if the disk fails.
    live_edge: AtomicBool,
    store: Arc<Inner>,
}

/// A shared handle on a stored segment.
pub(crate) type Stored = Arc<StoredSegment>;

impl StoredSegment {
    /// Size in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Dropped before its time: the playlist must stop listing it.
    pub fn is_lost(&self) -> bool {
        matches!(*self.state.lock(), State::Lost)
    }

    /// Whether its bytes are in memory.
    #[cfg(test)]
    pub fn in_memory(&self) -> bool {
        matches!(*self.state.lock(), State::Memory(_) | State::Spilling(_))
    }

    /// Where to read it; `None` once lost.
    pub fn body(&self) -> Option<Body> {
        match &*self.state.lock() {
            State::Memory(b) | State::Spilling(b) => Some(Body::Memory(b.clone())),
            State::Disk => Some(Body::File(self.path.clone())),
            State::Lost => None,
        }
    }

    /// The live playlist no longer lists it: it goes to disk (it is still kept, or the
    /// caller would have dropped it).
    pub fn leave_live_edge(self: &Arc<Self>) {
        self.live_edge.store(false, Ordering::Relaxed);
        self.store.spill(self, false);
    }
}

impl Drop for StoredSegment {
    fn drop(&mut self) {
        let inner = &self.store;
        match std::mem::replace(self.state.get_mut(), State::Lost) {
            State::Memory(_) | State::Spilling(_) => {
                inner.memory.fetch_sub(self.len, Ordering::Relaxed);
                inner.memory_segments.fetch_sub(1, Ordering::Relaxed);
            }
            State::Disk => {
                inner.disk.fetch_sub(self.len, Ordering::Relaxed);
                inner.disk_segments.fetch_sub(1, Ordering::Relaxed);
                inner.send(Job::Unlink(std::mem::take(&mut self.path)));
            }
            State::Lost => {}
        }
    }
}

/// Accounting and queues shared by the store, its segments and the disk writer.
#[derive(Debug)]
pub(crate) struct Inner {
    directory: Option<PathBuf>,
    memory_budget: u64,
    disk_budget: u64,
    memory: AtomicU64,
    memory_segments: AtomicU64,
    disk: AtomicU64,
    disk_segments: AtomicU64,
    spill_queue: AtomicU64,
    spilled: AtomicU64,
    early_spills: AtomicU64,
    lost: AtomicU64,
    /// Numbers stream subdirectories and segment files.
    next_stream: AtomicU64,
    /// In-memory segments, oldest first (stale entries are skipped): early spill order.
    in_memory: Mutex<VecDeque<Weak<StoredSegment>>>,
    /// On-disk segments, oldest first: disk budget eviction order.
    on_disk: Mutex<VecDeque<Weak<StoredSegment>>>,
    writer: Mutex<Option<std::sync::mpsc::Sender<Job>>>,
    /// Jobs sent to the writer and not yet done (writes, unlinks, directory removals).
    pending_jobs: Arc<AtomicU64>,
    error: Mutex<Option<String>>,
    /// Held for the store's life: the exclusive lock on the marker file.
    _lock: Option<File>,
}

impl Inner {
    fn send(&self, job: Job) {
        if let Some(tx) = self.writer.lock().as_ref() {
            self.pending_jobs.fetch_add(1, Ordering::Release);
            if tx.send(job).is_err() {
                self.pending_jobs.fetch_sub(1, Ordering::Release);
            }
        }
    }

    /// Queue `seg` for disk. `early`: the memory budget asks for it (it may be on the live
    /// edge).
    fn spill(&self, seg: &Arc<StoredSegment>, early: bool) {
        if self.directory.is_none() {
            return;
        }
        let mut state = seg.state.lock();
        let State::Memory(bytes) = &*state else { return };
        if self.spill_queue.load(Ordering::Relaxed) + seg.len > MAX_SPILL_QUEUE_BYTES {
            if !seg.live_edge.load(Ordering::Relaxed) {
                *state = State::Lost;
                drop(state);
                self.memory.fetch_sub(seg.len, Ordering::Relaxed);
                self.memory_segments.fetch_sub(1, Ordering::Relaxed);
                self.lost.fetch_add(1, Ordering::Relaxed);
                self.set_error(format!("the disk writer is {} MiB behind: DVR window shortened", MAX_SPILL_QUEUE_BYTES >> 20));
            }
            return;
        }
        *state = State::Spilling(bytes.clone());
        drop(state);
        self.spill_queue.fetch_add(seg.len, Ordering::Relaxed);
        if early {
            self.early_spills.fetch_add(1, Ordering::Relaxed);
        }
        self.send(Job::Write(seg.clone()));
    }

    /// Spill the oldest in-memory segments while memory not already on its way to disk
    /// exceeds the budget; drop queue entries of segments that left memory.
    fn enforce_memory(&self) {
        let mut queue = self.in_memory.lock();
        loop {
            let Some(front) = queue.front() else { break };
            let Some(seg) = front.upgrade() else {
                queue.pop_front();
                continue;
            };
            if !matches!(*seg.state.lock(), State::Memory(_)) {
                queue.pop_front();
                continue;
            }
            let pending = self.memory.load(Ordering::Relaxed).saturating_sub(self.spill_queue.load(Ordering::Relaxed));
            if self.directory.is_none() || pending <= self.memory_budget {
                break;
            }
            queue.pop_front();
            self.spill(&seg, true);
        }
    }

    /// Delete the oldest files while the disk budget is exceeded.
    fn enforce_disk(&self) {
        if self.disk_budget == 0 {
            return;
        }
        let mut queue = self.on_disk.lock();
        while self.disk.load(Ordering::Relaxed) > self.disk_budget {
            let Some(front) = queue.pop_front() else { break };
            let Some(seg) = front.upgrade() else { continue };
            if seg.live_edge.load(Ordering::Relaxed) {
                // Spilled early: the live playlist still lists it; it goes with its window.
                continue;
            }
            let mut state = seg.state.lock();
            if matches!(*state, State::Disk) {
                *state = State::Lost;
                drop(state);
                self.disk.fetch_sub(seg.len, Ordering::Relaxed);
                self.disk_segments.fetch_sub(1, Ordering::Relaxed);
                self.lost.fetch_add(1, Ordering::Relaxed);
                self.send(Job::Unlink(seg.path.clone()));
                self.set_error(format!("disk budget of {} MiB reached: DVR windows shortened", self.disk_budget >> 20));
            }
        }
    }

    fn set_error(&self, message: String) {
        *self.error.lock() = Some(message);
    }
}

/// The segment store of one server.
#[derive(Debug, Clone)]
pub(crate) struct SegmentStore {
    inner: Arc<Inner>,
}

/// Errors opening the store's directory.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The directory cannot be created, locked or cleared.
    #[error("HLS directory {path}: {message}")]
    Directory {
        /// The directory.
        path: String,
        /// What went wrong.
        message: String,
    },
}

impl SegmentStore {
    /// Open the store: with a directory, create it (0700), lock it, clear it and start the
    /// disk writer thread.
    pub fn open(config: &StoreConfig) -> Result<SegmentStore, StoreError> {
        let (lock, writer) = match &config.directory {
            Some(dir) => {
                let lock = disk::prepare_directory(dir, MARKER)
                    .map_err(|message| StoreError::Directory { path: dir.display().to_string(), message })?;
                (Some(lock), true)
            }
            None => (None, false),
        };
        let memory_budget = if config.memory_budget_bytes > 0 { config.memory_budget_bytes } else { default_memory_budget() };
        let inner = Arc::new(Inner {
            directory: config.directory.clone(),
            memory_budget,
            disk_budget: config.disk_budget_bytes,
            memory: AtomicU64::new(0),
            memory_segments: AtomicU64::new(0),
            disk: AtomicU64::new(0),
            disk_segments: AtomicU64::new(0),
            spill_queue: AtomicU64::new(0),
            spilled: AtomicU64::new(0),
            early_spills: AtomicU64::new(0),
            lost: AtomicU64::new(0),
            next_stream: AtomicU64::new(1),
            in_memory: Mutex::new(VecDeque::new()),
            on_disk: Mutex::new(VecDeque::new()),
            writer: Mutex::new(None),
            pending_jobs: Arc::new(AtomicU64::new(0)),
            error: Mutex::new(None),
            _lock: lock,
        });
        if writer {
            let tx = disk::start_writer(inner.pending_jobs.clone()).map_err(|e| StoreError::Directory {
                path: config.directory.as_ref().map(|d| d.display().to_string()).unwrap_or_default(),
                message: format!("cannot start the disk writer: {e}"),
            })?;
            *inner.writer.lock() = Some(tx);
        }
        Ok(SegmentStore { inner })
    }

    /// A store that keeps everything in memory.
    #[cfg(test)]
    pub fn memory_only() -> SegmentStore {
        SegmentStore::open(&StoreConfig::default()).expect("a memory-only store has nothing to fail")
    }

    /// The part of the store of one packaged stream: its own subdirectory.
    pub fn stream(&self) -> StreamStore {
        let id = self.inner.next_stream.fetch_add(1, Ordering::Relaxed);
        let dir = self.inner.directory.as_ref().map(|d| d.join(format!("s{id}"))).unwrap_or_default();
        StreamStore { inner: self.inner.clone(), dir }
    }

    /// Counters and the last error.
    pub fn stats(&self) -> StoreStats {
        let i = &self.inner;
        StoreStats {
            directory: i.directory.as_ref().map(|d| d.display().to_string()),
            memory_bytes: i.memory.load(Ordering::Relaxed),
            memory_segments: i.memory_segments.load(Ordering::Relaxed),
            memory_budget_bytes: if i.directory.is_some() { i.memory_budget } else { 0 },
            disk_bytes: i.disk.load(Ordering::Relaxed),
            disk_segments: i.disk_segments.load(Ordering::Relaxed),
            disk_budget_bytes: i.disk_budget,
            spill_queue_bytes: i.spill_queue.load(Ordering::Relaxed),
            spilled_segments: i.spilled.load(Ordering::Relaxed),
            early_spills: i.early_spills.load(Ordering::Relaxed),
            lost_segments: i.lost.load(Ordering::Relaxed),
            error: i.error.lock().clone(),
        }
    }

    /// True when the disk writer has nothing queued or running: every write, unlink and
    /// directory removal sent so far is done.
    #[cfg(test)]
    pub fn writer_idle(&self) -> bool {
        self.inner.pending_jobs.load(Ordering::Acquire) == 0
    }

    /// Stop the disk writer once its queue is done (at server shutdown). Segments still
    /// referenced keep their files until the process ends; the next start clears them.
    pub fn close(&self) {
        self.inner.writer.lock().take();
    }
}

/// The store as seen by one packaged stream.
#[derive(Debug)]
pub(crate) struct StreamStore {
    inner: Arc<Inner>,
    dir: PathBuf,
}

impl StreamStore {
    /// A store of its own that keeps everything in memory.
    #[cfg(test)]
    pub fn memory_only() -> StreamStore {
        SegmentStore::memory_only().stream()
    }

    /// Take a finished segment: it is in memory, on the live edge, and may push older
    /// segments (of any stream) to disk early.
    pub fn insert(&self, seq: u64, data: Bytes) -> Stored {
        let len = data.len() as u64;
        let seg = Arc::new(StoredSegment {
            len,
            // Unique whatever the numbering does, so a late unlink never hits a newer file.
            path: self.dir.join(format!("{seq}-{}.ts", self.inner.next_stream.fetch_add(1, Ordering::Relaxed))),
            state: Mutex::new(State::Memory(data)),
            live_edge: AtomicBool::new(true),
            store: self.inner.clone(),
        });
        self.inner.memory.fetch_add(len, Ordering::Relaxed);
        self.inner.memory_segments.fetch_add(1, Ordering::Relaxed);
        if self.inner.directory.is_some() {
            self.inner.in_memory.lock().push_back(Arc::downgrade(&seg));
            self.inner.enforce_memory();
        }
        seg
    }
}

impl Drop for StreamStore {
    fn drop(&mut self) {
        if self.inner.directory.is_some() {
            // After the unlinks of its segments already queued; a segment still being served
            // leaves its file (and directory) to the next start's clearing.
            self.inner.send(Job::RemoveDir(std::mem::take(&mut self.dir)));
        }
    }
}

/// The written file of `seg` is complete: account it, or undo if it was dropped meanwhile.
fn written(inner: &Inner, seg: &Arc<StoredSegment>, result: std::io::Result<()>) {
    inner.spill_queue.fetch_sub(seg.len, Ordering::Relaxed);
    let mut state = seg.state.lock();
    match result {
        Ok(()) => {
            if !matches!(*state, State::Spilling(_)) {
                drop(state);
                inner.send(Job::Unlink(seg.path.clone()));
                return;
            }
            *state = State::Disk;
            drop(state);
            inner.memory.fetch_sub(seg.len, Ordering::Relaxed);
            inner.memory_segments.fetch_sub(1, Ordering::Relaxed);
            inner.disk.fetch_add(seg.len, Ordering::Relaxed);
            inner.disk_segments.fetch_add(1, Ordering::Relaxed);
            inner.spilled.fetch_add(1, Ordering::Relaxed);
            inner.on_disk.lock().push_back(Arc::downgrade(seg));
            inner.error.lock().take();
            inner.enforce_disk();
        }
        Err(e) => {
            let bytes = match std::mem::replace(&mut *state, State::Lost) {
                State::Spilling(b) => b,
                other => {
                    *state = other;
                    return;
                }
            };
            if seg.live_edge.load(Ordering::Relaxed) {
                // Live HLS never stops for the disk: keep it in memory; it is tried again
                // when it leaves the live edge.
                *state = State::Memory(bytes);
            } else {
                drop(state);
                inner.memory.fetch_sub(seg.len, Ordering::Relaxed);
                inner.memory_segments.fetch_sub(1, Ordering::Relaxed);
                inner.lost.fetch_add(1, Ordering::Relaxed);
            }
            inner.set_error(format!("cannot write {}: {e}: DVR window shortened", seg.path.display()));
        }
    }
}
