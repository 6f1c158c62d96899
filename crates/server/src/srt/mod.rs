//! SRT ingest: Kaltura's SRT broadcast URLs (`srt://host:port` with a `#:::e=…` stream id)
//! carrying MPEG-TS, published onto the media bus exactly like an RTMP publisher.
//!
//! * [`stream_id`]: the stream id → the RTMP connect arguments and stream name.
//! * [`listener`]: the UDP socket and the task driving every peer's SRT state machine.
//! * [`tsingest`]: demuxed TS → FLV message bodies → the publisher.

mod listener;
pub mod stream_id;
mod tsingest;

pub(crate) use listener::run;
