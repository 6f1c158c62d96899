//! FLV sinks: a live stream written as an FLV byte stream to a file, or to the one reader of
//! a unix socket (how ffmpeg reads a stream to transcode it: `ffmpeg -i unix:PATH`).
//!
//! A sink subscribes to the stream's media bus: it starts with the FLV header, the metadata
//! and the sequence headers, then live tags from the next keyframe. Its queue is bounded by
//! the server's subscriber budget; a slow reader loses frames up to the next keyframe.

use crate::bus::{Frame, LiveStream};
use crate::events::ServerEvent;
use crate::server::Shared;
use media::flv;
use rtmp_proto::session::MediaKind;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::net::UnixListener;
use tokio_util::sync::CancellationToken;

/// Where a sink writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SinkTarget {
    /// A regular file, created or truncated.
    File(PathBuf),
    /// A unix socket the server listens on; the first reader to connect gets the stream.
    UnixSocket(PathBuf),
}

impl SinkTarget {
    /// The target path.
    pub fn path(&self) -> &Path {
        match self {
            SinkTarget::File(p) | SinkTarget::UnixSocket(p) => p,
        }
    }
}

/// A sink whose file or listening socket exists.
pub(crate) enum Opened {
    File(std::fs::File),
    Unix(UnixListener, PathBuf),
}

/// Create the file or the listening socket now, so errors reach the caller synchronously.
pub(crate) fn open(target: &SinkTarget) -> std::io::Result<Opened> {
    match target {
        SinkTarget::File(path) => Ok(Opened::File(std::fs::File::create(path)?)),
        SinkTarget::UnixSocket(path) => Ok(Opened::Unix(crate::local_socket::bind_private(path)?, path.clone())),
    }
}

pub(crate) async fn run(shared: Arc<Shared>, id: u64, stream: Arc<LiveStream>, opened: Opened, cancel: CancellationToken) {
    let mut written = 0u64;
    let mut dropped = 0u64;
    let reason = match opened {
        Opened::File(file) => {
            let mut file = tokio::fs::File::from_std(file);
            let r = pump(&shared, id, &stream, &mut file, &cancel, &mut written, &mut dropped).await;
            let _ = file.flush().await;
            let _ = file.sync_data().await;
            r
        }
        Opened::Unix(listener, path) => {
            // Keep serving readers until detached or the stream ends: a transcoder that
            // restarts reconnects to the same path and starts again at a keyframe.
            let r = loop {
                let mut socket = tokio::select! {
                    accepted = listener.accept() => match accepted {
                        Ok((socket, _)) => socket,
                        Err(e) => break format!("accept failed: {e}"),
                    },
                    _ = cancel.cancelled() => break cancel_reason(&shared),
                    _ = stream.ended() => break "stream ended".to_string(),
                };
                if let Err(why) = crate::local_socket::check_peer(&socket) {
                    // Dropped before a byte of the stream is written.
                    shared.emit(ServerEvent::Warning { connection_id: 0, message: format!("sink {id} of '{}': {why}", stream.name) });
                    continue;
                }
                let r = pump(&shared, id, &stream, &mut socket, &cancel, &mut written, &mut dropped).await;
                let _ = socket.shutdown().await;
                if cancel.is_cancelled() || stream.is_ended() {
                    break r;
                }
                shared.emit(ServerEvent::Warning { connection_id: 0, message: format!("sink {id} of '{}': reader left ({r}); waiting for the next", stream.name) });
            };
            let _ = std::fs::remove_file(&path);
            r
        }
    };
    shared.sinks.lock().remove(&id);
    shared.emit(ServerEvent::SinkClosed { sink_id: id, stream_name: stream.name.clone(), reason, bytes_written: written, dropped_frames: dropped });
}

fn cancel_reason(shared: &Shared) -> String {
    if shared.shutdown.is_cancelled() { "server shutdown".into() } else { "detached".into() }
}

async fn pump<W: AsyncWrite + Unpin>(
    shared: &Shared,
    id: u64,
    stream: &LiveStream,
    out: &mut W,
    cancel: &CancellationToken,
    written: &mut u64,
    dropped: &mut u64,
) -> String {
    let Some(sub) = stream.subscribe(id, shared.config.subscriber_buffer_bytes) else {
        return "stream ended".into();
    };
    let mut frames: Vec<Frame> = Vec::new();
    let mut buf: Vec<u8> = Vec::with_capacity(64 * 1024);
    buf.extend_from_slice(&flv::file_header(true, true));
    let pacing = shared.config.write_pacing;
    let reason = loop {
        let more = tokio::select! {
            more = sub.next_batch(&mut frames) => more,
            _ = cancel.cancelled() => break cancel_reason(shared),
        };
        for frame in frames.drain(..) {
            let tag = match frame.kind {
                MediaKind::Audio => flv::TAG_AUDIO,
                MediaKind::Video => flv::TAG_VIDEO,
                MediaKind::Data => flv::TAG_SCRIPT,
            };
            flv::write_tag(&mut buf, tag, frame.rtmp_timestamp(), &frame.payload);
        }
        if !buf.is_empty() {
            match tokio::time::timeout(shared.config.write_timeout, out.write_all(&buf)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => break format!("write error: {e}"),
                Err(_) => break format!("reader did not read for {} s", shared.config.write_timeout.as_secs()),
            }
            *written += buf.len() as u64;
            buf.clear();
        }
        if !more {
            break "stream ended".to_string();
        }
        if !pacing.is_zero() {
            tokio::time::sleep_until(crate::pacing::paced_deadline(pacing)).await;
        }
    };
    let _ = out.flush().await;
    stream.unsubscribe(id);
    *dropped += sub.dropped();
    reason
}
