//! Fragmented MP4 (ISO/IEC 14496-12 "ISO BMFF") muxer for recordings, and a scanner
//! that recovers a recording cut short by a crash. Sans-IO: bytes out, bytes in.
//!
//! # Why fragmented
//! A classic MP4 keeps its sample tables in `moov`, written once the last sample is
//! known; a process killed before that leaves an unplayable file. A fragmented MP4
//! writes an (empty-table) `moov` up front and then self-describing `moof`+`mdat`
//! pairs, so a file cut at any byte is playable up to its last complete fragment.
//! [`recover`] finds that point; truncating there and patching the declared duration
//! (see [`DurationPatch`]) turns a crashed recording into a clean file.
//!
//! # Layout written
//! ```text
//! ftyp  isom, minor 0x200, compatible isom iso6 mp41
//! moov
//!   mvhd                 timescale 1000, duration 0
//!   trak (one per track, track_ID = index + 1)
//!     tkhd               enabled|in_movie|in_preview, width/height for video
//!     mdia
//!       mdhd             timescale 90000 (video), the AAC sample rate (audio), 1000 (data)
//!       hdlr             vide / soun / data
//!       minf             vmhd, smhd or nmhd, dinf/dref/url (self-contained)
//!         stbl           stsd (avc1+avcC | hvc1+hvcC | mp4a+esds | amf0), empty stts stsc stsz stco
//!   mvex
//!     mehd  version 1    64-bit fragment_duration in ms, patched when finished
//!     trex  per track
//! moof (per fragment)
//!   mfhd                 sequence_number 1, 2, …
//!   traf (per track with samples in this fragment)
//!     tfhd               default-base-is-moof
//!     tfdt  version 1    64-bit baseMediaDecodeTime
//!     trun               data_offset, per-sample duration, size, flags (+ signed
//!                        composition offset, version 1, for video)
//! mdat                   the samples: all of the first traf's, then the next traf's, …
//! ```
//!
//! # Caller obligations
//! * Write [`Mp4Muxer::init_segment`] first, then every byte returned by
//!   [`Mp4Muxer::fragment`] and [`Mp4Muxer::finish`], in order, to the same file.
//! * Timestamps are milliseconds relative to the start of the recording, per track in
//!   decode order (non-decreasing DTS). A backwards DTS step is squeezed into a
//!   1-tick sample duration rather than rejected.
//! * A sample's duration is only known when the next sample of its track arrives, so
//!   the newest sample of each track stays pending. To start fragments on keyframes,
//!   push the keyframe first and then call [`Mp4Muxer::fragment`]: the fragment holds
//!   everything before the keyframe, which opens the next one.

mod boxes;
mod muxer;
mod recover;

#[cfg(test)]
mod tests;

pub use muxer::{FragmentParts, Mp4Muxer, Sample, TrackConfig, TrackInfo};
pub use recover::{recover, Recovery};

use crate::MediaError;

/// Timescale of `mvhd` and `mehd` (milliseconds).
pub const MOVIE_TIMESCALE: u32 = 1000;
/// Timescale of video tracks.
pub const VIDEO_TIMESCALE: u32 = 90_000;
/// Samples per AAC frame.
pub const AAC_FRAME_SAMPLES: u32 = 1024;
/// An AAC frame gets exactly [`AAC_FRAME_SAMPLES`] as duration when the next frame's
/// timestamp is within this many milliseconds of where that would put it.
pub const AAC_DURATION_TOLERANCE_MS: f64 = 1.5;

/// `sample_flags` of a sync sample: sample_depends_on = 2 (depends on no other).
pub const SAMPLE_FLAGS_SYNC: u32 = 0x0200_0000;
/// `sample_flags` of a non-sync sample: sample_depends_on = 1,
/// sample_is_non_sync_sample = 1.
pub const SAMPLE_FLAGS_NON_SYNC: u32 = 0x0101_0000;

/// Errors of the MP4 muxer. A failed call changes nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Mp4Error {
    /// The muxer needs at least one track.
    #[error("an MP4 needs at least one track")]
    NoTracks,
    /// A decoder configuration record did not parse.
    #[error("invalid decoder configuration of track {track}: {source}")]
    Config {
        /// Index of the track in the list given to [`Mp4Muxer::new`].
        track: usize,
        /// The parser's error.
        source: MediaError,
    },
    /// A sample was pushed to a track index the muxer does not have.
    #[error("no track {0}")]
    UnknownTrack(usize),
    /// A sample larger than the 32-bit `trun` size field.
    #[error("{0}-byte sample does not fit a trun entry")]
    SampleTooLarge(usize),
}

/// Bytes to write over a finished (or recovered) file so that `mehd` declares its
/// real duration: `bytes` go at file offset `offset`. Pure data; see [`apply`](Self::apply)
/// for an in-memory file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DurationPatch {
    /// File offset of mehd's 64-bit `fragment_duration`.
    pub offset: usize,
    /// The duration in [`MOVIE_TIMESCALE`] units (ms), big-endian.
    pub bytes: [u8; 8],
}

impl DurationPatch {
    /// Patch for the `mehd` (version 1) whose `fragment_duration` sits at `offset`.
    pub fn new(offset: usize, duration_ms: u64) -> Self {
        Self {
            offset,
            bytes: duration_ms.to_be_bytes(),
        }
    }

    /// Write the patch into an in-memory file; false (and nothing written) if the file
    /// is too short.
    pub fn apply(&self, file: &mut [u8]) -> bool {
        match file.get_mut(self.offset..self.offset.saturating_add(8)) {
            Some(field) if field.len() == 8 => {
                field.copy_from_slice(&self.bytes);
                true
            }
            _ => false,
        }
    }
}

/// `ticks` of a `timescale` clock in milliseconds, rounded up so a declared duration
/// covers every sample. 0 for a zero timescale.
pub fn ticks_to_ms(ticks: u64, timescale: u32) -> u64 {
    if timescale == 0 {
        return 0;
    }
    let ms = (u128::from(ticks) * 1000).div_ceil(u128::from(timescale));
    u64::try_from(ms).unwrap_or(u64::MAX)
}
