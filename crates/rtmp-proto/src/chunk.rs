//! The RTMP chunk stream: splitting messages into chunks and reassembling them.
//!
//! [`ChunkDecoder`] takes raw bytes (after the handshake) with [`ChunkDecoder::push`] and hands
//! back whole messages from [`ChunkDecoder::next_message`], which returns `Ok(None)` while it
//! needs more bytes. It never consumes a partial chunk, so bytes may arrive in any split.
//! [`ChunkEncoder`] turns messages into chunks, compressing headers (fmt 1–3) when it can.
//!
//! Caller obligations: protocol control messages that change chunk state (Set Chunk Size,
//! Abort) are messages like any other; the session layer must apply them with
//! [`ChunkDecoder::set_chunk_size`] / [`ChunkDecoder::abort`] before decoding further.

use bytes::{Buf, Bytes, BytesMut};
use std::collections::HashMap;

/// Chunk size every RTMP peer starts with.
pub const DEFAULT_CHUNK_SIZE: u32 = 128;
/// Largest chunk size the specification allows (31 bits).
pub const MAX_CHUNK_SIZE: u32 = 0x7FFF_FFFF;
const EXTENDED_TIMESTAMP: u32 = 0xFF_FFFF;
/// Single-chunk messages shorter than this are copied out of the receive buffer.
const SMALL_MESSAGE: usize = 16 * 1024;

/// One reassembled RTMP message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawMessage {
    /// Chunk stream the message arrived on.
    pub csid: u32,
    /// Absolute message timestamp (32-bit RTMP time, wraps).
    pub timestamp: u32,
    /// Message type id (1–22).
    pub type_id: u8,
    /// Message stream id.
    pub stream_id: u32,
    /// Message body.
    pub payload: Bytes,
}

/// Limits that protect the decoder from hostile peers.
#[derive(Debug, Clone, Copy)]
pub struct ChunkLimits {
    /// Largest message length accepted.
    pub max_message_size: u32,
    /// Most distinct chunk stream ids one connection may use.
    pub max_chunk_streams: usize,
    /// Most bytes held in partial messages across all chunk streams at once. Buffers grow
    /// as payload arrives (never from an announced length), so this bounds what a peer can
    /// make the decoder hold by starting messages it never finishes.
    pub max_partial_bytes: usize,
    /// Reserve a message's announced length at its first chunk (one exact allocation per
    /// message). Only for a peer that is trusted with its lengths (authorized); otherwise
    /// buffers grow as bytes arrive.
    pub reserve_announced: bool,
}

impl Default for ChunkLimits {
    fn default() -> Self {
        ChunkLimits { max_message_size: 16 * 1024 * 1024, max_chunk_streams: 64, max_partial_bytes: 64 * 1024 * 1024, reserve_announced: true }
    }
}

impl ChunkLimits {
    /// Limits for a connection that has not been authorized yet (no publish or play
    /// accepted): small messages, little reassembly memory.
    pub fn pre_auth() -> Self {
        ChunkLimits { max_message_size: 64 * 1024, max_chunk_streams: 8, max_partial_bytes: 64 * 1024, reserve_announced: false }
    }
}

/// Why the chunk stream cannot continue.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ChunkError {
    /// A message header announced more bytes than [`ChunkLimits::max_message_size`].
    #[error("message length {length} exceeds the limit of {limit} bytes")]
    MessageTooLarge {
        /// Announced length.
        length: u32,
        /// Configured limit.
        limit: u32,
    },
    /// The peer used more chunk streams than [`ChunkLimits::max_chunk_streams`].
    #[error("more than {0} chunk streams in use")]
    TooManyChunkStreams(usize),
    /// A compressed header (fmt 1–3) referred to a chunk stream with no previous header.
    #[error("chunk stream {csid} used fmt {fmt} before any full header")]
    MissingPreviousHeader {
        /// Chunk stream id.
        csid: u32,
        /// Header format used.
        fmt: u8,
    },
    /// Partial messages across chunk streams would hold more than
    /// [`ChunkLimits::max_partial_bytes`].
    #[error("partial messages exceed the limit of {0} bytes")]
    PartialBytesExceeded(usize),
    /// Set Chunk Size with 0 or a value over 2^31-1.
    #[error("invalid chunk size {0}")]
    InvalidChunkSize(u32),
}

#[derive(Debug, Default)]
struct ChunkStreamState {
    timestamp: u32,
    delta: u32,
    length: u32,
    type_id: u8,
    stream_id: u32,
    /// Whether the last header on this chunk stream carried an extended timestamp field;
    /// fmt 3 chunks then carry it too.
    extended: bool,
    /// Partial message being reassembled (empty between messages).
    partial: BytesMut,
    in_progress: bool,
}

/// Reassembles RTMP messages from chunks. See the module docs.
#[derive(Debug)]
pub struct ChunkDecoder {
    buf: BytesMut,
    chunk_size: u32,
    limits: ChunkLimits,
    streams: HashMap<u32, ChunkStreamState>,
    /// Sum of `partial.len()` over `streams`.
    partial_bytes: usize,
}

impl ChunkDecoder {
    /// A decoder with the default chunk size (128) and the given limits.
    pub fn new(limits: ChunkLimits) -> Self {
        ChunkDecoder { buf: BytesMut::new(), chunk_size: DEFAULT_CHUNK_SIZE, limits, streams: HashMap::new(), partial_bytes: 0 }
    }

    /// Replace the limits (e.g. once a connection is authorized). Applies to headers decoded
    /// from now on.
    pub fn set_limits(&mut self, limits: ChunkLimits) {
        self.limits = limits;
    }

    /// Bytes held in partial messages now.
    pub fn partial_bytes(&self) -> usize {
        self.partial_bytes
    }

    /// Append received bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The receive buffer itself, for a driver that reads the socket straight into it (saves a
    /// copy). Append only; bytes appended are decoded by the next [`Self::next_message`].
    pub fn buffer_mut(&mut self) -> &mut BytesMut {
        &mut self.buf
    }

    /// Bytes received but not yet decoded.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Apply the peer's Set Chunk Size.
    pub fn set_chunk_size(&mut self, size: u32) -> Result<(), ChunkError> {
        if size == 0 || size > MAX_CHUNK_SIZE {
            return Err(ChunkError::InvalidChunkSize(size));
        }
        self.chunk_size = size;
        Ok(())
    }

    /// Current incoming chunk size.
    pub fn chunk_size(&self) -> u32 {
        self.chunk_size
    }

    /// Apply the peer's Abort Message: drop the partial message on `csid`.
    pub fn abort(&mut self, csid: u32) {
        if let Some(state) = self.streams.get_mut(&csid) {
            self.partial_bytes -= state.partial.len();
            state.partial = BytesMut::new();
            state.in_progress = false;
        }
    }

    /// Decode the next complete message, or `Ok(None)` if more bytes are needed.
    pub fn next_message(&mut self) -> Result<Option<RawMessage>, ChunkError> {
        loop {
            match self.next_chunk()? {
                ChunkStep::NeedMore => return Ok(None),
                ChunkStep::Partial => continue,
                ChunkStep::Message(message) => return Ok(Some(message)),
            }
        }
    }

    fn next_chunk(&mut self) -> Result<ChunkStep, ChunkError> {
        let data = &self.buf[..];
        let Some(&first) = data.first() else { return Ok(ChunkStep::NeedMore) };
        let fmt = first >> 6;
        let (csid, mut pos) = match first & 0x3F {
            0 => match data.get(1) {
                Some(&b) => (64 + b as u32, 2),
                None => return Ok(ChunkStep::NeedMore),
            },
            1 => match (data.get(1), data.get(2)) {
                (Some(&b1), Some(&b2)) => (64 + b1 as u32 + 256 * b2 as u32, 3),
                _ => return Ok(ChunkStep::NeedMore),
            },
            id => (id as u32, 1),
        };

        let header_len = [11usize, 7, 3, 0][fmt as usize];
        if data.len() < pos + header_len {
            return Ok(ChunkStep::NeedMore);
        }
        if !self.streams.contains_key(&csid) {
            if fmt != 0 {
                return Err(ChunkError::MissingPreviousHeader { csid, fmt });
            }
            if self.streams.len() >= self.limits.max_chunk_streams {
                return Err(ChunkError::TooManyChunkStreams(self.limits.max_chunk_streams));
            }
        }
        let state_exists = self.streams.contains_key(&csid);
        let prev_extended = self.streams.get(&csid).map(|s| s.extended).unwrap_or(false);
        let h = &data[pos..pos + header_len];
        let ts_field = if fmt < 3 { u24(&h[0..3]) } else { 0 };
        pos += header_len;

        let has_extended = if fmt < 3 { ts_field == EXTENDED_TIMESTAMP } else { prev_extended };
        let mut extended_value = 0;
        if has_extended {
            if data.len() < pos + 4 {
                return Ok(ChunkStep::NeedMore);
            }
            extended_value = u32::from_be_bytes([data[pos], data[pos + 1], data[pos + 2], data[pos + 3]]);
            pos += 4;
        }

        // Work out the header values without mutating state: a chunk is consumed only when
        // its payload is complete in the buffer.
        let (length, type_id, stream_id) = match fmt {
            0 => (u24(&h[3..6]), h[6], u32::from_le_bytes([h[7], h[8], h[9], h[10]])),
            1 => {
                let prev = &self.streams[&csid];
                (u24(&h[3..6]), h[6], prev.stream_id)
            }
            _ => {
                let prev = &self.streams[&csid];
                (prev.length, prev.type_id, prev.stream_id)
            }
        };
        if length > self.limits.max_message_size {
            return Err(ChunkError::MessageTooLarge { length, limit: self.limits.max_message_size });
        }
        let in_progress = state_exists && self.streams[&csid].in_progress;
        let already = if in_progress { self.streams[&csid].partial.len() as u32 } else { 0 };
        // A fmt 0–2 header in the middle of a message restarts it (some peers do this after
        // losing track); only fmt 3 continues a partial message.
        let continuing = fmt == 3 && in_progress;
        let already = if continuing { already } else { 0 };
        let chunk_len = (length - already).min(self.chunk_size) as usize;
        if data.len() < pos + chunk_len {
            return Ok(ChunkStep::NeedMore);
        }

        // Commit: consume header bytes, then update state.
        self.buf.advance(pos);
        let state = self.streams.entry(csid).or_default();
        if !continuing {
            let ts_value = if has_extended { extended_value } else { ts_field };
            match fmt {
                0 => {
                    state.timestamp = ts_value;
                    state.delta = 0;
                }
                1 | 2 => {
                    state.delta = ts_value;
                    state.timestamp = state.timestamp.wrapping_add(ts_value);
                }
                _ => state.timestamp = state.timestamp.wrapping_add(state.delta),
            }
            state.length = length;
            state.type_id = type_id;
            state.stream_id = stream_id;
            self.partial_bytes -= state.partial.len();
            state.partial.clear();
            state.in_progress = true;
        }
        if fmt < 3 {
            state.extended = has_extended;
        }

        let complete = already as usize + chunk_len == length as usize;
        if complete && state.partial.is_empty() {
            // Whole message in a single chunk: hand out the buffer itself, no copy, unless it
            // is small: a slice keeps the whole receive buffer it lies in alive, so a few
            // small audio frames queued for a slow reader would pin many times their size.
            let payload = if chunk_len < SMALL_MESSAGE {
                let copy = Bytes::copy_from_slice(&self.buf[..chunk_len]);
                self.buf.advance(chunk_len);
                copy
            } else {
                self.buf.split_to(chunk_len).freeze()
            };
            state.in_progress = false;
            return Ok(ChunkStep::Message(RawMessage { csid, timestamp: state.timestamp, type_id, stream_id, payload }));
        }
        // The partial buffer grows with the bytes that actually arrived, never from the
        // announced length: a header may announce megabytes and send nothing more.
        if self.partial_bytes + chunk_len > self.limits.max_partial_bytes {
            return Err(ChunkError::PartialBytesExceeded(self.limits.max_partial_bytes));
        }
        if state.partial.is_empty() && self.limits.reserve_announced {
            // Bounded by max_partial_bytes above only as the bytes arrive; reserving here keeps
            // the finished message in one exact allocation instead of a doubled one.
            state.partial.reserve(length as usize);
        }
        state.partial.extend_from_slice(&self.buf[..chunk_len]);
        self.partial_bytes += chunk_len;
        self.buf.advance(chunk_len);
        if complete {
            self.partial_bytes -= state.partial.len();
            let payload = std::mem::take(&mut state.partial).freeze();
            state.in_progress = false;
            return Ok(ChunkStep::Message(RawMessage { csid, timestamp: state.timestamp, type_id, stream_id, payload }));
        }
        Ok(ChunkStep::Partial)
    }
}

enum ChunkStep {
    NeedMore,
    Partial,
    Message(RawMessage),
}

fn u24(b: &[u8]) -> u32 {
    (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32
}

#[derive(Debug, Clone, Copy)]
struct LastHeader {
    timestamp: u32,
    delta: u32,
    length: u32,
    type_id: u8,
    stream_id: u32,
}

/// Splits messages into chunks, compressing headers against the previous message on the
/// same chunk stream.
#[derive(Debug)]
pub struct ChunkEncoder {
    chunk_size: u32,
    last: HashMap<u32, LastHeader>,
}

impl Default for ChunkEncoder {
    fn default() -> Self {
        Self::new()
    }
}

impl ChunkEncoder {
    /// An encoder with the default chunk size (128).
    pub fn new() -> Self {
        ChunkEncoder { chunk_size: DEFAULT_CHUNK_SIZE, last: HashMap::new() }
    }

    /// Change the outgoing chunk size. The caller must have sent Set Chunk Size (encoded with
    /// the old size) before any message encoded after this call.
    pub fn set_chunk_size(&mut self, size: u32) {
        self.chunk_size = size.clamp(1, MAX_CHUNK_SIZE);
    }

    /// Current outgoing chunk size.
    pub fn chunk_size(&self) -> u32 {
        self.chunk_size
    }

    /// Append the chunks of one message to `out`.
    pub fn encode(&mut self, csid: u32, timestamp: u32, type_id: u8, stream_id: u32, payload: &[u8], out: &mut Vec<u8>) {
        let length = payload.len() as u32;
        let prev = self.last.get(&csid).copied();
        let (fmt, ts_field) = match prev {
            Some(p) if p.stream_id == stream_id && timestamp >= p.timestamp => {
                let delta = timestamp - p.timestamp;
                if p.length == length && p.type_id == type_id {
                    if delta == p.delta && delta != 0 {
                        (3u8, delta)
                    } else {
                        (2u8, delta)
                    }
                } else {
                    (1u8, delta)
                }
            }
            _ => (0u8, timestamp),
        };
        let extended = ts_field >= EXTENDED_TIMESTAMP;
        let delta = if fmt == 0 { 0 } else { ts_field };
        self.last.insert(csid, LastHeader { timestamp, delta, length, type_id, stream_id });

        out.reserve(payload.len() + 18 + payload.len() / self.chunk_size as usize * 5);
        write_basic_header(out, fmt, csid);
        let ts24 = ts_field.min(EXTENDED_TIMESTAMP);
        if fmt <= 2 {
            out.extend_from_slice(&ts24.to_be_bytes()[1..]);
        }
        if fmt <= 1 {
            out.extend_from_slice(&length.to_be_bytes()[1..]);
            out.push(type_id);
        }
        if fmt == 0 {
            out.extend_from_slice(&stream_id.to_le_bytes());
        }
        if extended {
            out.extend_from_slice(&ts_field.to_be_bytes());
        }
        let mut chunks = payload.chunks(self.chunk_size as usize);
        if let Some(first) = chunks.next() {
            out.extend_from_slice(first);
        }
        for chunk in chunks {
            write_basic_header(out, 3, csid);
            if extended {
                out.extend_from_slice(&ts_field.to_be_bytes());
            }
            out.extend_from_slice(chunk);
        }
    }
}

fn write_basic_header(out: &mut Vec<u8>, fmt: u8, csid: u32) {
    match csid {
        2..=63 => out.push(fmt << 6 | csid as u8),
        64..=319 => {
            out.push(fmt << 6);
            out.push((csid - 64) as u8);
        }
        _ => {
            let id = csid.clamp(320, 65599) - 64;
            out.push(fmt << 6 | 1);
            out.push((id & 0xFF) as u8);
            out.push((id >> 8) as u8);
        }
    }
}

#[cfg(test)]
mod tests;
