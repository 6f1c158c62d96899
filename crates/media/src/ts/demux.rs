//! MPEG-2 transport stream demuxer for ingest (SRT carries MPEG-TS), sans-IO.
//!
//! [`TsDemuxer::push`] takes any slice of the byte stream (packets may straddle calls) and
//! queues [`DemuxedFrame`]s, taken with [`TsDemuxer::poll_frame`]: video access units in
//! length-prefixed form (AVCC/HVCC, parameter sets and delimiters removed) with a decoder
//! configuration record whenever the parameter sets change, and raw AAC frames with their
//! AudioSpecificConfig — the shapes an RTMP publisher sends, so the rest of the server does
//! not know where a stream came from.
//!
//! # What it reads
//! The first program of the PAT and its PMT; elementary streams of type 0x1B (H.264), 0x24
//! (HEVC) and 0x0F (AAC in ADTS); the first video and the first audio stream are used,
//! everything else is skipped. PES packets are reassembled across TS packets; a packet whose
//! continuity counter skips ahead, or a PES that does not parse, drops the PES in progress
//! (a broken frame is worse than a missing one for every decoder behind us) and is counted
//! in [`DemuxStats`].
//!
//! # Timestamps
//! PTS/DTS are 33-bit 90 kHz values that wrap every 26.5 hours. They are unwrapped onto one
//! signed 64-bit timeline shared by all streams of the program: each value is placed within
//! ±2^32 ticks of the previous one, so the wrap, and audio slightly behind video across it,
//! come out continuous. The caller maps that timeline onto its own clock.
//!
//! # Caller obligations
//! None beyond feeding bytes in order; garbage between packets is skipped by resyncing on
//! the 0x47 sync byte (two in a row, 188 bytes apart). Memory is bounded: a PES is dropped
//! once it exceeds [`MAX_PES_BYTES`], and at most [`MAX_QUEUED_FRAMES`] frames wait.

use super::{TS_PACKET_SIZE, VideoStreamKind};
use std::collections::VecDeque;

/// Largest PES reassembled (a 4K keyframe at high bitrate fits); larger ones are dropped.
pub const MAX_PES_BYTES: usize = 16 * 1024 * 1024;
/// Most frames waiting for [`TsDemuxer::poll_frame`]; older ones are dropped beyond it.
pub const MAX_QUEUED_FRAMES: usize = 4096;

const SYNC: u8 = 0x47;
const PAT_PID: u16 = 0;
const NULL_PID: u16 = 0x1FFF;
const STREAM_TYPE_AAC_ADTS: u8 = 0x0F;
const WRAP: i64 = 1 << 33;
const HALF_WRAP: i64 = 1 << 32;

/// One unit of demuxed media.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DemuxedFrame {
    /// New video decoder configuration (AVCDecoderConfigurationRecord or
    /// HEVCDecoderConfigurationRecord), emitted before the first frame and on every change.
    VideoConfig {
        /// Codec.
        codec: VideoStreamKind,
        /// The configuration record.
        record: Vec<u8>,
    },
    /// One access unit, NAL units each prefixed by a 4-byte big-endian length.
    Video {
        /// Codec.
        codec: VideoStreamKind,
        /// Decode time, 90 kHz, unwrapped.
        dts: i64,
        /// Presentation time, 90 kHz, unwrapped.
        pts: i64,
        /// Contains an IDR / IRAP picture.
        keyframe: bool,
        /// Length-prefixed NAL units.
        data: Vec<u8>,
    },
    /// New AAC configuration (2-byte AudioSpecificConfig), before the first frame and on change.
    AudioConfig {
        /// AudioSpecificConfig.
        asc: [u8; 2],
        /// Sample rate in Hz.
        sample_rate: u32,
    },
    /// One raw AAC frame (ADTS header removed).
    Audio {
        /// Presentation time, 90 kHz, unwrapped.
        pts: i64,
        /// Raw AAC.
        data: Vec<u8>,
    },
}

/// Counters of what the demuxer skipped or repaired.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DemuxStats {
    /// TS packets read.
    pub packets: u64,
    /// Bytes skipped while looking for the sync byte.
    pub resync_bytes: u64,
    /// Continuity-counter gaps (lost packets).
    pub cc_errors: u64,
    /// PES packets dropped (gap, malformed, oversized, no timestamp).
    pub dropped_pes: u64,
    /// Frames dropped because the queue was full.
    pub dropped_frames: u64,
    /// Elementary streams of a type this demuxer does not read.
    pub unsupported_streams: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EsKind {
    Video(VideoStreamKind),
    Aac,
}

#[derive(Debug)]
struct Pes {
    pid: u16,
    kind: EsKind,
    buf: Vec<u8>,
    /// Continuity counter of the last packet, None before the first.
    cc: Option<u8>,
    /// The PES in `buf` has lost a packet: drop it when it ends.
    broken: bool,
    started: bool,
}

impl Pes {
    fn new(pid: u16, kind: EsKind) -> Self {
        Pes { pid, kind, buf: Vec::new(), cc: None, broken: false, started: false }
    }
}

/// The demuxer. See the module documentation.
#[derive(Debug, Default)]
pub struct TsDemuxer {
    /// Bytes of an incomplete packet (or of a resync search).
    pending: Vec<u8>,
    pmt_pid: Option<u16>,
    video: Option<Pes>,
    audio: Option<Pes>,
    /// Last unwrapped timestamp, the reference for the next.
    last_ts: Option<i64>,
    video_params: Vec<Vec<u8>>,
    video_record: Option<Vec<u8>>,
    audio_config: Option<[u8; 2]>,
    out: VecDeque<DemuxedFrame>,
    stats: DemuxStats,
    unsupported_seen: Vec<u16>,
}

impl TsDemuxer {
    /// A demuxer waiting for the PAT.
    pub fn new() -> Self {
        Self::default()
    }

    /// What was skipped so far.
    pub fn stats(&self) -> DemuxStats {
        self.stats
    }

    /// Feed bytes of the transport stream.
    pub fn push(&mut self, mut data: &[u8]) {
        if !self.pending.is_empty() {
            let need = TS_PACKET_SIZE - self.pending.len().min(TS_PACKET_SIZE);
            let take = need.min(data.len());
            self.pending.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.pending.len() < TS_PACKET_SIZE {
                return;
            }
            let mut packet = [0u8; TS_PACKET_SIZE];
            packet.copy_from_slice(&self.pending[..TS_PACKET_SIZE]);
            self.pending.clear();
            if packet[0] == SYNC {
                self.packet(&packet);
            } else {
                // Lost sync: search again in what we held plus what came.
                let mut joined = packet[1..].to_vec();
                self.stats.resync_bytes += 1;
                joined.extend_from_slice(data);
                return self.push_aligned(&joined);
            }
        }
        self.push_aligned(data);
    }

    fn push_aligned(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            if data[0] != SYNC || (data.len() > TS_PACKET_SIZE && data[TS_PACKET_SIZE] != SYNC) {
                // Skip to the next plausible packet start.
                let skip = (1..data.len())
                    .find(|&i| data[i] == SYNC && data.get(i + TS_PACKET_SIZE).is_none_or(|&b| b == SYNC))
                    .unwrap_or(data.len());
                self.stats.resync_bytes += skip as u64;
                data = &data[skip..];
                continue;
            }
            if data.len() < TS_PACKET_SIZE {
                self.pending.extend_from_slice(data);
                return;
            }
            let (packet, rest) = data.split_at(TS_PACKET_SIZE);
            self.packet(packet);
            data = rest;
        }
    }

    /// The next demuxed frame, in the order the stream completed them.
    pub fn poll_frame(&mut self) -> Option<DemuxedFrame> {
        self.out.pop_front()
    }

    /// Flush the PES packets in progress (end of stream).
    pub fn finish(&mut self) {
        if let Some(mut pes) = self.video.take() {
            self.end_pes(&mut pes);
            self.video = Some(pes);
        }
        if let Some(mut pes) = self.audio.take() {
            self.end_pes(&mut pes);
            self.audio = Some(pes);
        }
    }

    fn packet(&mut self, p: &[u8]) {
        self.stats.packets += 1;
        if p[1] & 0x80 != 0 {
            // transport_error_indicator: the packet is known bad.
            self.mark_broken(pid_of(p));
            return;
        }
        let pusi = p[1] & 0x40 != 0;
        let pid = pid_of(p);
        if pid == NULL_PID {
            return;
        }
        let afc = (p[3] >> 4) & 0x3;
        let cc = p[3] & 0x0F;
        let mut start = 4;
        if afc & 0x2 != 0 {
            let len = p[4] as usize;
            start = 5 + len;
            if start > TS_PACKET_SIZE {
                self.mark_broken(pid);
                return;
            }
        }
        let has_payload = afc & 0x1 != 0;
        let payload = if has_payload { &p[start..] } else { &[][..] };
        if pid == PAT_PID {
            if pusi {
                self.read_pat(payload);
            }
            return;
        }
        if Some(pid) == self.pmt_pid {
            if pusi {
                self.read_pmt(payload);
            }
            return;
        }
        let discontinuity = afc & 0x2 != 0 && p[4] > 0 && p[5] & 0x80 != 0;
        let mut slot = if self.video.as_ref().is_some_and(|v| v.pid == pid) {
            self.video.take()
        } else if self.audio.as_ref().is_some_and(|a| a.pid == pid) {
            self.audio.take()
        } else {
            None
        };
        let Some(pes) = slot.as_mut() else { return };
        if has_payload {
            if let Some(last) = pes.cc {
                if cc == last && !pusi {
                    // A duplicate packet (allowed once by the standard): ignore it.
                    self.put_back(slot);
                    return;
                }
                if cc != (last + 1) & 0x0F && !discontinuity {
                    self.stats.cc_errors += 1;
                    pes.broken = true;
                }
            }
            pes.cc = Some(cc);
        }
        if pusi {
            self.end_pes(pes);
            pes.started = true;
            pes.broken = false;
        }
        if pes.started && !payload.is_empty() {
            if pes.buf.len() + payload.len() > MAX_PES_BYTES {
                pes.broken = true;
            } else if !pes.broken {
                pes.buf.extend_from_slice(payload);
            }
            // A bounded PES ends exactly: emit it now rather than at the next start.
            if let Some(total) = bounded_pes_len(&pes.buf) {
                if pes.buf.len() >= total {
                    self.end_pes(pes);
                    pes.started = false;
                }
            }
        }
        self.put_back(slot);
    }

    fn put_back(&mut self, slot: Option<Pes>) {
        if let Some(pes) = slot {
            match pes.kind {
                EsKind::Video(_) => self.video = Some(pes),
                EsKind::Aac => self.audio = Some(pes),
            }
        }
    }

    fn mark_broken(&mut self, pid: u16) {
        for pes in [self.video.as_mut(), self.audio.as_mut()].into_iter().flatten() {
            if pes.pid == pid {
                pes.broken = true;
            }
        }
    }

    fn read_pat(&mut self, payload: &[u8]) {
        let Some(section) = psi_section(payload, 0x00) else { return };
        // Program loop: program_number(16) reserved(3) pid(13), after the 5-byte header.
        let mut i = 5;
        while i + 4 <= section.len() {
            let program = u16::from_be_bytes([section[i], section[i + 1]]);
            let pid = u16::from_be_bytes([section[i + 2], section[i + 3]]) & 0x1FFF;
            if program != 0 {
                self.pmt_pid = Some(pid);
                return;
            }
            i += 4;
        }
    }

    fn read_pmt(&mut self, payload: &[u8]) {
        let Some(section) = psi_section(payload, 0x02) else { return };
        if section.len() < 9 {
            return;
        }
        let info_len = (u16::from_be_bytes([section[7], section[8]]) & 0x0FFF) as usize;
        let mut i = 9 + info_len;
        let mut video = None;
        let mut audio = None;
        while i + 5 <= section.len() {
            let stream_type = section[i];
            let pid = u16::from_be_bytes([section[i + 1], section[i + 2]]) & 0x1FFF;
            let es_len = (u16::from_be_bytes([section[i + 3], section[i + 4]]) & 0x0FFF) as usize;
            match stream_type {
                0x1B if video.is_none() => video = Some((pid, VideoStreamKind::H264)),
                0x24 if video.is_none() => video = Some((pid, VideoStreamKind::Hevc)),
                STREAM_TYPE_AAC_ADTS if audio.is_none() => audio = Some(pid),
                _ => {
                    if !self.unsupported_seen.contains(&pid) && self.unsupported_seen.len() < 16 {
                        self.unsupported_seen.push(pid);
                        self.stats.unsupported_streams += 1;
                    }
                }
            }
            i += 5 + es_len;
        }
        // Keep streams already being read when the PMT repeats unchanged.
        match video {
            Some((pid, kind)) if self.video.as_ref().is_none_or(|v| v.pid != pid || v.kind != EsKind::Video(kind)) => {
                self.video = Some(Pes::new(pid, EsKind::Video(kind)));
                self.video_params.clear();
            }
            None => self.video = None,
            _ => {}
        }
        match audio {
            Some(pid) if self.audio.as_ref().is_none_or(|a| a.pid != pid) => self.audio = Some(Pes::new(pid, EsKind::Aac)),
            None => self.audio = None,
            _ => {}
        }
    }

    /// The PES in `pes.buf` is complete (or cut short): parse and emit it, then clear.
    fn end_pes(&mut self, pes: &mut Pes) {
        let buf = std::mem::take(&mut pes.buf);
        let broken = std::mem::replace(&mut pes.broken, false);
        if buf.is_empty() || !pes.started {
            pes.buf = buf;
            pes.buf.clear();
            return;
        }
        if broken {
            self.stats.dropped_pes += 1;
        } else {
            match parse_pes(&buf) {
                Some(parsed) => {
                    let pts = self.unwrap(parsed.pts);
                    let dts = parsed.dts.map(|d| self.unwrap(d)).unwrap_or(pts);
                    match pes.kind {
                        EsKind::Video(codec) => self.video_au(codec, dts, pts, parsed.payload),
                        EsKind::Aac => self.aac_pes(pts, parsed.payload),
                    }
                }
                None => self.stats.dropped_pes += 1,
            }
        }
        pes.buf = buf;
        pes.buf.clear();
        pes.started = false;
    }

    fn unwrap(&mut self, raw: u64) -> i64 {
        let raw = raw as i64 & (WRAP - 1);
        let value = match self.last_ts {
            None => raw,
            Some(last) => {
                let mut delta = (raw - last.rem_euclid(WRAP)).rem_euclid(WRAP);
                if delta >= HALF_WRAP {
                    delta -= WRAP;
                }
                last + delta
            }
        };
        self.last_ts = Some(value);
        value
    }

    fn emit(&mut self, frame: DemuxedFrame) {
        if self.out.len() >= MAX_QUEUED_FRAMES {
            self.out.pop_front();
            self.stats.dropped_frames += 1;
        }
        self.out.push_back(frame);
    }

    fn video_au(&mut self, codec: VideoStreamKind, dts: i64, pts: i64, annexb: &[u8]) {
        let mut params: Vec<&[u8]> = Vec::new();
        let mut data = Vec::with_capacity(annexb.len() + 16);
        let mut keyframe = false;
        for nal in annexb_nals(annexb) {
            let t = codec.nal_type(nal[0]);
            if t == codec.aud_nal_type() {
                continue;
            }
            if codec.is_parameter_set(t) {
                params.push(nal);
                continue;
            }
            keyframe |= match codec {
                VideoStreamKind::H264 => t == 5,
                VideoStreamKind::Hevc => (16..=21).contains(&t),
            };
            data.extend_from_slice(&(nal.len() as u32).to_be_bytes());
            data.extend_from_slice(nal);
        }
        if !params.is_empty() {
            self.update_video_params(codec, &params);
        }
        if data.is_empty() {
            return;
        }
        if self.video_record.is_none() {
            // No decoder can start without its parameter sets: wait for them.
            self.stats.dropped_pes += 1;
            return;
        }
        self.emit(DemuxedFrame::Video { codec, dts, pts, keyframe, data });
    }

    fn update_video_params(&mut self, codec: VideoStreamKind, params: &[&[u8]]) {
        // Merge by type: a keyframe may repeat only some of them.
        for nal in params {
            let t = codec.nal_type(nal[0]);
            self.video_params.retain(|p| codec.nal_type(p[0]) != t);
            self.video_params.push(nal.to_vec());
        }
        let record = match codec {
            VideoStreamKind::H264 => avc_record(&self.video_params),
            VideoStreamKind::Hevc => hevc_record(&self.video_params),
        };
        if let Some(record) = record {
            if self.video_record.as_ref() != Some(&record) {
                self.video_record = Some(record.clone());
                self.emit(DemuxedFrame::VideoConfig { codec, record });
            }
        }
    }

    fn aac_pes(&mut self, pts: i64, mut data: &[u8]) {
        let mut index = 0i64;
        while data.len() >= 7 {
            if data[0] != 0xFF || data[1] & 0xF6 != 0xF0 {
                self.stats.dropped_pes += 1;
                return;
            }
            let protection_absent = data[1] & 1 != 0;
            let header = if protection_absent { 7 } else { 9 };
            let object_type = ((data[2] >> 6) & 0x3) + 1;
            let sfi = (data[2] >> 2) & 0xF;
            let channels = ((data[2] & 1) << 2) | (data[3] >> 6);
            let frame_len = (((data[3] & 0x3) as usize) << 11) | ((data[4] as usize) << 3) | ((data[5] as usize) >> 5);
            let Some(rate) = SAMPLE_RATES.get(sfi as usize).copied() else {
                self.stats.dropped_pes += 1;
                return;
            };
            if frame_len < header || frame_len > data.len() {
                self.stats.dropped_pes += 1;
                return;
            }
            let asc = [(object_type << 3) | (sfi >> 1), ((sfi & 1) << 7) | (channels << 3)];
            if self.audio_config != Some(asc) {
                self.audio_config = Some(asc);
                self.emit(DemuxedFrame::AudioConfig { asc, sample_rate: rate });
            }
            let frame_pts = pts + index * 1024 * 90_000 / rate as i64;
            self.emit(DemuxedFrame::Audio { pts: frame_pts, data: data[header..frame_len].to_vec() });
            data = &data[frame_len..];
            index += 1;
        }
    }
}

const SAMPLE_RATES: [u32; 13] = [96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350];

fn pid_of(p: &[u8]) -> u16 {
    u16::from_be_bytes([p[1], p[2]]) & 0x1FFF
}

/// The section starting in a payload_unit_start packet (pointer field skipped), cut to its
/// section_length (CRC excluded), when it is of `table_id` and fits this packet.
fn psi_section(payload: &[u8], table_id: u8) -> Option<&[u8]> {
    let pointer = *payload.first()? as usize;
    let s = payload.get(1 + pointer..)?;
    if *s.first()? != table_id || s.len() < 3 {
        return None;
    }
    let len = (u16::from_be_bytes([s[1], s[2]]) & 0x0FFF) as usize;
    // Skip table_id + length (3 bytes); keep table_id_extension .. last_section (5 bytes) and the body.
    let end = 3 + len.checked_sub(4)?;
    s.get(3..end)
}

/// Total byte length of a bounded PES whose header is in `buf`.
fn bounded_pes_len(buf: &[u8]) -> Option<usize> {
    if buf.len() < 6 {
        return None;
    }
    let len = u16::from_be_bytes([buf[4], buf[5]]) as usize;
    (len != 0).then_some(6 + len)
}

struct ParsedPes<'a> {
    pts: u64,
    dts: Option<u64>,
    payload: &'a [u8],
}

fn parse_pes(buf: &[u8]) -> Option<ParsedPes<'_>> {
    if buf.len() < 9 || buf[0..3] != [0, 0, 1] {
        return None;
    }
    let flags = buf[7];
    let header_len = buf[8] as usize;
    let body_start = 9 + header_len;
    let end = match bounded_pes_len(buf) {
        Some(total) => total.min(buf.len()),
        None => buf.len(),
    };
    if body_start > end {
        return None;
    }
    let pts_dts = flags >> 6;
    let pts = if pts_dts & 0x2 != 0 { read_ts(buf.get(9..14)?)? } else { return None };
    let dts = if pts_dts == 0x3 { Some(read_ts(buf.get(14..19)?)?) } else { None };
    Some(ParsedPes { pts, dts, payload: &buf[body_start..end] })
}

fn read_ts(b: &[u8]) -> Option<u64> {
    // Marker bits must be set; a timestamp without them is corrupt.
    if b[0] & 1 == 0 || b[2] & 1 == 0 || b[4] & 1 == 0 {
        return None;
    }
    Some(
        (((b[0] as u64 >> 1) & 0x7) << 30)
            | ((b[1] as u64) << 22)
            | (((b[2] as u64) >> 1) << 15)
            | ((b[3] as u64) << 7)
            | ((b[4] as u64) >> 1),
    )
}

/// NAL units of an Annex B byte stream (start codes and trailing zero bytes removed).
fn annexb_nals(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut starts = Vec::new();
    let mut i = 0;
    while i + 3 <= data.len() {
        if data[i] == 0 && data[i + 1] == 0 && data[i + 2] == 1 {
            starts.push(i + 3);
            i += 3;
        } else {
            i += 1;
        }
    }
    let mut nals = Vec::with_capacity(starts.len());
    for (n, &s) in starts.iter().enumerate() {
        let mut end = starts.get(n + 1).map(|&next| next - 3).unwrap_or(data.len());
        while end > s && data[end - 1] == 0 {
            end -= 1;
        }
        if end > s {
            nals.push(&data[s..end]);
        }
    }
    nals.into_iter()
}

/// AVCDecoderConfigurationRecord (ISO/IEC 14496-15 5.3.3.1) from SPS and PPS NAL units.
fn avc_record(params: &[Vec<u8>]) -> Option<Vec<u8>> {
    let sps: Vec<&Vec<u8>> = params.iter().filter(|p| p[0] & 0x1F == 7).collect();
    let pps: Vec<&Vec<u8>> = params.iter().filter(|p| p[0] & 0x1F == 8).collect();
    let first = sps.first()?;
    if first.len() < 4 || pps.is_empty() {
        return None;
    }
    let mut r = vec![1, first[1], first[2], first[3], 0xFF, 0xE0 | sps.len() as u8];
    for s in &sps {
        r.extend_from_slice(&(s.len() as u16).to_be_bytes());
        r.extend_from_slice(s);
    }
    r.push(pps.len() as u8);
    for p in &pps {
        r.extend_from_slice(&(p.len() as u16).to_be_bytes());
        r.extend_from_slice(p);
    }
    Some(r)
}

/// HEVCDecoderConfigurationRecord (ISO/IEC 14496-15 8.3.3.1) from VPS, SPS and PPS; the
/// profile/tier/level fields are copied from the SPS.
fn hevc_record(params: &[Vec<u8>]) -> Option<Vec<u8>> {
    let of = |t: u8| params.iter().filter(move |p| p.len() >= 2 && (p[0] >> 1) & 0x3F == t).collect::<Vec<_>>();
    let (vps, sps, pps) = (of(32), of(33), of(34));
    let first = sps.first()?;
    if vps.is_empty() || pps.is_empty() {
        return None;
    }
    // RBSP after the 2-byte NAL header: 1 byte of ids, then 12 bytes of profile_tier_level.
    let rbsp = unescape(&first[2..], 13);
    if rbsp.len() < 13 {
        return None;
    }
    let ptl = &rbsp[1..13];
    let mut r = Vec::with_capacity(64);
    r.push(1);
    r.extend_from_slice(&ptl[0..12]); // profile space/tier/idc, compat flags, constraint flags, level
    r.extend_from_slice(&[0xF0, 0x00, 0xFC, 0xFD, 0xF8, 0xF8, 0x00, 0x00, 0x0F]);
    r.push(3);
    for (t, list) in [(32u8, &vps), (33, &sps), (34, &pps)] {
        r.push(0x80 | t);
        r.extend_from_slice(&(list.len() as u16).to_be_bytes());
        for n in list.iter() {
            r.extend_from_slice(&(n.len() as u16).to_be_bytes());
            r.extend_from_slice(n);
        }
    }
    Some(r)
}

/// The first `max` bytes of RBSP from escaped NAL payload bytes (0x000003 → 0x0000).
fn unescape(data: &[u8], max: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(max);
    let mut zeros = 0;
    for &b in data {
        if out.len() >= max {
            break;
        }
        if zeros >= 2 && b == 3 {
            zeros = 0;
            continue;
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
        out.push(b);
    }
    out
}
