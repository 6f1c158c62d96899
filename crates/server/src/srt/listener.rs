//! The SRT listener: one UDP socket and one task that drives every SRT peer's sans-IO state
//! machine (the `srt-protocol` crate: [`Listen`] for the handshake, [`DuplexConnection`]
//! after it) and hands what they release — MPEG-TS — to the demuxer and the media bus.
//!
//! Per wakeup the task reads every datagram the socket holds (up to [`MAX_DATAGRAMS_PER_TURN`]):
//! an encoder sends ~100-1000 small datagrams a second per stream, and waking per datagram is
//! what costs CPU. Timers of all peers are served by the same task.
//!
//! Admission: the caller's conclusion handshake carries the stream id; the peer then waits
//! (the handshake unanswered, the caller retrying) while the application decides, through the
//! same `connect` and `publish` requests an RTMP publisher makes ([`super::stream_id`]).
//! A refusal answers the handshake with an SRT reject code; no media is ever read from a
//! refused peer. `srt-protocol` is unmaintained and has `unimplemented!`/`unwrap` paths that
//! hostile input can reach, so every call into it runs under `catch_unwind`: a panic closes
//! that peer only.

use super::stream_id::SrtStreamId;
use super::tsingest::TsIngest;
use crate::bus::LiveStream;
use crate::events::{Decision, DisconnectInfo, ServerEvent};
use crate::ingest::Publisher;
use crate::shared::{ConnHandle, Shared};
use crate::stats::{ConnCounters, SrtLinkStats};
use crate::timeline::ClockMode;
use srt_protocol::connection::{Action as ConnAction, DuplexConnection, Input as ConnInput};
use srt_protocol::options::{KeySize, Passphrase};
use srt_protocol::packet::{Acknowledgement, ControlPacket, ControlTypes, CoreRejectReason, FullAckSeqNumber, Packet, RejectReason, ServerRejectReason};
use srt_protocol::protocol::pending_connection::listen::Listen;
use srt_protocol::protocol::pending_connection::{AccessControlResponse, ConnectionResult};
use srt_protocol::settings::{ConnInitSettings, KeySettings};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Most datagrams handled per wakeup before timers and decisions get a turn.
const MAX_DATAGRAMS_PER_TURN: usize = 256;
/// A refused peer's repeated handshakes get the same rejection this long, then it is forgotten.
const REJECT_MEMORY: Duration = Duration::from_secs(5);
/// Idle checks, stats sampling, held-frame release.
const HOUSEKEEPING: Duration = Duration::from_millis(250);
/// Largest SRT datagram (MTU-sized; libsrt's default payload is 1316 bytes).
const MAX_DATAGRAM: usize = 1500;
/// Receiver latency (TSBPD), libsrt's default: lost packets are retransmitted within it.
const RECV_LATENCY: Duration = Duration::from_millis(120);

/// The application's answer for a peer, from its decision task.
enum Outcome {
    Accept { stream: Arc<LiveStream>, passphrase: Option<String>, encrypted_form: bool },
    Reject { reason: RejectReason, description: String },
}

struct Pending {
    listen: Listen,
    started: Instant,
    /// Set once the stream id is known and the application is asked.
    deciding: Option<Deciding>,
}

struct Deciding {
    id: u64,
    counters: Arc<ConnCounters>,
    cancel: CancellationToken,
    key_size: KeySize,
}

struct Open {
    id: u64,
    conn: DuplexConnection,
    ingest: TsIngest,
    counters: Arc<ConnCounters>,
    cancel: CancellationToken,
    next_timer: Instant,
    rtt: RttMeter,
}

/// Round-trip time from our full ACKs and the peer's ACK2 answers (UDT/SRT's own RTT
/// measurement: `srt-protocol` keeps its estimate private and leaves the statistics at 0).
#[derive(Default)]
struct RttMeter {
    /// Full ACKs sent and when, newest last (a few: ACK2 answers come within one RTT).
    sent: std::collections::VecDeque<(FullAckSeqNumber, Instant)>,
    /// Smoothed RTT (RFC 6298 weights), ms.
    smoothed_ms: Option<f64>,
}

impl RttMeter {
    fn ack_sent(&mut self, packet: &Packet, now: Instant) {
        if let Packet::Control(ControlPacket { control_type: ControlTypes::Ack(Acknowledgement::Full(_, _, n)), .. }) = packet {
            if self.sent.len() >= 32 {
                self.sent.pop_front();
            }
            self.sent.push_back((*n, now));
        }
    }

    fn ack2_received(&mut self, packet: &Packet, now: Instant) {
        let Packet::Control(ControlPacket { control_type: ControlTypes::Ack2(n), .. }) = packet else { return };
        let Some(i) = self.sent.iter().position(|(m, _)| m == n) else { return };
        let (_, at) = self.sent[i];
        self.sent.drain(..=i);
        let sample = now.duration_since(at).as_secs_f64() * 1000.0;
        self.smoothed_ms = Some(match self.smoothed_ms {
            None => sample,
            Some(s) => s * 7.0 / 8.0 + sample / 8.0,
        });
    }
}

enum Peer {
    Pending(Pending),
    Open(Box<Open>),
    Rejected { packet: Option<(Packet, SocketAddr)>, until: Instant },
}

struct Driver {
    shared: Arc<Shared>,
    socket: Arc<UdpSocket>,
    local: SocketAddr,
    settings: ConnInitSettings,
    peers: HashMap<SocketAddr, Peer>,
    outcomes: mpsc::UnboundedSender<(SocketAddr, u64, Outcome)>,
    out: Vec<u8>,
}

pub(crate) async fn run(shared: Arc<Shared>, socket: UdpSocket) {
    let local = socket.local_addr().unwrap_or_else(|_| shared.config.bind);
    let mut settings = ConnInitSettings::default();
    settings.recv_latency = RECV_LATENCY;
    settings.send_latency = RECV_LATENCY;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut driver = Driver { shared: shared.clone(), socket: Arc::new(socket), local, settings, peers: HashMap::new(), outcomes: tx, out: Vec::with_capacity(MAX_DATAGRAM) };
    let shutdown = shared.shutdown.clone();
    let mut buf = vec![0u8; 64 * 1024];
    let mut housekeeping = tokio::time::Instant::now() + HOUSEKEEPING;
    loop {
        let next = driver.next_timer().map(tokio::time::Instant::from_std).unwrap_or(housekeeping).min(housekeeping);
        let socket = driver.socket.clone();
        tokio::select! {
            biased;
            _ = shutdown.cancelled() => break,
            Some((addr, id, outcome)) = rx.recv() => driver.decided(addr, id, outcome),
            ready = socket.readable() => {
                if ready.is_err() {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
                driver.read_datagrams(&mut buf);
            }
            _ = tokio::time::sleep_until(next) => {}
        }
        let now = Instant::now();
        driver.serve_timers(now);
        if tokio::time::Instant::now() >= housekeeping {
            housekeeping = tokio::time::Instant::now() + HOUSEKEEPING;
            driver.housekeeping(now);
        }
    }
    for (_, peer) in std::mem::take(&mut driver.peers) {
        driver.close_peer(peer, "server shutdown");
    }
}

impl Driver {
    fn next_timer(&self) -> Option<Instant> {
        self.peers.values().filter_map(|p| if let Peer::Open(o) = p { Some(o.next_timer) } else { None }).min()
    }

    fn read_datagrams(&mut self, buf: &mut [u8]) {
        for _ in 0..MAX_DATAGRAMS_PER_TURN {
            match self.socket.try_recv_from(buf) {
                Ok((n, from)) => self.datagram(&buf[..n], from),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                // ICMP errors of earlier sends surface here (ECONNREFUSED): nothing to do.
                Err(_) => continue,
            }
        }
    }

    fn datagram(&mut self, data: &[u8], from: SocketAddr) {
        let Ok(packet) = Packet::parse(&mut &data[..], from.is_ipv6()) else { return };
        let now = Instant::now();
        match self.peers.get_mut(&from) {
            None => {
                if !matches!(&packet, Packet::Control(_)) {
                    return; // data from nobody we know
                }
                // UDP sources are cheap to forge: bound the handshakes held at once (each is
                // forgotten after the handshake timeout).
                if self.peers.len() >= self.shared.config.max_connections.saturating_mul(2).max(64) {
                    return;
                }
                let settings = self.settings.copy_randomize();
                let pending = Pending { listen: Listen::new(settings, true), started: now, deciding: None };
                self.peers.insert(from, Peer::Pending(pending));
                self.pending_packet(from, packet, now);
            }
            Some(Peer::Pending(_)) => self.pending_packet(from, packet, now),
            Some(Peer::Open(open)) => {
                open.counters.bytes_in.fetch_add(data.len() as u64, Ordering::Relaxed);
                open.rtt.ack2_received(&packet, now);
                let r = guarded(|| {
                    open.conn.handle_packet_input(now, Ok((packet, from)));
                });
                if r.is_err() {
                    self.drop_peer(from, "SRT protocol error (the peer sent what the SRT library cannot handle)");
                    return;
                }
                self.drive(from, now, ConnInput::Timer);
            }
            Some(Peer::Rejected { packet: reject, .. }) => {
                if let Some((p, to)) = reject.clone() {
                    self.send(&p, to);
                }
            }
        }
    }

    fn pending_packet(&mut self, from: SocketAddr, packet: Packet, now: Instant) {
        let Some(Peer::Pending(pending)) = self.peers.get_mut(&from) else { return };
        let result = guarded(|| pending.listen.handle_packet(now, Ok((packet, from))));
        match result {
            Err(()) => {
                // Ignore its retries for a while rather than start its handshake over.
                self.peers.insert(from, Peer::Rejected { packet: None, until: now + REJECT_MEMORY });
            }
            Ok(ConnectionResult::SendPacket((p, to))) => self.send(&p, to),
            Ok(ConnectionResult::RequestAccess(request)) => {
                if pending.deciding.is_some() {
                    return;
                }
                let id = self.shared.next_id();
                self.shared.total_connections.fetch_add(1, Ordering::Relaxed);
                let counters = Arc::new(ConnCounters::new(id, from));
                counters.details.lock().protocol = "srt";
                let cancel = self.shared.shutdown.child_token();
                self.shared.connections.lock().insert(id, ConnHandle { counters: counters.clone(), cancel: cancel.clone() });
                pending.deciding = Some(Deciding { id, counters, cancel: cancel.clone(), key_size: request.key_size });
                let stream_id = request.stream_id.as_ref().map(|s| s.to_string()).unwrap_or_default();
                let task = authorize(self.shared.clone(), id, from, self.local, stream_id, cancel, self.outcomes.clone());
                self.shared.tasks.spawn(task);
            }
            Ok(ConnectionResult::Reject(p, _)) => {
                if let Some((p, to)) = &p {
                    self.send(p, *to);
                }
                self.peers.insert(from, Peer::Rejected { packet: p, until: now + REJECT_MEMORY });
            }
            Ok(ConnectionResult::Failure(_)) => {
                self.peers.remove(&from);
            }
            Ok(_) => {}
        }
    }

    /// The application answered for peer `addr` (connection `id`).
    fn decided(&mut self, addr: SocketAddr, id: u64, outcome: Outcome) {
        let now = Instant::now();
        let waiting = matches!(self.peers.get(&addr), Some(Peer::Pending(Pending { deciding: Some(d), .. })) if d.id == id);
        if !waiting {
            // The peer went away (or was killed) while the application decided.
            if let Outcome::Accept { stream, .. } = outcome {
                self.end_publish(id, &stream, "publisher left during authorization");
            }
            return;
        }
        let Some(Peer::Pending(mut pending)) = self.peers.remove(&addr) else { return };
        let Some(deciding) = pending.deciding.take() else { return };
        let (response, stream, description) = match outcome {
            Outcome::Reject { reason, description } => (AccessControlResponse::Rejected(reason), None, description),
            Outcome::Accept { stream, passphrase, encrypted_form } => match key_settings(deciding.key_size, encrypted_form, passphrase) {
                Ok(keys) => (AccessControlResponse::Accepted(keys), Some(stream), String::new()),
                Err(description) => {
                    self.end_publish(id, &stream, &description);
                    (AccessControlResponse::Rejected(RejectReason::Core(CoreRejectReason::BadSecret)), None, description)
                }
            },
        };
        let result = guarded(|| pending.listen.handle_access_control_response(now, response));
        match (result, stream) {
            (Ok(ConnectionResult::Connected(p, connection)), Some(stream)) => {
                if let Some((p, to)) = p {
                    self.send(&p, to);
                }
                let publisher = Publisher::new(&self.shared, stream, id, ClockMode::Rebase);
                {
                    let mut details = deciding.counters.details.lock();
                    details.role = "publisher";
                    details.stream_name = Some(publisher.stream.name.clone());
                }
                let open = Open {
                    id,
                    conn: DuplexConnection::new(connection),
                    ingest: TsIngest::new(publisher, deciding.counters.clone()),
                    counters: deciding.counters,
                    cancel: deciding.cancel,
                    next_timer: now,
                    rtt: RttMeter::default(),
                };
                self.peers.insert(addr, Peer::Open(Box::new(open)));
                self.drive(addr, now, ConnInput::Timer);
            }
            (Ok(ConnectionResult::Reject(p, _)), stream) => {
                if let Some(stream) = stream {
                    self.end_publish(id, &stream, "SRT handshake refused");
                }
                if let Some((p, to)) = &p {
                    self.send(p, *to);
                }
                self.peers.insert(addr, Peer::Rejected { packet: p, until: now + REJECT_MEMORY });
                let reason = if description.is_empty() { "SRT handshake refused".to_string() } else { format!("refused: {description}") };
                self.disconnected(id, addr, &deciding.counters, reason);
            }
            (_, stream) => {
                if let Some(stream) = stream {
                    self.end_publish(id, &stream, "SRT handshake failed");
                }
                self.peers.insert(addr, Peer::Rejected { packet: None, until: now + REJECT_MEMORY });
                self.disconnected(id, addr, &deciding.counters, "SRT handshake failed".into());
            }
        }
    }

    /// Run peer `addr`'s connection until it waits: send what it sends, demux what it releases.
    fn drive(&mut self, addr: SocketAddr, now: Instant, first: ConnInput) {
        let Some(Peer::Open(open)) = self.peers.get_mut(&addr) else { return };
        let mut sends: Vec<(Packet, SocketAddr)> = Vec::new();
        let mut input = Some(first);
        let mut closed = false;
        let result = guarded(|| {
            // Bounded: each action is one packet or one message; a flood ends at the cap.
            for _ in 0..100_000 {
                let action = open.conn.handle_input(now, input.take().unwrap_or(ConnInput::Timer));
                match action {
                    ConnAction::SendPacket(p) => {
                        open.rtt.ack_sent(&p.0, now);
                        sends.push(p);
                        input = Some(ConnInput::PacketSent);
                    }
                    ConnAction::ReleaseData((_, bytes)) => {
                        open.ingest.push(&bytes);
                        input = Some(ConnInput::DataReleased);
                    }
                    ConnAction::UpdateStatistics(stats) => {
                        open.counters.details.lock().srt = Some(SrtLinkStats::from_socket(stats, open.rtt.smoothed_ms));
                        input = Some(ConnInput::StatisticsUpdated);
                    }
                    ConnAction::WaitForData(wait) => {
                        open.next_timer = now + wait.max(Duration::from_millis(1));
                        return;
                    }
                    ConnAction::Close => {
                        closed = true;
                        return;
                    }
                }
            }
            open.next_timer = now + Duration::from_millis(1);
        });
        open.ingest.flush(&self.shared);
        for (p, to) in sends {
            self.send(&p, to);
        }
        if result.is_err() {
            self.drop_peer(addr, "SRT protocol error (the peer sent what the SRT library cannot handle)");
        } else if closed {
            self.drop_peer(addr, "client closed");
        }
    }

    fn serve_timers(&mut self, now: Instant) {
        let due: Vec<SocketAddr> = self
            .peers
            .iter()
            .filter_map(|(a, p)| match p {
                Peer::Open(o) if o.next_timer <= now => Some(*a),
                _ => None,
            })
            .collect();
        for addr in due {
            self.drive(addr, now, ConnInput::Timer);
        }
    }

    fn housekeeping(&mut self, now: Instant) {
        let timeout = self.shared.config.handshake_timeout;
        let mut gone: Vec<(SocketAddr, &'static str)> = Vec::new();
        for (addr, peer) in self.peers.iter_mut() {
            match peer {
                Peer::Rejected { until, .. } if *until <= now => gone.push((*addr, "")),
                Peer::Pending(p) if p.deciding.is_none() && now.duration_since(p.started) > timeout => gone.push((*addr, "")),
                Peer::Pending(Pending { deciding: Some(d), .. }) if d.cancel.is_cancelled() => gone.push((*addr, "killed by operator")),
                Peer::Open(o) => {
                    if o.cancel.is_cancelled() {
                        gone.push((*addr, "killed by operator"));
                        continue;
                    }
                    o.counters.sample(now);
                    o.ingest.tick(&self.shared);
                }
                _ => {}
            }
        }
        for (addr, reason) in gone {
            if reason.is_empty() {
                self.peers.remove(&addr);
            } else {
                self.drop_peer(addr, reason);
            }
        }
    }

    fn drop_peer(&mut self, addr: SocketAddr, reason: &str) {
        if let Some(peer) = self.peers.remove(&addr) {
            self.close_peer(peer, reason);
        }
    }

    /// Release what a peer holds and report its end.
    fn close_peer(&self, peer: Peer, reason: &str) {
        match peer {
            Peer::Open(open) => {
                let Open { id, ingest, counters, .. } = *open;
                let addr = counters.remote_addr;
                let publisher = ingest.into_publisher();
                self.end_publish(id, &publisher.stream, reason);
                drop(publisher);
                self.disconnected(id, addr, &counters, reason.to_string());
            }
            Peer::Pending(Pending { deciding: Some(d), .. }) => {
                // Its decision task sees the cancellation and stops waiting.
                d.cancel.cancel();
                let addr = d.counters.remote_addr;
                self.disconnected(d.id, addr, &d.counters, reason.to_string());
            }
            _ => {}
        }
    }

    fn end_publish(&self, id: u64, stream: &Arc<LiveStream>, reason: &str) {
        self.shared.registry.unpublish(stream);
        self.shared.emit(ServerEvent::Unpublish { connection_id: id, stream_name: stream.name.clone(), reason: reason.into() });
    }

    fn disconnected(&self, id: u64, addr: SocketAddr, counters: &ConnCounters, reason: String) {
        self.shared.connections.lock().remove(&id);
        self.shared.emit(ServerEvent::Disconnect(DisconnectInfo {
            connection_id: id,
            remote_addr: addr,
            reason,
            bytes_in: counters.bytes_in.load(Ordering::Relaxed),
            bytes_out: counters.bytes_out.load(Ordering::Relaxed),
            duration_ms: counters.started.elapsed().as_millis() as u64,
        }));
    }

    fn send(&mut self, packet: &Packet, to: SocketAddr) {
        self.out.clear();
        packet.serialize(&mut self.out);
        // UDP: a full socket buffer loses the datagram, which SRT recovers like any loss.
        let _ = self.socket.try_send_to(&self.out, to);
    }
}

/// Key settings for an accepted peer: the entry's SRT pass when the caller encrypts.
///
/// libsrt callers announce encryption in the conclusion handshake's key-material extension,
/// not always in its key-size field (which `srt-protocol` reports), so a stream id with `ep=`
/// — Kaltura's form for entries whose callers set the passphrase — counts as encrypting too.
/// An unannounced key size is taken as AES-128 (libsrt's default `pbkeylen`); a caller with a
/// longer key that does not announce it fails the handshake as a bad secret.
fn key_settings(requested: KeySize, encrypted_form: bool, passphrase: Option<String>) -> Result<Option<KeySettings>, String> {
    if requested == KeySize::Unspecified && !encrypted_form {
        return Ok(None);
    }
    let Some(passphrase) = passphrase else {
        return Err("the caller encrypts (or uses the ep= form) but the entry has no SRT pass".into());
    };
    let passphrase = Passphrase::try_from(passphrase).map_err(|_| "the entry's SRT pass is not a valid SRT passphrase (10-79 characters)".to_string())?;
    Ok(Some(KeySettings { key_size: requested, passphrase }))
}

/// Run `f`, turning a panic inside `srt-protocol` into an error for that peer.
fn guarded<T>(f: impl FnOnce() -> T) -> Result<T, ()> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|_| ())
}

/// Ask the application about peer `from` exactly as for an RTMP publisher: `connect` with
/// the stream id's arguments, then `publish` of `<entryId>_1`.
async fn authorize(
    shared: Arc<Shared>,
    id: u64,
    from: SocketAddr,
    local: SocketAddr,
    raw_stream_id: String,
    cancel: CancellationToken,
    outcomes: mpsc::UnboundedSender<(SocketAddr, u64, Outcome)>,
) {
    let outcome = decide_peer(&shared, id, from, local, &raw_stream_id, &cancel).await;
    let _ = outcomes.send((from, id, outcome));
}

async fn decide_peer(shared: &Arc<Shared>, id: u64, from: SocketAddr, local: SocketAddr, raw: &str, cancel: &CancellationToken) -> Outcome {
    let parsed = SrtStreamId::parse(raw);
    let app = shared.config.app_name.clone();
    let query = parsed.connect_query();
    let url_query: Vec<String> = query.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let tc_url = format!("srt://{local}/{app}?{}", url_query.join("&"));
    {
        let mut details = shared.connections.lock();
        if let Some(h) = details.get_mut(&id) {
            let mut d = h.counters.details.lock();
            d.app = app.clone();
            d.flash_ver = Some("SRT".into());
        }
    }
    let (request_id, rx) = shared.new_request();
    shared.emit(ServerEvent::Connect {
        request_id,
        connection_id: id,
        remote_addr: from,
        app: app.clone(),
        tc_url: Some(tc_url),
        query,
        flash_ver: Some("SRT".into()),
        page_url: None,
        swf_url: None,
        handshake: "srt".into(),
    });
    let decision = wait_decision(shared, request_id, rx, cancel).await;
    if !decision.accept {
        return reject(&decision, ServerRejectReason::Forbidden);
    }
    let name = parsed.stream_name();
    let Some(stream) = shared.registry.publish(&name, &app, id) else {
        return Outcome::Reject { reason: RejectReason::Server(ServerRejectReason::Conflict), description: format!("stream '{name}' is already being published") };
    };
    let (request_id, rx) = shared.new_request();
    shared.emit(ServerEvent::Publish { request_id, connection_id: id, stream_id: 1, stream_name: name, query: Vec::new(), publish_type: "live".into() });
    let decision = wait_decision(shared, request_id, rx, cancel).await;
    if !decision.accept {
        shared.registry.unpublish(&stream);
        return reject(&decision, ServerRejectReason::Forbidden);
    }
    Outcome::Accept { stream, passphrase: decision.srt_passphrase, encrypted_form: parsed.encrypted_pass.is_some() }
}

async fn wait_decision(shared: &Shared, request_id: u64, rx: tokio::sync::oneshot::Receiver<Decision>, cancel: &CancellationToken) -> Decision {
    let timeout = shared.config.decision_timeout;
    let d = tokio::select! {
        d = rx => d.unwrap_or_else(|_| Decision::reject("server is shutting down")),
        _ = tokio::time::sleep(timeout) => Decision::reject(format!("no authorization decision within {} s", timeout.as_secs())),
        _ = cancel.cancelled() => Decision::reject("connection closed during authorization"),
    };
    shared.forget_request(request_id);
    d
}

fn reject(decision: &Decision, default: ServerRejectReason) -> Outcome {
    let reason = decision.srt_reject.and_then(server_reject_reason).map(RejectReason::Server).unwrap_or(RejectReason::Server(default));
    Outcome::Reject { reason, description: decision.description.clone() }
}

/// The SRT server reject code (2000..2999, libsrt's `SRT_REJX_*`) the application chose.
fn server_reject_reason(code: u32) -> Option<ServerRejectReason> {
    use ServerRejectReason::*;
    Some(match code {
        2400 => BadRequest,
        2401 => Unauthorized,
        2402 => Overload,
        2403 => Forbidden,
        2404 => Notfound,
        2409 => Conflict,
        2415 => NotSupMedia,
        2500 => InternalServerError,
        2503 => Down,
        _ => return None,
    })
}
