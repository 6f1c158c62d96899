//! Time bases of the packager: RTMP's 32-bit millisecond timestamps unwrapped into a
//! monotonic-ish 64-bit media clock, and the one mapping from that clock to wall-clock
//! milliseconds used for `EXT-X-PROGRAM-DATE-TIME` and the ID3 sync points.

/// A jump of the media clock larger than this (either way) between two frames is not
/// reordering but a new timeline: the packager marks a discontinuity and rebases.
pub const MAX_TIMESTAMP_JUMP_MS: i64 = 10_000;

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

    /// Forget history: the next timestamp starts a new timeline.
    pub fn reset(&mut self) {
        self.last = None;
    }
}

/// Maps the media clock of one publish onto wall-clock milliseconds.
///
/// For now the base is per stream: the wall clock at the first frame minus that frame's
/// media time. A shared per-entry timeline will replace this; [`Timeline::wall_ms`] is the
/// only place that converts, so that change stays local.
#[derive(Debug, Clone, Copy, Default)]
pub struct Timeline {
    base_ms: Option<i64>,
}

impl Timeline {
    /// Anchor the timeline: media time `media_ms` happened at wall clock `now_wall_ms`.
    /// Does nothing when already anchored.
    pub fn anchor(&mut self, media_ms: i64, now_wall_ms: i64) {
        if self.base_ms.is_none() {
            self.base_ms = Some(now_wall_ms - media_ms);
        }
    }

    /// Drop the anchor (new publish, timestamp jump).
    pub fn reset(&mut self) {
        self.base_ms = None;
    }

    /// Wall-clock ms (Unix epoch) of media time `media_ms`.
    pub fn wall_ms(&self, media_ms: i64) -> i64 {
        self.base_ms.unwrap_or(0) + media_ms
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
