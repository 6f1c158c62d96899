use super::*;
use crate::hls::playlist::{Playlist, Segment, Window};
use crate::hls::segmenter::MediaInfo;
use std::time::{Duration, Instant};

fn temp_dir(name: &str) -> PathBuf {
    static N: AtomicU64 = AtomicU64::new(0);
    let dir = std::env::temp_dir().join(format!("klive-store-{name}-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed)));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn open(dir: &Path, memory_budget_bytes: u64, disk_budget_bytes: u64) -> SegmentStore {
    SegmentStore::open(&StoreConfig { directory: Some(dir.to_path_buf()), memory_budget_bytes, disk_budget_bytes }).unwrap()
}

/// Wait (bounded) until the disk writer has done its queue.
fn settle(store: &SegmentStore) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !store.writer_idle() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn segment(seq: u64, byte: u8, len: usize) -> Segment {
    Segment { seq, duration_ms: 2000, start_wall_ms: seq as i64 * 2000, discontinuity: false, video_frames: 50, data: Bytes::from(vec![byte; len]) }
}

fn window(live: usize, dvr_ms: Option<u64>) -> Window {
    Window { target_duration_ms: 2000, playlist_segments: live, kept_segments: live, dvr_window_ms: dvr_ms }
}

fn read(stored: &Stored) -> Bytes {
    match stored.body().expect("not lost") {
        Body::Memory(b) => b,
        Body::File(path) => map_file(&path, Residency::Populate).unwrap().unwrap(),
    }
}

fn files(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().unwrap().is_dir())
        .map(|d| std::fs::read_dir(d.path()).unwrap().count())
        .sum()
}

#[test]
fn the_live_edge_stays_in_memory_and_the_dvr_window_goes_to_disk() {
    let dir = temp_dir("edge");
    let store = open(&dir, 1 << 30, 0);
    let mut p = Playlist::with_store(window(3, Some(3_600_000)), store.stream());
    for seq in 0..10 {
        p.push(segment(seq, seq as u8, 1000), &MediaInfo::default());
    }
    settle(&store);
    let s = store.stats();
    assert_eq!((s.memory_segments, s.memory_bytes), (3, 3000));
    assert_eq!((s.disk_segments, s.disk_bytes), (7, 7000));
    assert_eq!(files(&dir), 7);
    let kept: Vec<_> = p.segments().map(|s| (s.seq, s.data.in_memory())).collect();
    assert_eq!(kept, (0..10).map(|seq| (seq, seq >= 7)).collect::<Vec<_>>());
    for seq in [0u64, 5, 9] {
        let bytes = read(&p.segment(&format!("seg-{seq}.ts")).unwrap());
        assert_eq!(&bytes[..], &vec![seq as u8; 1000][..], "segment {seq}");
    }
    let text = String::from_utf8(p.media_playlist(true).unwrap().to_vec()).unwrap();
    assert!(text.contains("seg-0.ts") && text.contains("seg-9.ts"));
    // The window slides: expired segments' files are deleted.
    let mut p = p;
    p.set_window(window(3, Some(8000)));
    for seq in 10..14 {
        p.push(segment(seq, 1, 1000), &MediaInfo::default());
    }
    settle(&store);
    assert_eq!(p.segments().next().unwrap().seq, 10);
    assert_eq!(files(&dir), 1);
    drop(p);
    settle(&store);
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1, "only the marker remains");
    let s = store.stats();
    assert_eq!((s.memory_bytes, s.disk_bytes), (0, 0));
}

#[test]
fn the_memory_budget_spills_the_oldest_early_across_streams() {
    let dir = temp_dir("budget");
    let store = open(&dir, 4000, 0);
    let mut a = Playlist::with_store(window(5, None), store.stream());
    let mut b = Playlist::with_store(window(5, None), store.stream());
    for seq in 0..5 {
        a.push(segment(seq, 1, 1000), &MediaInfo::default());
        b.push(segment(seq, 2, 1000), &MediaInfo::default());
    }
    settle(&store);
    let s = store.stats();
    assert!(s.memory_bytes <= 4000, "{s:?}");
    assert_eq!(s.memory_bytes + s.disk_bytes, 10_000);
    assert!(s.early_spills >= 6, "{s:?}");
    // The oldest went first, whichever stream they belong to; all still serve.
    assert!(!a.segment("seg-0.ts").unwrap().in_memory() && !b.segment("seg-0.ts").unwrap().in_memory());
    assert!(a.segment("seg-4.ts").unwrap().in_memory() || b.segment("seg-4.ts").unwrap().in_memory());
    for seq in 0..5 {
        assert_eq!(read(&a.segment(&format!("seg-{seq}.ts")).unwrap())[..], vec![1u8; 1000][..]);
        assert_eq!(read(&b.segment(&format!("seg-{seq}.ts")).unwrap())[..], vec![2u8; 1000][..]);
    }
}

#[test]
fn the_disk_budget_shortens_the_oldest_windows() {
    let dir = temp_dir("disk-budget");
    let store = open(&dir, 1 << 30, 5000);
    let mut p = Playlist::with_store(window(2, Some(3_600_000)), store.stream());
    for seq in 0..12 {
        p.push(segment(seq, 1, 1000), &MediaInfo::default());
        settle(&store);
    }
    // Segments lost since the last push leave the playlist at the next one.
    p.push(segment(12, 1, 1000), &MediaInfo::default());
    settle(&store);
    let s = store.stats();
    assert!(s.disk_bytes <= 5000, "{s:?}");
    assert!(s.lost_segments >= 5, "{s:?}");
    assert!(s.error.as_deref().unwrap().contains("disk budget"), "{s:?}");
    // No listed segment is lost: the window starts after the newest lost one.
    let first = p.segments().next().unwrap().seq;
    assert!(first >= 5, "first {first}");
    assert!(p.segments().filter(|s| s.data.is_lost()).count() <= 1);
    assert_eq!(p.segments().last().unwrap().seq, 12);
}

#[test]
fn a_failing_disk_keeps_the_live_edge_shortens_the_dvr_window_and_recovers() {
    let dir = temp_dir("failing");
    let store = open(&dir, 1 << 30, 0);
    let stream = store.stream();
    // A file where the stream's subdirectory should be: every write fails.
    let blocked = stream.dir.clone();
    std::fs::write(&blocked, b"x").unwrap();
    let mut p = Playlist::with_store(window(3, Some(3_600_000)), stream);
    for seq in 0..8 {
        p.push(segment(seq, 1, 1000), &MediaInfo::default());
        settle(&store);
    }
    let s = store.stats();
    assert!(s.error.as_deref().unwrap().contains("DVR window shortened"), "{s:?}");
    assert!(s.lost_segments >= 4, "{s:?}");
    // The newest failure is dropped from the playlist at its next push.
    let listed: Vec<_> = p.segments().filter(|s| !s.data.is_lost()).map(|s| s.seq).collect();
    assert_eq!(listed, vec![5, 6, 7], "only the live edge is left, in memory");
    assert!(p.segments().filter(|s| !s.data.is_lost()).all(|s| s.data.in_memory()));
    // Space returns: the DVR window grows again and the error clears.
    std::fs::remove_file(&blocked).unwrap();
    for seq in 8..14 {
        p.push(segment(seq, 1, 1000), &MediaInfo::default());
        settle(&store);
    }
    let s = store.stats();
    assert_eq!(s.error, None, "{s:?}");
    assert_eq!(p.segments().next().unwrap().seq, 5);
    assert_eq!(p.segments().len(), 9);
    assert!(p.segments().all(|s| s.data.body().is_some()));
}

#[test]
fn the_directory_is_cleared_at_start_locked_and_never_taken_from_someone_else() {
    let dir = temp_dir("clear");
    {
        let store = open(&dir, 1, 0);
        let mut p = Playlist::with_store(window(1, Some(60_000)), store.stream());
        for seq in 0..4 {
            p.push(segment(seq, 1, 100), &MediaInfo::default());
        }
        settle(&store);
        assert!(files(&dir) >= 3);
        // A second server on the same directory is refused while this one runs.
        let err = SegmentStore::open(&StoreConfig { directory: Some(dir.clone()), ..Default::default() }).unwrap_err();
        assert!(err.to_string().contains("in use"), "{err}");
        // As after kill -9: the writer stops first, so nothing is cleaned up.
        store.close();
        drop(p);
        drop(store);
    }
    let again = open(&dir, 1, 0);
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1, "stale segments removed at start");
    assert_eq!(again.stats().disk_bytes, 0);
    let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700);
    let foreign = temp_dir("foreign");
    std::fs::create_dir_all(&foreign).unwrap();
    std::fs::write(foreign.join("notes.txt"), b"mine").unwrap();
    let err = SegmentStore::open(&StoreConfig { directory: Some(foreign.clone()), ..Default::default() }).unwrap_err();
    assert!(err.to_string().contains("refusing to clear"), "{err}");
    assert!(foreign.join("notes.txt").exists());
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)).unwrap().parse().unwrap()
}

/// What a 120-minute DVR window costs in memory per rendition once its segments are on disk:
/// the playlist's entries, their store handles and the rendered DVR text. Measured as the RSS
/// growth of this process over 10 renditions with full windows (6 s and 2 s segments).
/// `cargo test --release -p klive-server-core dvr_window_memory -- --ignored --nocapture`
#[test]
#[ignore]
fn dvr_window_memory_per_rendition() {
    for target_ms in [6000u64, 2000] {
        let dir = temp_dir("window-cost");
        let store = open(&dir, 1 << 20, 0);
        let segments = 7_200_000 / target_ms;
        let before = rss_kib();
        let mut playlists = Vec::new();
        for _ in 0..10 {
            let w = Window { target_duration_ms: target_ms, playlist_segments: 10, kept_segments: 20, dvr_window_ms: Some(7_200_000) };
            let mut p = Playlist::with_store(w, store.stream());
            for seq in 0..segments {
                p.push(Segment { seq, duration_ms: target_ms, start_wall_ms: seq as i64 * target_ms as i64, discontinuity: false, video_frames: 1, data: Bytes::from_static(&[0x47; 188]) }, &MediaInfo::default());
            }
            playlists.push(p);
        }
        settle(&store);
        let after = rss_kib();
        let dvr_text = playlists[0].media_playlist(true).unwrap().len();
        println!(
            "120-min window, {} s segments ({segments} per rendition): {} KiB RSS per rendition (DVR playlist text {} KiB); store {:?}",
            target_ms / 1000,
            (after - before) / 10,
            dvr_text / 1024,
            store.stats()
        );
        drop(playlists);
        settle(&store);
    }
}

#[test]
fn a_file_in_the_page_cache_maps_without_the_blocking_pool() {
    let dir = temp_dir("resident");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("seg.ts");
    let bytes: Vec<u8> = (0..300_000u32).map(|i| i as u8).collect();
    std::fs::write(&path, &bytes).unwrap();
    // Just written: every page is cached.
    let mapped = map_file(&path, Residency::CachedOnly).unwrap().expect("resident");
    assert_eq!(&mapped[..], &bytes[..]);
    assert_eq!(&mapped.slice(1000..1010)[..], &bytes[1000..1010]);
    let populated = map_file(&path, Residency::Populate).unwrap().unwrap();
    assert_eq!(populated.len(), bytes.len());
    assert!(map_file(&dir.join("absent.ts"), Residency::CachedOnly).is_err());
}
