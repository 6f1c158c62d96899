//! Transport packet writing (ISO/IEC 13818-1 §2.4.3): PES headers, PES packetisation
//! with adaptation-field stuffing, PCR and PTS/DTS field encoding.

use super::{ts33, TS_PACKET_SIZE};

/// First byte of every transport packet.
pub(crate) const SYNC_BYTE: u8 = 0x47;
/// Bytes after the 4-byte packet header.
const BODY_SIZE: usize = TS_PACKET_SIZE - 4;
/// Adaptation field bytes (length, flags, PCR) needed to carry a PCR.
const AF_PCR_LEN: usize = 8;
/// Adaptation field bytes (length, flags) needed to carry only flags.
const AF_FLAGS_LEN: usize = 2;
/// Largest PES header written: 9 fixed bytes + PTS + DTS.
pub(crate) const MAX_PES_HEADER_LEN: usize = 19;

/// `stream_id` of the video PES (first video stream).
pub(crate) const STREAM_ID_VIDEO: u8 = 0xE0;
/// `stream_id` of the audio PES (first MPEG audio stream).
pub(crate) const STREAM_ID_AUDIO: u8 = 0xC0;
/// `stream_id` of timed ID3 metadata: private_stream_1.
pub(crate) const STREAM_ID_PRIVATE_1: u8 = 0xBD;

/// Destination for a byte stream written piece by piece: a plain `Vec` or a
/// [`PesWriter`] that cuts it into transport packets on the fly.
pub(crate) trait ByteSink {
    /// Append `data`.
    fn put(&mut self, data: &[u8]);
}

impl ByteSink for Vec<u8> {
    fn put(&mut self, data: &[u8]) {
        self.extend_from_slice(data);
    }
}

/// PTS or DTS field (5 bytes) with its 4-bit prefix (`0010` PTS only, `0011` PTS
/// followed by DTS, `0001` DTS), the timestamp taken modulo 2^33.
pub(crate) fn timestamp_field(prefix: u8, t: u64) -> [u8; 5] {
    let t = ts33(t);
    [
        (prefix << 4) | ((((t >> 30) & 0x07) as u8) << 1) | 1,
        (t >> 22) as u8,
        ((((t >> 15) & 0x7F) as u8) << 1) | 1,
        (t >> 7) as u8,
        (((t & 0x7F) as u8) << 1) | 1,
    ]
}

/// `program_clock_reference` field (6 bytes): 33-bit base (taken modulo 2^33), six
/// reserved one bits, 9-bit extension 0.
pub(crate) fn pcr_field(base: u64) -> [u8; 6] {
    let b = ts33(base);
    [
        (b >> 25) as u8,
        (b >> 17) as u8,
        (b >> 9) as u8,
        (b >> 1) as u8,
        (((b & 1) as u8) << 7) | 0x7E,
        0,
    ]
}

/// A program clock reference to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pcr {
    /// 33-bit base (90 kHz).
    pub(crate) base: u64,
    /// Set `discontinuity_indicator` in the same adaptation field.
    pub(crate) discontinuity: bool,
}

/// A PES packet header built on the stack.
pub(crate) struct PesHeader {
    buf: [u8; MAX_PES_HEADER_LEN],
    len: usize,
}

impl PesHeader {
    /// Header for a PES carrying `payload_len` bytes. `PES_packet_length` is the real
    /// length when it fits 16 bits and 0 (unbounded, allowed for video only) otherwise;
    /// callers check bounded streams beforehand. DTS is omitted when equal to PTS
    /// (modulo 2^33). `data_alignment_indicator` is set: every PES starts with an
    /// access unit (AUD, ADTS sync word, ID3 header).
    pub(crate) fn new(stream_id: u8, pts: u64, dts: Option<u64>, payload_len: usize) -> Self {
        let dts = dts.filter(|&d| ts33(d) != ts33(pts));
        let header_data_len: usize = if dts.is_some() { 10 } else { 5 };
        let packet_len = 3 + header_data_len + payload_len;
        let packet_len = if packet_len > 0xFFFF {
            0
        } else {
            packet_len as u16
        };
        let mut buf = [0u8; MAX_PES_HEADER_LEN];
        buf[..3].copy_from_slice(&[0, 0, 1]);
        buf[3] = stream_id;
        buf[4..6].copy_from_slice(&packet_len.to_be_bytes());
        buf[6] = 0x84; // '10' marker, not scrambled, data_alignment_indicator
        buf[7] = if dts.is_some() { 0xC0 } else { 0x80 }; // PTS_DTS_flags
        buf[8] = header_data_len as u8;
        match dts {
            Some(d) => {
                buf[9..14].copy_from_slice(&timestamp_field(0b0011, pts));
                buf[14..19].copy_from_slice(&timestamp_field(0b0001, d));
            }
            None => buf[9..14].copy_from_slice(&timestamp_field(0b0010, pts)),
        }
        Self {
            buf,
            len: 9 + header_data_len,
        }
    }

    /// The header bytes.
    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

/// Number of packets a PES of `pes_len` bytes takes when its first packet carries a PCR
/// (`pcr`) or only flags (`flags`).
pub(crate) fn pes_packet_count(pes_len: usize, pcr: bool, flags: bool) -> usize {
    let first = BODY_SIZE
        - if pcr {
            AF_PCR_LEN
        } else if flags {
            AF_FLAGS_LEN
        } else {
            0
        };
    1 + pes_len.saturating_sub(first).div_ceil(BODY_SIZE)
}

/// Cuts one PES packet into transport packets as its bytes are [`put`](ByteSink::put).
///
/// The total PES length is known up front, so each packet's layout is decided when it
/// starts: the first packet has `payload_unit_start_indicator` set and, when asked, an
/// adaptation field with the PCR and/or `random_access_indicator`; the last packet is
/// padded with adaptation-field stuffing. Payload bytes are copied straight from the
/// caller's slices into `out`.
pub(crate) struct PesWriter<'a> {
    out: &'a mut Vec<u8>,
    pid: u16,
    cc: &'a mut u8,
    /// PES bytes not yet written.
    remaining: usize,
    /// Payload bytes still to be written into the current packet.
    room: usize,
    first: bool,
    pcr: Option<Pcr>,
    random_access: bool,
}

impl<'a> PesWriter<'a> {
    /// Start a PES of `pes_len` bytes (header included) on `pid`. `cc` is the PID's
    /// next continuity counter, advanced per packet. The caller reserves `out`.
    pub(crate) fn new(
        out: &'a mut Vec<u8>,
        pid: u16,
        cc: &'a mut u8,
        pes_len: usize,
        pcr: Option<Pcr>,
        random_access: bool,
    ) -> Self {
        Self {
            out,
            pid,
            cc,
            remaining: pes_len,
            room: 0,
            first: true,
            pcr,
            random_access,
        }
    }

    fn start_packet(&mut self) {
        let (pcr, rai) = if self.first {
            (self.pcr, self.random_access)
        } else {
            (None, false)
        };
        let af_min = if pcr.is_some() {
            AF_PCR_LEN
        } else if rai {
            AF_FLAGS_LEN
        } else {
            0
        };
        let room = (BODY_SIZE - af_min).min(self.remaining);
        // Everything between the header and the payload is adaptation field, including
        // its length byte: fixed part plus stuffing.
        let af_len = BODY_SIZE - room;
        let pusi = if self.first { 0x40 } else { 0 };
        let afc = if af_len > 0 { 0x30 } else { 0x10 };
        self.out.extend_from_slice(&[
            SYNC_BYTE,
            pusi | (self.pid >> 8) as u8,
            self.pid as u8,
            afc | *self.cc,
        ]);
        *self.cc = (*self.cc + 1) & 0x0F;
        if af_len > 0 {
            self.out.push((af_len - 1) as u8);
            if af_len > 1 {
                let mut flags = 0u8;
                if pcr.is_some_and(|p| p.discontinuity) {
                    flags |= 0x80;
                }
                if rai {
                    flags |= 0x40;
                }
                if pcr.is_some() {
                    flags |= 0x10;
                }
                self.out.push(flags);
                let mut used = 2;
                if let Some(p) = pcr {
                    self.out.extend_from_slice(&pcr_field(p.base));
                    used += 6;
                }
                let stuffing = af_len - used;
                self.out.resize(self.out.len() + stuffing, 0xFF);
            }
        }
        self.room = room;
        self.first = false;
    }

    /// Check in debug builds that exactly the announced number of bytes was written.
    pub(crate) fn finish(self) {
        debug_assert_eq!(self.remaining, 0, "PES shorter than announced");
        debug_assert_eq!(self.room, 0, "PES shorter than announced");
    }
}

impl ByteSink for PesWriter<'_> {
    fn put(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            if self.room == 0 {
                if self.remaining == 0 {
                    debug_assert!(false, "PES longer than announced");
                    return;
                }
                self.start_packet();
            }
            let n = self.room.min(data.len());
            self.out.extend_from_slice(&data[..n]);
            self.room -= n;
            self.remaining -= n;
            data = &data[n..];
        }
    }
}

/// Write a packet on `pid` that carries only an adaptation field with a PCR. Such a
/// packet has no payload, so its continuity counter repeats the PID's last one
/// (`next_cc − 1`) and the PID's counter does not advance.
pub(crate) fn write_pcr_only_packet(out: &mut Vec<u8>, pid: u16, next_cc: u8, pcr: Pcr) {
    out.extend_from_slice(&[
        SYNC_BYTE,
        (pid >> 8) as u8,
        pid as u8,
        0x20 | (next_cc.wrapping_sub(1) & 0x0F),
        (BODY_SIZE - 1) as u8,
        if pcr.discontinuity { 0x90 } else { 0x10 },
    ]);
    out.extend_from_slice(&pcr_field(pcr.base));
    out.resize(out.len() + BODY_SIZE - AF_PCR_LEN, 0xFF);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_timestamp(b: &[u8]) -> u64 {
        (u64::from(b[0] >> 1 & 0x07) << 30)
            | (u64::from(b[1]) << 22)
            | (u64::from(b[2] >> 1) << 15)
            | (u64::from(b[3]) << 7)
            | u64::from(b[4] >> 1)
    }

    #[test]
    fn timestamp_fields() {
        assert_eq!(timestamp_field(2, 0), [0x21, 0x00, 0x01, 0x00, 0x01]);
        let max = (1u64 << 33) - 1;
        assert_eq!(timestamp_field(3, max), [0x3F, 0xFF, 0xFF, 0xFF, 0xFF]);
        assert_eq!(timestamp_field(1, 1 << 33), timestamp_field(1, 0));
        for t in [
            1u64,
            90_000,
            1 << 32,
            (1 << 32) + 12_345,
            max,
            123_456_789_012,
        ] {
            let f = timestamp_field(2, t);
            assert_eq!(decode_timestamp(&f), ts33(t));
            // Marker bits.
            assert_eq!(f[0] & 1, 1);
            assert_eq!(f[2] & 1, 1);
            assert_eq!(f[4] & 1, 1);
        }
    }

    #[test]
    fn pcr_field_layout() {
        assert_eq!(pcr_field(0), [0, 0, 0, 0, 0x7E, 0]);
        assert_eq!(pcr_field(1), [0, 0, 0, 0, 0xFE, 0]);
        let max = (1u64 << 33) - 1;
        assert_eq!(pcr_field(max), [0xFF, 0xFF, 0xFF, 0xFF, 0xFE, 0]);
        assert_eq!(pcr_field(1 << 32), [0x80, 0, 0, 0, 0x7E, 0]);
    }

    #[test]
    fn pes_header_layout() {
        let h = PesHeader::new(STREAM_ID_VIDEO, 1000, Some(1000), 10);
        assert_eq!(h.as_bytes().len(), 14);
        assert_eq!(&h.as_bytes()[..9], &[0, 0, 1, 0xE0, 0, 18, 0x84, 0x80, 5]);
        let h = PesHeader::new(STREAM_ID_VIDEO, 1000, Some(900), 70_000);
        assert_eq!(&h.as_bytes()[..9], &[0, 0, 1, 0xE0, 0, 0, 0x84, 0xC0, 10]);
        assert_eq!(h.as_bytes()[9] >> 4, 3);
        assert_eq!(h.as_bytes()[14] >> 4, 1);
        assert_eq!(decode_timestamp(&h.as_bytes()[14..]), 900);
        // DTS equal to PTS modulo 2^33 is dropped.
        let h = PesHeader::new(STREAM_ID_AUDIO, 5, Some(5 + (1 << 33)), 0);
        assert_eq!(h.as_bytes().len(), 14);
    }

    #[test]
    fn packet_counts() {
        assert_eq!(pes_packet_count(1, false, false), 1);
        assert_eq!(pes_packet_count(184, false, false), 1);
        assert_eq!(pes_packet_count(185, false, false), 2);
        assert_eq!(pes_packet_count(176, true, false), 1);
        assert_eq!(pes_packet_count(177, true, false), 2);
        assert_eq!(pes_packet_count(182, false, true), 1);
        assert_eq!(pes_packet_count(183, false, true), 2);
    }
}
