//! Segment files on disk: created as `<stream>-<start>.mp4.part` (the stream name keeps
//! names unique when the renditions of an entry meet in one directory, as in Kaltura's
//! shared storage), appended fragment by fragment, finished (duration patched, fsynced,
//! renamed to `<stream>-<start>.mp4`, directory fsynced), or
//! salvaged after a crash or a write error by [`recover_segment`].
//!
//! These are blocking calls; the recorder runs them with [`blocking`].

use media::mp4::{recover, DurationPatch, FragmentParts};
use std::fs::{self, File, OpenOptions};
use std::io::{self, IoSlice, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// Suffix of a segment being written.
pub const PART_SUFFIX: &str = ".mp4.part";

/// Run blocking file work off the runtime's workers.
pub(crate) async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.expect("recording file task panicked")
}

/// A segment being written.
#[derive(Debug)]
pub(crate) struct SegmentFile {
    file: File,
    part: PathBuf,
    start_ms: i64,
    len: u64,
}

impl SegmentFile {
    pub fn create(dir: &Path, stream: &str, start_ms: i64, init: &[u8]) -> io::Result<Self> {
        fs::create_dir_all(dir)?;
        let part = dir.join(format!("{stream}-{start_ms}{PART_SUFFIX}"));
        let mut file = OpenOptions::new().write(true).create(true).truncate(true).open(&part)?;
        if let Err(e) = file.write_all(init) {
            drop(file);
            let _ = fs::remove_file(&part);
            return Err(e);
        }
        Ok(SegmentFile { file, part, start_ms, len: init.len() as u64 })
    }

    pub fn part_path(&self) -> &Path {
        &self.part
    }

    pub fn start_ms(&self) -> i64 {
        self.start_ms
    }

    /// Append a whole fragment with vectored writes (the samples are not copied). On error
    /// the file may end in a torn fragment, which [`recover_segment`] cuts off.
    pub fn append(&mut self, parts: &FragmentParts) -> io::Result<()> {
        let mut slices: Vec<IoSlice<'_>> = std::iter::once(&parts.head[..]).chain(parts.samples.iter().map(|s| &s[..])).map(IoSlice::new).collect();
        let mut rest = &mut slices[..];
        while !rest.is_empty() {
            match self.file.write_vectored(rest) {
                Ok(0) => return Err(io::Error::new(io::ErrorKind::WriteZero, "the file takes no more bytes")),
                Ok(n) => IoSlice::advance_slices(&mut rest, n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.len += parts.len() as u64;
        Ok(())
    }

    /// Write the tail, declare the duration, sync and rename. Returns the final path and
    /// its size.
    pub fn finish(mut self, tail: &[FragmentParts], patch: DurationPatch) -> io::Result<(PathBuf, u64)> {
        for parts in tail {
            self.append(parts)?;
        }
        self.file.write_all_at(&patch.bytes, patch.offset as u64)?;
        self.file.sync_all()?;
        let done = finished_path(&self.part);
        fs::rename(&self.part, &done)?;
        sync_dir(&done);
        Ok((done, self.len))
    }

    /// Remove the file (it holds no sample).
    pub fn discard(self) -> io::Result<()> {
        drop(self.file);
        fs::remove_file(&self.part)
    }
}

fn finished_path(part: &Path) -> PathBuf {
    let name = part.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    part.with_file_name(name.strip_suffix(".part").unwrap_or(name))
}

fn sync_dir(file: &Path) {
    if let Some(dir) = file.parent() {
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
}

/// A segment made whole by [`recover_segment`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveredSegment {
    /// The finished file (`<stream>-<start>.mp4`).
    pub path: PathBuf,
    /// Timeline (wall-clock) ms of its first frame, from its name.
    pub start_wall_ms: i64,
    /// Playable duration, ms.
    pub duration_ms: u64,
    /// Size after truncation.
    pub bytes: u64,
}

/// Finish a `<stream>-<start>.mp4.part` left by a crash or a failed write: cut it after its last
/// complete fragment, declare that duration, sync, rename. `None` (and the file removed)
/// when not one fragment is complete.
pub fn recover_segment(part: &Path) -> io::Result<Option<RecoveredSegment>> {
    let name = part.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    let start_wall_ms: i64 = name
        .strip_suffix(PART_SUFFIX)
        .and_then(|s| s.rsplit_once('-'))
        .and_then(|(_, start)| start.parse().ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, format!("{} is not a recording segment (<stream>-<start>{PART_SUFFIX})", part.display())))?;
    let data = fs::read(part)?;
    let found = recover(&data);
    if found.fragments == 0 {
        fs::remove_file(part)?;
        return Ok(None);
    }
    let file = OpenOptions::new().write(true).open(part)?;
    file.set_len(found.valid_len as u64)?;
    if let Some(patch) = found.duration_patch() {
        file.write_all_at(&patch.bytes, patch.offset as u64)?;
    }
    file.sync_all()?;
    let done = finished_path(part);
    fs::rename(part, &done)?;
    sync_dir(&done);
    Ok(Some(RecoveredSegment { path: done, start_wall_ms, duration_ms: found.duration_ms, bytes: found.valid_len as u64 }))
}

/// The playable duration of a finished segment file, ms (from its fragments).
pub fn segment_duration_ms(path: &Path) -> io::Result<u64> {
    Ok(recover(&fs::read(path)?).duration_ms)
}
