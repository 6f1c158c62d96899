//! The tokio driver around `rtmp-proto`: an RTMP listener, one task per connection, a media
//! bus per live stream with bounded fan-out to FLV sinks and RTMP players, and live stats.
//!
//! The application (the napi binding, or a Rust test) starts a [`Server`] with a callback
//! that receives [`ServerEvent`]s and answers each request with [`Server::decide`].
//! No media ever reaches the callback: it sees connections, publishes, codecs and metadata.
//!
//! [`Server::start_hls`] packages a live stream as HLS (MPEG-TS segments in memory, see
//! `hls/`), served by the HTTP origin (`origin.rs`) on `http_bind` and, by default, on the
//! RTMP port too (the first bytes of a connection tell RTMP from HTTP).
//!
//! Modules import downward only: `shared.rs` (state every task takes) imports none of its
//! users; `server.rs` is the top and owns what only some tasks need (HLS and recording
//! registries).

mod bus;
mod config;
mod conn;
mod error;
mod events;
mod file_lock;
mod hls;
mod ingest;
mod local_socket;
mod origin;
mod pacing;
mod server;
mod shared;
mod sink;
mod srt;
mod record;
mod relay;
mod source;
mod stats;
mod store;
mod sync;
mod timeline;
mod tls;

pub use bus::{Frame, StreamInfo};
pub use config::ServerConfig;
pub use events::{AudioInfo, Decision, DisconnectInfo, ServerEvent, VideoInfo};
pub use file_lock::FileLock;
pub use hls::{HlsOptions, HlsStreamInfo};
pub use record::{recover_segment, segment_duration_ms, RecordOptions, RecordingInfo, RecoveredSegment};
pub use rtmp_proto::session::MediaKind;
pub use error::ServerError;
pub use server::Server;
pub use sink::SinkTarget;
pub use srt::stream_id::SrtStreamId;
pub use tls::{write_self_signed, TlsError, TlsFiles};
pub use stats::{ConnectionStats, ServerStats, SrtLinkStats, StreamStats};
pub use store::{default_memory_budget, StoreConfig, StoreError, StoreStats, MAX_SPILL_QUEUE_BYTES};
