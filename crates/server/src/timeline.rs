//! The wall-clock timeline every live stream is put on at ingest.
//!
//! Encoders stamp their frames with their own clock (RTMP: 32-bit milliseconds from an
//! arbitrary origin). At ingest each stream's timestamps are rebased onto the wall clock
//! with one base per Kaltura entry, shared by all of that entry's ingest streams
//! (multi-bitrate inputs `<entry>_1..3`): `out = in + base.wall − base.src`. So renditions,
//! multi-bitrate inputs and two servers fed by one encoder (primary and backup) put the
//! same frame at the same time, and everything downstream (HLS segment boundaries and
//! sequence numbers, PTS, program date time, sync points, recordings) agrees.
//!
//! Inside the core timestamps are 64-bit wall-clock milliseconds ([`crate::Frame`]); RTMP
//! output and FLV sinks carry them modulo 2^32, MPEG-TS modulo 2^33 in 90 kHz. Streams that
//! come back from a transcoder (FLV sources) already carry the timeline modulo 2^32; they
//! are unwrapped to the 64-bit value nearest the wall clock, never rebased again.
//!
//! A step of more than `max_drift_ms` between two audio or two video timestamps of a
//! stream (an encoder restart, a clock jump) resyncs that stream onto the wall clock and
//! flags the next frame as a discontinuity.

use parking_lot::Mutex;
use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

/// Wall clock now, Unix milliseconds.
pub(crate) fn wall_now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// The entry a stream name belongs to: `<entryId>` of `<entryId>_<n>` (a Kaltura entry id
/// such as `0_abcd1234`, n a positive integer without leading zeros: an ingest suffix such as
/// 1..3, 4..7 or 1000..1019, or a rendition's flavorParamsId), else the whole name (a stream
/// of its own). The one stream-name parser of the core; the TypeScript one is
/// src/kaltura/stream-name.ts and follows the same rule.
pub(crate) fn entry_key(name: &str) -> &str {
    let b = name.as_bytes();
    let kaltura = b.len() > 11
        && (b[0] == b'0' || b[0] == b'1')
        && b[1] == b'_'
        && b[2..10].iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && b[10] == b'_'
        && b[11] != b'0'
        && b[11..].iter().all(u8::is_ascii_digit);
    if kaltura {
        &name[..10]
    } else {
        name
    }
}

/// One entry's mapping from source time to wall clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Base {
    /// Wall-clock ms at the anchoring frame.
    pub wall_ms: i64,
    /// That frame's (unwrapped) source timestamp, ms.
    pub src_ms: i64,
    /// Wall clock of the last stream that joined it, for expiry.
    joined_ms: i64,
    /// The latest time a stream of the entry that has ended reached: a new stream whose
    /// frames the base would put before it is not continuing the entry's timeline (an
    /// encoder restarted its clock) and gets a base of its own.
    ended_ms: i64,
}

impl Base {
    fn offset(&self) -> i64 {
        self.wall_ms - self.src_ms
    }
}

/// The per-entry bases, shared by every ingest stream of the server.
#[derive(Debug, Default)]
pub(crate) struct EntryTimelines {
    bases: Mutex<HashMap<String, Base>>,
}

/// Bases kept before unused ones are forgotten.
const MAX_BASES: usize = 4096;
/// A base unused this long is forgotten first.
const BASE_EXPIRY_MS: i64 = 3_600_000;

impl EntryTimelines {
    /// The offset (`wall − src`) a stream of `entry` must use when its frame `src_ms`
    /// arrives at wall clock `now_ms`: the entry's base when it puts that frame within
    /// `max_drift_ms` of now, else a new base anchored on this frame, which replaces the
    /// entry's (the rule of the server we replace).
    pub fn join(&self, entry: &str, src_ms: i64, now_ms: i64, max_drift_ms: i64) -> i64 {
        let mut bases = self.bases.lock();
        if let Some(base) = bases.get_mut(entry) {
            let out = src_ms + base.offset();
            if (out - now_ms).abs() <= max_drift_ms && out > base.ended_ms {
                base.joined_ms = now_ms;
                return base.offset();
            }
        }
        if bases.len() >= MAX_BASES {
            bases.retain(|_, b| now_ms - b.joined_ms < BASE_EXPIRY_MS);
        }
        let ended_ms = bases.get(entry).map_or(i64::MIN, |b| b.ended_ms);
        // Never back in time: a stream that ran ahead of the wall clock (published faster
        // than real time) and restarted continues after where it ended.
        let wall_ms = now_ms.max(ended_ms.saturating_add(1));
        let base = Base { wall_ms, src_ms, joined_ms: now_ms, ended_ms };
        bases.insert(entry.to_string(), base);
        base.offset()
    }

    /// A stream of `entry` ended with its last frame at `last_ms` on the timeline.
    pub fn stream_ended(&self, entry: &str, last_ms: i64) {
        if let Some(base) = self.bases.lock().get_mut(entry) {
            base.ended_ms = base.ended_ms.max(last_ms);
        }
    }

    /// The entry's base, if a stream of it was ever published.
    pub fn get(&self, entry: &str) -> Option<Base> {
        self.bases.lock().get(entry).copied()
    }
}

/// How a stream's timestamps reach the timeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClockMode {
    /// An encoder's own clock: rebased onto the entry's wall-clock base.
    Rebase,
    /// Already on the timeline modulo 2^32 (a transcoder's output): unwrapped only.
    Unwrap,
}

/// How long an encoder's stream is watched before it is anchored, ms: its frames are held
/// meanwhile and the anchor is the one that arrived least delayed (see [`StreamClock`]).
pub(crate) const ANCHOR_WINDOW_MS: i64 = 500;

/// One ingest stream's clock: RTMP timestamps in, 64-bit timeline milliseconds out.
///
/// An encoder's stream (rebased) is anchored on the wall clock at which its frames arrive. A
/// frame is seen some time after it arrived (read pacing, a pending publish decision), so
/// over its first [`ANCHOR_WINDOW_MS`] the clock holds the frames back ([`Stamp::Held`]) and
/// anchors on the least delayed one, `min(now − src)`: two servers fed by one encoder then
/// agree to within a frame or two, whatever each one's read timing.
#[derive(Debug)]
pub(crate) struct StreamClock {
    mode: ClockMode,
    extender: TimestampExtender,
    offset: Option<i64>,
    /// While probing: the first coded frame's arrival and the best `(now − src, src, now)`.
    probe: Option<(i64, (i64, i64, i64))>,
    last_video: Option<i64>,
    last_audio: Option<i64>,
    /// The next frame out follows a resync.
    discontinuity: bool,
    /// The latest timeline ms put out.
    last_out: Option<i64>,
}

/// The kind of frame a timestamp belongs to (jumps are judged per kind).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Track {
    Video,
    Audio,
    Data,
}

/// Where a frame goes on the timeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stamp {
    /// At this timeline ms; `true`: a discontinuity precedes it.
    At(i64, bool),
    /// Not yet: the stream is being anchored. Keep the frame with this source time and place
    /// it with [`StreamClock::place`] once [`StreamClock::anchor`] ran.
    Held(i64),
}

impl StreamClock {
    pub fn new(mode: ClockMode) -> Self {
        StreamClock { mode, extender: TimestampExtender::default(), offset: None, probe: None, last_video: None, last_audio: None, discontinuity: false, last_out: None }
    }

    /// Where a frame stamped `ts` goes. `coded`: an audio or video frame proper (not a
    /// sequence header or data), the only kind an encoder's stream is anchored on.
    pub fn map(&mut self, timelines: &EntryTimelines, entry: &str, track: Track, ts: u32, coded: bool, now_ms: i64, max_drift_ms: i64) -> Stamp {
        let (src, _) = self.extender.extend(ts);
        if self.offset.is_none() {
            match self.mode {
                ClockMode::Unwrap => self.offset = Some(nearest_unwrap(ts, now_ms) - src),
                ClockMode::Rebase => {
                    if coded {
                        let delay = now_ms - src;
                        let (_, best) = self.probe.get_or_insert((now_ms, (delay, src, now_ms)));
                        if delay < best.0 {
                            *best = (delay, src, now_ms);
                        }
                    }
                    return Stamp::Held(src);
                }
            }
        }
        let last = match track {
            Track::Video => self.last_video,
            Track::Audio => self.last_audio,
            Track::Data => None,
        };
        if last.is_some_and(|l| (src - l).abs() > max_drift_ms) {
            self.discontinuity = true;
            self.last_video = None;
            self.last_audio = None;
            self.offset = Some(match self.mode {
                ClockMode::Rebase => timelines.join(entry, src, now_ms, max_drift_ms),
                ClockMode::Unwrap => nearest_unwrap(ts, now_ms) - src,
            });
        }
        let out = self.place(src, track);
        let discontinuity = track != Track::Data && std::mem::take(&mut self.discontinuity);
        Stamp::At(out, discontinuity)
    }

    /// The anchoring window of the first coded frame has passed: anchor now.
    pub fn anchor_due(&self, now_ms: i64) -> bool {
        self.probe.is_some_and(|(first, _)| now_ms - first >= ANCHOR_WINDOW_MS)
    }

    /// Anchor the stream on its least delayed frame (or, with no coded frame yet, on `now`
    /// for source time `fallback_src`), joining the entry's base.
    pub fn anchor(&mut self, timelines: &EntryTimelines, entry: &str, fallback_src: i64, now_ms: i64, max_drift_ms: i64) {
        if self.offset.is_some() {
            return;
        }
        let (src, at) = self.probe.map_or((fallback_src, now_ms), |(_, (_, src, at))| (src, at));
        self.offset = Some(timelines.join(entry, src, at, max_drift_ms));
        self.probe = None;
    }

    /// Timeline ms of source time `src` (after [`Self::anchor`]).
    pub fn place(&mut self, src: i64, track: Track) -> i64 {
        match track {
            Track::Video => self.last_video = Some(src),
            Track::Audio => self.last_audio = Some(src),
            Track::Data => {}
        }
        let out = src + self.offset.unwrap_or(0);
        self.last_out = Some(self.last_out.map_or(out, |l| l.max(out)));
        out
    }

    /// The latest timeline ms put out, if any frame was.
    pub fn last_out(&self) -> Option<i64> {
        self.last_out
    }
}

/// The 64-bit value congruent to `ts` modulo 2^32 nearest to `now_ms`.
fn nearest_unwrap(ts: u32, now_ms: i64) -> i64 {
    let low = now_ms as u32;
    now_ms + i64::from(ts.wrapping_sub(low) as i32)
}

/// Unwraps RTMP timestamps (u32 ms, wrapping after ~49.7 days, with small backward steps
/// when audio and video interleave loosely) into an i64 media clock.
#[derive(Debug, Clone, Default)]
pub struct TimestampExtender {
    last: Option<(u32, i64)>,
}

impl TimestampExtender {
    /// Extend `ts`. Returns the extended value and the signed step from the previous
    /// timestamp (0 for the first).
    pub fn extend(&mut self, ts: u32) -> (i64, i64) {
        match self.last {
            None => {
                self.last = Some((ts, i64::from(ts)));
                (i64::from(ts), 0)
            }
            Some((raw, ext)) => {
                // The shortest signed distance on the 2^32 circle.
                let step = i64::from(ts.wrapping_sub(raw) as i32);
                let value = ext + step;
                self.last = Some((ts, value));
                (value, step)
            }
        }
    }

}

/// Milliseconds to 90 kHz ticks; negative times clamp to 0.
pub fn ms_to_90k(ms: i64) -> u64 {
    (ms.max(0) as u64) * 90
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` for a Unix time in milliseconds (proleptic Gregorian, UTC).
pub fn iso8601_ms(unix_ms: i64) -> String {
    let days = unix_ms.div_euclid(86_400_000);
    let ms_of_day = unix_ms.rem_euclid(86_400_000);
    let (y, m, d) = civil_from_days(days);
    let (h, rest) = (ms_of_day / 3_600_000, ms_of_day % 3_600_000);
    let (min, rest) = (rest / 60_000, rest % 60_000);
    let (s, ms) = (rest / 1000, rest % 1000);
    format!("{y:04}-{m:02}-{d:02}T{h:02}:{min:02}:{s:02}.{ms:03}Z")
}

/// Calendar date of a day count since 1970-01-01, by 400-year eras of 146097 days.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468; // days since 0000-03-01
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // day of era, 0..=146096
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // year of era
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // day of year starting in March
    let mp = (5 * doy + 2) / 153; // month index from March
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000_000;
    const DRIFT: i64 = 10_000;

    /// Map a frame; a held frame is anchored at once (as if the window had passed) and placed.
    fn at(c: &mut StreamClock, t: &EntryTimelines, entry: &str, track: Track, ts: u32, coded: bool, now: i64) -> (i64, bool) {
        match c.map(t, entry, track, ts, coded, now, DRIFT) {
            Stamp::At(ms, d) => (ms, d),
            Stamp::Held(src) => {
                c.anchor(t, entry, src, now, DRIFT);
                (c.place(src, track), false)
            }
        }
    }

    #[test]
    fn an_encoder_is_rebased_onto_the_wall_clock() {
        let t = EntryTimelines::default();
        let mut c = StreamClock::new(ClockMode::Rebase);
        assert_eq!(at(&mut c, &t, "0_abcd1234", Track::Video, 5000, true, NOW), (NOW, false));
        assert_eq!(at(&mut c, &t, "0_abcd1234", Track::Audio, 5021, true, NOW + 30), (NOW + 21, false));
        assert_eq!(at(&mut c, &t, "0_abcd1234", Track::Video, 5033, true, NOW + 50), (NOW + 33, false), "the clock at arrival no longer matters");
    }

    #[test]
    fn the_anchor_is_the_least_delayed_frame_of_the_window() {
        let t = EntryTimelines::default();
        let mut c = StreamClock::new(ClockMode::Rebase);
        // Headers and a first burst read late (a pending publish decision), then frames read
        // soon after they arrive.
        assert_eq!(c.map(&t, "e", Track::Data, 0, false, NOW, DRIFT), Stamp::Held(0));
        assert_eq!(c.map(&t, "e", Track::Video, 0, true, NOW + 300, DRIFT), Stamp::Held(0));
        assert_eq!(c.map(&t, "e", Track::Video, 40, true, NOW + 300, DRIFT), Stamp::Held(40));
        assert!(!c.anchor_due(NOW + 400));
        assert_eq!(c.map(&t, "e", Track::Video, 280, true, NOW + 420, DRIFT), Stamp::Held(280));
        assert_eq!(c.map(&t, "e", Track::Video, 480, true, NOW + 610, DRIFT), Stamp::Held(480));
        assert!(c.anchor_due(NOW + 800));
        c.anchor(&t, "e", 480, NOW + 800, DRIFT);
        // Least delay: 480 seen at +610, so source 0 is at +130.
        assert_eq!(c.place(0, Track::Video), NOW + 130);
        assert_eq!(c.map(&t, "e", Track::Video, 520, true, NOW + 900, DRIFT), Stamp::At(NOW + 650, false));
        assert_eq!(t.get("e").unwrap().wall_ms, NOW + 610);
    }

    #[test]
    fn streams_of_one_entry_share_its_base_within_the_drift() {
        let t = EntryTimelines::default();
        let mut first = StreamClock::new(ClockMode::Rebase);
        let mut second = StreamClock::new(ClockMode::Rebase);
        at(&mut first, &t, "e", Track::Video, 1000, true, NOW);
        // A multi-bitrate input of the same encoder, arriving 300 ms later.
        assert_eq!(at(&mut second, &t, "e", Track::Video, 1000, true, NOW + 300).0, NOW);
        // One whose clock is 20 s away replaces the base.
        let mut third = StreamClock::new(ClockMode::Rebase);
        assert_eq!(at(&mut third, &t, "e", Track::Video, 50_000, true, NOW + 400).0, NOW + 400);
        assert_eq!(t.get("e").unwrap().src_ms, 50_000);
    }

    #[test]
    fn a_restarted_encoder_clock_never_goes_back_in_time() {
        let t = EntryTimelines::default();
        let mut c = StreamClock::new(ClockMode::Rebase);
        at(&mut c, &t, "e", Track::Video, 0, true, NOW);
        at(&mut c, &t, "e", Track::Video, 4000, true, NOW + 4000);
        t.stream_ended("e", c.last_out().unwrap());
        // Back 2 s later from 0: the base would put it at NOW, before where it ended.
        let mut again = StreamClock::new(ClockMode::Rebase);
        assert_eq!(at(&mut again, &t, "e", Track::Video, 0, true, NOW + 6000).0, NOW + 6000);
        // A reconnect that continues its clock keeps the base.
        t.stream_ended("e", NOW + 7000);
        let mut cont = StreamClock::new(ClockMode::Rebase);
        assert_eq!(at(&mut cont, &t, "e", Track::Video, 1500, true, NOW + 7600).0, NOW + 7500);
    }

    #[test]
    fn a_jump_resyncs_and_flags_a_discontinuity_once() {
        let t = EntryTimelines::default();
        let mut c = StreamClock::new(ClockMode::Rebase);
        at(&mut c, &t, "e", Track::Video, 1000, true, NOW);
        at(&mut c, &t, "e", Track::Audio, 1000, true, NOW);
        assert_eq!(at(&mut c, &t, "e", Track::Video, 1040, true, NOW + 40), (NOW + 40, false));
        // The encoder's clock leaps 1 h ahead.
        assert_eq!(at(&mut c, &t, "e", Track::Video, 3_601_080, true, NOW + 80), (NOW + 80, true));
        assert_eq!(at(&mut c, &t, "e", Track::Audio, 3_601_080, true, NOW + 80), (NOW + 80, false));
        assert_eq!(at(&mut c, &t, "e", Track::Video, 3_601_120, true, NOW + 120), (NOW + 120, false));
    }

    #[test]
    fn a_transcoder_output_is_unwrapped_not_rebased() {
        let t = EntryTimelines::default();
        let mut c = StreamClock::new(ClockMode::Unwrap);
        // The timeline modulo 2^32, 700 ms behind the wall clock (transcoding delay).
        let ts = (NOW - 700) as u32;
        assert_eq!(c.map(&t, "e", Track::Video, ts, true, NOW, DRIFT), Stamp::At(NOW - 700, false));
        assert_eq!(c.map(&t, "e", Track::Video, ts.wrapping_add(33), true, NOW + 10, DRIFT), Stamp::At(NOW - 667, false));
        assert!(t.get("e").is_none(), "unwrapped streams leave the entry's base alone");
        // Across the 2^32 wrap.
        let edge = (NOW / (1 << 32) + 1) * (1 << 32);
        let mut w = StreamClock::new(ClockMode::Unwrap);
        assert_eq!(w.map(&t, "e", Track::Video, (edge - 5) as u32, true, edge + 100, DRIFT), Stamp::At(edge - 5, false));
        assert_eq!(w.map(&t, "e", Track::Video, (edge + 28) as u32, true, edge + 130, DRIFT), Stamp::At(edge + 28, false));
    }

    #[test]
    fn entry_keys() {
        assert_eq!(entry_key("0_abcd1234_1"), "0_abcd1234");
        assert_eq!(entry_key("1_abcd1234_487"), "1_abcd1234");
        // Ingest_4..7 and the audio-language ingests 1000..1019 share their entry's timeline.
        assert_eq!(entry_key("0_abcd1234_7"), "0_abcd1234");
        assert_eq!(entry_key("0_abcd1234_1019"), "0_abcd1234");
        // Not a Kaltura stream name: a timeline of its own.
        assert_eq!(entry_key("0_abcd1234_01"), "0_abcd1234_01");
        assert_eq!(entry_key("0_abcd1234_x"), "0_abcd1234_x");
        assert_eq!(entry_key("0_abcd1234_"), "0_abcd1234_");
        assert_eq!(entry_key("0_ABCD1234_1"), "0_ABCD1234_1");
        assert_eq!(entry_key("live"), "live");
    }
}
