//! klive-loadgen: replays an FLV file as N concurrent RTMP publishers, without
//! re-encoding, using the sans-IO client of `rtmp-proto`.
//!
//! Real-time mode (default) paces every publisher by the tag timestamps and writes one
//! FLV tag per socket write. `--fast` writes as fast as the socket accepts (ingest
//! throughput). `--loop` replays the clip with rebased, still increasing timestamps.
//!
//! Progress goes to stderr as JSON lines (`{"event":"ramped",…}` once every publisher has
//! either started publishing or failed; `{"event":"published","index":…,
//! "first_byte_unix_ms":…,"publish_unix_ms":…}` when one of the first 16 publishers starts
//! publishing); the final summary is one JSON line on stdout.
//! The run stops after `--duration` seconds, or earlier on SIGINT/SIGTERM.

use bytes::Bytes;
use rtmp_proto::amf::{amf0, AmfValue};
use media::flv::{FlvReader, TAG_AUDIO, TAG_SCRIPT, TAG_VIDEO};
use rtmp_proto::session::{ClientEvent, ClientMode, ClientSession, MediaKind};
use std::io::Write as _;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::{sleep, sleep_until, timeout};

const USAGE: &str = "\
usage: klive-loadgen --url rtmp://HOST[:PORT]/APP --streams N --file CLIP.flv
                     [--duration SECONDS] [--loop] [--fast] [--name-prefix s]
                     [--ramp-ms 20] [--digest] [--threads N] [--setup-timeout-ms 10000]

  --url            RTMP URL of the application (stream names are PREFIX0..PREFIX{N-1})
  --streams        number of concurrent publishers (default 1)
  --file           FLV file to replay (tags are sent as-is)
  --duration       stop after this many seconds (default 30)
  --loop           replay the clip again when it ends (timestamps keep increasing)
  --fast           send as fast as the socket accepts instead of in real time
  --name-prefix    stream name prefix (default \"s\")
  --ramp-ms        delay between publisher starts (default 20)
  --digest         use the digest (complex) handshake instead of the simple one
  --threads        tokio worker threads (default: number of CPUs)
  --setup-timeout-ms  connect + handshake + publish must finish within this (default 10000)
";

#[derive(Debug, Clone)]
struct Args {
    host: String,
    port: u16,
    app: String,
    tc_url: String,
    streams: usize,
    file: String,
    duration: Duration,
    looping: bool,
    fast: bool,
    name_prefix: String,
    ramp: Duration,
    digest: bool,
    threads: Option<usize>,
    setup_timeout: Duration,
}

fn parse_url(url: &str) -> Result<(String, u16, String, String), String> {
    let rest = url.strip_prefix("rtmp://").ok_or_else(|| format!("url '{url}' must start with rtmp://"))?;
    let (authority, path) = rest.split_once('/').ok_or_else(|| format!("url '{url}' has no application"))?;
    let app = path.trim_end_matches('/').to_string();
    if app.is_empty() {
        return Err(format!("url '{url}' has no application"));
    }
    // host, host:port, [v6] or [v6]:port
    let (host, port_text) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, after) = v6.split_once(']').ok_or_else(|| format!("bad host in '{url}'"))?;
        (h, after.strip_prefix(':'))
    } else {
        match authority.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    let port = match port_text {
        Some(p) => p.parse::<u16>().map_err(|_| format!("bad port in '{url}'"))?,
        None => 1935,
    };
    let host = host.to_string();
    if host.is_empty() {
        return Err(format!("url '{url}' has no host"));
    }
    let tc_url = format!("rtmp://{authority}/{app}");
    Ok((host, port, app, tc_url))
}

fn parse_args() -> Result<Args, String> {
    let mut url = None;
    let mut streams = 1usize;
    let mut file = None;
    let mut duration = 30.0f64;
    let mut looping = false;
    let mut fast = false;
    let mut name_prefix = "s".to_string();
    let mut ramp_ms = 20u64;
    let mut digest = false;
    let mut threads = None;
    let mut setup_timeout_ms = 10_000u64;
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--url" => url = Some(value("--url")?),
            "--streams" => streams = value("--streams")?.parse().map_err(|_| "--streams must be a number")?,
            "--file" => file = Some(value("--file")?),
            "--duration" => duration = value("--duration")?.parse().map_err(|_| "--duration must be a number")?,
            "--loop" => looping = true,
            "--fast" => fast = true,
            "--name-prefix" => name_prefix = value("--name-prefix")?,
            "--ramp-ms" => ramp_ms = value("--ramp-ms")?.parse().map_err(|_| "--ramp-ms must be a number")?,
            "--digest" => digest = true,
            "--threads" => threads = Some(value("--threads")?.parse().map_err(|_| "--threads must be a number")?),
            "--setup-timeout-ms" => {
                setup_timeout_ms = value("--setup-timeout-ms")?.parse().map_err(|_| "--setup-timeout-ms must be a number")?
            }
            "-h" | "--help" => {
                print!("{USAGE}");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument '{other}'")),
        }
    }
    let url = url.ok_or("--url is required")?;
    let file = file.ok_or("--file is required")?;
    if streams == 0 {
        return Err("--streams must be at least 1".into());
    }
    if !(duration.is_finite() && duration > 0.0 && duration <= 86_400.0) {
        return Err("--duration must be within (0, 86400]".into());
    }
    if threads == Some(0) {
        return Err("--threads must be at least 1".into());
    }
    let (host, port, app, tc_url) = parse_url(&url)?;
    Ok(Args {
        host,
        port,
        app,
        tc_url,
        streams,
        file,
        duration: Duration::from_secs_f64(duration),
        looping,
        fast,
        name_prefix,
        ramp: Duration::from_millis(ramp_ms),
        digest,
        threads,
        setup_timeout: Duration::from_millis(setup_timeout_ms),
    })
}

/// One message to send: kind, timestamp relative to the first tag, RTMP payload.
struct Tag {
    kind: MediaKind,
    ts: u32,
    payload: Bytes,
}

/// The parsed clip, shared by every publisher.
struct Clip {
    tags: Vec<Tag>,
    /// Timestamp advance per replay when looping.
    loop_len_ms: u64,
}

fn load_clip(bytes: &[u8]) -> Result<Clip, String> {
    let mut reader = FlvReader::new();
    reader.push(bytes);
    let mut tags = Vec::new();
    let mut first_ts: Option<u32> = None;
    let mut set_data_frame = Vec::new();
    amf0::encode(&AmfValue::String("@setDataFrame".into()), &mut set_data_frame);
    while let Some(tag) = reader.next_tag().map_err(|e| format!("FLV: {e}"))? {
        let kind = match tag.tag_type {
            TAG_AUDIO => MediaKind::Audio,
            TAG_VIDEO => MediaKind::Video,
            TAG_SCRIPT => MediaKind::Data,
            _ => continue,
        };
        let base = *first_ts.get_or_insert(tag.timestamp);
        let ts = tag.timestamp.saturating_sub(base);
        let payload = if kind == MediaKind::Data {
            let mut p = Vec::with_capacity(set_data_frame.len() + tag.data.len());
            p.extend_from_slice(&set_data_frame);
            p.extend_from_slice(&tag.data);
            Bytes::from(p)
        } else {
            tag.data
        };
        tags.push(Tag { kind, ts, payload });
    }
    if tags.is_empty() {
        return Err("the FLV file holds no audio, video or script tags".into());
    }
    // Loop period: last timestamp plus one typical video frame interval.
    let mut video_ts: Vec<u32> = tags.iter().filter(|t| t.kind == MediaKind::Video).map(|t| t.ts).collect();
    video_ts.dedup();
    let mut deltas: Vec<u32> = video_ts.windows(2).map(|w| w[1].saturating_sub(w[0])).filter(|d| *d > 0).collect();
    deltas.sort_unstable();
    let gap = deltas.get(deltas.len() / 2).copied().unwrap_or(33).clamp(1, 1000);
    let last = tags.iter().map(|t| t.ts).max().unwrap_or(0);
    Ok(Clip { tags, loop_len_ms: u64::from(last) + u64::from(gap) })
}

#[derive(Default)]
struct Counters {
    connected: AtomicUsize,
    published: AtomicUsize,
    refused: AtomicUsize,
    errors: AtomicUsize,
    /// Publishers done with setup (published, refused or failed).
    settled: AtomicUsize,
    bytes_sent: AtomicU64,
    /// Largest observed lateness of a tag (µs) in real-time mode.
    max_lag_us: AtomicU64,
    messages_logged: AtomicUsize,
}

impl Counters {
    fn log(&self, msg: String) {
        if self.messages_logged.fetch_add(1, Ordering::Relaxed) < 20 {
            eprintln!("{{\"event\":\"log\",\"message\":{}}}", json_str(&msg));
        }
    }
}

fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Publishers (by index) whose first-byte and publish-start wall-clock times are reported
/// as `{"event":"published",…}` lines on stderr.
const TIMED_PUBLISHERS: usize = 16;

/// Milliseconds since the Unix epoch (same clock as the harness's `Date.now()`).
fn unix_ms() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs_f64() * 1000.0).unwrap_or(0.0)
}

enum SetupError {
    Stopped,
    Refused,
    Failed(String),
}

struct Connection {
    session: ClientSession,
    rd: OwnedReadHalf,
    wr: OwnedWriteHalf,
}

async fn setup(idx: usize, args: &Args, counters: &Counters) -> Result<Connection, SetupError> {
    let stream = TcpStream::connect((args.host.as_str(), args.port)).await.map_err(|e| SetupError::Failed(format!("connect: {e}")))?;
    let _ = stream.set_nodelay(true);
    let (mut rd, mut wr) = stream.into_split();
    let mut random = [0u8; 1528];
    rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut random);
    let name = format!("{}{}", args.name_prefix, idx);
    let mut session = ClientSession::new(ClientMode::Publish, &args.app, &args.tc_url, &name, random, args.digest);
    let mut buf = vec![0u8; 16 * 1024];
    let mut out = session.take_output();
    // Wall-clock time of the publisher's first byte (the handshake), for latency probes.
    let first_byte_unix_ms = unix_ms();
    loop {
        if !out.is_empty() {
            wr.write_all(&out).await.map_err(|e| SetupError::Failed(format!("write: {e}")))?;
        }
        while let Some(event) = session.poll_event() {
            match event {
                ClientEvent::Connected => {
                    counters.connected.fetch_add(1, Ordering::Relaxed);
                }
                ClientEvent::PublishStarted => {
                    counters.published.fetch_add(1, Ordering::Relaxed);
                    if idx < TIMED_PUBLISHERS {
                        eprintln!(
                            "{{\"event\":\"published\",\"index\":{idx},\"first_byte_unix_ms\":{first_byte_unix_ms:.3},\"publish_unix_ms\":{:.3}}}",
                            unix_ms()
                        );
                    }
                    return Ok(Connection { session, rd, wr });
                }
                ClientEvent::Refused { code, description } => {
                    counters.log(format!("{name}: refused: {code} {description}"));
                    return Err(SetupError::Refused);
                }
                _ => {}
            }
        }
        let n = rd.read(&mut buf).await.map_err(|e| SetupError::Failed(format!("read: {e}")))?;
        if n == 0 {
            return Err(SetupError::Failed("server closed the connection during setup".into()));
        }
        session.handle_input(&buf[..n]).map_err(|e| SetupError::Failed(format!("protocol: {e}")))?;
        out = session.take_output();
    }
}

/// How one publisher ended.
struct PublisherResult {
    /// How far behind schedule it was when stopped (real-time mode, publishing only).
    final_lag_ms: Option<f64>,
}

async fn publisher(
    idx: usize,
    args: Arc<Args>,
    clip: Arc<Clip>,
    counters: Arc<Counters>,
    mut stop: watch::Receiver<bool>,
) -> PublisherResult {
    let none = PublisherResult { final_lag_ms: None };
    // Ramp: stagger the starts.
    let delay = args.ramp * idx as u32;
    if !delay.is_zero() {
        tokio::select! {
            _ = sleep(delay) => {}
            _ = stop.changed() => {
                counters.settled.fetch_add(1, Ordering::Relaxed);
                return none;
            }
        }
    }
    let setup_result = tokio::select! {
        r = timeout(args.setup_timeout, setup(idx, &args, &counters)) => match r {
            Ok(r) => r,
            Err(_) => Err(SetupError::Failed("setup timed out".into())),
        },
        _ = stop.changed() => Err(SetupError::Stopped),
    };
    counters.settled.fetch_add(1, Ordering::Relaxed);
    let conn = match setup_result {
        Ok(c) => c,
        Err(SetupError::Stopped) => return none,
        Err(SetupError::Refused) => {
            counters.refused.fetch_add(1, Ordering::Relaxed);
            return none;
        }
        Err(SetupError::Failed(msg)) => {
            counters.errors.fetch_add(1, Ordering::Relaxed);
            counters.log(format!("{}{}: {msg}", args.name_prefix, idx));
            return none;
        }
    };
    match stream(&args, &clip, &counters, conn, &mut stop).await {
        Ok(lag) => PublisherResult { final_lag_ms: lag },
        Err(msg) => {
            counters.errors.fetch_add(1, Ordering::Relaxed);
            counters.log(format!("{}{}: {msg}", args.name_prefix, idx));
            none
        }
    }
}

/// Send the clip until stopped. Returns the lag behind schedule at the stop (real-time).
async fn stream(
    args: &Args,
    clip: &Clip,
    counters: &Counters,
    conn: Connection,
    stop: &mut watch::Receiver<bool>,
) -> Result<Option<f64>, String> {
    let Connection { mut session, mut rd, mut wr } = conn;
    let start = Instant::now();
    let mut rbuf = vec![0u8; 16 * 1024];
    let mut pending: Vec<u8> = Vec::with_capacity(256 * 1024);
    let mut pos = 0usize;
    // Index of the next tag and timestamp offset of the current replay.
    let mut next = 0usize;
    let mut offset_ms = 0u64;
    // Due time of the tag being written (while `pending` holds it) and of the next one.
    let mut current_due = start;
    let mut ended = false;
    let due_of = |offset_ms: u64, next: usize| start + Duration::from_millis(offset_ms + u64::from(clip.tags[next].ts));
    let mut next_due = due_of(0, 0);
    loop {
        if pos == pending.len() && !pending.is_empty() {
            pending.clear();
            pos = 0;
        }
        if pending.is_empty() && !ended {
            let now = Instant::now();
            if args.fast || next_due <= now {
                if !args.fast {
                    let lag = now.duration_since(next_due).as_micros() as u64;
                    counters.max_lag_us.fetch_max(lag, Ordering::Relaxed);
                }
                let tag = &clip.tags[next];
                let ts = offset_ms + u64::from(tag.ts);
                session.send_media(tag.kind, ts as u32, &tag.payload);
                pending = session.take_output();
                current_due = next_due;
                next += 1;
                if next == clip.tags.len() {
                    if args.looping {
                        next = 0;
                        offset_ms += clip.loop_len_ms;
                    } else {
                        ended = true;
                    }
                }
                if !ended {
                    next_due = due_of(offset_ms, next);
                }
            }
        }
        if pending.is_empty() && ended {
            // Clip over and not looping: unpublish and stay connected until the stop.
            session.stop();
            let out = session.take_output();
            wr.write_all(&out).await.map_err(|e| format!("write: {e}"))?;
            counters.bytes_sent.fetch_add(out.len() as u64, Ordering::Relaxed);
            loop {
                tokio::select! {
                    _ = stop.changed() => return Ok(None),
                    r = rd.read(&mut rbuf) => match r {
                        Ok(0) | Err(_) => return Ok(None),
                        Ok(_) => {}
                    },
                }
            }
        }
        let writing = pos < pending.len();
        let wait = !writing && !args.fast;
        tokio::select! {
            biased;
            _ = stop.changed() => break,
            r = rd.read(&mut rbuf) => {
                let n = r.map_err(|e| format!("read: {e}"))?;
                if n == 0 {
                    return Err("server closed the connection".into());
                }
                session.handle_input(&rbuf[..n]).map_err(|e| format!("protocol: {e}"))?;
                // Control replies (acks, pongs) are whole messages: append after the media.
                pending.extend_from_slice(&session.take_output());
            }
            r = wr.write(&pending[pos..]), if writing => {
                let n = r.map_err(|e| format!("write: {e}"))?;
                if n == 0 {
                    return Err("write returned 0".into());
                }
                pos += n;
                counters.bytes_sent.fetch_add(n as u64, Ordering::Relaxed);
            }
            _ = sleep_until(next_due.into()), if wait => {}
        }
    }
    // Stopped: how far behind schedule?
    let now = Instant::now();
    let lag = if args.fast || ended {
        None
    } else {
        let due = if pos < pending.len() { current_due } else { next_due };
        Some(now.saturating_duration_since(due).as_secs_f64() * 1000.0)
    };
    // Finish the message in flight, then unpublish (best effort, bounded).
    session.stop();
    pending.extend_from_slice(&session.take_output());
    let rest = pending.split_off(pos);
    if let Ok(Ok(())) = timeout(Duration::from_millis(500), wr.write_all(&rest)).await {
        counters.bytes_sent.fetch_add(rest.len() as u64, Ordering::Relaxed);
        let _ = timeout(Duration::from_millis(200), wr.shutdown()).await;
    }
    Ok(lag)
}

fn wait_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{signal, SignalKind};
    let int = signal(SignalKind::interrupt());
    let term = signal(SignalKind::terminate());
    async move {
        match (int, term) {
            (Ok(mut a), Ok(mut b)) => {
                tokio::select! {
                    _ = a.recv() => {}
                    _ = b.recv() => {}
                }
            }
            _ => std::future::pending::<()>().await,
        }
    }
}

async fn run(args: Args) -> i32 {
    let file = match tokio::fs::read(&args.file).await {
        Ok(b) => b,
        Err(e) => {
            eprintln!("klive-loadgen: cannot read {}: {e}", args.file);
            return 2;
        }
    };
    let clip = match load_clip(&file) {
        Ok(c) => Arc::new(c),
        Err(e) => {
            eprintln!("klive-loadgen: {}: {e}", args.file);
            return 2;
        }
    };
    drop(file);
    let args = Arc::new(args);
    let counters = Arc::new(Counters::default());
    let (stop_tx, stop_rx) = watch::channel(false);
    let started = Instant::now();
    let deadline = tokio::time::Instant::from_std(started + args.duration);
    let mut handles = Vec::with_capacity(args.streams);
    for idx in 0..args.streams {
        handles.push(tokio::spawn(publisher(idx, args.clone(), clip.clone(), counters.clone(), stop_rx.clone())));
    }
    let signal = wait_signal();
    tokio::pin!(signal);
    let mut interrupted = false;

    // Phase 1: wait until every publisher settled (or the run is over).
    let mut ramped_at = None;
    loop {
        if counters.settled.load(Ordering::Relaxed) >= args.streams {
            ramped_at = Some(Instant::now());
            break;
        }
        tokio::select! {
            _ = sleep(Duration::from_millis(20)) => {}
            _ = sleep_until(deadline) => break,
            _ = &mut signal => { interrupted = true; break; }
        }
    }
    let ramp_bytes = counters.bytes_sent.load(Ordering::Relaxed);
    if let Some(at) = ramped_at {
        eprintln!(
            "{{\"event\":\"ramped\",\"seconds\":{:.3},\"published\":{},\"refused\":{},\"errors\":{},\"bytes_sent\":{}}}",
            at.duration_since(started).as_secs_f64(),
            counters.published.load(Ordering::Relaxed),
            counters.refused.load(Ordering::Relaxed),
            counters.errors.load(Ordering::Relaxed),
            ramp_bytes
        );
    }
    // Phase 2: run until the deadline or a signal.
    if !interrupted && ramped_at.is_some() {
        tokio::select! {
            _ = sleep_until(deadline) => {}
            _ = &mut signal => {}
        }
    }
    let stopped_at = Instant::now();
    let bytes_at_stop = counters.bytes_sent.load(Ordering::Relaxed);
    let _ = stop_tx.send(true);

    // Collect results (bounded).
    let mut lags: Vec<f64> = Vec::new();
    let collect = async {
        for h in handles.iter_mut() {
            if let Ok(r) = h.await {
                if let Some(l) = r.final_lag_ms {
                    lags.push(l);
                }
            }
        }
    };
    let _ = timeout(Duration::from_secs(3), collect).await;
    for h in &handles {
        h.abort();
    }
    let seconds = stopped_at.duration_since(started).as_secs_f64();
    let steady_seconds = ramped_at.map(|at| stopped_at.duration_since(at).as_secs_f64()).unwrap_or(0.0);
    let steady_bytes = if ramped_at.is_some() { bytes_at_stop.saturating_sub(ramp_bytes) } else { 0 };
    let behind = lags.iter().filter(|l| **l > 1000.0).count();
    let final_lag = lags.iter().copied().fold(0.0f64, f64::max);
    let mb = |bytes: u64, secs: f64| if secs > 0.0 { bytes as f64 / secs / 1e6 } else { 0.0 };
    let summary = format!(
        "{{\"streams\":{},\"connected\":{},\"published\":{},\"refused\":{},\"errors\":{},\"bytes_sent\":{},\"seconds\":{:.3},\"mbytes_per_sec\":{:.3},\
\"mode\":{},\"ramp_seconds\":{:.3},\"steady_bytes\":{},\"steady_seconds\":{:.3},\"steady_mbytes_per_sec\":{:.3},\
\"behind\":{},\"final_lag_ms\":{:.1},\"max_lag_ms\":{:.1}}}",
        args.streams,
        counters.connected.load(Ordering::Relaxed),
        counters.published.load(Ordering::Relaxed),
        counters.refused.load(Ordering::Relaxed),
        counters.errors.load(Ordering::Relaxed),
        bytes_at_stop,
        seconds,
        mb(bytes_at_stop, seconds),
        json_str(if args.fast { "fast" } else { "realtime" }),
        ramped_at.map(|at| at.duration_since(started).as_secs_f64()).unwrap_or(seconds),
        steady_bytes,
        steady_seconds,
        mb(steady_bytes, steady_seconds),
        behind,
        final_lag,
        counters.max_lag_us.load(Ordering::Relaxed) as f64 / 1000.0,
    );
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{summary}");
    let _ = stdout.flush();
    0
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("klive-loadgen: {e}\n\n{USAGE}");
            std::process::exit(2);
        }
    };
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.enable_all();
    if let Some(t) = args.threads {
        builder.worker_threads(t);
    }
    let runtime = match builder.build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("klive-loadgen: cannot start the runtime: {e}");
            std::process::exit(1);
        }
    };
    let code = runtime.block_on(run(args));
    // Tasks still stuck in I/O must not keep the process alive.
    runtime.shutdown_timeout(Duration::from_millis(200));
    std::process::exit(code);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            parse_url("rtmp://127.0.0.1:1936/live").unwrap(),
            ("127.0.0.1".into(), 1936, "live".into(), "rtmp://127.0.0.1:1936/live".into())
        );
        assert_eq!(parse_url("rtmp://host/a/b/").unwrap().2, "a/b");
        assert_eq!(parse_url("rtmp://host/a").unwrap().1, 1935);
        assert!(parse_url("http://host/a").is_err());
        assert!(parse_url("rtmp://host/").is_err());
    }

    #[test]
    fn clip_loads_and_loops() {
        let mut file = media::flv::file_header(true, true).to_vec();
        media::flv::write_tag(&mut file, TAG_SCRIPT, 0, b"\x02\x00\x0aonMetaData");
        for i in 0..10u32 {
            media::flv::write_tag(&mut file, TAG_VIDEO, 100 + i * 40, &[0x17, 1]);
        }
        let clip = load_clip(&file).unwrap();
        assert_eq!(clip.tags.len(), 11);
        assert_eq!(clip.tags[1].ts, 100);
        assert_eq!(clip.loop_len_ms, 100 + 9 * 40 + 40);
        assert!(clip.tags[0].payload.starts_with(b"\x02\x00\x0d@setDataFrame"));
    }
}
