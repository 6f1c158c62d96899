//! The tokio driver around `rtmp-proto`: an RTMP listener, one task per connection, a media
//! bus per live stream with bounded fan-out to FLV sinks and RTMP players, and live stats.
//!
//! The application (the napi binding, or a Rust test) starts a [`Server`] with a callback
//! that receives [`ServerEvent`]s and answers each request with [`Server::decide`].
//! No media ever reaches the callback: it sees connections, publishes, codecs and metadata.

mod bus;
mod config;
mod conn;
mod events;
mod hls;
mod ingest;
mod origin;
mod server;
mod sink;
mod relay;
mod source;
mod stats;

pub use bus::{Frame, StreamInfo};
pub use config::ServerConfig;
pub use events::{AudioInfo, Decision, DisconnectInfo, ServerEvent, VideoInfo};
pub use hls::{HlsOptions, HlsStreamInfo};
pub use rtmp_proto::session::MediaKind;
pub use server::{Server, ServerError};
pub use sink::SinkTarget;
pub use stats::{ConnectionStats, ServerStats, StreamStats};
