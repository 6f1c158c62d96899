//! The HTTP origin: HLS playlists and segments from memory, over HTTP/1.1 (hyper), on its
//! own port and/or on the RTMP port (the first bytes of a connection decide).
//!
//! # URLs
//! With `P` the optional `app_prefix` and `A` the `app_name` (`kLive`):
//! * `/[P/]A/<stream>/playlist.m3u8`: media playlist of one rendition; `?DVR`: the whole
//!   DVR window.
//! * `/[P/]A/<stream>/<segment>.ts`: a segment (names as listed in the playlist).
//! * `/[P/]A/smil:<group>.smil/playlist.m3u8`: master playlist of a stream-name group
//!   (see [`crate::hls`] for how `<group>` resolves: a packager's `group`, `<entry>_all`,
//!   or `<entryId>_<id1>_<id2>…`). Variant URIs are relative, `../<stream>/playlist.m3u8`,
//!   with `?DVR` carried over when the master was asked with it.
//!
//! The prefix is optional on input: URLs with and without it are served.
//!
//! # Responses
//! Every response, errors included, carries `X-Me: <hostname>` and the CORS headers, and
//! no `Server` header. Playlists, live and DVR alike (both change at every segment):
//! `application/vnd.apple.mpegurl`, `Cache-Control: max-age=1`; segments (never change under
//! their name): `video/mp2t`, `max-age=86400, immutable`; errors: `no-cache`. GET and HEAD
//! are served (single byte ranges: 206 / 416), OPTIONS answers a CORS preflight, anything
//! else gets 405. With `limit_origin` set, a request without that header value gets 403.
//!
//! Segments come from the segment store ([`crate::store`]): from memory on the live edge,
//! else from their file, mapped off the async workers (see `store/disk.rs` for why mmap).

use crate::conn;
use crate::hls::HlsRegistry;
use crate::store::{map_file, Body as StoredBody, Residency};
use crate::error::ServerError;
use crate::shared::Shared;
use crate::slots::{Kind, Slot};
use crate::stats::ConnCounters;
use crate::timed_io::TimedIo;
use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

const PLAYLIST_TYPE: &str = "application/vnd.apple.mpegurl";
const SEGMENT_TYPE: &str = "video/mp2t";
const PLAYLIST_CACHE: &str = "max-age=1";
const SEGMENT_CACHE: &str = "max-age=86400, immutable";
const EXPOSE_HEADERS: &str = "Content-Length, Content-Range, Accept-Ranges, Date, X-Me";
/// A client on the shared port that sends nothing for this long is closed.
const SNIFF_TIMEOUT: Duration = Duration::from_secs(5);
/// A request's headers must arrive within this long.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Open requests get this long to finish at shutdown.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);
/// Request-line starts that make a connection on the RTMP port HTTP.
const METHODS: [&[u8]; 6] = [b"GET ", b"HEAD ", b"OPTIONS ", b"POST ", b"PUT ", b"DELETE "];

type Body = Full<Bytes>;

pub(crate) async fn bind(addr: SocketAddr) -> Result<TcpListener, ServerError> {
    TcpListener::bind(addr).await.map_err(|source| ServerError::Bind { addr, source })
}

/// Accept HTTP connections on the origin's own listener until shutdown.
pub(crate) async fn accept_loop(shared: Arc<Shared>, hls: Arc<HlsRegistry>, listener: TcpListener) {
    let shutdown = shared.shutdown.clone();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((socket, remote)) => {
                    // Over its caps a connection is closed at once, silently: HTTP clients
                    // retry, and a flood must not become log lines.
                    let Ok(slot) = shared.slots.acquire(Kind::Http, remote.ip(), shared.caps(Kind::Http)) else {
                        shared.refused_connections.fetch_add(1, Ordering::Relaxed);
                        continue;
                    };
                    let _ = socket.set_nodelay(true);
                    let cancel = shared.shutdown.child_token();
                    shared.tasks.spawn(serve_connection(shared.clone(), hls.clone(), socket, cancel, slot));
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            },
            _ = shutdown.cancelled() => break,
        }
    }
}

/// What the first bytes of a connection on the RTMP port say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    Rtmp,
    Http,
}

/// `Some(true)`: an HTTP request line starts here; `Some(false)`: it may, more bytes
/// needed; `None`: it is not HTTP.
fn http_request_start(bytes: &[u8]) -> Option<bool> {
    let mut partial = false;
    for m in METHODS {
        if bytes.starts_with(m) {
            return Some(true);
        }
        partial |= m.starts_with(bytes);
    }
    partial.then_some(false)
}

async fn classify(socket: &TcpStream) -> Protocol {
    let mut buf = [0u8; 8];
    loop {
        let n = match socket.peek(&mut buf).await {
            Ok(n) => n,
            Err(_) => return Protocol::Rtmp, // the RTMP task reports the error
        };
        if n == 0 {
            return Protocol::Rtmp;
        }
        match http_request_start(&buf[..n]) {
            Some(true) => return Protocol::Http,
            // Anything but an HTTP method (0x03 and garbage alike) is the RTMP task's to
            // handle, so bad input gets the same diagnostics as without the sniffing.
            None => return Protocol::Rtmp,
            // A request line split across packets: peek again shortly (peek returns at
            // once while the bytes it has seen are unread).
            Some(false) => tokio::time::sleep(Duration::from_millis(5)).await,
        }
    }
}

/// A connection accepted on the RTMP port: run it as RTMP or HTTP according to its first
/// bytes; close it if it sends nothing within a few seconds.
pub(crate) async fn sniff(shared: Arc<Shared>, hls: Arc<HlsRegistry>, socket: TcpStream, counters: Arc<ConnCounters>, cancel: CancellationToken, slot: Slot) {
    let wait = SNIFF_TIMEOUT.min(shared.config.handshake_timeout);
    let verdict = tokio::select! {
        v = tokio::time::timeout(wait, classify(&socket)) => v.map_err(|_| format!("sent nothing within {} s", wait.as_secs_f64())),
        _ = cancel.cancelled() => Err(if shared.shutdown.is_cancelled() { "server shutdown".to_string() } else { "killed".to_string() }),
    };
    match verdict {
        Ok(Protocol::Rtmp) => conn::run(shared, conn::Socket::Plain(socket), counters, cancel, slot).await,
        Ok(Protocol::Http) => {
            // Not an RTMP connection: it leaves the RTMP connection table silently and
            // counts against the HTTP caps instead.
            shared.connections.lock().remove(&counters.id);
            let Ok(slot) = slot.convert(Kind::Http, shared.caps(Kind::Http)) else {
                shared.refused_connections.fetch_add(1, Ordering::Relaxed);
                return;
            };
            serve_connection(shared, hls, socket, cancel, slot).await;
        }
        Err(reason) => {
            drop(socket);
            conn::end_before_session(&shared, &counters, reason);
        }
    }
}

/// Serve HTTP/1.1 requests on `socket` until the client closes or `cancel` fires.
pub(crate) async fn serve_connection(shared: Arc<Shared>, hls: Arc<HlsRegistry>, socket: TcpStream, cancel: CancellationToken, _slot: Slot) {
    let socket = TimedIo::new(socket, shared.config.http_idle_timeout, shared.config.write_timeout);
    let svc_shared = shared.clone();
    let service = service_fn(move |req: Request<hyper::body::Incoming>| {
        let (shared, hls) = (svc_shared.clone(), hls.clone());
        async move { Ok::<_, Infallible>(respond(&shared, &hls, &req).await) }
    });
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .keep_alive(true)
        .serve_connection(TokioIo::new(socket), service);
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        _ = cancel.cancelled() => {
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(SHUTDOWN_GRACE, conn).await;
        }
    }
}

/// Where a request path points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Route {
    /// `<stream>/playlist.m3u8`
    Media(String),
    /// `<stream>/<name>.ts`
    Segment(String, String),
    /// `smil:<name>.smil/playlist.m3u8`
    Master(String),
}

/// Parse `path` (percent-encoded) into a [`Route`]; `None` for anything else.
pub(crate) fn route(path: &str, app: &str, prefix: Option<&str>) -> Option<Route> {
    let decoded = percent_decode(path)?;
    let mut rest = decoded.strip_prefix('/')?;
    if let Some(prefix) = prefix.map(|p| p.trim_matches('/')).filter(|p| !p.is_empty()) {
        if let Some(r) = rest.strip_prefix(prefix).and_then(|r| r.strip_prefix('/')) {
            rest = r;
        }
    }
    let mut parts = rest.split('/');
    let (a, stream, file) = (parts.next()?, parts.next()?, parts.next()?);
    if a != app || stream.is_empty() {
        return None;
    }
    if let Some(inner) = parts.next() {
        // `smil:<entryId>_<tag>.smil/<flavorId>/chunklist.m3u8` and its segments: the variant
        // URLs of Kaltura's proxied playManifest master (DeliveryProfileLiveAppleHttp::getUrlPrefix
        // resolves `<flavorId>/chunklist.m3u8` against the node's smil URL), which list the
        // primary's and the backup's renditions side by side.
        let name = stream.strip_prefix("smil:")?.strip_suffix(".smil")?;
        if parts.next().is_some() || file.is_empty() || !file.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return None;
        }
        let mut id = name.splitn(3, '_');
        let (partition, entry) = (id.next()?, id.next()?);
        if partition.is_empty() || entry.is_empty() || id.next().is_none() {
            return None;
        }
        let rendition = format!("{partition}_{entry}_{file}");
        return if inner == "chunklist.m3u8" {
            Some(Route::Media(rendition))
        } else if inner.ends_with(".ts") {
            Some(Route::Segment(rendition, inner.to_string()))
        } else {
            None
        };
    }
    if let Some(smil) = stream.strip_prefix("smil:") {
        let name = smil.strip_suffix(".smil")?;
        return (file == "playlist.m3u8" && !name.is_empty()).then(|| Route::Master(name.to_string()));
    }
    if file == "playlist.m3u8" {
        Some(Route::Media(stream.to_string()))
    } else if file.ends_with(".ts") {
        Some(Route::Segment(stream.to_string(), file.to_string()))
    } else {
        None
    }
}

fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The query asks for the DVR window (`?DVR`, any case, with or without a value).
fn wants_dvr(query: Option<&str>) -> bool {
    query.is_some_and(|q| q.split('&').any(|kv| kv.split('=').next().is_some_and(|k| k.eq_ignore_ascii_case("dvr"))))
}

/// A single byte range of an entity of `len` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ByteRange {
    /// No (usable) Range header: the whole entity.
    Whole,
    /// Bytes `start..=end`.
    Part(u64, u64),
    /// Nothing of the entity matches: 416.
    Unsatisfiable,
}

/// RFC 9110 §14.1.2 for one `bytes` range; several ranges, other units and malformed
/// values are ignored (the whole entity is sent, which the RFC allows).
pub(crate) fn parse_range(value: Option<&str>, len: u64) -> ByteRange {
    let Some(spec) = value.and_then(|v| v.trim().strip_prefix("bytes=")) else {
        return ByteRange::Whole;
    };
    if spec.contains(',') {
        return ByteRange::Whole;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return ByteRange::Whole;
    };
    let (first, last) = (first.trim(), last.trim());
    if first.is_empty() {
        // Suffix range: the last N bytes.
        return match last.parse::<u64>() {
            Ok(0) => ByteRange::Unsatisfiable,
            Ok(_) if len == 0 => ByteRange::Unsatisfiable,
            Ok(n) => ByteRange::Part(len.saturating_sub(n), len - 1),
            Err(_) => ByteRange::Whole,
        };
    }
    let Ok(start) = first.parse::<u64>() else {
        return ByteRange::Whole;
    };
    let end = if last.is_empty() {
        None
    } else {
        match last.parse::<u64>() {
            Ok(end) if end >= start => Some(end),
            _ => return ByteRange::Whole,
        }
    };
    if start >= len {
        return ByteRange::Unsatisfiable;
    }
    ByteRange::Part(start, end.map_or(len - 1, |e| e.min(len - 1)))
}

/// Answer one request. Pure apart from reading the playlists and segment files.
async fn respond<B>(shared: &Shared, hls: &HlsRegistry, req: &Request<B>) -> Response<Body> {
    let config = &shared.config;
    let mut response = answer(shared, hls, req).await;
    let headers = response.headers_mut();
    if let Ok(me) = HeaderValue::from_str(&config.hostname) {
        headers.insert("x-me", me);
    }
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    headers.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, HeaderValue::from_static(EXPOSE_HEADERS));
    response
}

async fn answer<B>(shared: &Shared, hls: &HlsRegistry, req: &Request<B>) -> Response<Body> {
    let config = &shared.config;
    if let Some((name, value)) = &config.limit_origin {
        if req.headers().get(name.as_str()).and_then(|v| v.to_str().ok()) != Some(value.as_str()) {
            return error(StatusCode::FORBIDDEN, "forbidden");
        }
    }
    match *req.method() {
        Method::GET | Method::HEAD => {}
        Method::OPTIONS => return preflight(req.headers()),
        _ => {
            let mut r = error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed");
            r.headers_mut().insert(header::ALLOW, HeaderValue::from_static("GET, HEAD, OPTIONS"));
            return r;
        }
    }
    let Some(route) = route(req.uri().path(), &config.app_name, config.app_prefix.as_deref()) else {
        return error(StatusCode::NOT_FOUND, "not found");
    };
    let dvr = wants_dvr(req.uri().query());
    let found = match route {
        Route::Media(stream) => {
            hls.get(&stream).and_then(|s| s.playlist.read().media_playlist(dvr)).map(|b| (b, PLAYLIST_TYPE, PLAYLIST_CACHE))
        }
        Route::Segment(stream, name) => segment(hls, &stream, &name).await.map(|b| (b, SEGMENT_TYPE, SEGMENT_CACHE)),
        Route::Master(name) => master(hls, &name, dvr).map(|b| (b, PLAYLIST_TYPE, PLAYLIST_CACHE)),
    };
    match found {
        Some((body, content_type, cache)) => entity(req.headers(), body, content_type, cache),
        None => error(StatusCode::NOT_FOUND, "not found"),
    }
}

/// The bytes of a listed segment: from memory, or its file mapped here when the page cache
/// holds all of it, else on the blocking pool (holding the segment meanwhile, so that its file
/// is not deleted before it is mapped).
async fn segment(hls: &HlsRegistry, stream: &str, name: &str) -> Option<Bytes> {
    let stored = hls.get(stream).and_then(|s| s.playlist.read().segment(name))?;
    match stored.body()? {
        StoredBody::Memory(bytes) => Some(bytes),
        StoredBody::File(path) => match map_file(&path, Residency::CachedOnly) {
            Ok(Some(bytes)) => Some(bytes),
            Ok(None) => tokio::task::spawn_blocking(move || {
                let mapped = map_file(&path, Residency::Populate);
                drop(stored);
                mapped.ok().flatten()
            })
            .await
            .ok()
            .flatten(),
            Err(_) => None,
        },
    }
}

fn master(hls: &HlsRegistry, name: &str, dvr: bool) -> Option<Bytes> {
    let query = if dvr { "?DVR" } else { "" };
    let mut variants: Vec<_> =
        hls.smil_members(name).iter().filter_map(|s| s.variant(format!("../{}/playlist.m3u8{query}", s.name))).collect();
    if variants.is_empty() {
        return None;
    }
    Some(Bytes::from(crate::hls::playlist::render_master(&mut variants)))
}

/// A 200 or 206 (or 416) response for `body`. For HEAD, hyper sends the headers only.
fn entity(req_headers: &HeaderMap, body: Bytes, content_type: &'static str, cache: &'static str) -> Response<Body> {
    let len = body.len() as u64;
    let range = parse_range(req_headers.get(header::RANGE).and_then(|v| v.to_str().ok()), len);
    let mut builder = Response::builder()
        .header(header::CONTENT_TYPE, content_type)
        .header(header::CACHE_CONTROL, cache)
        .header(header::ACCEPT_RANGES, "bytes");
    let body = match range {
        ByteRange::Whole => {
            builder = builder.status(StatusCode::OK);
            body
        }
        ByteRange::Part(start, end) => {
            builder = builder.status(StatusCode::PARTIAL_CONTENT).header(header::CONTENT_RANGE, format!("bytes {start}-{end}/{len}"));
            body.slice(start as usize..=end as usize)
        }
        ByteRange::Unsatisfiable => {
            let mut r = error(StatusCode::RANGE_NOT_SATISFIABLE, "range not satisfiable");
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{len}")) {
                r.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            return r;
        }
    };
    builder.header(header::CONTENT_LENGTH, body.len()).body(Full::new(body)).unwrap_or_else(|_| error(StatusCode::INTERNAL_SERVER_ERROR, "error"))
}

fn preflight(req_headers: &HeaderMap) -> Response<Body> {
    let allow_headers = req_headers
        .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
        .cloned()
        .unwrap_or_else(|| HeaderValue::from_static("Range, Origin, Accept, Content-Type"));
    let mut r = Response::new(Full::new(Bytes::new()));
    *r.status_mut() = StatusCode::NO_CONTENT;
    let h = r.headers_mut();
    h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("GET, HEAD, OPTIONS"));
    h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, allow_headers);
    h.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("86400"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(SEGMENT_CACHE));
    r
}

fn error(status: StatusCode, text: &'static str) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        let r = |p| route(p, "kLive", Some("pfx"));
        assert_eq!(r("/kLive/0_abcd1234_1/playlist.m3u8"), Some(Route::Media("0_abcd1234_1".into())));
        assert_eq!(r("/pfx/kLive/0_abcd1234_1/playlist.m3u8"), Some(Route::Media("0_abcd1234_1".into())));
        assert_eq!(r("/kLive/s/seg-x-3.ts"), Some(Route::Segment("s".into(), "seg-x-3.ts".into())));
        assert_eq!(r("/kLive/smil:0_abcd1234_all.smil/playlist.m3u8"), Some(Route::Master("0_abcd1234_all".into())));
        assert_eq!(r("/kLive/smil%3A0_abcd1234_all.smil/playlist.m3u8"), Some(Route::Master("0_abcd1234_all".into())));
        assert_eq!(r("/other/s/playlist.m3u8"), None);
        assert_eq!(r("/kLive/s/playlist.m3u8/x"), None);
        // Kaltura's proxied master: <flavorId>/chunklist.m3u8 under the node's smil URL.
        assert_eq!(r("/kLive/smil:0_abcd1234_all.smil/32/chunklist.m3u8"), Some(Route::Media("0_abcd1234_32".into())));
        assert_eq!(r("/pfx/kLive/smil:0_abcd1234_all.smil/32/seg-7.ts"), Some(Route::Segment("0_abcd1234_32".into(), "seg-7.ts".into())));
        assert_eq!(r("/kLive/smil:0_abcd1234_all.smil/32/playlist.m3u8"), None);
        assert_eq!(r("/kLive/smil:0_abcd1234.smil/32/chunklist.m3u8"), None);
        assert_eq!(r("/kLive/smil:0_abcd1234_all.smil/../chunklist.m3u8"), None);
        assert_eq!(r("/kLive/smil:0_abcd1234_all.smil/32/chunklist.m3u8/x"), None);
        assert_eq!(r("/kLive/s/32/chunklist.m3u8"), None);
        assert_eq!(r("/kLive/s/index.html"), None);
        assert_eq!(r("/kLive/smil:x.smil/seg.ts"), None);
        assert_eq!(r("/kLive//playlist.m3u8"), None);
        assert_eq!(r("/kLive/s/%zz.ts"), None);
        assert_eq!(route("/a/b/kLive/s/playlist.m3u8", "kLive", Some("/a/b/")), Some(Route::Media("s".into())));
    }

    #[test]
    fn ranges() {
        assert_eq!(parse_range(None, 100), ByteRange::Whole);
        assert_eq!(parse_range(Some("bytes=0-9"), 100), ByteRange::Part(0, 9));
        assert_eq!(parse_range(Some("bytes=90-"), 100), ByteRange::Part(90, 99));
        assert_eq!(parse_range(Some("bytes=90-1000"), 100), ByteRange::Part(90, 99));
        assert_eq!(parse_range(Some("bytes=-10"), 100), ByteRange::Part(90, 99));
        assert_eq!(parse_range(Some("bytes=-1000"), 100), ByteRange::Part(0, 99));
        assert_eq!(parse_range(Some("bytes=100-"), 100), ByteRange::Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=-0"), 100), ByteRange::Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=5-1"), 100), ByteRange::Whole);
        assert_eq!(parse_range(Some("bytes=0-1,5-6"), 100), ByteRange::Whole);
        assert_eq!(parse_range(Some("items=0-1"), 100), ByteRange::Whole);
        assert_eq!(parse_range(Some("bytes=x-1"), 100), ByteRange::Whole);
    }

    #[test]
    fn sniffing() {
        assert_eq!(http_request_start(b"GET /kLive"), Some(true));
        assert_eq!(http_request_start(b"OPTIONS "), Some(true));
        assert_eq!(http_request_start(b"GE"), Some(false));
        assert_eq!(http_request_start(b"\x03\x00\x00\x00"), None);
        assert_eq!(http_request_start(b"G\x8f\x12"), None);
        assert_eq!(http_request_start(b"GET/"), None);
    }

    #[test]
    fn dvr_query() {
        assert!(wants_dvr(Some("DVR")));
        assert!(wants_dvr(Some("a=1&dvr")));
        assert!(wants_dvr(Some("DVR=1")));
        assert!(!wants_dvr(Some("DVRX")));
        assert!(!wants_dvr(None));
    }
}
