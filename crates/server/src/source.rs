//! FLV sources: a live stream fed as an FLV byte stream by a local writer on a unix socket.
//! This is how a transcoder (`ffmpeg … -f flv unix:PATH`) hands each rendition back to the
//! core: no RTMP session, no authentication, same media bus as any publisher.
//!
//! The listener stays until the source is detached: when the writer goes away the stream is
//! unpublished, and the next writer (a restarted transcoder) publishes it again.

use crate::events::ServerEvent;
use crate::ingest::Publisher;
use crate::server::Shared;
use crate::timeline::ClockMode;
use rtmp_proto::amf::{amf0, AmfValue};
use media::flv::{self, FlvReader};
use rtmp_proto::session::MediaKind;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::io::AsyncReadExt;
use tokio::net::{UnixListener, UnixStream};
use tokio_util::sync::CancellationToken;

pub(crate) async fn run(shared: Arc<Shared>, id: u64, name: String, app: String, listener: UnixListener, path: PathBuf, cancel: CancellationToken) {
    let reason = loop {
        let socket = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((socket, _)) => socket,
                Err(e) => break format!("accept failed: {e}"),
            },
            _ = cancel.cancelled() => break cancel_reason(&shared),
        };
        if let Err(why) = crate::local_socket::check_peer(&socket) {
            // Dropped before a byte is read: a foreign writer never publishes.
            shared.emit(ServerEvent::Warning { connection_id: id, message: format!("FLV source '{name}': {why}") });
            continue;
        }
        let Some(stream) = shared.registry.publish(&name, &app, id) else {
            shared.emit(ServerEvent::Warning { connection_id: id, message: format!("FLV source refused: stream '{name}' is already live") });
            continue;
        };
        let mut publisher = Publisher::new(&shared, stream.clone(), id, ClockMode::Unwrap);
        let ended = feed(&shared, &mut publisher, socket, &cancel).await;
        shared.registry.unpublish(&stream);
        shared.emit(ServerEvent::Unpublish { connection_id: id, stream_name: name.clone(), reason: ended.clone() });
        if cancel.is_cancelled() {
            break ended;
        }
    };
    let _ = std::fs::remove_file(&path);
    shared.sources.lock().remove(&id);
    shared.emit(ServerEvent::SourceClosed { source_id: id, stream_name: name, reason });
}

fn cancel_reason(shared: &Shared) -> String {
    if shared.shutdown.is_cancelled() {
        "server shutdown".into()
    } else {
        "detached".into()
    }
}

/// Read FLV tags from one writer until it closes, errs, or the source is cancelled.
async fn feed(shared: &Shared, publisher: &mut Publisher, mut socket: UnixStream, cancel: &CancellationToken) -> String {
    let mut reader = FlvReader::new();
    let mut buf = vec![0u8; 64 * 1024];
    let pacing = shared.config.read_pacing;
    loop {
        let n = tokio::select! {
            read = socket.read(&mut buf) => match read {
                Ok(0) => return "writer closed".into(),
                Ok(n) => n,
                Err(e) => return format!("read error: {e}"),
            },
            _ = cancel.cancelled() => return cancel_reason(shared),
        };
        reader.push(&buf[..n]);
        loop {
            match reader.next_tag() {
                Ok(Some(tag)) => match tag.tag_type {
                    flv::TAG_AUDIO => publisher.media(shared, MediaKind::Audio, tag.timestamp, tag.data),
                    flv::TAG_VIDEO => publisher.media(shared, MediaKind::Video, tag.timestamp, tag.data),
                    flv::TAG_SCRIPT => {
                        if let Ok(mut values) = amf0::decode_all(&tag.data) {
                            if values.first().and_then(AmfValue::as_str) == Some("@setDataFrame") {
                                values.remove(0);
                            }
                            if let Some(name) = values.first().and_then(AmfValue::as_str).map(str::to_string) {
                                let body = bytes::Bytes::from(amf0::encode_all(&values));
                                publisher.data(shared, tag.timestamp, &name, &values, body);
                            }
                        }
                    }
                    _ => {}
                },
                Ok(None) => break,
                Err(e) => return format!("invalid FLV: {e}"),
            }
        }
        // Same batching as RTMP publishers: one wakeup per pacing tick, not per write.
        if n < buf.len() / 2 && !pacing.is_zero() {
            tokio::time::sleep_until(crate::pacing::paced_deadline(pacing)).await;
        }
    }
}
