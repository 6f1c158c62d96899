//! The RTMP handshake, both sides, as sans-IO state machines.
//!
//! The client sends C0 (one version byte, always 3) and C1 (1536 bytes); the server answers
//! S0 + S1 + S2 at once; the client answers C2 (1536 bytes). After that both sides speak the
//! chunk stream ([`crate::chunk`]).
//!
//! Two flavours exist and both are handled:
//!
//! * **Plain** (the published Adobe spec): C1/S1 are `time(4) + zero(4) + random(1528)`;
//!   S2 echoes C1 and C2 echoes S1.
//! * **Digest** (Flash Player 9+ / FMS, a.k.a. "complex"): C1's version field (bytes 4..8) is
//!   non-zero and C1 carries an HMAC-SHA256 digest at scheme 0 or scheme 1. The server then
//!   answers with its own digest in S1 at the same scheme, and an S2 signed against the
//!   client's digest. FFmpeg's RTMP client verifies that signature and drops the connection
//!   on a mismatch, so a server must get this right. See `digest.rs` for the byte layout.
//!
//! [`ServerHandshake`] picks the flavour from C1: digest when C1 has a valid digest at either
//! scheme, plain otherwise (including every C1 whose version field is zero). C2 is counted but
//! not checked: many encoders send garbage there.
//!
//! # Caller obligations
//!
//! * **Randomness.** Each machine takes 1528 bytes of caller-supplied randomness (the filler of
//!   S1/C1; the filler of a signed S2/C2 is derived from it). Use fresh bytes per connection.
//!   The handshake is not a security boundary, so any decent RNG will do.
//! * **Time.** `epoch` is written big-endian into the time field of S1/C1. Any value works;
//!   milliseconds since process start, truncated to `u32`, is customary.
//! * **Byte order on the wire.** Send every non-empty `response` exactly once, in the order
//!   returned, before anything else you send on the connection.
//! * **Leftovers.** [`HandshakeProgress::Completed::remaining`] holds the bytes that followed
//!   the handshake in the last input (typically the first chunks). Feed them to the chunk
//!   layer before any later socket bytes.
//! * **Timeouts.** Nothing here knows about time passing: a peer that stops sending leaves the
//!   machine in [`HandshakeProgress::InProgress`] forever. The I/O driver must enforce a
//!   handshake deadline and close stalled connections.
//! * **Errors are final.** After an `Err` the connection must be closed; further calls return
//!   [`HandshakeError::AlreadyFailed`]. After `Completed`, further calls return
//!   [`HandshakeError::AlreadyCompleted`]: route bytes to the chunk layer instead.
//!
//! Input may be split anywhere, down to one byte per call. The server holds at most 1537
//! buffered bytes; it never buffers C2, only counts it.
//!
//! Encrypted RTMPE (C0 = 6, 8 or 9) is not supported and is rejected with
//! [`HandshakeError::UnsupportedVersion`].

mod digest;
#[cfg(test)]
mod tests;

use std::fmt;

use digest::{
    find_digest, fms_partial_key, fp_partial_key, hmac_sha256, push_signed_response,
    verify_signed_response, write_digest, DIGEST_LEN, FMS_KEY, FP_KEY,
};

/// The only RTMP version byte (C0/S0) this crate speaks: plain, unencrypted RTMP.
pub const RTMP_VERSION: u8 = 3;

/// Size of C1, C2, S1 and S2 in bytes.
pub const HANDSHAKE_SIZE: usize = 1536;

/// Size of the random filler of C1/S1 (after the 4-byte time and 4-byte version fields).
pub const RANDOM_SIZE: usize = 1528;

/// Version field the server puts in a digest S1 (13.14.10.13, as FMS-compatible servers do).
pub const SERVER_VERSION: u32 = 0x0D0E_0A0D;

/// Version field the client puts in a digest C1 (Flash Player 9-style, 128.0.7.2).
pub const CLIENT_VERSION: u32 = 0x8000_0702;

/// Which handshake flavour was negotiated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandshakeKind {
    /// Plain handshake: S2 echoes C1, C2 echoes S1, no digests.
    Plain,
    /// Flash-style digest handshake.
    Digest {
        /// Digest placement scheme of S1 (0: offset from bytes 8..12; 1: from bytes 772..776).
        /// The server always answers at the scheme it found C1's digest at.
        scheme: u8,
    },
}

/// What the caller should do after feeding bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HandshakeProgress {
    /// Need more bytes; send `response` (may be empty).
    InProgress {
        /// Bytes to send to the peer now (may be empty).
        response: Vec<u8>,
    },
    /// Done: send `response`, then feed `remaining` (bytes after the handshake, i.e. first
    /// chunks) to the chunk layer.
    Completed {
        /// Bytes to send to the peer now (may be empty).
        response: Vec<u8>,
        /// Input bytes that followed the handshake, for the chunk layer.
        remaining: Vec<u8>,
        /// The negotiated flavour.
        kind: HandshakeKind,
    },
}

/// Why a handshake failed. Every error except [`HandshakeError::NotStarted`] is final.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandshakeError {
    /// C0 (or S0, on the client) was not [`RTMP_VERSION`]; 6/8/9 would be RTMPE, anything else
    /// is usually not RTMP at all (for example an HTTP request).
    #[error("unsupported RTMP version byte {0:#04x} (only 0x03 is supported)")]
    UnsupportedVersion(u8),
    /// Client only: S1 carried a valid digest but S2 is not signed against our C1 digest.
    #[error("server S2 signature does not match the C1 digest")]
    InvalidServerSignature,
    /// Client only: [`ClientHandshake::handle_input`] was called before
    /// [`ClientHandshake::start`]. Not final: call `start` and go on.
    #[error("client handshake not started: call start() first")]
    NotStarted,
    /// The handshake already completed; feed further bytes to the chunk layer.
    #[error("handshake already completed")]
    AlreadyCompleted,
    /// The handshake already failed; close the connection.
    #[error("handshake already failed")]
    AlreadyFailed,
}

/// Moves bytes from the front of `input` into `buf` until `buf` holds `want` bytes.
/// Returns whether it is full.
fn fill(buf: &mut Vec<u8>, input: &mut &[u8], want: usize) -> bool {
    let take = want.saturating_sub(buf.len()).min(input.len());
    buf.extend_from_slice(&input[..take]);
    *input = &input[take..];
    buf.len() == want
}

/// Views `buf[1..]` (after the C0/S0 byte) as a handshake packet.
fn packet_after_version(buf: &[u8]) -> &[u8; HANDSHAKE_SIZE] {
    buf[1..]
        .try_into()
        .expect("caller filled exactly 1 + HANDSHAKE_SIZE bytes")
}

/// Builds `time + version + random` as a packet.
fn make_packet(epoch: u32, version: u32, random: &[u8; RANDOM_SIZE]) -> [u8; HANDSHAKE_SIZE] {
    let mut packet = [0u8; HANDSHAKE_SIZE];
    packet[..4].copy_from_slice(&epoch.to_be_bytes());
    packet[4..8].copy_from_slice(&version.to_be_bytes());
    packet[8..].copy_from_slice(random);
    packet
}

/// The version field (bytes 4..8) of a C1/S1.
fn version_field(packet: &[u8; HANDSHAKE_SIZE]) -> u32 {
    u32::from_be_bytes([packet[4], packet[5], packet[6], packet[7]])
}

// ---------------------------------------------------------------------------------------------
// Server
// ---------------------------------------------------------------------------------------------

enum ServerState {
    /// Buffering C0 + C1 in `buf`.
    AwaitC0C1,
    /// S0 S1 S2 produced; counting C2 bytes.
    AwaitC2 {
        kind: HandshakeKind,
        received: usize,
    },
    Done,
    Failed,
}

/// Server side of the RTMP handshake (C0 C1 C2 in, S0 S1 S2 out).
///
/// Replies S0 + S1 + S2 in one `response` as soon as C0 + C1 (1537 bytes) are in, then
/// completes once the 1536 bytes of C2 have arrived (C2's content is not checked).
pub struct ServerHandshake {
    random: [u8; RANDOM_SIZE],
    epoch: u32,
    state: ServerState,
    buf: Vec<u8>,
}

impl fmt::Debug for ServerHandshake {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            ServerState::AwaitC0C1 => "AwaitC0C1",
            ServerState::AwaitC2 { .. } => "AwaitC2",
            ServerState::Done => "Done",
            ServerState::Failed => "Failed",
        };
        f.debug_struct("ServerHandshake")
            .field("state", &state)
            .field("buffered", &self.buf.len())
            .finish_non_exhaustive()
    }
}

impl ServerHandshake {
    /// `random`: 1528 filler bytes for S1 (caller provides randomness); `epoch`: S1 time field.
    pub fn new(random: [u8; RANDOM_SIZE], epoch: u32) -> Self {
        Self {
            random,
            epoch,
            state: ServerState::AwaitC0C1,
            buf: Vec::new(),
        }
    }

    /// Feed any number of bytes (1 byte at a time must work). Buffers internally.
    ///
    /// A wrong C0 is reported as soon as its byte arrives, without waiting for C1.
    pub fn handle_input(&mut self, bytes: &[u8]) -> Result<HandshakeProgress, HandshakeError> {
        let mut input = bytes;
        let mut response = Vec::new();
        loop {
            match &mut self.state {
                ServerState::AwaitC0C1 => {
                    if self.buf.is_empty() {
                        if let Some(&c0) = input.first() {
                            if c0 != RTMP_VERSION {
                                return Err(self.fail(HandshakeError::UnsupportedVersion(c0)));
                            }
                            // The buffer grows as C1 arrives: a client that trickles it costs
                            // what it sent, not a full packet up front.
                        }
                    }
                    if !fill(&mut self.buf, &mut input, 1 + HANDSHAKE_SIZE) {
                        return Ok(HandshakeProgress::InProgress { response });
                    }
                    let c1 = packet_after_version(&self.buf);
                    let kind = server_reply(&self.random, self.epoch, c1, &mut response);
                    self.buf = Vec::new();
                    self.state = ServerState::AwaitC2 { kind, received: 0 };
                }
                ServerState::AwaitC2 { kind, received } => {
                    let take = (HANDSHAKE_SIZE - *received).min(input.len());
                    *received += take;
                    input = &input[take..];
                    if *received < HANDSHAKE_SIZE {
                        return Ok(HandshakeProgress::InProgress { response });
                    }
                    let kind = *kind;
                    self.state = ServerState::Done;
                    return Ok(HandshakeProgress::Completed {
                        response,
                        remaining: input.to_vec(),
                        kind,
                    });
                }
                ServerState::Done => return Err(HandshakeError::AlreadyCompleted),
                ServerState::Failed => return Err(HandshakeError::AlreadyFailed),
            }
        }
    }

    fn fail(&mut self, error: HandshakeError) -> HandshakeError {
        self.state = ServerState::Failed;
        self.buf = Vec::new();
        error
    }
}

/// Appends S0 + S1 + S2 answering `c1` to `out` and returns the flavour chosen.
fn server_reply(
    random: &[u8; RANDOM_SIZE],
    epoch: u32,
    c1: &[u8; HANDSHAKE_SIZE],
    out: &mut Vec<u8>,
) -> HandshakeKind {
    out.reserve_exact(1 + 2 * HANDSHAKE_SIZE);
    out.push(RTMP_VERSION);
    let client_digest = if version_field(c1) == 0 {
        None
    } else {
        // Scheme 1 first: what current Flash-derived clients use; FFmpeg/librtmp use 0.
        find_digest(c1, fp_partial_key(), 1)
    };
    match client_digest {
        None => {
            out.extend_from_slice(&make_packet(epoch, 0, random));
            out.extend_from_slice(c1);
            HandshakeKind::Plain
        }
        Some((scheme, c1_digest)) => {
            let mut s1 = make_packet(epoch, SERVER_VERSION, random);
            write_digest(&mut s1, fms_partial_key(), scheme);
            out.extend_from_slice(&s1);
            push_signed_response(
                out,
                &FMS_KEY,
                &c1_digest,
                &[b"klive S2", random, &c1_digest],
            );
            HandshakeKind::Digest { scheme }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Client
// ---------------------------------------------------------------------------------------------

enum ClientState {
    /// `start` not called yet.
    Idle,
    /// C0 + C1 sent; buffering S0 + S1 in `buf`. Holds our C1 digest if we sent one.
    AwaitS0S1 {
        c1_digest: Option<[u8; DIGEST_LEN]>,
    },
    /// C2 produced; buffering S2 in `buf`. Holds the key S2 must be signed with, if any.
    AwaitS2 {
        kind: HandshakeKind,
        s2_key: Option<[u8; DIGEST_LEN]>,
    },
    Done,
    Failed,
}

/// Client side, for the load generator and tests.
///
/// Sends C2 as soon as S0 + S1 are in (as the spec requires: a server may hold S2 back until
/// it has C2), so when S0 S1 S2 arrive together the C2 comes back with `Completed`.
/// With `digest = true`, C1 carries a scheme-1 digest; if S1 then carries a valid FMS digest
/// (either scheme), C2 is signed and S2's signature is verified. A server answering plainly
/// is tolerated: C2 then echoes S1 and the kind is [`HandshakeKind::Plain`]. A plain S2 is not
/// checked against C1.
pub struct ClientHandshake {
    random: [u8; RANDOM_SIZE],
    epoch: u32,
    digest: bool,
    state: ClientState,
    buf: Vec<u8>,
}

impl fmt::Debug for ClientHandshake {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            ClientState::Idle => "Idle",
            ClientState::AwaitS0S1 { .. } => "AwaitS0S1",
            ClientState::AwaitS2 { .. } => "AwaitS2",
            ClientState::Done => "Done",
            ClientState::Failed => "Failed",
        };
        f.debug_struct("ClientHandshake")
            .field("digest", &self.digest)
            .field("state", &state)
            .field("buffered", &self.buf.len())
            .finish_non_exhaustive()
    }
}

impl ClientHandshake {
    /// `random`: 1528 filler bytes for C1; `epoch`: C1 time field; `digest = true` sends a
    /// Flash-style digest C1 (version [`CLIENT_VERSION`], digest at scheme 1), `false` a plain
    /// C1 (version field zero).
    pub fn new(random: [u8; RANDOM_SIZE], epoch: u32, digest: bool) -> Self {
        Self {
            random,
            epoch,
            digest,
            state: ClientState::Idle,
            buf: Vec::new(),
        }
    }

    /// C0 + C1 to send first. Later calls return an empty `Vec` (nothing more to send).
    pub fn start(&mut self) -> Vec<u8> {
        if !matches!(self.state, ClientState::Idle) {
            return Vec::new();
        }
        let version = if self.digest { CLIENT_VERSION } else { 0 };
        let mut c1 = make_packet(self.epoch, version, &self.random);
        let c1_digest = self
            .digest
            .then(|| write_digest(&mut c1, fp_partial_key(), 1));
        let mut out = Vec::with_capacity(1 + HANDSHAKE_SIZE);
        out.push(RTMP_VERSION);
        out.extend_from_slice(&c1);
        self.state = ClientState::AwaitS0S1 { c1_digest };
        out
    }

    /// Feed server bytes (any split). Returns C2 as `response` once S1 is in, and
    /// `Completed` once S2 is in (with C2 if it arrived in the same call).
    pub fn handle_input(&mut self, bytes: &[u8]) -> Result<HandshakeProgress, HandshakeError> {
        let mut input = bytes;
        let mut response = Vec::new();
        loop {
            match &self.state {
                ClientState::Idle => return Err(HandshakeError::NotStarted),
                ClientState::AwaitS0S1 { c1_digest } => {
                    let c1_digest = *c1_digest;
                    if self.buf.is_empty() {
                        if let Some(&s0) = input.first() {
                            if s0 != RTMP_VERSION {
                                return Err(self.fail(HandshakeError::UnsupportedVersion(s0)));
                            }
                            self.buf.reserve_exact(1 + HANDSHAKE_SIZE);
                        }
                    }
                    if !fill(&mut self.buf, &mut input, 1 + HANDSHAKE_SIZE) {
                        return Ok(HandshakeProgress::InProgress { response });
                    }
                    let s1 = packet_after_version(&self.buf);
                    let (kind, s2_key) = client_reply(&self.random, c1_digest, s1, &mut response);
                    self.buf.clear();
                    self.state = ClientState::AwaitS2 { kind, s2_key };
                }
                ClientState::AwaitS2 { kind, s2_key } => {
                    let (kind, s2_key) = (*kind, *s2_key);
                    if !fill(&mut self.buf, &mut input, HANDSHAKE_SIZE) {
                        return Ok(HandshakeProgress::InProgress { response });
                    }
                    if let Some(key) = s2_key {
                        if !verify_signed_response(&key, &self.buf) {
                            return Err(self.fail(HandshakeError::InvalidServerSignature));
                        }
                    }
                    self.buf = Vec::new();
                    self.state = ClientState::Done;
                    return Ok(HandshakeProgress::Completed {
                        response,
                        remaining: input.to_vec(),
                        kind,
                    });
                }
                ClientState::Done => return Err(HandshakeError::AlreadyCompleted),
                ClientState::Failed => return Err(HandshakeError::AlreadyFailed),
            }
        }
    }

    fn fail(&mut self, error: HandshakeError) -> HandshakeError {
        self.state = ClientState::Failed;
        self.buf = Vec::new();
        error
    }
}

/// Appends C2 answering `s1` to `out`. Returns the flavour and, for a digest handshake, the
/// key S2 must be signed with.
fn client_reply(
    random: &[u8; RANDOM_SIZE],
    c1_digest: Option<[u8; DIGEST_LEN]>,
    s1: &[u8; HANDSHAKE_SIZE],
    out: &mut Vec<u8>,
) -> (HandshakeKind, Option<[u8; DIGEST_LEN]>) {
    let server_digest = match c1_digest {
        Some(c1_digest) if version_field(s1) != 0 => {
            find_digest(s1, fms_partial_key(), 1).map(|found| (found, c1_digest))
        }
        _ => None,
    };
    match server_digest {
        Some(((scheme, s1_digest), c1_digest)) => {
            push_signed_response(out, &FP_KEY, &s1_digest, &[b"klive C2", random, &s1_digest]);
            let s2_key = hmac_sha256(&FMS_KEY, &c1_digest);
            (HandshakeKind::Digest { scheme }, Some(s2_key))
        }
        None => {
            out.extend_from_slice(s1);
            (HandshakeKind::Plain, None)
        }
    }
}
