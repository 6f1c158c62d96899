//! FLV container framing: the file header, a tag writer and a streaming (sans-IO) tag
//! reader.
//!
//! Layout (Adobe FLV v10.1, annex E):
//!
//! ```text
//! header:  'F' 'L' 'V' version(1) flags(1: 0x04 audio | 0x01 video) data_offset(u32 BE = 9)
//! then:    PreviousTagSize0 (u32 BE = 0)
//! tags:    type(1) data_size(u24) timestamp(u24) timestamp_ext(u8, bits 24..31)
//!          stream_id(u24 = 0) data[data_size] PreviousTagSize(u32 = 11 + data_size)
//! ```

use bytes::{Buf, Bytes, BytesMut};

use super::{be_u24, be_u32, MediaError};

/// Tag type of an audio tag.
pub const TAG_AUDIO: u8 = 8;
/// Tag type of a video tag.
pub const TAG_VIDEO: u8 = 9;
/// Tag type of a script-data (AMF0) tag, e.g. `onMetaData`.
pub const TAG_SCRIPT: u8 = 18;

/// Size of the FLV file header without the first PreviousTagSize field.
pub const FILE_HEADER_LEN: usize = 9;
/// Size of a tag header.
pub const TAG_HEADER_LEN: usize = 11;
/// Largest tag body the 24-bit size field can describe.
pub const MAX_TAG_DATA_LEN: usize = 0x00FF_FFFF;

/// 9-byte FLV header + PreviousTagSize0 (13 bytes total).
pub fn file_header(has_audio: bool, has_video: bool) -> [u8; 13] {
    let mut flags = 0u8;
    if has_audio {
        flags |= 0x04;
    }
    if has_video {
        flags |= 0x01;
    }
    [b'F', b'L', b'V', 1, flags, 0, 0, 0, 9, 0, 0, 0, 0]
}

/// Append one complete tag: 11-byte header (type, 24-bit size, 24-bit ts + 8-bit ts
/// extension, stream id 0), data, 4-byte previous tag size.
///
/// # Panics
///
/// Panics if `data` is longer than [`MAX_TAG_DATA_LEN`] (16 MiB − 1), which the 24-bit
/// size field cannot express. RTMP message lengths are 24-bit as well, so data taken
/// from an RTMP message always fits.
pub fn write_tag(out: &mut Vec<u8>, tag_type: u8, timestamp: u32, data: &[u8]) {
    assert!(
        data.len() <= MAX_TAG_DATA_LEN,
        "FLV tag data of {} bytes exceeds the 24-bit size field",
        data.len()
    );
    let size = data.len() as u32;
    let ts = timestamp.to_be_bytes();
    out.reserve(TAG_HEADER_LEN + data.len() + 4);
    out.push(tag_type);
    out.extend_from_slice(&size.to_be_bytes()[1..]);
    out.extend_from_slice(&[ts[1], ts[2], ts[3], ts[0]]);
    out.extend_from_slice(&[0, 0, 0]);
    out.extend_from_slice(data);
    out.extend_from_slice(&(size + TAG_HEADER_LEN as u32).to_be_bytes());
}

/// One FLV tag as returned by [`FlvReader::next_tag`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlvTag {
    /// Tag type byte as stored in the file ([`TAG_AUDIO`], [`TAG_VIDEO`],
    /// [`TAG_SCRIPT`], or anything else, which callers should skip). The reserved and
    /// filter (encryption) bits are not masked off, so a filtered tag never compares
    /// equal to a plain audio/video type.
    pub tag_type: u8,
    /// Full 32-bit timestamp in milliseconds (24-bit field plus extension byte).
    pub timestamp: u32,
    /// Tag body (an RTMP message payload).
    pub data: Bytes,
}

/// Flags from the FLV file header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlvHeader {
    /// FLV version byte (1 for every file in the wild).
    pub version: u8,
    /// Header announces audio tags.
    pub has_audio: bool,
    /// Header announces video tags.
    pub has_video: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum ReadState {
    /// Waiting for the 9-byte file header.
    FileHeader,
    /// Skipping the rest of an oversized header plus PreviousTagSize0.
    Skip(u64),
    /// Reading tags.
    Tags,
    /// A fatal error occurred; it is reported again on every call.
    Failed(MediaError),
}

/// Streaming FLV reader (sans-IO): push bytes, pop tags. For the load generator
/// replaying files and for tests.
///
/// Bytes may be pushed in pieces of any size; [`FlvReader::next_tag`] returns
/// `Ok(None)` until a complete tag (including its trailing PreviousTagSize) is
/// buffered. Tag bodies are handed out as zero-copy [`Bytes`] slices of the internal
/// buffer. Memory use is bounded by the bytes pushed but not yet consumed; a single tag
/// is at most 16 MiB by construction of the format.
#[derive(Debug)]
pub struct FlvReader {
    buf: BytesMut,
    state: ReadState,
    header: Option<FlvHeader>,
}

impl Default for FlvReader {
    fn default() -> Self {
        Self::new()
    }
}

impl FlvReader {
    /// Reader expecting an FLV file header first.
    pub fn new() -> Self {
        Self {
            buf: BytesMut::new(),
            state: ReadState::FileHeader,
            header: None,
        }
    }

    /// Reader for a bare tag stream with no file header and no PreviousTagSize0 in
    /// front (e.g. tags cut out of a file at a tag boundary).
    pub fn without_file_header() -> Self {
        Self {
            buf: BytesMut::new(),
            state: ReadState::Tags,
            header: None,
        }
    }

    /// Append input bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        if matches!(self.state, ReadState::Failed(_)) {
            return;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// The file header, once it has been read.
    pub fn header(&self) -> Option<FlvHeader> {
        self.header
    }

    /// Number of bytes pushed but not yet consumed.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Pop the next complete tag. `Ok(None)` means more input is needed. A malformed
    /// file header is fatal: the same error is returned on every later call.
    pub fn next_tag(&mut self) -> Result<Option<FlvTag>, MediaError> {
        loop {
            match self.state.clone() {
                ReadState::Failed(e) => return Err(e.clone()),
                ReadState::FileHeader => {
                    if self.buf.len() < FILE_HEADER_LEN {
                        // Reject garbage early rather than waiting for 9 bytes.
                        if !b"FLV".starts_with(&self.buf[..self.buf.len().min(3)]) {
                            return Err(self.fail(MediaError::Invalid("missing FLV signature")));
                        }
                        return Ok(None);
                    }
                    if &self.buf[..3] != b"FLV" {
                        return Err(self.fail(MediaError::Invalid("missing FLV signature")));
                    }
                    let version = self.buf[3];
                    let flags = self.buf[4];
                    let offset = be_u32(&self.buf, 5).unwrap_or(0);
                    if (offset as usize) < FILE_HEADER_LEN {
                        return Err(self.fail(MediaError::Invalid("FLV header data offset < 9")));
                    }
                    self.header = Some(FlvHeader {
                        version,
                        has_audio: flags & 0x04 != 0,
                        has_video: flags & 0x01 != 0,
                    });
                    self.buf.advance(FILE_HEADER_LEN);
                    // Skip any extra header bytes, then PreviousTagSize0.
                    self.state = ReadState::Skip(u64::from(offset) - FILE_HEADER_LEN as u64 + 4);
                }
                ReadState::Skip(n) => {
                    let take = n.min(self.buf.len() as u64);
                    self.buf.advance(take as usize);
                    if take < n {
                        self.state = ReadState::Skip(n - take);
                        return Ok(None);
                    }
                    self.state = ReadState::Tags;
                }
                ReadState::Tags => return Ok(self.read_tag()),
            }
        }
    }

    fn fail(&mut self, e: MediaError) -> MediaError {
        self.state = ReadState::Failed(e.clone());
        self.buf = BytesMut::new();
        e
    }

    fn read_tag(&mut self) -> Option<FlvTag> {
        if self.buf.len() < TAG_HEADER_LEN {
            return None;
        }
        let tag_type = self.buf[0];
        let size = be_u24(&self.buf, 1)? as usize;
        let ts_low = be_u24(&self.buf, 4)?;
        let timestamp = ts_low | (u32::from(self.buf[7]) << 24);
        let total = TAG_HEADER_LEN + size + 4;
        if self.buf.len() < total {
            // Deliberately no `reserve(total)`: the size field is untrusted, so memory
            // grows only with bytes actually pushed.
            return None;
        }
        // The trailing PreviousTagSize is not validated: many muxers get it wrong
        // and the tag size field alone is sufficient to frame the stream.
        let mut whole = self.buf.split_to(total);
        whole.advance(TAG_HEADER_LEN);
        whole.truncate(size);
        Some(FlvTag {
            tag_type,
            timestamp,
            data: whole.freeze(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_bytes() {
        assert_eq!(
            file_header(true, true),
            [b'F', b'L', b'V', 1, 5, 0, 0, 0, 9, 0, 0, 0, 0]
        );
        assert_eq!(file_header(false, true)[4], 1);
        assert_eq!(file_header(true, false)[4], 4);
        assert_eq!(file_header(false, false)[4], 0);
    }

    #[test]
    fn write_tag_layout() {
        let mut out = Vec::new();
        write_tag(&mut out, TAG_VIDEO, 0x1234_5678, &[0xAA, 0xBB]);
        assert_eq!(
            out,
            vec![9, 0, 0, 2, 0x34, 0x56, 0x78, 0x12, 0, 0, 0, 0xAA, 0xBB, 0, 0, 0, 13]
        );
    }

    #[test]
    fn roundtrip_with_extended_timestamps() {
        let mut file = file_header(true, true).to_vec();
        let tags: Vec<(u8, u32, Vec<u8>)> = vec![
            (TAG_SCRIPT, 0, b"meta".to_vec()),
            (TAG_VIDEO, 0x00FF_FFFF, vec![1; 100]),
            (TAG_AUDIO, 0x0100_0000, vec![]),
            (TAG_VIDEO, u32::MAX, vec![7; 3]),
        ];
        for (t, ts, d) in &tags {
            write_tag(&mut file, *t, *ts, d);
        }
        let mut r = FlvReader::new();
        // Byte at a time.
        let mut got = Vec::new();
        for b in &file {
            r.push(std::slice::from_ref(b));
            while let Some(tag) = r.next_tag().unwrap() {
                got.push((tag.tag_type, tag.timestamp, tag.data.to_vec()));
            }
        }
        assert_eq!(got, tags);
        assert_eq!(r.buffered(), 0);
        assert_eq!(
            r.header(),
            Some(FlvHeader {
                version: 1,
                has_audio: true,
                has_video: true
            })
        );
    }

    #[test]
    fn larger_data_offset_is_skipped() {
        let mut file = vec![
            b'F', b'L', b'V', 1, 1, 0, 0, 0, 12, 0xEE, 0xEE, 0xEE, 0, 0, 0, 0,
        ];
        write_tag(&mut file, TAG_VIDEO, 5, &[1, 2, 3]);
        let mut r = FlvReader::new();
        r.push(&file);
        let tag = r.next_tag().unwrap().unwrap();
        assert_eq!(
            (tag.tag_type, tag.timestamp, &tag.data[..]),
            (TAG_VIDEO, 5, &[1u8, 2, 3][..])
        );
        assert_eq!(r.next_tag(), Ok(None));
    }

    #[test]
    fn bad_signature_is_sticky() {
        let mut r = FlvReader::new();
        r.push(b"FLX");
        assert!(matches!(r.next_tag(), Err(MediaError::Invalid(_))));
        r.push(b"more");
        assert!(matches!(r.next_tag(), Err(MediaError::Invalid(_))));
        let mut r = FlvReader::new();
        r.push(b"FL");
        assert_eq!(r.next_tag(), Ok(None));
        let mut r = FlvReader::new();
        r.push(&[b'F', b'L', b'V', 1, 5, 0, 0, 0, 3]);
        assert!(matches!(r.next_tag(), Err(MediaError::Invalid(_))));
    }

    #[test]
    fn bare_tag_stream() {
        let mut tags = Vec::new();
        write_tag(&mut tags, TAG_AUDIO, 42, &[0xAF, 1, 9]);
        let mut r = FlvReader::without_file_header();
        r.push(&tags[..7]);
        assert_eq!(r.next_tag(), Ok(None));
        r.push(&tags[7..]);
        let tag = r.next_tag().unwrap().unwrap();
        assert_eq!(
            (tag.tag_type, tag.timestamp, &tag.data[..]),
            (TAG_AUDIO, 42, &[0xAF, 1, 9][..])
        );
    }
}
