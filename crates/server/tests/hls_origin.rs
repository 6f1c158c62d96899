//! HLS end to end over real sockets: an FLV made by ffmpeg is published over RTMP (the
//! sans-IO client session driven here), packaged by `start_hls`, and fetched over HTTP from
//! the origin's own port and from the RTMP port. ffprobe checks every segment.

use klive_server_core::{Decision, HlsOptions, MediaKind, Server, ServerConfig, ServerEvent};
use media::flv::FlvReader;
use rtmp_proto::session::{ClientEvent, ClientMode, ClientSession};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::{sleep, timeout};

const STREAM: &str = "0_abcd1234_1";

struct Peer {
    socket: TcpStream,
    session: ClientSession,
    buf: Vec<u8>,
}

impl Peer {
    async fn connect(port: u16, name: &str) -> Peer {
        let socket = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let tc_url = format!("rtmp://127.0.0.1:{port}/kLive");
        let session = ClientSession::new(ClientMode::Publish, "kLive", &tc_url, name, [7u8; 1528], false);
        Peer { socket, session, buf: vec![0u8; 65536] }
    }

    async fn flush(&mut self) {
        let out = self.session.take_output();
        if !out.is_empty() {
            self.socket.write_all(&out).await.unwrap();
        }
    }

    async fn until_publishing(&mut self) {
        loop {
            self.flush().await;
            while let Some(e) = self.session.poll_event() {
                if e == ClientEvent::PublishStarted {
                    self.flush().await;
                    return;
                }
            }
            let n = timeout(Duration::from_secs(5), self.socket.read(&mut self.buf)).await.expect("server silent").unwrap();
            assert!(n > 0, "server closed the connection");
            self.session.handle_input(&self.buf[..n]).unwrap();
        }
    }

    /// Send the tags with timestamps below `until_ms`, `speed` times faster than real time.
    async fn send(&mut self, tags: &[(MediaKind, u32, Vec<u8>)], until_ms: u32, speed: f64) {
        let start = Instant::now();
        for (kind, ts, data) in tags.iter().filter(|t| t.1 < until_ms) {
            let due = start + Duration::from_secs_f64(f64::from(*ts) / 1000.0 / speed);
            tokio::time::sleep_until(due.into()).await;
            self.session.send_media(*kind, *ts, data);
            self.flush().await;
        }
    }
}

/// ffmpeg makes the FLV once per test binary run.
fn test_flv() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("klive-hls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("out.flv");
    if !path.exists() {
        let status = Command::new("ffmpeg")
            .args(["-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25", "-f", "lavfi", "-i", "sine"])
            .args(["-t", "10", "-c:v", "libx264", "-g", "25", "-c:a", "aac", "-f", "flv"])
            .arg(&path)
            .status()
            .expect("ffmpeg must be installed");
        assert!(status.success());
    }
    path
}

fn read_tags(path: &Path) -> Vec<(MediaKind, u32, Vec<u8>)> {
    let mut reader = FlvReader::new();
    reader.push(&std::fs::read(path).unwrap());
    let mut tags = Vec::new();
    while let Some(tag) = reader.next_tag().unwrap() {
        let kind = match tag.tag_type {
            8 => MediaKind::Audio,
            9 => MediaKind::Video,
            _ => continue,
        };
        tags.push((kind, tag.timestamp, tag.data.to_vec()));
    }
    tags
}

struct HttpResponse {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl HttpResponse {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    fn text(&self) -> &str {
        std::str::from_utf8(&self.body).unwrap()
    }
}

/// One request on a fresh connection (`Connection: close`), read to the end.
async fn http(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)]) -> HttpResponse {
    let mut socket = TcpStream::connect(addr).await.unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    socket.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    timeout(Duration::from_secs(5), socket.read_to_end(&mut raw)).await.expect("response in time").unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("a complete head");
    let head = std::str::from_utf8(&raw[..split]).unwrap();
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
    let headers = lines.filter_map(|l| l.split_once(':')).map(|(k, v)| (k.trim().to_string(), v.trim().to_string())).collect();
    HttpResponse { status, headers, body: raw[split + 4..].to_vec() }
}

fn assert_common_headers(r: &HttpResponse) {
    assert_eq!(r.header("x-me"), Some("hls-test-node"), "X-Me on every response ({})", r.status);
    assert_eq!(r.header("server"), None, "no Server header");
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    assert!(r.header("access-control-expose-headers").is_some());
}

fn start_decider(server: Arc<Server>, mut rx: mpsc::UnboundedReceiver<ServerEvent>) -> mpsc::UnboundedReceiver<ServerEvent> {
    let (tx, out) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(event) = rx.recv().await {
            if let ServerEvent::Connect { request_id, .. } | ServerEvent::Publish { request_id, .. } = &event {
                server.decide(*request_id, Decision::accept());
            }
            let _ = tx.send(event);
        }
    });
    out
}

/// (duration s, URI) of each segment of a media playlist.
fn segments_of(playlist: &str) -> Vec<(f64, String)> {
    let lines: Vec<&str> = playlist.lines().collect();
    lines
        .iter()
        .enumerate()
        .filter_map(|(i, l)| l.strip_prefix("#EXTINF:").map(|d| (d.trim_end_matches(',').parse().unwrap(), lines[i + 1].to_string())))
        .collect()
}

fn ffprobe_streams(path: &Path) -> Vec<serde_json::Value> {
    let out = Command::new("ffprobe").args(["-v", "error", "-show_streams", "-of", "json"]).arg(path).output().expect("ffprobe must be installed");
    assert!(out.status.success(), "ffprobe failed: {}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["streams"].as_array().unwrap().clone()
}

fn sync_point(segment: &[u8]) -> serde_json::Value {
    let at = segment.windows(14).position(|w| w == b"{\"objectType\":").expect("an ID3 sync point");
    let end = at + segment[at..].iter().position(|&b| b == b'}').unwrap() + 1;
    serde_json::from_slice(&segment[at..end]).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_package_and_serve_over_http_on_both_ports() {
    let flv = test_flv();
    let tags = read_tags(&flv);
    let (tx, rx) = mpsc::unbounded_channel();
    let config = ServerConfig {
        bind: "127.0.0.1:0".parse().unwrap(),
        http_bind: Some("127.0.0.1:0".parse().unwrap()),
        hostname: "hls-test-node".into(),
        app_prefix: Some("p1".into()),
        ..ServerConfig::default()
    };
    let server = Arc::new(Server::start(config, move |e| tx.send(e).unwrap()).await.unwrap());
    let _events = start_decider(server.clone(), rx);
    let rtmp = server.local_addr();
    let origin = server.http_local_addr().unwrap();

    // Packaging can be asked for before the stream is live: the packager waits for it.
    let opts = HlsOptions { target_duration_ms: 2000, group: Some("0_abcd1234_all".into()), ..HlsOptions::default() };
    server.start_hls(STREAM, opts.clone()).unwrap();
    assert_eq!(http(origin, "GET", &format!("/kLive/{STREAM}/playlist.m3u8"), &[]).await.status, 404);

    let mut publisher = Peer::connect(rtmp.port(), STREAM).await;
    publisher.until_publishing().await;
    publisher.send(&tags, u32::MAX, 1.6).await;

    // Segments cut at keyframes while live. The first may be short: the bus starts a
    // subscriber at a keyframe, and the packager may have subscribed after the first one.
    let near_2s = |text: &str| segments_of(text).iter().filter(|(d, _)| (1.9..=2.1).contains(d)).count();
    let playlist_path = format!("/kLive/{STREAM}/playlist.m3u8");
    let deadline = Instant::now() + Duration::from_secs(5);
    let playlist = loop {
        let r = http(origin, "GET", &playlist_path, &[]).await;
        if r.status == 200 && near_2s(r.text()) >= 3 {
            break r;
        }
        assert!(Instant::now() < deadline, "playlist never reached 3 segments");
        sleep(Duration::from_millis(100)).await;
    };
    assert_common_headers(&playlist);
    assert_eq!(playlist.header("content-type"), Some("application/vnd.apple.mpegurl"));
    assert_eq!(playlist.header("cache-control"), Some("max-age=1"));
    let text = playlist.text().to_string();
    assert!(text.starts_with("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:"), "{text}");
    // Segments are numbered by their 2 s slot on the wall-clock timeline.
    let first_seq: u64 = text.lines().find_map(|l| l.strip_prefix("#EXT-X-MEDIA-SEQUENCE:")).unwrap().parse().unwrap();
    assert_eq!(text.matches("#EXT-X-PROGRAM-DATE-TIME:").count(), segments_of(&text).len());
    let segments = segments_of(&text);
    for (duration, _) in &segments[1..] {
        assert!((1.9..=2.1).contains(duration), "EXTINF {duration} not near 2 s:\n{text}");
    }
    assert!(segments[0].0 <= 2.1);

    // Every segment: served with its headers, decodable, with its sync point.
    let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64;
    let dir = flv.parent().unwrap();
    let mut previous_ts: Option<(i64, f64)> = None;
    for (i, (duration, uri)) in segments.iter().enumerate() {
        let r = http(origin, "GET", &format!("/kLive/{STREAM}/{uri}"), &[]).await;
        assert_eq!(r.status, 200);
        assert_common_headers(&r);
        assert_eq!(r.header("content-type"), Some("video/mp2t"));
        assert_eq!(r.header("cache-control"), Some("max-age=86400, immutable"));
        assert_eq!(r.header("content-length").unwrap().parse::<usize>().unwrap(), r.body.len());
        let file = dir.join(format!("seg{i}.ts"));
        std::fs::write(&file, &r.body).unwrap();
        let streams = ffprobe_streams(&file);
        let codecs: Vec<&str> = streams.iter().map(|s| s["codec_name"].as_str().unwrap_or("")).collect();
        assert!(codecs.contains(&"h264") && codecs.contains(&"aac") && codecs.contains(&"timed_id3"), "segment {i}: {codecs:?}");
        let video = streams.iter().find(|s| s["codec_name"] == "h264").unwrap();
        assert_eq!((video["width"].as_u64(), video["height"].as_u64()), (Some(320), Some(240)));
        let sync = sync_point(&r.body);
        assert_eq!(sync["objectType"], "KalturaSyncPoint");
        assert_eq!(sync["id"], format!("{STREAM}_{}", first_seq + i as u64));
        let ts = sync["timestamp"].as_i64().unwrap();
        if i == 0 {
            assert_eq!(ts as u64 / 2000, first_seq, "the first segment is numbered by the slot it starts in");
        }
        assert!((now_ms - 60_000..=now_ms + 1000).contains(&ts), "sync point time {ts} vs now {now_ms}");
        if let Some((prev, prev_duration)) = previous_ts {
            assert!((ts - prev - (prev_duration * 1000.0) as i64).abs() <= 2, "sync points follow the media time");
        }
        previous_ts = Some((ts, *duration));
    }

    // A real HLS client reads the live playlist over HTTP.
    let url = format!("http://{origin}{playlist_path}");
    let probe = tokio::task::spawn_blocking(move || Command::new("ffprobe").args(["-v", "error", "-show_streams", "-of", "json", "-rw_timeout", "5000000", &url]).output());
    let probe = timeout(Duration::from_secs(15), probe).await.expect("ffprobe on the playlist in time").unwrap().unwrap();
    assert!(probe.status.success(), "{}", String::from_utf8_lossy(&probe.stderr));
    let probed: serde_json::Value = serde_json::from_slice(&probe.stdout).unwrap();
    let names: Vec<&str> = probed["streams"].as_array().unwrap().iter().filter_map(|s| s["codec_name"].as_str()).collect();
    assert!(names.contains(&"h264") && names.contains(&"aac"), "{names:?}");

    // HEAD, ranges, 404s.
    let seg_path = format!("/kLive/{STREAM}/{}", segments[0].1);
    let full = http(origin, "GET", &seg_path, &[]).await.body;
    let head = http(origin, "HEAD", &seg_path, &[]).await;
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-length").unwrap().parse::<usize>().unwrap(), full.len());
    assert!(head.body.is_empty());
    let part = http(origin, "GET", &seg_path, &[("Range", "bytes=188-375")]).await;
    assert_eq!(part.status, 206);
    assert_eq!(part.header("content-range").unwrap(), format!("bytes 188-375/{}", full.len()));
    assert_eq!(part.body, full[188..376]);
    let tail = http(origin, "GET", &seg_path, &[("Range", "bytes=-188")]).await;
    assert_eq!((tail.status, tail.body.as_slice()), (206, &full[full.len() - 188..]));
    let beyond = http(origin, "GET", &seg_path, &[("Range", &format!("bytes={}-", full.len()))]).await;
    assert_eq!(beyond.status, 416);
    assert_eq!(beyond.header("content-range").unwrap(), format!("bytes */{}", full.len()));
    assert_common_headers(&beyond);
    for path in ["/kLive/nope/playlist.m3u8", &format!("/kLive/{STREAM}/seg-nope-1.ts"), "/kLive/smil:nope_all.smil/playlist.m3u8", "/other/x/playlist.m3u8"] {
        let r = http(origin, "GET", path, &[]).await;
        assert_eq!(r.status, 404, "{path}");
        assert_common_headers(&r);
    }
    let post = http(origin, "POST", &playlist_path, &[]).await;
    assert_eq!(post.status, 405);
    assert_common_headers(&post);
    let preflight = http(origin, "OPTIONS", &playlist_path, &[("Origin", "https://player.example"), ("Access-Control-Request-Method", "GET"), ("Access-Control-Request-Headers", "range")]).await;
    assert_eq!(preflight.status, 204);
    assert_common_headers(&preflight);
    assert!(preflight.header("access-control-allow-methods").unwrap().contains("GET"));
    assert_eq!(preflight.header("access-control-allow-headers"), Some("range"));

    // Master playlists: the group, `<entry>_<ids>`, with the prefix, with ?DVR.
    let master = http(origin, "GET", "/p1/kLive/smil:0_abcd1234_all.smil/playlist.m3u8", &[]).await;
    assert_eq!(master.status, 200);
    assert_common_headers(&master);
    assert_eq!(master.header("cache-control"), Some("max-age=1"));
    let m = master.text();
    let inf = m.lines().find(|l| l.starts_with("#EXT-X-STREAM-INF:")).unwrap_or_else(|| panic!("{m}"));
    assert!(inf.contains("RESOLUTION=320x240") && inf.contains("FRAME-RATE=25.000") && inf.contains(",mp4a.40.2\""), "{inf}");
    assert!(inf.contains("CODECS=\"avc1.64"), "{inf}");
    let bandwidth: u64 = inf.split("BANDWIDTH=").nth(1).unwrap().split(',').next().unwrap().parse().unwrap();
    assert!((50_000..5_000_000).contains(&bandwidth), "{inf}");
    assert!(m.contains(&format!("\n../{STREAM}/playlist.m3u8\n")), "{m}");
    let dvr = http(origin, "GET", "/kLive/smil:0_abcd1234_1.smil/playlist.m3u8?DVR", &[]).await;
    assert!(dvr.text().contains(&format!("\n../{STREAM}/playlist.m3u8?DVR\n")), "{}", dvr.text());
    assert_eq!(http(origin, "GET", &format!("{playlist_path}?DVR"), &[]).await.status, 200);

    // The RTMP port answers HTTP while it carries the publish.
    let same_port = http(rtmp, "GET", &playlist_path, &[]).await;
    assert_eq!(same_port.status, 200);
    assert_common_headers(&same_port);
    assert!(same_port.text().starts_with("#EXTM3U"));
    assert_eq!(server.stats().connections.len(), 1, "HTTP connections are not RTMP connections");

    // The publisher leaves and comes back (a transcoder restart): same playlist, numbering
    // continued behind a discontinuity.
    drop(publisher);
    let ended_with = loop {
        let info = server.hls_streams().into_iter().find(|s| s.name == STREAM).unwrap();
        if !info.live {
            break info.segments_written;
        }
        sleep(Duration::from_millis(50)).await;
    };
    let mut publisher = Peer::connect(rtmp.port(), STREAM).await;
    publisher.until_publishing().await;
    publisher.send(&tags, 4500, 4.0).await;
    let deadline = Instant::now() + Duration::from_secs(5);
    let text = loop {
        let text = http(origin, "GET", &playlist_path, &[]).await.text().to_string();
        if segments_of(&text).len() as u64 > ended_with {
            break text;
        }
        assert!(Instant::now() < deadline, "no segment after the republish:\n{text}");
        sleep(Duration::from_millis(100)).await;
    };
    assert!(text.contains(&format!("#EXT-X-MEDIA-SEQUENCE:{first_seq}\n#EXT-X-DISCONTINUITY-SEQUENCE:0\n")), "{text}");
    let after = text.split("#EXT-X-DISCONTINUITY\n").nth(1).unwrap_or_else(|| panic!("no discontinuity:\n{text}"));
    let first_after = &segments_of(&format!("#EXTM3U\n{after}"))[0].1;
    let seg = http(origin, "GET", &format!("/kLive/{STREAM}/{first_after}"), &[]).await;
    assert_eq!(sync_point(&seg.body)["id"], format!("{STREAM}_{}", first_seq + ended_with));

    assert!(server.stop_hls(STREAM));
    assert!(!server.stop_hls(STREAM));
    assert_eq!(http(origin, "GET", &playlist_path, &[]).await.status, 404);
    drop(publisher);
    server.shutdown(Duration::from_secs(2)).await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn origin_lock_sniff_timeout_and_rtmp_only_port() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let config = ServerConfig {
        bind: "127.0.0.1:0".parse().unwrap(),
        http_bind: Some("127.0.0.1:0".parse().unwrap()),
        hostname: "hls-test-node".into(),
        limit_origin: Some(("X-Origin-Lock".into(), "s3cret".into())),
        handshake_timeout: Duration::from_secs(1),
        ..ServerConfig::default()
    };
    let server = Server::start(config, move |e| tx.send(e).unwrap()).await.unwrap();
    let origin = server.http_local_addr().unwrap();
    for addr in [origin, server.local_addr()] {
        let locked = http(addr, "GET", "/kLive/x/playlist.m3u8", &[]).await;
        assert_eq!(locked.status, 403);
        assert_common_headers(&locked);
        let wrong = http(addr, "GET", "/kLive/x/playlist.m3u8", &[("X-Origin-Lock", "nope")]).await;
        assert_eq!(wrong.status, 403);
        let unlocked = http(addr, "GET", "/kLive/x/playlist.m3u8", &[("X-Origin-Lock", "s3cret")]).await;
        assert_eq!(unlocked.status, 404, "past the lock, an unknown stream");
        assert_common_headers(&unlocked);
    }

    // Bytes that merely start like a method are still RTMP's to refuse, with its reason.
    let mut garbage = TcpStream::connect(server.local_addr()).await.unwrap();
    let mut bytes = vec![b'G'];
    bytes.extend((0..4000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
    garbage.write_all(&bytes).await.unwrap();
    let reason = timeout(Duration::from_secs(3), async {
        loop {
            if let Some(ServerEvent::Disconnect(d)) = rx.recv().await {
                break d.reason;
            }
        }
    })
    .await
    .unwrap();
    assert!(reason.contains("version"), "{reason}");
    drop(garbage);

    // A client that says nothing on the shared port is closed after the timeout.
    let mut silent = TcpStream::connect(server.local_addr()).await.unwrap();
    let mut buf = [0u8; 16];
    let n = timeout(Duration::from_secs(3), silent.read(&mut buf)).await.expect("closed in time").unwrap_or(0);
    assert_eq!(n, 0);
    let reason = timeout(Duration::from_secs(2), async {
        loop {
            if let Some(ServerEvent::Disconnect(d)) = rx.recv().await {
                break d.reason;
            }
        }
    })
    .await
    .unwrap();
    assert!(reason.contains("sent nothing"), "{reason}");
    server.shutdown(Duration::from_secs(1)).await;

    // With the sniffing off, the RTMP port speaks RTMP only.
    let config = ServerConfig { bind: "127.0.0.1:0".parse().unwrap(), http_on_rtmp_port: false, ..ServerConfig::default() };
    let server = Server::start(config, |_| {}).await.unwrap();
    assert!(server.http_local_addr().is_none());
    let mut socket = TcpStream::connect(server.local_addr()).await.unwrap();
    socket.write_all(b"GET /kLive/x/playlist.m3u8 HTTP/1.1\r\nConnection: close\r\n\r\n").await.unwrap();
    let mut raw = Vec::new();
    let _ = timeout(Duration::from_secs(3), socket.read_to_end(&mut raw)).await.expect("closed");
    assert!(!raw.starts_with(b"HTTP/"), "no HTTP answer on an RTMP-only port");
    server.shutdown(Duration::from_secs(1)).await;
}
