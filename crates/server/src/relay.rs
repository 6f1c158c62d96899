//! Relays: one live stream republished under another name, without a transcoder. A Kaltura
//! conversion profile names its passthrough rendition `<entry>_<flavorParamsId>` while the
//! encoder publishes `<entry>_1`; the relay makes the source available under the rendition's
//! name (for HLS, players and sinks) at the cost of one queue hop per frame.

use crate::bus::{Frame, LiveStream};
use crate::events::ServerEvent;
use crate::shared::Shared;
use rtmp_proto::session::MediaKind;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

pub(crate) async fn run(shared: Arc<Shared>, id: u64, source: Arc<LiveStream>, alias: String, cancel: CancellationToken) {
    let reason = relay(&shared, id, &source, &alias, &cancel).await;
    shared.sources.lock().remove(&id);
    shared.emit(ServerEvent::SourceClosed { source_id: id, stream_name: alias, reason });
}

async fn relay(shared: &Shared, id: u64, source: &LiveStream, alias: &str, cancel: &CancellationToken) -> String {
    let Some(sub) = source.subscribe(id, shared.config.subscriber_buffer_bytes) else {
        return format!("stream '{}' ended", source.name);
    };
    let Some(target) = shared.registry.publish(alias, &source.app, id) else {
        source.unsubscribe(id);
        return format!("stream '{alias}' is already live");
    };
    let mut frames: Vec<Frame> = Vec::new();
    let mut reported = (None, None);
    let reason = loop {
        let more = tokio::select! {
            more = sub.next_batch(&mut frames) => more,
            _ = cancel.cancelled() => break if shared.shutdown.is_cancelled() { "server shutdown".to_string() } else { "detached".to_string() },
        };
        for frame in frames.drain(..) {
            if frame.config && frame.kind == MediaKind::Data {
                let json = source.info().metadata_json.unwrap_or_else(|| "{}".into());
                target.set_metadata(frame.timestamp, frame.payload, json);
                continue;
            }
            target.push(frame);
        }
        let codecs = source.codec_info();
        if codecs != reported {
            target.set_codec_info(codecs.0.clone(), codecs.1.clone());
            shared.emit(ServerEvent::CodecInfo { connection_id: id, stream_name: alias.to_string(), video: codecs.0.clone(), audio: codecs.1.clone() });
            reported = codecs;
        }
        if !more {
            break format!("stream '{}' ended", source.name);
        }
    };
    source.unsubscribe(id);
    shared.registry.unpublish(&target);
    shared.emit(ServerEvent::Unpublish { connection_id: id, stream_name: alias.to_string(), reason: reason.clone() });
    reason
}
