//! The [`TsMuxer`] state machine: PSI per segment, continuity counters, PCR schedule.

use super::convert::{emit_annexb, plan_annexb, ADTS_HEADER_LEN, ADTS_MAX_PAYLOAD};
use super::packet::{
    pes_packet_count, write_pcr_only_packet, ByteSink, Pcr, PesHeader, PesWriter, STREAM_ID_AUDIO,
    STREAM_ID_PRIVATE_1, STREAM_ID_VIDEO,
};
use super::psi::{pat_packet, pmt_packet};
use super::{
    convert::adts_header, ts33, TsConfig, TsError, AUDIO_PID, ID3_PID, MAX_BOUNDED_PES_PAYLOAD,
    PCR_DISCONTINUITY_90K, PCR_IDLE_90K, PCR_INTERVAL_90K, PCR_OFFSET_90K, TS_PACKET_SIZE,
    VIDEO_PID,
};
use crate::aac::AacConfig;

/// PCR_PID value meaning "no PCR in this program".
const NO_PCR_PID: u16 = 0x1FFF;

/// Signed difference `a − b` of two 33-bit timestamps, modulo 2^33.
fn delta33(a: u64, b: u64) -> i64 {
    let d = ts33(a.wrapping_sub(b)) as i64;
    if d >= 1 << 32 {
        d - (1 << 33)
    } else {
        d
    }
}

/// A PCR step `d` (from [`delta33`]) is a timeline discontinuity.
fn jumped(d: i64) -> bool {
    d.unsigned_abs() > PCR_DISCONTINUITY_90K
}

/// Continuity counters (next value to write) per PID.
#[derive(Debug, Clone, Copy, Default)]
struct Counters {
    pat: u8,
    pmt: u8,
    video: u8,
    audio: u8,
    id3: u8,
}

/// Which PES is being written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stream {
    Video,
    Audio,
    Id3,
}

impl Stream {
    fn pid(self) -> u16 {
        match self {
            Stream::Video => VIDEO_PID,
            Stream::Audio => AUDIO_PID,
            Stream::Id3 => ID3_PID,
        }
    }
}

/// MPEG-TS muxer for one rendition's HLS segments. See the [module docs](super) for
/// the caller's obligations and the PCR rules.
///
/// ```
/// use media::ts::{TsConfig, TsMuxer, VideoStreamKind};
///
/// let mut mux = TsMuxer::new(TsConfig {
///     video: Some(VideoStreamKind::H264),
///     audio: true,
///     timed_metadata: false,
/// });
/// let mut segment = Vec::new();
/// mux.begin_segment(&mut segment);
/// let au = [0, 0, 0, 1, 0x09, 0xF0, 0, 0, 0, 1, 0x65, 0x88];
/// mux.write_video(&mut segment, 93_600, 90_000, true, &au).unwrap();
/// assert_eq!(segment.len() % 188, 0);
/// ```
#[derive(Debug, Clone)]
pub struct TsMuxer {
    config: TsConfig,
    pcr_pid: u16,
    pat: [u8; TS_PACKET_SIZE],
    pmt: [u8; TS_PACKET_SIZE],
    cc: Counters,
    /// Base of the last PCR written (33 bits).
    last_pcr: Option<u64>,
    /// `begin_segment` was called and no PCR has been written since.
    pcr_due: bool,
    /// Audio-only program: the next audio PES starts a segment (random access point).
    audio_rap_due: bool,
}

impl TsMuxer {
    /// Muxer for a program with the given streams. The PCR is carried on the video PID,
    /// on the audio PID when there is no video, and nowhere (PCR_PID 0x1FFF) when there
    /// is neither.
    pub fn new(config: TsConfig) -> Self {
        let pcr_pid = if config.video.is_some() {
            VIDEO_PID
        } else if config.audio {
            AUDIO_PID
        } else {
            NO_PCR_PID
        };
        Self {
            config,
            pcr_pid,
            pat: pat_packet(),
            pmt: pmt_packet(&config, pcr_pid),
            cc: Counters::default(),
            last_pcr: None,
            pcr_due: true,
            audio_rap_due: false,
        }
    }

    /// The configuration this muxer was built with.
    pub fn config(&self) -> TsConfig {
        self.config
    }

    /// PID carrying the PCR, if any.
    pub fn pcr_pid(&self) -> Option<u16> {
        (self.pcr_pid != NO_PCR_PID).then_some(self.pcr_pid)
    }

    /// Start a segment: append a PAT and a PMT packet. The next PES on the PCR PID
    /// carries a PCR (a PES on another PID written first is preceded by a PCR-only
    /// packet). Continuity counters continue from the previous segment.
    pub fn begin_segment(&mut self, out: &mut Vec<u8>) {
        out.reserve(2 * TS_PACKET_SIZE);
        for (packet, cc) in [
            (&mut self.pat, &mut self.cc.pat),
            (&mut self.pmt, &mut self.cc.pmt),
        ] {
            packet[3] = (packet[3] & 0xF0) | *cc;
            *cc = (*cc + 1) & 0x0F;
            out.extend_from_slice(&packet[..]);
        }
        self.pcr_due = true;
        self.audio_rap_due = self.config.video.is_none();
    }

    /// Write one Annex B access unit (it should start with an access unit delimiter;
    /// [`convert::avcc_to_annexb`](super::convert::avcc_to_annexb) makes one). `keyframe`
    /// sets `random_access_indicator` and forces a PCR. The PES length field is the
    /// real length when it fits 16 bits and 0 (unbounded) otherwise.
    pub fn write_video(
        &mut self,
        out: &mut Vec<u8>,
        pts_90k: u64,
        dts_90k: u64,
        keyframe: bool,
        access_unit_annexb: &[u8],
    ) -> Result<(), TsError> {
        self.check(Stream::Video)?;
        let header = PesHeader::new(
            STREAM_ID_VIDEO,
            pts_90k,
            Some(dts_90k),
            access_unit_annexb.len(),
        );
        let mut w = self.start_pes(
            out,
            Stream::Video,
            dts_90k,
            keyframe,
            header.as_bytes().len() + access_unit_annexb.len(),
        );
        w.put(header.as_bytes());
        w.put(access_unit_annexb);
        w.finish();
        Ok(())
    }

    /// Like [`write_video`](Self::write_video) for a length-prefixed (AVCC/HVCC) access
    /// unit, converted to Annex B on the way into the packets (one copy), exactly as
    /// [`convert::avcc_to_annexb`](super::convert::avcc_to_annexb) would convert it with
    /// the configured codec. On error nothing is written.
    #[allow(clippy::too_many_arguments)]
    pub fn write_video_avcc(
        &mut self,
        out: &mut Vec<u8>,
        pts_90k: u64,
        dts_90k: u64,
        keyframe: bool,
        frame: &[u8],
        nal_length_size: u8,
        parameter_sets: Option<&[&[u8]]>,
    ) -> Result<(), TsError> {
        self.check(Stream::Video)?;
        let kind = self
            .config
            .video
            .ok_or(TsError::StreamNotConfigured("video"))?;
        let plan = plan_annexb(kind, frame, nal_length_size, parameter_sets)?;
        let header = PesHeader::new(STREAM_ID_VIDEO, pts_90k, Some(dts_90k), plan.len);
        let mut w = self.start_pes(
            out,
            Stream::Video,
            dts_90k,
            keyframe,
            header.as_bytes().len() + plan.len,
        );
        w.put(header.as_bytes());
        emit_annexb(kind, frame, nal_length_size, parameter_sets, plan, &mut w);
        w.finish();
        Ok(())
    }

    /// Write one or more whole ADTS frames as one bounded PES whose PTS is that of the
    /// first frame. At most [`MAX_BOUNDED_PES_PAYLOAD`] bytes.
    pub fn write_audio(
        &mut self,
        out: &mut Vec<u8>,
        pts_90k: u64,
        adts_frames: &[u8],
    ) -> Result<(), TsError> {
        self.check(Stream::Audio)?;
        check_bounded(adts_frames.len())?;
        let header = PesHeader::new(STREAM_ID_AUDIO, pts_90k, None, adts_frames.len());
        let mut w = self.start_pes(
            out,
            Stream::Audio,
            pts_90k,
            false,
            header.as_bytes().len() + adts_frames.len(),
        );
        w.put(header.as_bytes());
        w.put(adts_frames);
        w.finish();
        Ok(())
    }

    /// Write one raw AAC frame (the body of an AAC RTMP audio message) as an ADTS frame
    /// built with [`convert::adts_header`](super::convert::adts_header), copying the
    /// payload once.
    pub fn write_aac_frame(
        &mut self,
        out: &mut Vec<u8>,
        pts_90k: u64,
        config: &AacConfig,
        raw_frame: &[u8],
    ) -> Result<(), TsError> {
        self.check(Stream::Audio)?;
        if raw_frame.len() > ADTS_MAX_PAYLOAD {
            return Err(TsError::AdtsFrameTooLarge(raw_frame.len()));
        }
        let len = ADTS_HEADER_LEN + raw_frame.len();
        let header = PesHeader::new(STREAM_ID_AUDIO, pts_90k, None, len);
        let mut w = self.start_pes(
            out,
            Stream::Audio,
            pts_90k,
            false,
            header.as_bytes().len() + len,
        );
        w.put(header.as_bytes());
        w.put(&adts_header(config, raw_frame.len()));
        w.put(raw_frame);
        w.finish();
        Ok(())
    }

    /// Write one ID3v2 tag as a timed-metadata PES (private_stream_1, bounded, with
    /// PTS). At most [`MAX_BOUNDED_PES_PAYLOAD`] bytes.
    pub fn write_timed_metadata(
        &mut self,
        out: &mut Vec<u8>,
        pts_90k: u64,
        id3: &[u8],
    ) -> Result<(), TsError> {
        self.check(Stream::Id3)?;
        check_bounded(id3.len())?;
        let header = PesHeader::new(STREAM_ID_PRIVATE_1, pts_90k, None, id3.len());
        let mut w = self.start_pes(
            out,
            Stream::Id3,
            pts_90k,
            false,
            header.as_bytes().len() + id3.len(),
        );
        w.put(header.as_bytes());
        w.put(id3);
        w.finish();
        Ok(())
    }

    fn check(&self, stream: Stream) -> Result<(), TsError> {
        let (present, name) = match stream {
            Stream::Video => (self.config.video.is_some(), "video"),
            Stream::Audio => (self.config.audio, "audio"),
            Stream::Id3 => (self.config.timed_metadata, "timed metadata"),
        };
        if present {
            Ok(())
        } else {
            Err(TsError::StreamNotConfigured(name))
        }
    }

    /// Decide PCR and random access for a PES of `pes_len` bytes on `stream` whose
    /// decode time is `t`, reserve `out` once for everything this call writes, write a
    /// PCR-only packet first if one is due, and return the packet writer.
    fn start_pes<'a>(
        &'a mut self,
        out: &'a mut Vec<u8>,
        stream: Stream,
        t: u64,
        keyframe: bool,
        pes_len: usize,
    ) -> PesWriter<'a> {
        let pid = stream.pid();
        let candidate = ts33(t.wrapping_sub(PCR_OFFSET_90K));
        let since_last = self.last_pcr.map(|last| delta33(candidate, last));
        let mut pcr_in_pes = None;
        let mut pcr_packet = None;
        if pid == self.pcr_pid {
            let due = self.pcr_due
                || keyframe
                || since_last.is_none_or(|d| d >= PCR_INTERVAL_90K as i64 || jumped(d));
            if due {
                pcr_in_pes = Some(self.next_pcr(candidate, since_last));
            }
        } else if self.pcr_pid != NO_PCR_PID {
            let due =
                self.pcr_due || since_last.is_none_or(|d| d >= PCR_IDLE_90K as i64 || jumped(d));
            if due {
                pcr_packet = Some(self.next_pcr(candidate, since_last));
            }
        }
        let random_access = match stream {
            Stream::Video => keyframe,
            Stream::Audio => std::mem::take(&mut self.audio_rap_due),
            Stream::Id3 => false,
        };
        let packets = pes_packet_count(pes_len, pcr_in_pes.is_some(), random_access)
            + usize::from(pcr_packet.is_some());
        out.reserve(packets * TS_PACKET_SIZE);
        if let Some(pcr) = pcr_packet {
            let pcr_cc = if self.pcr_pid == VIDEO_PID {
                self.cc.video
            } else {
                self.cc.audio
            };
            write_pcr_only_packet(out, self.pcr_pid, pcr_cc, pcr);
        }
        let cc = match stream {
            Stream::Video => &mut self.cc.video,
            Stream::Audio => &mut self.cc.audio,
            Stream::Id3 => &mut self.cc.id3,
        };
        PesWriter::new(out, pid, cc, pes_len, pcr_in_pes, random_access)
    }

    /// Record the next PCR. A candidate slightly behind the last PCR is replaced by it
    /// (PCR never moves backwards through interleaving jitter); a jump of more than
    /// [`PCR_DISCONTINUITY_90K`] either way is taken as a timeline discontinuity: the
    /// candidate is used and `discontinuity_indicator` set.
    fn next_pcr(&mut self, candidate: u64, since_last: Option<i64>) -> Pcr {
        let jump = since_last.is_some_and(jumped);
        let base = match (self.last_pcr, since_last) {
            (Some(last), Some(d)) if d < 0 && !jump => last,
            _ => candidate,
        };
        self.last_pcr = Some(base);
        self.pcr_due = false;
        Pcr {
            base,
            discontinuity: jump,
        }
    }
}

fn check_bounded(len: usize) -> Result<(), TsError> {
    if len > MAX_BOUNDED_PES_PAYLOAD {
        Err(TsError::PesTooLarge {
            len,
            max: MAX_BOUNDED_PES_PAYLOAD,
        })
    } else {
        Ok(())
    }
}
