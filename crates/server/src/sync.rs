//! Recording sync points: while an entry records, each of its live streams carries an
//! `onMetaDataRecording` data message `{objectType: "KalturaSyncPoint", id, timestamp}`
//! every interval, the first as soon as the stream has a frame. It travels the media bus
//! like the encoder's own data messages, so RTMP players, FLV sinks (the transcoders'
//! input) and HLS (as ID3, see the segmenter) all carry it.
//!
//! `id` is `<stream>_<n>` with `n` the timestamp's slot on the interval grid, and the
//! timestamp is the stream's timeline (wall-clock) ms: both are the same on a primary and a
//! backup fed by one encoder.

use crate::bus::{Frame, LiveStream};
use bytes::Bytes;
use rtmp_proto::amf::{amf0, AmfValue};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::sleep;
use tokio_util::sync::CancellationToken;

/// How often a stream that has no frame yet is looked at again.
const FIRST_FRAME_POLL: Duration = Duration::from_millis(50);

/// The data message body (AMF0, as in an FLV script tag without `@setDataFrame`).
pub(crate) fn sync_point_message(stream: &str, n: i64, timestamp_ms: i64) -> Bytes {
    let values = [
        AmfValue::String("onMetaDataRecording".into()),
        AmfValue::Object(vec![
            ("objectType".into(), AmfValue::String("KalturaSyncPoint".into())),
            ("id".into(), AmfValue::String(format!("{stream}_{n}"))),
            ("timestamp".into(), AmfValue::Number(timestamp_ms as f64)),
        ]),
    ];
    Bytes::from(amf0::encode_all(&values))
}

/// Inject sync points into `stream` every `interval` until it ends or `cancel` fires.
pub(crate) async fn run(stream: Arc<LiveStream>, interval: Duration, cancel: CancellationToken) {
    let interval_ms = (interval.as_millis() as i64).max(1);
    let mut last_slot = None;
    loop {
        let Some(ts) = stream.last_timestamp() else {
            tokio::select! {
                _ = sleep(FIRST_FRAME_POLL) => continue,
                _ = stream.ended() => return,
                _ = cancel.cancelled() => return,
            }
        };
        let slot = ts.div_euclid(interval_ms);
        // Never two in one slot (a stream whose clock ran ahead of ours).
        let n = last_slot.map_or(slot, |last: i64| slot.max(last + 1));
        last_slot = Some(n);
        stream.push(Frame::data(ts, sync_point_message(&stream.name, n, ts)));
        tokio::select! {
            _ = sleep(interval) => {}
            _ = stream.ended() => return,
            _ = cancel.cancelled() => return,
        }
    }
}
