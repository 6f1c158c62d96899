//! [`recover`]: find the playable prefix of a fragmented MP4 cut short by a crash.
//!
//! The input is untrusted (a torn write may leave anything at the tail, e.g. a run of
//! zeros), so every read is bounds-checked, all arithmetic is checked or saturating,
//! and every loop is bounded by the input length.

use super::{ticks_to_ms, DurationPatch};
use crate::be_u32;

/// What [`recover`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recovery {
    /// Length of the longest playable prefix: the end of the last complete `moof` +
    /// `mdat` pair, or the end of `moov` if no fragment is complete; 0 if there is no
    /// complete `moov`. Truncate the file to this length.
    pub valid_len: usize,
    /// End of the `moov` box (0 if none is complete).
    pub init_len: usize,
    /// Complete fragments in the prefix.
    pub fragments: usize,
    /// Decode end of the complete fragments, max over the tracks, in ms (rounded up).
    pub duration_ms: u64,
    /// File offset of a version-1 mehd's `fragment_duration`, if the file has one.
    pub mehd_duration_offset: Option<usize>,
}

impl Recovery {
    /// The patch that makes mehd declare [`duration_ms`](Self::duration_ms), if the
    /// file has a version-1 mehd.
    pub fn duration_patch(&self) -> Option<DurationPatch> {
        self.mehd_duration_offset
            .map(|offset| DurationPatch::new(offset, self.duration_ms))
    }
}

/// Scan the top-level boxes of a fragmented MP4 (or a prefix of one) and report how
/// much of it is usable. `ftyp`, `free`, `styp`, `sidx` and other boxes are skipped;
/// `moov` supplies the track timescales and mehd; each `moof` must be followed by an
/// `mdat` (other boxes may sit in between) that holds all the sample data its `trun`s
/// point at. Scanning stops at the first box that is truncated or malformed, at a
/// `moof` before `moov`, and at a `moof` that does not parse or lacks its `mdat`.
/// Box sizes 1 (64-bit `largesize`) and 0 (to the end of the input) are understood.
///
/// Never panics, whatever the input.
pub fn recover(file: &[u8]) -> Recovery {
    let mut r = Recovery::default();
    let mut tracks: Option<Vec<TrackState>> = None;
    let mut pending: Option<Vec<TrafInfo>> = None;
    for b in Children::new(file, 0, file.len()) {
        match &b.kind {
            b"moov" if tracks.is_none() => {
                let (t, mehd) = parse_moov(file, &b);
                tracks = Some(t);
                r.mehd_duration_offset = mehd;
                r.init_len = b.end;
                r.valid_len = b.end;
            }
            b"moof" => {
                if tracks.is_none() || pending.is_some() {
                    break;
                }
                match parse_moof(file, &b, tracks.as_deref().unwrap_or_default()) {
                    Some(trafs) => pending = Some(trafs),
                    None => break,
                }
            }
            b"mdat" => {
                let Some(trafs) = pending.take() else {
                    continue; // sample data of a non-fragmented file: not ours to judge
                };
                let tracks = tracks.as_mut().expect("a moof is only pending after moov");
                if !data_within(&trafs, b.end) {
                    break;
                }
                for traf in &trafs {
                    if let Some(t) = tracks.iter_mut().find(|t| t.id == traf.track_id) {
                        let start = traf.base_decode.unwrap_or(t.end);
                        t.end = start.saturating_add(traf.duration);
                        t.has_samples |= traf.samples > 0;
                    }
                }
                r.fragments += 1;
                r.valid_len = b.end;
            }
            _ => {}
        }
    }
    r.duration_ms = tracks
        .iter()
        .flatten()
        .filter(|t| t.has_samples)
        .map(|t| ticks_to_ms(t.end, t.timescale))
        .max()
        .unwrap_or(0);
    r
}

/// A complete box inside its parent.
#[derive(Debug, Clone, Copy)]
struct BoxHeader {
    kind: [u8; 4],
    start: usize,
    /// First byte after the header.
    body: usize,
    /// One past the last byte.
    end: usize,
}

/// The complete boxes between `pos` and `end`, in order, stopping at the first one
/// that is malformed or runs past `end`.
struct Children<'a> {
    data: &'a [u8],
    pos: usize,
    end: usize,
}

impl<'a> Children<'a> {
    fn new(data: &'a [u8], pos: usize, end: usize) -> Self {
        Self {
            data,
            pos,
            end: end.min(data.len()),
        }
    }
}

impl Iterator for Children<'_> {
    type Item = BoxHeader;

    fn next(&mut self) -> Option<BoxHeader> {
        let start = self.pos;
        let size = be_u32(self.data, start)?;
        let kind: [u8; 4] = self.data.get(start + 4..start + 8)?.try_into().ok()?;
        let (body, end) = match size {
            0 => (start + 8, self.end),
            1 => {
                let large = usize::try_from(be_u64(self.data, start + 8)?).ok()?;
                (start + 16, start.checked_add(large)?)
            }
            n => (start + 8, start.checked_add(n as usize)?),
        };
        if end < body || end > self.end {
            self.pos = self.end; // malformed or truncated: stop here
            return None;
        }
        self.pos = end;
        Some(BoxHeader {
            kind,
            start,
            body,
            end,
        })
    }
}

fn be_u64(data: &[u8], pos: usize) -> Option<u64> {
    let hi = be_u32(data, pos)?;
    let lo = be_u32(data, pos.checked_add(4)?)?;
    Some(u64::from(hi) << 32 | u64::from(lo))
}

fn child(data: &[u8], parent: &BoxHeader, kind: &[u8; 4]) -> Option<BoxHeader> {
    Children::new(data, parent.body, parent.end).find(|b| &b.kind == kind)
}

/// Version and flags of a full box.
fn version_flags(data: &[u8], b: &BoxHeader) -> Option<(u8, u32)> {
    let v = be_u32(data, b.body)?;
    (b.body + 4 <= b.end).then_some(((v >> 24) as u8, v & 0x00FF_FFFF))
}

/// Reads big-endian fields of one box body, never past its end.
struct Fields<'a> {
    data: &'a [u8],
    pos: usize,
    end: usize,
}

impl<'a> Fields<'a> {
    /// The fields after a full box's version and flags.
    fn after_version(data: &'a [u8], b: &BoxHeader) -> Self {
        Self {
            data,
            pos: b.body + 4,
            end: b.end,
        }
    }
    fn u32(&mut self) -> Option<u32> {
        if self.pos.checked_add(4)? > self.end {
            return None;
        }
        let v = be_u32(self.data, self.pos)?;
        self.pos += 4;
        Some(v)
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from(self.u32()?) << 32 | u64::from(self.u32()?))
    }
    /// A 32-bit field in version 0, a 64-bit one otherwise.
    fn versioned(&mut self, version: u8) -> Option<u64> {
        if version == 0 {
            self.u32().map(u64::from)
        } else {
            self.u64()
        }
    }
    fn remaining(&self) -> usize {
        self.end.saturating_sub(self.pos)
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct TrackState {
    id: u32,
    timescale: u32,
    default_duration: u32,
    default_size: u32,
    /// Decode end of the complete fragments so far.
    end: u64,
    has_samples: bool,
}

/// Tracks (id, timescale, trex defaults) and the version-1 mehd field offset.
fn parse_moov(data: &[u8], moov: &BoxHeader) -> (Vec<TrackState>, Option<usize>) {
    let mut tracks = Vec::new();
    let mut trex = Vec::new(); // (track_ID, default duration, default size)
    let mut mehd = None;
    for b in Children::new(data, moov.body, moov.end) {
        match &b.kind {
            b"trak" => tracks.extend(parse_trak(data, &b)),
            b"mvex" => {
                for m in Children::new(data, b.body, b.end) {
                    let mut f = Fields::after_version(data, &m);
                    match &m.kind {
                        // Version 1 only: its 64-bit field is what a patch writes.
                        b"mehd"
                            if version_flags(data, &m).map(|(v, _)| v) == Some(1)
                                && f.u64().is_some() =>
                        {
                            mehd = Some(m.body + 4);
                        }
                        b"trex" => {
                            if let (Some(id), Some(_), Some(duration), Some(size)) =
                                (f.u32(), f.u32(), f.u32(), f.u32())
                            {
                                trex.push((id, duration, size));
                            }
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    for (id, duration, size) in trex {
        if let Some(t) = tracks.iter_mut().find(|t| t.id == id) {
            t.default_duration = duration;
            t.default_size = size;
        }
    }
    (tracks, mehd)
}

fn parse_trak(data: &[u8], trak: &BoxHeader) -> Option<TrackState> {
    let tkhd = child(data, trak, b"tkhd")?;
    let (version, _) = version_flags(data, &tkhd)?;
    let mut f = Fields::after_version(data, &tkhd);
    f.versioned(version)?; // creation_time
    f.versioned(version)?; // modification_time
    let id = f.u32()?;
    let mdia = child(data, trak, b"mdia")?;
    let mdhd = child(data, &mdia, b"mdhd")?;
    let (version, _) = version_flags(data, &mdhd)?;
    let mut f = Fields::after_version(data, &mdhd);
    f.versioned(version)?;
    f.versioned(version)?;
    let timescale = f.u32()?;
    (id != 0).then_some(TrackState {
        id,
        timescale,
        ..TrackState::default()
    })
}

/// One `traf` of a `moof`: timing and where its sample data lies in the file.
#[derive(Debug, Clone, Copy, Default)]
struct TrafInfo {
    track_id: u32,
    /// `tfdt` baseMediaDecodeTime, if present.
    base_decode: Option<u64>,
    duration: u64,
    samples: u64,
    /// Sample duration and size for truns that leave them out (tfhd, else trex).
    default_duration: u32,
    default_size: u32,
    /// File range of the sample data, once a trun has been seen.
    data: Option<(i128, i128)>,
}

/// The `traf`s of a `moof`; `None` if it is malformed.
fn parse_moof(data: &[u8], moof: &BoxHeader, tracks: &[TrackState]) -> Option<Vec<TrafInfo>> {
    let mut trafs: Vec<TrafInfo> = Vec::new();
    for b in Children::new(data, moof.body, moof.end).filter(|b| &b.kind == b"traf") {
        let tfhd = child(data, &b, b"tfhd")?;
        let (_, flags) = version_flags(data, &tfhd)?;
        let mut f = Fields::after_version(data, &tfhd);
        let track_id = f.u32()?;
        let track = tracks
            .iter()
            .find(|t| t.id == track_id)
            .copied()
            .unwrap_or_default();
        let base = if flags & 0x01 != 0 {
            i128::from(f.u64()?)
        } else if flags & 0x02_0000 != 0 {
            moof.start as i128
        } else {
            // The end of the previous traf's data, or the moof for the first traf.
            trafs
                .last()
                .and_then(|t| t.data)
                .map_or(moof.start as i128, |d| d.1)
        };
        if flags & 0x02 != 0 {
            f.u32()?; // sample_description_index
        }
        let mut t = TrafInfo {
            track_id,
            default_duration: track.default_duration,
            default_size: track.default_size,
            ..TrafInfo::default()
        };
        if flags & 0x08 != 0 {
            t.default_duration = f.u32()?;
        }
        if flags & 0x10 != 0 {
            t.default_size = f.u32()?;
        }
        if let Some(tfdt) = child(data, &b, b"tfdt") {
            let (version, _) = version_flags(data, &tfdt)?;
            t.base_decode = Some(Fields::after_version(data, &tfdt).versioned(version)?);
        }
        let mut next = base;
        for trun in Children::new(data, b.body, b.end).filter(|c| &c.kind == b"trun") {
            next = parse_trun(data, &trun, base, next, &mut t)?;
        }
        trafs.push(t);
    }
    Some(trafs)
}

/// Add one `trun` to `t`; `next` is where its data starts when it has no data_offset.
/// Returns where the following trun's data would start.
fn parse_trun(
    data: &[u8],
    trun: &BoxHeader,
    base: i128,
    next: i128,
    t: &mut TrafInfo,
) -> Option<i128> {
    let (_, flags) = version_flags(data, trun)?;
    let mut f = Fields::after_version(data, trun);
    let count = u64::from(f.u32()?);
    let start = if flags & 0x01 != 0 {
        base + i128::from(f.u32()? as i32)
    } else {
        next
    };
    if flags & 0x04 != 0 {
        f.u32()?; // first_sample_flags
    }
    // duration, size, flags, composition offset: 4 bytes each when present
    let per_sample = 4 * u64::from((flags & 0x0F00).count_ones());
    if count.checked_mul(per_sample)? > f.remaining() as u64 {
        return None;
    }
    let (mut duration, mut size) = (0u64, 0u64);
    if per_sample == 0 {
        duration = count.saturating_mul(u64::from(t.default_duration));
        size = count.saturating_mul(u64::from(t.default_size));
    }
    for _ in 0..if per_sample == 0 { 0 } else { count } {
        let mut field = |bit: u32, default: u32| {
            if flags & bit != 0 {
                f.u32()
            } else {
                Some(default)
            }
        };
        duration = duration.saturating_add(u64::from(field(0x100, t.default_duration)?));
        size = size.saturating_add(u64::from(field(0x200, t.default_size)?));
        field(0x400, 0)?;
        field(0x800, 0)?;
    }
    t.duration = t.duration.saturating_add(duration);
    t.samples = t.samples.saturating_add(count);
    let end = start + i128::from(size);
    t.data = Some(
        t.data
            .map_or((start, end), |(s, e)| (s.min(start), e.max(end))),
    );
    Some(end)
}

/// Every traf's sample data lies between the start of the file and `mdat_end`.
fn data_within(trafs: &[TrafInfo], mdat_end: usize) -> bool {
    trafs
        .iter()
        .filter_map(|t| t.data)
        .all(|(start, end)| start >= 0 && end <= mdat_end as i128)
}
