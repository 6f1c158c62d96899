//! One task per connection: socket bytes in → [`ServerSession`] → events, decisions and
//! bytes out. Everything protocol-related lives in the session; this file only moves bytes,
//! owns the timers and connects publishers and players to the media bus.

use crate::bus::{Frame, LiveStream, Subscriber};
use crate::ingest::Publisher;
use crate::events::{Decision, DisconnectInfo, ServerEvent};
use crate::shared::Shared;
use crate::slots::Slot;
use crate::stats::ConnCounters;
use crate::pacing::paced_deadline;
use crate::timeline::ClockMode;
use bytes::BytesMut;
use rand::RngCore;
use rtmp_proto::amf::AmfValue;
use rtmp_proto::handshake::HandshakeKind;
use rtmp_proto::session::{ConnectRequest, MediaKind, ServerSession, SessionEvent};
use std::collections::HashMap;
use std::future::pending;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;
use tokio::time::sleep_until;

const READ_BUFFER: usize = 64 * 1024;
/// Most bytes taken from one socket per turn, so one fast sender cannot starve the others.
const MAX_READ_PER_TURN: usize = 1024 * 1024;
/// The same before a publish or play is accepted: what an unauthorized client may make us
/// hold at once (the session's own limits bound what it keeps between turns).
const PRE_AUTH_READ_PER_TURN: usize = 16 * 1024;
/// Read buffer during the handshake: C0+C1 (1537 bytes) fit, C2 after one more turn.
const HANDSHAKE_READ_BUFFER: usize = 2 * 1024;
/// A paced publisher's socket wakes us early only once this much is waiting (a sender far
/// faster than real time); below it we read on the pacing grid.
const PACED_LOW_WATER: i32 = 128 * 1024;
/// Interval of idle checks, pings and rate sampling.
const HOUSEKEEPING: Duration = Duration::from_secs(1);

/// Why a connection ends.
type Close = String;

/// How long a refused publisher is given to read its refusal and hang up.
const REFUSAL_LINGER: Duration = Duration::from_secs(2);

struct Playing {
    stream_id: u32,
    stream: Arc<LiveStream>,
    sub: Arc<Subscriber>,
}

/// The byte stream of a connection: plain TCP (RTMP) or TLS over TCP (RTMPS). The session
/// code above it is the same; only reading differs (see [`Conn::read_available`]).
pub(crate) enum Socket {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

impl Socket {
    fn tcp(&self) -> &TcpStream {
        match self {
            Socket::Plain(s) => s,
            Socket::Tls(s) => s.get_ref().0,
        }
    }

    /// Non-blocking read into `buf`: `WouldBlock` when nothing is there. For TLS this polls the
    /// stream once: rustls hands out decrypted bytes it holds, else reads the socket.
    fn try_read_buf(&mut self, buf: &mut BytesMut, bypass_readiness: bool) -> std::io::Result<usize> {
        match self {
            Socket::Plain(s) if bypass_readiness => recv_now(s, buf),
            Socket::Plain(s) => s.try_read_buf(buf),
            Socket::Tls(s) => {
                use std::future::Future;
                let mut fut = std::pin::pin!(s.read_buf(buf));
                let waker = std::task::Waker::noop();
                match fut.as_mut().poll(&mut std::task::Context::from_waker(waker)) {
                    std::task::Poll::Ready(r) => r,
                    std::task::Poll::Pending => Err(std::io::ErrorKind::WouldBlock.into()),
                }
            }
        }
    }

    async fn write_all(&mut self, data: &[u8]) -> std::io::Result<()> {
        match self {
            Socket::Plain(s) => s.write_all(data).await,
            Socket::Tls(s) => {
                s.write_all(data).await?;
                s.flush().await
            }
        }
    }

    async fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Socket::Plain(s) => s.read(buf).await,
            Socket::Tls(s) => s.read(buf).await,
        }
    }

    async fn shutdown(&mut self) -> std::io::Result<()> {
        match self {
            Socket::Plain(s) => s.shutdown().await,
            Socket::Tls(s) => s.shutdown().await,
        }
    }
}

struct Conn {
    /// Held for the connection's life; dropping it gives the slot back.
    _slot: Slot,
    shared: Arc<Shared>,
    id: u64,
    socket: Socket,
    session: ServerSession,
    counters: Arc<ConnCounters>,
    cancel: CancellationToken,
    app: String,
    publishing: HashMap<u32, Publisher>,
    playing: Option<Playing>,
    started: Instant,
    last_input: Instant,
    refusal: Option<String>,
    /// Reading on the pacing grid with a raised low-water mark.
    paced: bool,
    /// When the handshake completed; `connect` must follow within the connect timeout.
    handshake_done_at: Option<Instant>,
    /// A `connect` was received.
    connect_seen: bool,
    /// When `connect` was accepted; publish or play must follow within the publish timeout.
    connected_at: Option<Instant>,
    /// Why the connection ended, once known. Read by `Drop`, which does the cleanup so that
    /// it happens however the task ends (a panic unwinds through it too).
    close_reason: Option<Close>,
}

impl Drop for Conn {
    fn drop(&mut self) {
        let reason = self.close_reason.take().unwrap_or_else(|| "internal error: connection task ended abnormally".into());
        self.release(&reason);
        self.shared.connections.lock().remove(&self.id);
        let counters = &self.counters;
        self.shared.emit(ServerEvent::Disconnect(DisconnectInfo {
            connection_id: self.id,
            remote_addr: counters.remote_addr,
            reason,
            bytes_in: counters.bytes_in.load(Ordering::Relaxed),
            bytes_out: counters.bytes_out.load(Ordering::Relaxed),
            duration_ms: counters.started.elapsed().as_millis() as u64,
        }));
    }
}

/// Serve one RTMP connection. Until its first byte arrives it waits in the "lobby": only the
/// socket and this small future exist; the session and buffers are allocated (boxed) after.
pub(crate) async fn run(shared: Arc<Shared>, socket: Socket, counters: Arc<ConnCounters>, cancel: CancellationToken, slot: Slot) {
    if matches!(socket, Socket::Tls(_)) {
        // TLS: the handshake (bounded by the same timeout) was the lobby, and the first RTMP
        // bytes may already sit decrypted inside rustls, where no readiness announces them.
        counters.details.lock().protocol = "rtmps";
        return Box::pin(serve(shared, socket, counters, cancel, slot)).await;
    }
    let deadline = tokio::time::Instant::now() + shared.config.handshake_timeout;
    let waited = tokio::select! {
        r = tokio::time::timeout_at(deadline, socket.tcp().readable()) => match r {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(format!("read error: {e}")),
            Err(_) => Err(format!("handshake not completed within {} s", shared.config.handshake_timeout.as_secs())),
        },
        _ = cancel.cancelled() => Err(if shared.shutdown.is_cancelled() { "server shutdown".to_string() } else { "killed by operator".to_string() }),
    };
    if let Err(reason) = waited {
        drop(slot);
        end_before_session(&shared, &counters, reason);
        return;
    }
    Box::pin(serve(shared, socket, counters, cancel, slot)).await
}

/// A connection that ended before its RTMP session began (the lobby's deadline, a failed TLS
/// handshake, a first byte that is neither RTMP nor HTTP): forget it and report why.
pub(crate) fn end_before_session(shared: &Shared, counters: &ConnCounters, reason: String) {
    shared.connections.lock().remove(&counters.id);
    shared.emit(ServerEvent::Disconnect(DisconnectInfo {
        connection_id: counters.id,
        remote_addr: counters.remote_addr,
        reason,
        bytes_in: counters.bytes_in.load(Ordering::Relaxed),
        bytes_out: 0,
        duration_ms: counters.started.elapsed().as_millis() as u64,
    }));
}

async fn serve(shared: Arc<Shared>, socket: Socket, counters: Arc<ConnCounters>, cancel: CancellationToken, slot: Slot) {
    let mut random = [0u8; 1528];
    rand::thread_rng().fill_bytes(&mut random);
    let session = ServerSession::new(shared.config.session.clone(), random, 0);
    let now = Instant::now();
    let mut conn = Box::new(Conn {
        _slot: slot,
        id: counters.id,
        shared,
        socket,
        session,
        counters,
        cancel,
        app: String::new(),
        publishing: HashMap::new(),
        playing: None,
        started: now,
        last_input: now,
        refusal: None,
        paced: false,
        handshake_done_at: None,
        connect_seen: false,
        connected_at: None,
        close_reason: None,
    });
    let reason = conn.drive().await;
    let _ = conn.socket.shutdown().await;
    conn.close_reason = Some(reason);
}

impl Conn {
    async fn drive(&mut self) -> Close {
        let config = self.shared.config.clone();
        // One long-lived future: re-creating it every loop turn costs a waiter registration.
        let cancel = self.cancel.clone();
        let cancelled = cancel.cancelled();
        tokio::pin!(cancelled);
        let handshake_deadline = tokio::time::Instant::now() + config.handshake_timeout;
        let mut rbuf = BytesMut::new();
        let mut frames: Vec<Frame> = Vec::new();
        let mut write_paused_until: Option<tokio::time::Instant> = None;
        let mut housekeeping = paced_deadline(HOUSEKEEPING);
        let mut last_ping = Instant::now();
        // TLS: the client's first bytes may have come with the end of the TLS handshake and
        // already sit decrypted inside rustls, where no socket readiness will announce them.
        if matches!(self.socket, Socket::Tls(_)) {
            if let Err(reason) = self.read_available(&mut rbuf, false).await {
                return reason;
            }
        }

        loop {
            let sub = self.playing.as_ref().map(|p| p.sub.clone());
            let paced = self.paced;
            tokio::select! {
                biased;
                _ = &mut cancelled => return self.on_cancelled().await,
                _ = sleep_until(handshake_deadline), if !self.session.handshake_done() => {
                    return format!("handshake not completed within {} s", config.handshake_timeout.as_secs());
                }
                // While paced, readiness fires only past the low-water mark (a fast sender)
                // or on EOF/error; otherwise it fires as data arrives.
                ready = self.socket.tcp().readable() => {
                    if let Err(e) = ready {
                        return format!("read error: {e}");
                    }
                    if let Err(reason) = self.read_available(&mut rbuf, false).await {
                        return reason;
                    }
                }
                _ = sleep_until(paced_deadline(config.read_pacing)), if paced => {
                    if let Err(reason) = self.read_available(&mut rbuf, true).await {
                        return reason;
                    }
                    self.tick_publishers();
                }
                _ = sleep_until(write_paused_until.unwrap_or_else(tokio::time::Instant::now)), if write_paused_until.is_some() => {
                    write_paused_until = None;
                }
                more = next_batch(sub.as_deref(), &mut frames), if sub.is_some() && write_paused_until.is_none() => {
                    if let Err(e) = self.send_frames(more, &mut frames).await {
                        return format!("write error: {e}");
                    }
                    if !config.write_pacing.is_zero() {
                        write_paused_until = Some(paced_deadline(config.write_pacing));
                    }
                }
                _ = sleep_until(housekeeping) => {
                    housekeeping = paced_deadline(HOUSEKEEPING);
                    self.tick_publishers();
                    let now = Instant::now();
                    if let Some(reason) = self.missed_deadline(now) {
                        return reason;
                    }
                    let is_player = self.playing.is_some();
                    if self.session.is_authorized() && !is_player && now.duration_since(self.last_input) > config.idle_timeout {
                        return format!("idle for {} s", config.idle_timeout.as_secs());
                    }
                    self.counters.sample(now);
                    // Housekeeping ticks on a 1 s grid; allow for its jitter.
                    if self.session.handshake_done() && now.duration_since(last_ping) + Duration::from_millis(100) >= config.ping_interval {
                        last_ping = now;
                        self.session.send_ping(self.started.elapsed().as_millis() as u32);
                        if let Err(e) = self.flush().await {
                            return format!("write error: {e}");
                        }
                    }
                }
            }
        }
    }

    /// The deadlines of an unauthorized connection: `connect` soon after the handshake,
    /// publish or play soon after the connect. Bytes that lead nowhere do not extend them.
    fn missed_deadline(&self, now: Instant) -> Option<Close> {
        if self.session.is_authorized() {
            return None;
        }
        let config = &self.shared.config;
        if let (Some(at), false) = (self.handshake_done_at, self.connect_seen) {
            if now.duration_since(at) > config.connect_timeout {
                return Some(format!("no connect within {} s of the handshake", config.connect_timeout.as_secs()));
            }
        }
        if let Some(at) = self.connected_at {
            if now.duration_since(at) > config.publish_timeout {
                return Some(format!("no publish or play within {} s of the connect", config.publish_timeout.as_secs()));
            }
        }
        None
    }

    /// Let publishers release frames held while their clock is anchored.
    fn tick_publishers(&mut self) {
        for publisher in self.publishing.values_mut() {
            publisher.tick(&self.shared);
        }
    }

    /// Read everything the socket holds (bounded per turn), feed it to the session and act
    /// on the events. `bypass_readiness` reads even though tokio saw no readiness: with the
    /// low-water mark raised, data below it raises none.
    async fn read_available(&mut self, rbuf: &mut BytesMut, bypass_readiness: bool) -> Result<(), Close> {
        // After the handshake, bytes go straight into the session's chunk buffer.
        let direct = self.session.handshake_done();
        let authorized = self.session.is_authorized();
        let (turn_limit, chunk) = match (direct, authorized) {
            (false, _) => (PRE_AUTH_READ_PER_TURN, HANDSHAKE_READ_BUFFER),
            (true, false) => (PRE_AUTH_READ_PER_TURN, PRE_AUTH_READ_PER_TURN),
            (true, true) => (MAX_READ_PER_TURN, READ_BUFFER),
        };
        let mut total = 0usize;
        let eof = loop {
            let buf = match self.session.input_buffer() {
                Some(buf) if direct => buf,
                _ => &mut *rbuf,
            };
            if buf.capacity() - buf.len() < chunk / 4 {
                buf.reserve(chunk);
            }
            let read = self.socket.try_read_buf(buf, bypass_readiness);
            match read {
                Ok(0) => break true,
                Ok(n) => {
                    total += n;
                    // (Not for TLS: plaintext left inside rustls would wait for the next packet.)
                    if total >= turn_limit && matches!(self.socket, Socket::Plain(_)) {
                        break false;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break false,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(format!("read error: {e}")),
            }
        };
        if total > 0 {
            // Before authorization bytes prove nothing: only the deadlines bound the wait.
            if authorized {
                self.last_input = Instant::now();
            }
            self.counters.bytes_in.fetch_add(total as u64, Ordering::Relaxed);
            let handled = if direct {
                self.session.handle_buffered(total)
            } else {
                let r = self.session.handle_input(rbuf);
                rbuf.clear();
                if self.session.handshake_done() {
                    // The handshake buffer is not needed again.
                    *rbuf = BytesMut::new();
                    self.handshake_done_at = Some(Instant::now());
                }
                r
            };
            if let Err(e) = handled {
                let _ = self.flush().await;
                return Err(format!("protocol error: {e}"));
            }
            self.process_events().await?;
            self.flush().await.map_err(|e| format!("write error: {e}"))?;
            if let Some(reason) = self.refusal.take() {
                return Err(reason);
            }
            if !authorized && self.session.is_authorized() {
                // Authorized now: from here on input counts as activity.
                self.last_input = Instant::now();
            }
            self.update_read_mode();
        }
        if eof {
            return Err("client closed".into());
        }
        Ok(())
    }

    /// Publishers are read on the pacing grid: an encoder writes many small pieces, and
    /// waking once per piece is what costs CPU at real-time rates. Raising the socket's
    /// low-water mark keeps the kernel from waking us for each of them.
    fn update_read_mode(&mut self) {
        // TLS is read as data arrives: a raised low-water mark would hide bytes rustls must
        // see, and its buffered plaintext raises no socket readiness.
        let tls = matches!(self.socket, Socket::Tls(_));
        let paced = !tls && !self.publishing.is_empty() && !self.shared.config.read_pacing.is_zero();
        if paced != self.paced {
            self.paced = paced;
            set_receive_low_water(self.socket.tcp(), if paced { PACED_LOW_WATER } else { 1 });
        }
    }

    async fn flush(&mut self) -> std::io::Result<()> {
        if !self.session.has_output() {
            return Ok(());
        }
        let out = self.session.take_output();
        let limit = self.shared.config.write_timeout;
        let result = match tokio::time::timeout(limit, self.socket.write_all(&out)).await {
            Ok(r) => r,
            Err(_) => Err(std::io::Error::new(std::io::ErrorKind::TimedOut, format!("peer did not read for {} s", limit.as_secs()))),
        };
        self.counters.bytes_out.fetch_add(out.len() as u64, Ordering::Relaxed);
        self.session.recycle_output(out);
        result
    }

    async fn send_frames(&mut self, more: bool, frames: &mut Vec<Frame>) -> std::io::Result<()> {
        let Some(playing) = self.playing.as_ref() else { return Ok(()) };
        let stream_id = playing.stream_id;
        if !more {
            let name = playing.stream.name.clone();
            self.session.send_play_end(stream_id, &name);
            self.playing = None;
            self.counters.details.lock().role = "idle";
            return self.flush().await;
        }
        for frame in frames.drain(..) {
            match frame.kind {
                MediaKind::Video => self.counters.video_frames.fetch_add(1, Ordering::Relaxed),
                MediaKind::Audio => self.counters.audio_frames.fetch_add(1, Ordering::Relaxed),
                MediaKind::Data => 0,
            };
            // onMetaData goes at time 0, as nginx-rtmp sends it: ffmpeg's FLV reader
            // (libavformat/flvdec.c) skips onMetaData only when its time is 0 and turns a later
            // one into a phantom subtitle stream, so ffprobe/ffmpeg players and restreamers
            // would see a `text` track the publisher never sent.
            let timestamp = if frame.kind == MediaKind::Data && frame.config { 0 } else { frame.rtmp_timestamp() };
            self.session.send_media(stream_id, frame.kind, timestamp, &frame.payload);
        }
        self.counters.dropped_frames.store(playing.sub.dropped(), Ordering::Relaxed);
        self.flush().await
    }

    /// Handle everything the session reported. Requests wait here for the application's
    /// decision; that pauses only this connection.
    async fn process_events(&mut self) -> Result<(), Close> {
        while let Some(event) = self.session.poll_event() {
            match event {
                SessionEvent::Media { stream_id, kind, timestamp, payload } => self.on_media(stream_id, kind, timestamp, payload),
                SessionEvent::Data { stream_id, timestamp, name, values, payload } => {
                    self.on_data(stream_id, timestamp, &name, &values, payload)
                }
                SessionEvent::ConnectRequested(request) => self.on_connect(request).await?,
                SessionEvent::PublishRequested { request_id, stream_id, stream_name, publish_type } => {
                    self.on_publish(request_id, stream_id, &stream_name, publish_type).await?
                }
                SessionEvent::PlayRequested { request_id, stream_id, stream_name } => {
                    self.on_play(request_id, stream_id, &stream_name).await?
                }
                SessionEvent::PublishStopped { stream_id } => {
                    if let Some(publisher) = self.publishing.remove(&stream_id) {
                        self.end_publish(&publisher.stream, "publisher stopped");
                    }
                }
                SessionEvent::PlayStopped { .. } => {
                    if let Some(p) = self.playing.take() {
                        p.stream.unsubscribe(p.sub.id);
                    }
                }
                SessionEvent::PingResponse { timestamp } => {
                    let rtt = (self.started.elapsed().as_millis() as u32).wrapping_sub(timestamp);
                    if rtt < 60_000 {
                        self.counters.rtt_ms.store(rtt as u64 + 1, Ordering::Relaxed);
                    }
                }
                SessionEvent::UnknownCommand { name } => {
                    self.shared.emit(ServerEvent::Warning { connection_id: self.id, message: format!("unknown command '{name}'") })
                }
                SessionEvent::Warning { message } => self.shared.emit(ServerEvent::Warning { connection_id: self.id, message }),
            }
        }
        Ok(())
    }

    /// Ask the application and wait for its answer (bounded by the decision timeout).
    async fn decide(&mut self, request_id: u64, rx: tokio::sync::oneshot::Receiver<Decision>) -> Result<Decision, Close> {
        let timeout = self.shared.config.decision_timeout;
        let result = tokio::select! {
            d = rx => Ok(d.unwrap_or_else(|_| Decision::reject("server is shutting down"))),
            _ = tokio::time::sleep(timeout) => Ok(Decision::reject(format!("no authorization decision within {} s", timeout.as_secs()))),
            _ = self.cancel.cancelled() => Err(self.cancel_reason()),
        };
        self.shared.forget_request(request_id);
        result
    }

    /// Killed or shut down; a kill that refuses the publisher tells the encoder why first.
    async fn on_cancelled(&mut self) -> Close {
        let refusal = self.counters.refusal.lock().take();
        let Some(description) = refusal.filter(|_| !self.shared.shutdown.is_cancelled()) else {
            return self.cancel_reason();
        };
        let mut ids: Vec<u32> = self.publishing.keys().copied().collect();
        ids.sort_unstable();
        for stream_id in ids {
            self.session.refuse_publishing(stream_id, &description, None);
        }
        let reason = format!("publish refused: {description}");
        // The streams end now, not after the linger below.
        self.release(&reason);
        // Bounded by the write timeout; the connection closes either way.
        if self.flush().await.is_ok() {
            // Closing a socket with unread input resets it, and a reset discards what the
            // encoder has not read yet: the refusal. So end our side and let the encoder read
            // it and hang up, discarding what it still sends, for a bounded time.
            let _ = self.socket.shutdown().await;
            let deadline = tokio::time::Instant::now() + REFUSAL_LINGER;
            let mut sink = [0u8; 16 * 1024];
            while let Ok(Ok(n)) = tokio::time::timeout_at(deadline, self.socket.read(&mut sink)).await {
                if n == 0 {
                    break;
                }
            }
        }
        reason
    }

    fn cancel_reason(&self) -> Close {
        if self.shared.shutdown.is_cancelled() {
            "server shutdown".into()
        } else {
            "killed by operator".into()
        }
    }

    /// Decode what the client sent while its request waited (pipelined commands).
    fn resume(&mut self) -> Result<(), Close> {
        self.session.resume().map_err(|e| format!("protocol error: {e}"))
    }

    fn refuse(&mut self, session_request: u32, decision: &Decision, what: &str) {
        self.session.reject(session_request, &decision.description, decision.code.as_deref());
        self.refusal = Some(format!("{what} refused: {}", decision.description));
    }

    async fn on_connect(&mut self, request: ConnectRequest) -> Result<(), Close> {
        self.connect_seen = true;
        let (app, mut query) = split_query(&request.app);
        let app = app.trim_end_matches('/').to_string();
        if let Some(tc_url) = &request.tc_url {
            for (k, v) in split_query(tc_url).1 {
                if !query.iter().any(|(qk, _)| *qk == k) {
                    query.push((k, v));
                }
            }
        }
        let handshake = match self.session.handshake_kind() {
            Some(HandshakeKind::Digest { .. }) => "digest",
            _ => "plain",
        };
        {
            let mut details = self.counters.details.lock();
            details.app = app.clone();
            details.flash_ver = request.flash_ver.clone();
        }
        self.app = app.clone();
        let (id, rx) = self.shared.new_request();
        self.shared.emit(ServerEvent::Connect {
            request_id: id,
            connection_id: self.id,
            remote_addr: self.counters.remote_addr,
            app,
            tc_url: request.tc_url,
            query,
            flash_ver: request.flash_ver,
            page_url: request.page_url,
            swf_url: request.swf_url,
            handshake: handshake.into(),
        });
        let decision = self.decide(id, rx).await?;
        if decision.accept {
            self.connected_at = Some(Instant::now());
            self.session.accept(request.request_id);
            self.resume()?;
        } else {
            self.refuse(request.request_id, &decision, "connect");
        }
        Ok(())
    }

    async fn on_publish(&mut self, session_request: u32, stream_id: u32, raw_name: &str, publish_type: String) -> Result<(), Close> {
        let (name, query) = split_query(raw_name);
        if name.is_empty() {
            self.refuse(session_request, &Decision::reject("empty stream name"), "publish");
            return Ok(());
        }
        // Claim the name first so that two publishers of one name cannot both be accepted.
        let Some(stream) = self.shared.registry.publish(name, &self.app, self.id) else {
            let decision = Decision::reject(format!("stream '{name}' is already being published"));
            self.refuse(session_request, &decision, "publish");
            return Ok(());
        };
        let (id, rx) = self.shared.new_request();
        self.shared.emit(ServerEvent::Publish {
            request_id: id,
            connection_id: self.id,
            stream_id,
            stream_name: name.to_string(),
            query,
            publish_type,
        });
        let decision = match self.decide(id, rx).await {
            Ok(d) => d,
            Err(close) => {
                self.shared.registry.unpublish(&stream);
                return Err(close);
            }
        };
        if decision.accept {
            self.session.accept(session_request);
            self.publishing.insert(stream_id, Publisher::new(&self.shared, stream, self.id, ClockMode::Rebase));
            {
                let mut details = self.counters.details.lock();
                details.role = "publisher";
                details.stream_name = Some(name.to_string());
            }
            self.resume()?;
        } else {
            self.shared.registry.unpublish(&stream);
            self.refuse(session_request, &decision, "publish");
        }
        Ok(())
    }

    async fn on_play(&mut self, session_request: u32, stream_id: u32, raw_name: &str) -> Result<(), Close> {
        let (name, query) = split_query(raw_name);
        if self.playing.is_some() {
            self.refuse(session_request, &Decision::reject("this connection is already playing a stream"), "play");
            return Ok(());
        }
        if let Some(description) = play_refusal(&self.shared.config, self.counters.remote_addr.ip()) {
            let decision = Decision { code: Some("NetStream.Play.Failed".into()), ..Decision::reject(description) };
            self.refuse(session_request, &decision, "play");
            return Ok(());
        }
        if self.shared.registry.get(name).is_none() {
            self.refuse(session_request, &Decision::reject(format!("stream '{name}' is not live")), "play");
            return Ok(());
        }
        let (id, rx) = self.shared.new_request();
        self.shared.emit(ServerEvent::Play { request_id: id, connection_id: self.id, stream_id, stream_name: name.to_string(), query });
        let decision = self.decide(id, rx).await?;
        if !decision.accept {
            self.refuse(session_request, &decision, "play");
            return Ok(());
        }
        let subscribed = self
            .shared
            .registry
            .get(name)
            .and_then(|stream| stream.subscribe(self.id, self.shared.config.subscriber_buffer_bytes).map(|sub| (stream, sub)));
        match subscribed {
            Some((stream, sub)) => {
                self.session.accept(session_request);
                self.playing = Some(Playing { stream_id, stream, sub });
                {
                    let mut details = self.counters.details.lock();
                    details.role = "player";
                    details.stream_name = Some(name.to_string());
                }
                self.resume()?;
            }
            None => self.refuse(session_request, &Decision::reject(format!("stream '{name}' ended")), "play"),
        }
        Ok(())
    }

    fn on_media(&mut self, stream_id: u32, kind: MediaKind, timestamp: u32, payload: bytes::Bytes) {
        let Some(publisher) = self.publishing.get_mut(&stream_id) else { return };
        match kind {
            MediaKind::Video => self.counters.video_frames.fetch_add(1, Ordering::Relaxed),
            MediaKind::Audio => self.counters.audio_frames.fetch_add(1, Ordering::Relaxed),
            MediaKind::Data => 0,
        };
        publisher.media(&self.shared, kind, timestamp, payload);
    }

    fn on_data(&mut self, stream_id: u32, timestamp: u32, name: &str, values: &[AmfValue], payload: bytes::Bytes) {
        if let Some(publisher) = self.publishing.get_mut(&stream_id) {
            publisher.data(&self.shared, timestamp, name, values, payload);
        }
    }

    fn end_publish(&self, stream: &Arc<LiveStream>, reason: &str) {
        self.shared.registry.unpublish(stream);
        self.shared.emit(ServerEvent::Unpublish { connection_id: self.id, stream_name: stream.name.clone(), reason: reason.into() });
    }

    /// Leave the media bus when the connection ends.
    fn release(&mut self, reason: &str) {
        for (_, publisher) in std::mem::take(&mut self.publishing) {
            self.end_publish(&publisher.stream, reason);
        }
        if let Some(p) = self.playing.take() {
            p.stream.unsubscribe(p.sub.id);
        }
    }
}

/// Why the play policy refuses a player at `ip`, or `None` when it may play.
fn play_refusal(config: &crate::config::ServerConfig, ip: std::net::IpAddr) -> Option<String> {
    use crate::config::PlayPolicy;
    // The canonical localhost addresses only (what local tools connect from), not all of
    // 127.0.0.0/8.
    let localhost = std::net::Ipv4Addr::LOCALHOST;
    let loopback = match ip {
        std::net::IpAddr::V4(v4) => v4 == localhost,
        std::net::IpAddr::V6(v6) => v6.is_loopback() || v6.to_ipv4_mapped() == Some(localhost),
    };
    match config.play_policy {
        PlayPolicy::Off => Some("RTMP play is disabled on this server (rtmp.play: off); play over HLS".into()),
        PlayPolicy::Loopback if !loopback => Some("RTMP play is allowed from this host only (rtmp.play: loopback); play over HLS".into()),
        PlayPolicy::Open if !loopback && config.limit_origin.is_some() => {
            Some("RTMP play is allowed from this host only while the origin lock is set; play over HLS".into())
        }
        _ => None,
    }
}

/// Non-blocking read that ignores tokio's readiness cache (see `read_available`).
fn recv_now(socket: &TcpStream, buf: &mut BytesMut) -> std::io::Result<usize> {
    use std::os::fd::AsRawFd;
    let spare = buf.spare_capacity_mut();
    // SAFETY: recv writes at most `spare.len()` bytes into memory we own, and we mark exactly
    // the bytes it reports as initialised.
    let n = unsafe { libc::recv(socket.as_raw_fd(), spare.as_mut_ptr().cast(), spare.len(), libc::MSG_DONTWAIT) };
    if n < 0 {
        return Err(std::io::Error::last_os_error());
    }
    unsafe { buf.set_len(buf.len() + n as usize) };
    Ok(n as usize)
}

fn set_receive_low_water(socket: &TcpStream, bytes: i32) {
    use std::os::fd::AsRawFd;
    // SAFETY: a plain setsockopt on a socket we own with a correctly sized int option.
    // Failure only costs efficiency (we then wake per arrival), so it is ignored.
    unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVLOWAT,
            (&bytes as *const i32).cast(),
            std::mem::size_of::<i32>() as libc::socklen_t,
        );
    }
}

/// Most frame bytes encoded for a player per write: the backlog stays in the subscriber's
/// queue (bounded, skipping to keyframes), not in our output buffer.
const PLAYER_BATCH_BYTES: usize = 256 * 1024;

async fn next_batch(sub: Option<&Subscriber>, out: &mut Vec<Frame>) -> bool {
    match sub {
        Some(sub) => sub.next_batch_limited(out, PLAYER_BATCH_BYTES).await,
        None => pending().await,
    }
}

/// Split `name?a=1&b=2` into the name and its decoded query parameters.
pub(crate) fn split_query(raw: &str) -> (&str, Vec<(String, String)>) {
    match raw.split_once('?') {
        None => (raw, Vec::new()),
        Some((name, query)) => {
            let params = query
                .split('&')
                .filter(|p| !p.is_empty())
                .map(|p| {
                    let (k, v) = p.split_once('=').unwrap_or((p, ""));
                    (percent_decode(k), percent_decode(v))
                })
                .collect();
            (name, params)
        }
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                    (Some(h), Some(l)) => {
                        out.push(h << 4 | l);
                        i += 3;
                        continue;
                    }
                    _ => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
mod tests {
    use super::split_query;

    #[test]
    fn query_parameters_are_split_and_decoded() {
        let (name, q) = split_query("kLive/?p=102&e=0_rkij47dr&i=0&t=dj%2094kfit");
        assert_eq!(name, "kLive/");
        assert_eq!(
            q,
            vec![("p".into(), "102".into()), ("e".into(), "0_rkij47dr".into()), ("i".into(), "0".into()), ("t".into(), "dj 94kfit".into())]
        );
        assert_eq!(split_query("0_abc_1"), ("0_abc_1", vec![]));
        assert_eq!(split_query("x?a&b=%zz%4").1, vec![("a".into(), "".into()), ("b".into(), "%zz%4".into())]);
    }
}
