//! Sans-IO RTMP protocol library for klive-server.
//!
//! Nothing here touches a socket, a file or the clock: callers feed bytes in and get
//! events plus bytes to send back. Time, when needed, is passed in by the caller.
//! This keeps every parser unit-testable and fuzzable without I/O.
#![warn(missing_docs)]

pub mod amf;
pub mod chunk;
pub mod handshake;
pub mod message;
pub mod session;
