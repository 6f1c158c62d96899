//! [`Mp4Muxer`]: tracks, pending samples, sample durations, `moof`+`mdat` writing.

use std::collections::VecDeque;

use bytes::Bytes;

use super::boxes::{init_segment, BoxWriter};
use super::{
    ticks_to_ms, DurationPatch, Mp4Error, AAC_DURATION_TOLERANCE_MS, AAC_FRAME_SAMPLES,
    MOVIE_TIMESCALE, SAMPLE_FLAGS_NON_SYNC, SAMPLE_FLAGS_SYNC, VIDEO_TIMESCALE,
};
use crate::aac::parse_audio_specific_config;
use crate::avc::parse_avc_decoder_config;
use crate::hevc::parse_hevc_decoder_config;

/// The configuration of a track that has none (data).
static NO_CONFIG: Bytes = Bytes::new();
/// Largest sample accepted (the FLV tag limit is 16 MiB).
const MAX_SAMPLE_SIZE: usize = 64 << 20;
/// A fragment stops taking samples once its `mdat` holds this many bytes…
const FRAGMENT_DATA_BUDGET: usize = 1 << 30;
/// …or this many samples, so every offset and size fits its 32-bit field.
const FRAGMENT_SAMPLE_BUDGET: usize = 1 << 20;
/// Duration of a lone last video sample: one frame at 30 fps.
const DEFAULT_VIDEO_DURATION: u32 = VIDEO_TIMESCALE / 30;

/// One fragment in file order: `head` (the `moof` and the `mdat` header), then the samples'
/// bytes. Written with a vectored write, the samples are never copied in user space.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FragmentParts {
    /// `moof` + `mdat` header.
    pub head: Vec<u8>,
    /// The `mdat` payload, sample by sample.
    pub samples: Vec<Bytes>,
}

impl FragmentParts {
    /// Total length in bytes.
    pub fn len(&self) -> usize {
        self.head.len() + self.samples.iter().map(Bytes::len).sum::<usize>()
    }

    /// Never empty: a fragment has at least its header.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The fragment as one buffer.
    pub fn concat(self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.len());
        out.extend_from_slice(&self.head);
        for s in &self.samples {
            out.extend_from_slice(s);
        }
        out
    }
}

/// One track of the recording and its codec configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrackConfig {
    /// H.264: the AVCDecoderConfigurationRecord (the FLV AVC sequence header body).
    H264(Bytes),
    /// HEVC: the HEVCDecoderConfigurationRecord.
    Hevc(Bytes),
    /// AAC: the AudioSpecificConfig.
    Aac(Bytes),
    /// Timed AMF0 data messages (sample entry `amf0`, handler `data`, timescale 1000), as
    /// Wowza wrote `onMetaDataRecording` sync points into its recordings: Kaltura's
    /// convert-segment batch reads them with ffprobe (KAMFMediaInfoParser). Each sample is
    /// instantaneous: it is ready at once, lasts one tick, and never extends the duration.
    Amf0,
}

/// What the decoder configuration says about a track (0 where not applicable).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TrackInfo {
    /// Video width in pixels.
    pub width: u32,
    /// Video height in pixels.
    pub height: u32,
    /// Audio output sample rate in Hz (the track's timescale).
    pub sample_rate: u32,
    /// Audio channel count (0 if the config does not say).
    pub channels: u8,
}

/// One access unit (video) or AAC frame (audio).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    /// Decode time in ms since the recording started.
    pub dts_ms: i64,
    /// Presentation time in ms (FLV: DTS + composition time). Ignored for audio.
    pub pts_ms: i64,
    /// Sync sample (IDR / IRAP picture). Audio samples are always sync samples.
    pub keyframe: bool,
    /// Video: NAL units with the length prefixes of the decoder configuration, as in
    /// FLV. Audio: one raw AAC frame (no ADTS header).
    pub data: Bytes,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Codec {
    H264,
    Hevc,
    Aac,
    Amf0,
}

impl Codec {
    pub fn is_video(self) -> bool {
        matches!(self, Codec::H264 | Codec::Hevc)
    }

    pub fn is_data(self) -> bool {
        self == Codec::Amf0
    }
}

/// A sample waiting to be written.
#[derive(Debug)]
struct Queued {
    /// Decode time on the track's timescale, as written in the file.
    decode: u64,
    /// Composition offset (PTS − DTS) in track ticks.
    cts: i32,
    keyframe: bool,
    data: Bytes,
    /// Known once the next sample arrived (or at `finish`).
    duration: Option<u32>,
}

#[derive(Debug)]
pub(crate) struct Track {
    pub codec: Codec,
    pub config: Bytes,
    pub info: TrackInfo,
    pub timescale: u32,
    queue: VecDeque<Queued>,
    last_duration: Option<u32>,
    /// Decode time just past the last written sample.
    written_end: u64,
    written_samples: u64,
}

impl Track {
    fn new(index: usize, config: &TrackConfig) -> Result<Self, Mp4Error> {
        let err = |source| Mp4Error::Config {
            track: index,
            source,
        };
        let (codec, record, info, timescale) = match config {
            TrackConfig::H264(record) => {
                let c = parse_avc_decoder_config(record).map_err(err)?;
                let info = TrackInfo {
                    width: c.width,
                    height: c.height,
                    ..TrackInfo::default()
                };
                (Codec::H264, record, info, VIDEO_TIMESCALE)
            }
            TrackConfig::Hevc(record) => {
                let c = parse_hevc_decoder_config(record).map_err(err)?;
                let info = TrackInfo {
                    width: c.width,
                    height: c.height,
                    ..TrackInfo::default()
                };
                (Codec::Hevc, record, info, VIDEO_TIMESCALE)
            }
            TrackConfig::Aac(asc) => {
                let c = parse_audio_specific_config(asc).map_err(err)?;
                if c.sample_rate == 0 {
                    return Err(err(crate::MediaError::Invalid("AAC sample rate 0")));
                }
                let info = TrackInfo {
                    sample_rate: c.sample_rate,
                    channels: c.channels,
                    ..TrackInfo::default()
                };
                (Codec::Aac, asc, info, c.sample_rate)
            }
            TrackConfig::Amf0 => (Codec::Amf0, &NO_CONFIG, TrackInfo::default(), MOVIE_TIMESCALE),
        };
        Ok(Self {
            codec,
            config: record.clone(),
            info,
            timescale,
            queue: VecDeque::new(),
            last_duration: None,
            written_end: 0,
            written_samples: 0,
        })
    }

    fn ticks(&self, ms: i64) -> i64 {
        let t = i128::from(ms) * i128::from(self.timescale) / 1000;
        t.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
    }

    /// Duration of a sample written at `decode` that is followed by one stamped
    /// `next_dts` (ticks). Measured from the written position rather than from the
    /// previous timestamp, so millisecond rounding never accumulates. AAC frames get
    /// exactly 1024 samples unless the timestamps are off by more than the tolerance
    /// (a real gap or overlap), in which case the timeline re-syncs to them.
    fn duration_until(&self, decode: u64, next_dts: i64) -> u32 {
        let target = i128::from(next_dts) - i128::from(decode);
        if self.codec == Codec::Aac {
            let tolerance = AAC_DURATION_TOLERANCE_MS * f64::from(self.timescale) / 1000.0;
            if ((target - i128::from(AAC_FRAME_SAMPLES)).abs() as f64) <= tolerance {
                return AAC_FRAME_SAMPLES;
            }
        }
        target.clamp(1, i128::from(u32::MAX)) as u32
    }

    fn default_duration(&self) -> u32 {
        match self.codec {
            Codec::Aac => AAC_FRAME_SAMPLES,
            Codec::Amf0 => 1,
            _ => DEFAULT_VIDEO_DURATION,
        }
    }

    /// Leading queued samples whose duration is known.
    fn ready(&self) -> usize {
        self.queue
            .iter()
            .take_while(|s| s.duration.is_some())
            .count()
    }
}

/// Fragmented MP4 muxer for one recording. See the [module docs](super) for the
/// layout and the caller's obligations.
///
/// ```
/// use bytes::Bytes;
/// use media::mp4::{Mp4Muxer, Sample, TrackConfig};
///
/// // AAC-LC, 48 kHz, stereo.
/// let mut mux = Mp4Muxer::new(&[TrackConfig::Aac(Bytes::from_static(&[0x11, 0x90]))]).unwrap();
/// let mut file = mux.init_segment();
/// for i in 0..50i64 {
///     let t = i * 1024 * 1000 / 48_000;
///     let frame = Sample { dts_ms: t, pts_ms: t, keyframe: true, data: Bytes::from_static(&[0x21, 0x10]) };
///     mux.push(0, frame).unwrap();
/// }
/// file.extend(mux.fragment().unwrap());
/// file.extend(mux.finish().unwrap());
/// mux.duration_patch().apply(&mut file);
/// assert_eq!(mux.sample_count(0), 50);
/// assert_eq!(mux.duration_ms(), 1067); // 50 × 1024 / 48 kHz, rounded up
/// ```
#[derive(Debug)]
pub struct Mp4Muxer {
    tracks: Vec<Track>,
    init: Vec<u8>,
    mehd_offset: usize,
    /// Fragments written; `mfhd` numbers them from 1.
    fragments: u64,
    bytes_written: u64,
}

impl Mp4Muxer {
    /// Muxer for these tracks; track `i` of [`push`](Self::push) is `tracks[i]`, with
    /// `track_ID` `i + 1` in the file. Fails if there is no track or a configuration
    /// record does not parse.
    pub fn new(tracks: &[TrackConfig]) -> Result<Self, Mp4Error> {
        if tracks.is_empty() {
            return Err(Mp4Error::NoTracks);
        }
        let tracks = tracks
            .iter()
            .enumerate()
            .map(|(i, config)| Track::new(i, config))
            .collect::<Result<Vec<_>, _>>()?;
        let (init, mehd_offset) = init_segment(&tracks);
        Ok(Self {
            bytes_written: init.len() as u64,
            tracks,
            init,
            mehd_offset,
            fragments: 0,
        })
    }

    /// `ftyp` + `moov`: the start of the file. The same bytes on every call.
    pub fn init_segment(&self) -> Vec<u8> {
        self.init.clone()
    }

    /// Queue a sample of track `track`. Its duration is settled when the next sample of
    /// the same track arrives.
    pub fn push(&mut self, track: usize, sample: Sample) -> Result<(), Mp4Error> {
        let t = self
            .tracks
            .get_mut(track)
            .ok_or(Mp4Error::UnknownTrack(track))?;
        if sample.data.len() > MAX_SAMPLE_SIZE {
            return Err(Mp4Error::SampleTooLarge(sample.data.len()));
        }
        let dts = t.ticks(sample.dts_ms);
        if t.codec.is_data() {
            // Instantaneous: at its own time (never before the previous one), one tick long,
            // ready for the next fragment at once.
            let after = t.queue.back().map_or(t.written_end, |last| last.decode + 1);
            t.queue.push_back(Queued {
                decode: after.max(u64::try_from(dts).unwrap_or(0)),
                cts: 0,
                keyframe: true,
                data: sample.data,
                duration: Some(1),
            });
            return Ok(());
        }
        let decode = match t.queue.back() {
            Some(last) => {
                let duration = t.duration_until(last.decode, dts);
                t.last_duration = Some(duration);
                let last = t.queue.back_mut().expect("checked above");
                last.duration = Some(duration);
                last.decode + u64::from(duration)
            }
            // First sample, or first after `finish`: start at its own time, keeping a
            // gap but never overlapping what was written.
            None => t.written_end.max(u64::try_from(dts).unwrap_or(0)),
        };
        let video = t.codec.is_video();
        let cts = if video {
            let offset = t.ticks(sample.pts_ms).saturating_sub(dts);
            offset.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32
        } else {
            0
        };
        t.queue.push_back(Queued {
            decode,
            cts,
            keyframe: sample.keyframe || !video,
            data: sample.data,
            duration: None,
        });
        Ok(())
    }

    /// A `moof`+`mdat` with every queued sample whose duration is known (all but the
    /// newest of each track), or `None` if there is none.
    pub fn fragment(&mut self) -> Option<Vec<u8>> {
        self.fragment_parts().map(FragmentParts::concat)
    }

    /// [`Self::fragment`] as its parts, for a vectored write that does not copy the samples.
    pub fn fragment_parts(&mut self) -> Option<FragmentParts> {
        let mut budget = (FRAGMENT_DATA_BUDGET, FRAGMENT_SAMPLE_BUDGET);
        let counts: Vec<usize> = self
            .tracks
            .iter()
            .map(|t| {
                let mut n = 0;
                // A trun lays its samples end to end: a data track, whose samples have gaps,
                // puts one sample per fragment so each gets its own tfdt.
                let ready = if t.codec.is_data() { t.ready().min(1) } else { t.ready() };
                for s in t.queue.iter().take(ready) {
                    if n > 0 && (s.data.len() > budget.0 || budget.1 == 0) {
                        break;
                    }
                    budget.0 = budget.0.saturating_sub(s.data.len());
                    budget.1 = budget.1.saturating_sub(1);
                    n += 1;
                }
                n
            })
            .collect();
        if counts.iter().all(|&n| n == 0) {
            return None;
        }
        let out = self.write_fragment(&counts);
        for (t, &n) in self.tracks.iter_mut().zip(&counts) {
            for s in t.queue.drain(..n) {
                t.written_end = s.decode + u64::from(s.duration.unwrap_or(0));
                t.written_samples += 1;
            }
        }
        self.fragments += 1;
        self.bytes_written += out.len() as u64;
        Some(out)
    }

    /// Settle the newest sample of each track (its duration is the track's previous
    /// sample duration) and return the fragment(s) holding everything still queued, or
    /// `None` if nothing was. The muxer stays usable; a later sample continues the
    /// timeline.
    pub fn finish(&mut self) -> Option<Vec<u8>> {
        let parts = self.finish_parts();
        (!parts.is_empty()).then(|| parts.into_iter().flat_map(FragmentParts::concat).collect())
    }

    /// [`Self::finish`] as the parts of each fragment, in file order.
    pub fn finish_parts(&mut self) -> Vec<FragmentParts> {
        for t in &mut self.tracks {
            let duration = t.last_duration.unwrap_or_else(|| t.default_duration());
            if let Some(last) = t.queue.back_mut() {
                last.duration.get_or_insert(duration);
            }
        }
        std::iter::from_fn(|| self.fragment_parts()).collect()
    }

    fn write_fragment(&self, counts: &[usize]) -> FragmentParts {
        let mut w = BoxWriter::default();
        // (position of a trun data_offset field, offset of its samples in mdat)
        let mut data_offsets = Vec::new();
        let mut mdat_len = 0usize;
        w.boxed(b"moof", |w| {
            w.full_box(b"mfhd", 0, 0, |w| w.u32((self.fragments + 1) as u32));
            for (i, (t, &n)) in self.tracks.iter().zip(counts).enumerate() {
                if n == 0 {
                    continue;
                }
                let video = t.codec.is_video();
                w.boxed(b"traf", |w| {
                    w.full_box(b"tfhd", 0, 0x02_0000, |w| w.u32(i as u32 + 1));
                    w.full_box(b"tfdt", 1, 0, |w| w.u64(t.queue[0].decode));
                    // data offset, duration, size, flags (+ composition offset)
                    let flags = 0x0701 | if video { 0x0800 } else { 0 };
                    w.full_box(b"trun", 1, flags, |w| {
                        w.u32(n as u32);
                        data_offsets.push((w.len(), mdat_len));
                        w.u32(0);
                        for s in t.queue.iter().take(n) {
                            w.u32(s.duration.unwrap_or(0));
                            w.u32(s.data.len() as u32);
                            w.u32(if s.keyframe {
                                SAMPLE_FLAGS_SYNC
                            } else {
                                SAMPLE_FLAGS_NON_SYNC
                            });
                            if video {
                                w.u32(s.cts as u32);
                            }
                            mdat_len += s.data.len();
                        }
                    });
                });
            }
        });
        let moof_len = w.len();
        let header_len = if mdat_len + 8 > u32::MAX as usize {
            16
        } else {
            8
        };
        for (pos, offset) in data_offsets {
            let value = (moof_len + header_len + offset) as u32;
            w.buf[pos..pos + 4].copy_from_slice(&value.to_be_bytes());
        }
        if header_len == 8 {
            w.u32((mdat_len + 8) as u32);
            w.bytes(b"mdat");
        } else {
            w.u32(1);
            w.bytes(b"mdat");
            w.u64((mdat_len + 16) as u64);
        }
        let samples = self.tracks.iter().zip(counts).flat_map(|(t, &n)| t.queue.iter().take(n).map(|s| s.data.clone())).collect();
        FragmentParts { head: w.buf, samples }
    }

    /// Number of tracks.
    pub fn track_count(&self) -> usize {
        self.tracks.len()
    }

    /// What the configuration of track `track` says, if there is such a track.
    pub fn track_info(&self, track: usize) -> Option<TrackInfo> {
        self.tracks.get(track).map(|t| t.info)
    }

    /// Timescale (ticks per second) of track `track`.
    pub fn timescale(&self, track: usize) -> Option<u32> {
        self.tracks.get(track).map(|t| t.timescale)
    }

    /// Duration of what has been written so far, in ms: the latest decode end over
    /// the tracks (the timeline starts at 0, the start of the recording).
    pub fn duration_ms(&self) -> u64 {
        self.tracks
            .iter()
            .filter(|t| t.written_samples > 0 && !t.codec.is_data())
            .map(|t| ticks_to_ms(t.written_end, t.timescale))
            .max()
            .unwrap_or(0)
    }

    /// Samples of track `track` written so far (0 for an unknown track).
    pub fn sample_count(&self, track: usize) -> u64 {
        self.tracks.get(track).map_or(0, |t| t.written_samples)
    }

    /// Samples queued and not yet written, over all tracks.
    pub fn pending_samples(&self) -> usize {
        self.tracks.iter().map(|t| t.queue.len()).sum()
    }

    /// Fragments written so far.
    pub fn fragment_count(&self) -> u64 {
        self.fragments
    }

    /// Size of the file so far: the init segment plus every fragment returned.
    pub fn bytes_written(&self) -> u64 {
        self.bytes_written
    }

    /// File offset of mehd's 64-bit `fragment_duration`.
    pub fn mehd_duration_offset(&self) -> usize {
        self.mehd_offset
    }

    /// The patch that makes `mehd` declare [`duration_ms`](Self::duration_ms).
    pub fn duration_patch(&self) -> DurationPatch {
        DurationPatch::new(self.mehd_offset, self.duration_ms())
    }
}
