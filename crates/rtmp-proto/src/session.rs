//! RTMP server session: a sans-IO state machine for one connection.
//!
//! Inputs: [`ServerSession::handle_input`] with the bytes read from the socket,
//! [`ServerSession::accept`] / [`ServerSession::reject`] for the decisions the application makes
//! on requests, [`ServerSession::send_media`] and [`ServerSession::send_ping`] for outbound data.
//! Outputs, polled after every input: [`ServerSession::poll_event`] for what happened and
//! [`ServerSession::take_output`] for the bytes to write. When [`ServerSession::is_closing`]
//! turns true (after a refusal) the driver flushes the output and closes the socket.
//!
//! The session never reads a clock: ping timestamps come from the driver, which also owns
//! every timeout (handshake, decision, idle).

mod client;
mod events;

pub use client::{ClientEvent, ClientMode, ClientSession};
pub use events::{ConnectRequest, MediaKind, SessionEvent};

use crate::amf::{amf0, amf3, AmfError, AmfValue};
use crate::chunk::{ChunkDecoder, ChunkEncoder, ChunkError, ChunkLimits, RawMessage};
use crate::handshake::{HandshakeError, HandshakeKind, HandshakeProgress, ServerHandshake};
use crate::message::{self as msg, status_info, UserControl};
use bytes::{Bytes, BytesMut};
use std::collections::{HashMap, VecDeque};

/// Session settings. [`Default`] gives values suitable for a production ingest server.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// Limits applied to the incoming chunk stream.
    pub chunk_limits: ChunkLimits,
    /// Chunk size announced to, and used towards, the peer.
    pub out_chunk_size: u32,
    /// Window Acknowledgement Size announced to the peer.
    pub window_ack_size: u32,
    /// Set Peer Bandwidth announced to the peer.
    pub peer_bandwidth: u32,
    /// Most message streams (createStream) one connection may open.
    pub max_streams: u32,
    /// Limits on the chunk stream until a publish or play is accepted (then
    /// [`Self::chunk_limits`] apply): an unauthorized peer gets a small message buffer.
    pub pre_auth_chunk_limits: ChunkLimits,
    /// Most (approximate) bytes one AMF command may decode to before a publish or play is
    /// accepted, whatever its length.
    pub pre_auth_amf_budget: usize,
    /// Strings from the client (connect fields, stream names, command names) are cut to
    /// this many bytes (marked with `…`) before they leave the session.
    pub max_client_string: usize,
    /// Unknown commands tolerated before a publish or play is accepted; one more closes
    /// the connection.
    pub max_unknown_commands_pre_auth: u32,
    /// Unknown commands reported as events per connection; later ones are counted only
    /// (see [`ServerSession::unknown_commands`]).
    pub unknown_command_events: u32,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            pre_auth_chunk_limits: ChunkLimits::pre_auth(),
            pre_auth_amf_budget: 256 * 1024,
            max_client_string: 1024,
            max_unknown_commands_pre_auth: 16,
            unknown_command_events: 4,
            chunk_limits: ChunkLimits::default(),
            out_chunk_size: 4096,
            window_ack_size: 5_000_000,
            peer_bandwidth: 5_000_000,
            max_streams: 8,
        }
    }
}

/// Why a session cannot continue. The driver closes the connection with this reason.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The handshake failed.
    #[error("handshake: {0}")]
    Handshake(#[from] HandshakeError),
    /// The chunk stream is invalid or breached a limit.
    #[error("chunk stream: {0}")]
    Chunk(#[from] ChunkError),
    /// A command message could not be decoded.
    #[error("invalid AMF in {context}: {source}")]
    Amf {
        /// Which message failed.
        context: &'static str,
        /// Decoder error.
        source: AmfError,
    },
    /// The peer broke the RTMP command protocol.
    #[error("protocol violation: {0}")]
    Protocol(String),
}

#[derive(Debug, Clone, PartialEq)]
enum StreamState {
    Created,
    PublishPending,
    Publishing { name: String },
    PlayPending,
    Playing { name: String },
}

#[derive(Debug)]
enum Pending {
    Connect { transaction_id: f64, object_encoding: f64 },
    Publish { stream_id: u32, name: String },
    Play { stream_id: u32, name: String },
}

#[derive(Debug, PartialEq, Eq)]
enum Phase {
    Handshake,
    AwaitConnect,
    ConnectPending,
    Connected,
}

/// The server side of one RTMP connection. See the module docs for the call order.
pub struct ServerSession {
    config: SessionConfig,
    phase: Phase,
    handshake: ServerHandshake,
    handshake_kind: Option<HandshakeKind>,
    decoder: ChunkDecoder,
    encoder: ChunkEncoder,
    out: Vec<u8>,
    events: VecDeque<SessionEvent>,
    streams: HashMap<u32, StreamState>,
    next_stream_id: u32,
    pending: HashMap<u32, Pending>,
    next_request_id: u32,
    bytes_received: u64,
    last_ack_at: u64,
    peer_window: u32,
    closing: bool,
    object_encoding: f64,
    /// A publish or play was accepted: the post-authorization limits apply.
    authorized: bool,
    unknown_commands: u32,
}

impl ServerSession {
    /// A new session. `handshake_random` fills S1; `epoch` is S1's time field.
    pub fn new(config: SessionConfig, handshake_random: [u8; 1528], epoch: u32) -> Self {
        let decoder = ChunkDecoder::new(config.pre_auth_chunk_limits);
        ServerSession {
            config,
            phase: Phase::Handshake,
            handshake: ServerHandshake::new(handshake_random, epoch),
            handshake_kind: None,
            decoder,
            encoder: ChunkEncoder::new(),
            // Allocated on first use: an idle or slow-loris connection should cost little.
            out: Vec::new(),
            events: VecDeque::new(),
            streams: HashMap::new(),
            next_stream_id: 1,
            pending: HashMap::new(),
            next_request_id: 1,
            bytes_received: 0,
            last_ack_at: 0,
            peer_window: 0,
            closing: false,
            object_encoding: 0.0,
            authorized: false,
            unknown_commands: 0,
        }
    }

    /// True once a publish or play was accepted on this connection.
    pub fn is_authorized(&self) -> bool {
        self.authorized
    }

    /// Unknown commands received so far (only the first few raise events).
    pub fn unknown_commands(&self) -> u32 {
        self.unknown_commands
    }

    /// Bytes the session holds for input now: undecoded bytes plus partial messages.
    pub fn buffered_input(&self) -> usize {
        self.decoder.buffered() + self.decoder.partial_bytes()
    }

    fn authorize(&mut self) {
        if !self.authorized {
            self.authorized = true;
            self.decoder.set_limits(self.config.chunk_limits);
        }
    }

    /// AMF decode budget for a command from this peer now.
    fn amf_cap(&self) -> usize {
        if self.authorized { usize::MAX } else { self.config.pre_auth_amf_budget }
    }

    /// `s` cut to [`SessionConfig::max_client_string`] bytes.
    fn cap(&self, s: &str) -> String {
        cap_string(s, self.config.max_client_string)
    }

    /// Which handshake the client used, once it is complete.
    pub fn handshake_kind(&self) -> Option<HandshakeKind> {
        self.handshake_kind
    }

    /// True once the handshake is complete.
    pub fn handshake_done(&self) -> bool {
        self.phase != Phase::Handshake
    }

    /// Total bytes fed to [`Self::handle_input`].
    pub fn bytes_received(&self) -> u64 {
        self.bytes_received
    }

    /// True after a refusal: flush [`Self::take_output`] and close.
    pub fn is_closing(&self) -> bool {
        self.closing
    }

    /// Next event, in order.
    pub fn poll_event(&mut self) -> Option<SessionEvent> {
        self.events.pop_front()
    }

    /// Bytes to write to the peer (empty when there is nothing). Give the vector back with
    /// [`Self::recycle_output`] to reuse its allocation.
    pub fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.out)
    }

    /// Return a buffer obtained from [`Self::take_output`] once written.
    pub fn recycle_output(&mut self, mut buf: Vec<u8>) {
        if self.out.is_empty() {
            buf.clear();
            self.out = buf;
        }
    }

    /// True when output is waiting.
    pub fn has_output(&self) -> bool {
        !self.out.is_empty()
    }

    /// Feed bytes read from the socket.
    pub fn handle_input(&mut self, bytes: &[u8]) -> Result<(), SessionError> {
        self.bytes_received += bytes.len() as u64;
        if self.phase == Phase::Handshake {
            match self.handshake.handle_input(bytes)? {
                HandshakeProgress::InProgress { response } => {
                    self.out.extend_from_slice(&response);
                    return Ok(());
                }
                HandshakeProgress::Completed { response, remaining, kind } => {
                    self.out.extend_from_slice(&response);
                    self.handshake_kind = Some(kind);
                    self.phase = Phase::AwaitConnect;
                    self.decoder.push(&remaining);
                }
            }
        } else {
            self.decoder.push(bytes);
        }
        self.process_buffered()?;
        self.maybe_acknowledge();
        Ok(())
    }

    /// After the handshake, the buffer a driver may read socket bytes straight into (saving a
    /// copy); then call [`Self::handle_buffered`] with the number of bytes appended. `None`
    /// during the handshake: use [`Self::handle_input`] then.
    pub fn input_buffer(&mut self) -> Option<&mut BytesMut> {
        if self.phase == Phase::Handshake {
            None
        } else {
            Some(self.decoder.buffer_mut())
        }
    }

    /// Process `count` bytes a driver appended to [`Self::input_buffer`].
    pub fn handle_buffered(&mut self, count: usize) -> Result<(), SessionError> {
        self.bytes_received += count as u64;
        self.process_buffered()?;
        self.maybe_acknowledge();
        Ok(())
    }

    /// Continue decoding input that arrived while a request waited for its decision. Call it
    /// after [`Self::accept`] (a refusal closes the session instead).
    pub fn resume(&mut self) -> Result<(), SessionError> {
        self.process_buffered()
    }

    /// Decode buffered messages, stopping while a request waits for a decision: commands a
    /// client pipelines behind `connect` or `publish` must see the outcome of that request.
    fn process_buffered(&mut self) -> Result<(), SessionError> {
        while !self.closing && self.pending.is_empty() {
            match self.decoder.next_message()? {
                Some(message) => self.handle_message(message)?,
                None => break,
            }
        }
        Ok(())
    }

    fn maybe_acknowledge(&mut self) {
        if self.peer_window > 0 && self.bytes_received - self.last_ack_at >= self.peer_window as u64 {
            self.last_ack_at = self.bytes_received;
            let body = msg::u32_body(self.bytes_received as u32);
            self.encoder.encode(msg::CSID_CONTROL, 0, msg::ACKNOWLEDGEMENT, 0, &body, &mut self.out);
        }
    }

    fn handle_message(&mut self, m: RawMessage) -> Result<(), SessionError> {
        match m.type_id {
            msg::SET_CHUNK_SIZE => {
                let size = read_u32(&m.payload).ok_or_else(|| SessionError::Protocol("short Set Chunk Size".into()))?;
                self.decoder.set_chunk_size(size & 0x7FFF_FFFF)?;
            }
            msg::ABORT => {
                if let Some(csid) = read_u32(&m.payload) {
                    self.decoder.abort(csid);
                }
            }
            msg::ACKNOWLEDGEMENT | msg::SET_PEER_BANDWIDTH => {}
            msg::WINDOW_ACK_SIZE => {
                if let Some(size) = read_u32(&m.payload) {
                    self.peer_window = size;
                }
            }
            msg::USER_CONTROL => match UserControl::parse(&m.payload) {
                Some(UserControl::PingRequest(t)) => self.send_control(UserControl::PingResponse(t)),
                Some(UserControl::PingResponse(t)) => self.events.push_back(SessionEvent::PingResponse { timestamp: t }),
                _ => {}
            },
            msg::AUDIO | msg::VIDEO => self.handle_media(m.stream_id, m.type_id, m.timestamp, m.payload),
            msg::DATA_AMF0 | msg::DATA_AMF3 => self.handle_data(m.stream_id, m.timestamp, m.type_id, &m.payload),
            msg::COMMAND_AMF0 => {
                let values =
                    amf0::decode_all_capped(&m.payload, self.amf_cap()).map_err(|source| SessionError::Amf { context: "command", source })?;
                self.handle_command(m.stream_id, values)?;
            }
            msg::COMMAND_AMF3 => {
                let values = amf3::decode_message_body_capped(&m.payload, self.amf_cap())
                    .map_err(|source| SessionError::Amf { context: "AMF3 command", source })?;
                self.handle_command(m.stream_id, values)?;
            }
            msg::AGGREGATE => self.handle_aggregate(m)?,
            _ => {}
        }
        Ok(())
    }

    fn is_publishing(&self, stream_id: u32) -> bool {
        matches!(self.streams.get(&stream_id), Some(StreamState::Publishing { .. }))
    }

    fn handle_media(&mut self, stream_id: u32, type_id: u8, timestamp: u32, payload: Bytes) {
        if !self.is_publishing(stream_id) || payload.is_empty() {
            return;
        }
        let kind = if type_id == msg::AUDIO { MediaKind::Audio } else { MediaKind::Video };
        self.events.push_back(SessionEvent::Media { stream_id, kind, timestamp, payload });
    }

    fn handle_data(&mut self, stream_id: u32, timestamp: u32, type_id: u8, payload: &[u8]) {
        if !self.is_publishing(stream_id) {
            return;
        }
        let decoded = if type_id == msg::DATA_AMF3 { amf3::decode_message_body(payload) } else { amf0::decode_all(payload) };
        let mut values = match decoded {
            Ok(values) => values,
            Err(e) => {
                self.events.push_back(SessionEvent::Warning { message: format!("dropped undecodable data message: {e}") });
                return;
            }
        };
        if values.first().and_then(AmfValue::as_str) == Some("@setDataFrame") {
            values.remove(0);
        }
        let Some(name) = values.first().and_then(AmfValue::as_str).map(str::to_string) else {
            self.events.push_back(SessionEvent::Warning { message: "dropped data message without a handler name".into() });
            return;
        };
        // Downstream (players, FLV) always gets AMF0 without the @setDataFrame wrapper.
        let body = Bytes::from(amf0::encode_all(&values));
        self.events.push_back(SessionEvent::Data { stream_id, timestamp, name, values, payload: body });
    }

    fn handle_aggregate(&mut self, m: RawMessage) -> Result<(), SessionError> {
        let data = &m.payload;
        let mut pos = 0usize;
        let mut first_ts: Option<u32> = None;
        while pos + 11 <= data.len() {
            let tag_type = data[pos];
            let size = (data[pos + 1] as usize) << 16 | (data[pos + 2] as usize) << 8 | data[pos + 3] as usize;
            let ts = (data[pos + 7] as u32) << 24 | (data[pos + 4] as u32) << 16 | (data[pos + 5] as u32) << 8 | data[pos + 6] as u32;
            let start = pos + 11;
            let end = start + size;
            if end > data.len() {
                return Err(SessionError::Protocol("aggregate message sub-tag overruns the message".into()));
            }
            let base = *first_ts.get_or_insert(ts);
            let timestamp = m.timestamp.wrapping_add(ts.wrapping_sub(base));
            let body = m.payload.slice(start..end);
            match tag_type {
                msg::AUDIO | msg::VIDEO => self.handle_media(m.stream_id, tag_type, timestamp, body),
                msg::DATA_AMF0 => self.handle_data(m.stream_id, timestamp, msg::DATA_AMF0, &body),
                _ => {}
            }
            pos = end + 4; // back pointer
        }
        Ok(())
    }

    fn handle_command(&mut self, stream_id: u32, values: Vec<AmfValue>) -> Result<(), SessionError> {
        let mut it = values.into_iter();
        let name = match it.next() {
            Some(AmfValue::String(s)) => s,
            _ => return Err(SessionError::Protocol("command without a name".into())),
        };
        let transaction_id = it.next().and_then(|v| v.as_f64()).unwrap_or(0.0);
        let command_object = it.next().unwrap_or(AmfValue::Null);
        let args: Vec<AmfValue> = it.collect();

        if self.phase != Phase::Connected && name != "connect" {
            // Replies to our own calls may arrive at any time; anything else needs a connection.
            if matches!(name.as_str(), "_result" | "_error" | "onStatus") {
                return Ok(());
            }
            return Err(SessionError::Protocol(format!("'{}' before connect was accepted", self.cap(&name))));
        }
        match name.as_str() {
            "connect" => self.on_connect(transaction_id, command_object)?,
            "createStream" => self.on_create_stream(transaction_id),
            "publish" => self.on_publish(stream_id, transaction_id, &args)?,
            "play" => self.on_play(stream_id, &args)?,
            "releaseStream" | "_checkbw" => self.send_result(transaction_id, AmfValue::Null, &[AmfValue::Undefined]),
            "FCPublish" => {
                let name = self.cap(args.first().and_then(AmfValue::as_str).unwrap_or(""));
                let info = msg::object([
                    ("code", AmfValue::String("NetStream.Publish.Start".into())),
                    ("description", AmfValue::String(name)),
                ]);
                self.send_command(0, "onFCPublish", 0.0, AmfValue::Null, &[info]);
            }
            "FCUnpublish" => {
                let name = self.cap(args.first().and_then(AmfValue::as_str).unwrap_or(""));
                let info = msg::object([
                    ("code", AmfValue::String("NetStream.Unpublish.Success".into())),
                    ("description", AmfValue::String(name.clone())),
                ]);
                self.send_command(0, "onFCUnpublish", 0.0, AmfValue::Null, &[info]);
                self.send_result(transaction_id, AmfValue::Null, &[AmfValue::Undefined]);
                let publishing: Vec<u32> = self
                    .streams
                    .iter()
                    .filter(|(_, s)| matches!(s, StreamState::Publishing { name: n } if strip_query(n) == strip_query(&name)))
                    .map(|(id, _)| *id)
                    .collect();
                for id in publishing {
                    self.end_stream(id, false);
                }
            }
            "deleteStream" => {
                let id = args.first().and_then(AmfValue::as_f64).map(|v| v as u32).unwrap_or(stream_id);
                self.end_stream(id, true);
            }
            "closeStream" => self.end_stream(stream_id, false),
            "getStreamLength" => self.send_result(transaction_id, AmfValue::Null, &[AmfValue::Number(0.0)]),
            "_result" | "_error" | "onStatus" | "receiveAudio" | "receiveVideo" | "pause" | "seek" | "play2" | "onBWDone" => {}
            other => {
                let other = self.cap(other);
                self.unknown_commands += 1;
                if !self.authorized && self.unknown_commands > self.config.max_unknown_commands_pre_auth {
                    return Err(SessionError::Protocol(format!(
                        "more than {} unknown commands before publish or play (last: '{other}')",
                        self.config.max_unknown_commands_pre_auth
                    )));
                }
                // Each event becomes a log line upstream: only the first few are reported.
                if self.unknown_commands <= self.config.unknown_command_events {
                    self.events.push_back(SessionEvent::UnknownCommand { name: other.clone() });
                }
                if transaction_id != 0.0 {
                    let info = status_info("error", "NetConnection.Call.Failed", &format!("Method not found ({other})."));
                    self.send_command(0, "_error", transaction_id, AmfValue::Null, &[info]);
                }
            }
        }
        Ok(())
    }

    fn on_connect(&mut self, transaction_id: f64, object: AmfValue) -> Result<(), SessionError> {
        if self.phase != Phase::AwaitConnect {
            return Err(SessionError::Protocol("second connect on one connection".into()));
        }
        let max = self.config.max_client_string;
        let text = |key: &str| object.get(key).and_then(AmfValue::as_str).map(|s| cap_string(s, max));
        let object_encoding = object.get("objectEncoding").and_then(AmfValue::as_f64).unwrap_or(0.0);
        let request_id = self.new_request(Pending::Connect { transaction_id, object_encoding });
        self.phase = Phase::ConnectPending;
        self.events.push_back(SessionEvent::ConnectRequested(ConnectRequest {
            request_id,
            app: text("app").unwrap_or_default(),
            tc_url: text("tcUrl"),
            flash_ver: text("flashVer"),
            swf_url: text("swfUrl"),
            page_url: text("pageUrl"),
            object_encoding,
            command_object: object,
        }));
        Ok(())
    }

    fn on_create_stream(&mut self, transaction_id: f64) {
        if self.streams.len() as u32 >= self.config.max_streams {
            let info = status_info("error", "NetConnection.Call.Failed", "Too many streams on this connection.");
            self.send_command(0, "_error", transaction_id, AmfValue::Null, &[info]);
            return;
        }
        let id = self.next_stream_id;
        self.next_stream_id += 1;
        self.streams.insert(id, StreamState::Created);
        self.send_result(transaction_id, AmfValue::Null, &[AmfValue::Number(id as f64)]);
    }

    fn ensure_stream(&mut self, stream_id: u32) -> Result<(), SessionError> {
        if stream_id == 0 {
            return Err(SessionError::Protocol("publish/play on message stream 0".into()));
        }
        if !self.streams.contains_key(&stream_id) {
            if self.streams.len() as u32 >= self.config.max_streams {
                return Err(SessionError::Protocol("too many streams".into()));
            }
            self.streams.insert(stream_id, StreamState::Created);
        }
        if self.streams[&stream_id] != StreamState::Created {
            return Err(SessionError::Protocol(format!("stream {stream_id} is already in use")));
        }
        Ok(())
    }

    fn on_publish(&mut self, stream_id: u32, _transaction_id: f64, args: &[AmfValue]) -> Result<(), SessionError> {
        self.ensure_stream(stream_id)?;
        let name = self.cap(args.first().and_then(AmfValue::as_str).unwrap_or(""));
        let publish_type = self.cap(args.get(1).and_then(AmfValue::as_str).unwrap_or("live"));
        let request_id = self.new_request(Pending::Publish { stream_id, name: name.clone() });
        self.streams.insert(stream_id, StreamState::PublishPending);
        self.events.push_back(SessionEvent::PublishRequested { request_id, stream_id, stream_name: name, publish_type });
        Ok(())
    }

    fn on_play(&mut self, stream_id: u32, args: &[AmfValue]) -> Result<(), SessionError> {
        self.ensure_stream(stream_id)?;
        let name = self.cap(args.first().and_then(AmfValue::as_str).unwrap_or(""));
        let request_id = self.new_request(Pending::Play { stream_id, name: name.clone() });
        self.streams.insert(stream_id, StreamState::PlayPending);
        self.events.push_back(SessionEvent::PlayRequested { request_id, stream_id, stream_name: name });
        Ok(())
    }

    fn end_stream(&mut self, stream_id: u32, delete: bool) {
        let state = if delete { self.streams.remove(&stream_id) } else { self.streams.get(&stream_id).cloned() };
        match state {
            Some(StreamState::Publishing { .. }) => {
                self.events.push_back(SessionEvent::PublishStopped { stream_id });
                if !delete {
                    self.streams.insert(stream_id, StreamState::Created);
                }
            }
            Some(StreamState::Playing { .. }) => {
                self.events.push_back(SessionEvent::PlayStopped { stream_id });
                if !delete {
                    self.streams.insert(stream_id, StreamState::Created);
                }
            }
            _ => {}
        }
    }

    fn new_request(&mut self, pending: Pending) -> u32 {
        let id = self.next_request_id;
        self.next_request_id += 1;
        self.pending.insert(id, pending);
        id
    }

    /// Accept request `request_id` (from a `*Requested` event). Unknown ids are ignored.
    pub fn accept(&mut self, request_id: u32) {
        match self.pending.remove(&request_id) {
            Some(Pending::Connect { transaction_id, object_encoding }) => {
                self.object_encoding = object_encoding;
                self.phase = Phase::Connected;
                let ws = msg::u32_body(self.config.window_ack_size);
                self.encoder.encode(msg::CSID_CONTROL, 0, msg::WINDOW_ACK_SIZE, 0, &ws, &mut self.out);
                let bw = msg::peer_bandwidth_body(self.config.peer_bandwidth, 2);
                self.encoder.encode(msg::CSID_CONTROL, 0, msg::SET_PEER_BANDWIDTH, 0, &bw, &mut self.out);
                let cs = msg::u32_body(self.config.out_chunk_size);
                self.encoder.encode(msg::CSID_CONTROL, 0, msg::SET_CHUNK_SIZE, 0, &cs, &mut self.out);
                self.encoder.set_chunk_size(self.config.out_chunk_size);
                let properties = msg::object([
                    ("fmsVer", AmfValue::String("FMS/3,5,7,7009".into())),
                    ("capabilities", AmfValue::Number(31.0)),
                    ("mode", AmfValue::Number(1.0)),
                ]);
                let info = msg::object([
                    ("level", AmfValue::String("status".into())),
                    ("code", AmfValue::String("NetConnection.Connect.Success".into())),
                    ("description", AmfValue::String("Connection succeeded.".into())),
                    ("objectEncoding", AmfValue::Number(object_encoding)),
                ]);
                self.send_command(0, "_result", transaction_id, properties, &[info]);
            }
            Some(Pending::Publish { stream_id, name }) => {
                self.authorize();
                self.streams.insert(stream_id, StreamState::Publishing { name: name.clone() });
                self.send_control(UserControl::StreamBegin(stream_id));
                let info = status_info("status", "NetStream.Publish.Start", &format!("{name} is now published."));
                self.send_command(stream_id, "onStatus", 0.0, AmfValue::Null, &[info]);
            }
            Some(Pending::Play { stream_id, name }) => {
                self.authorize();
                self.streams.insert(stream_id, StreamState::Playing { name: name.clone() });
                self.send_control(UserControl::StreamBegin(stream_id));
                let reset = status_info("status", "NetStream.Play.Reset", &format!("Playing and resetting {name}."));
                self.send_command(stream_id, "onStatus", 0.0, AmfValue::Null, &[reset]);
                let start = status_info("status", "NetStream.Play.Start", &format!("Started playing {name}."));
                self.send_command(stream_id, "onStatus", 0.0, AmfValue::Null, &[start]);
                let access = amf0::encode_all(&[
                    AmfValue::String("|RtmpSampleAccess".into()),
                    AmfValue::Boolean(true),
                    AmfValue::Boolean(true),
                ]);
                self.encoder.encode(msg::CSID_DATA, 0, msg::DATA_AMF0, stream_id, &access, &mut self.out);
            }
            None => {}
        }
    }

    /// Refuse request `request_id` with `description`; the session then closes
    /// ([`Self::is_closing`]). `code` overrides the default status code (e.g.
    /// `NetStream.Publish.BadName`).
    pub fn reject(&mut self, request_id: u32, description: &str, code: Option<&str>) {
        match self.pending.remove(&request_id) {
            Some(Pending::Connect { transaction_id, .. }) => {
                let info = status_info("error", code.unwrap_or("NetConnection.Connect.Rejected"), description);
                self.send_command(0, "_error", transaction_id, AmfValue::Null, &[info]);
            }
            Some(Pending::Publish { stream_id, .. }) => {
                let info = status_info("error", code.unwrap_or("NetStream.Publish.BadName"), description);
                self.send_command(stream_id, "onStatus", 0.0, AmfValue::Null, &[info]);
                self.streams.insert(stream_id, StreamState::Created);
            }
            Some(Pending::Play { stream_id, .. }) => {
                let info = status_info("error", code.unwrap_or("NetStream.Play.StreamNotFound"), description);
                self.send_command(stream_id, "onStatus", 0.0, AmfValue::Null, &[info]);
                self.streams.insert(stream_id, StreamState::Created);
            }
            None => return,
        }
        self.closing = true;
    }

    /// Refuse stream `stream_id` after its publish was accepted (the application learnt
    /// later that it cannot take it): `onStatus` error with `description` (code
    /// `NetStream.Publish.BadName` unless `code` says otherwise); the session then closes.
    /// Nothing happens for a stream that is not publishing.
    pub fn refuse_publishing(&mut self, stream_id: u32, description: &str, code: Option<&str>) {
        if !matches!(self.streams.get(&stream_id), Some(StreamState::Publishing { .. })) {
            return;
        }
        let info = status_info("error", code.unwrap_or("NetStream.Publish.BadName"), description);
        self.send_command(stream_id, "onStatus", 0.0, AmfValue::Null, &[info]);
        self.streams.insert(stream_id, StreamState::Created);
        self.closing = true;
    }

    /// Send one media or data message to a playing stream.
    pub fn send_media(&mut self, stream_id: u32, kind: MediaKind, timestamp: u32, payload: &[u8]) {
        let (csid, type_id) = match kind {
            MediaKind::Audio => (msg::CSID_AUDIO, msg::AUDIO),
            MediaKind::Video => (msg::CSID_VIDEO, msg::VIDEO),
            MediaKind::Data => (msg::CSID_DATA, msg::DATA_AMF0),
        };
        self.encoder.encode(csid, timestamp, type_id, stream_id, payload, &mut self.out);
    }

    /// Tell a player its stream ended (publisher left).
    pub fn send_play_end(&mut self, stream_id: u32, name: &str) {
        let info = status_info("status", "NetStream.Play.UnpublishNotify", &format!("{name} is now unpublished."));
        self.send_command(stream_id, "onStatus", 0.0, AmfValue::Null, &[info]);
        self.send_control(UserControl::StreamEof(stream_id));
    }

    /// Send a PingRequest carrying `timestamp` (driver's clock, ms); the answer arrives as
    /// [`SessionEvent::PingResponse`].
    pub fn send_ping(&mut self, timestamp: u32) {
        self.send_control(UserControl::PingRequest(timestamp));
    }

    fn send_control(&mut self, event: UserControl) {
        let body = event.encode();
        self.encoder.encode(msg::CSID_CONTROL, 0, msg::USER_CONTROL, 0, &body, &mut self.out);
    }

    fn send_result(&mut self, transaction_id: f64, object: AmfValue, args: &[AmfValue]) {
        self.send_command(0, "_result", transaction_id, object, args);
    }

    fn send_command(&mut self, stream_id: u32, name: &str, transaction_id: f64, object: AmfValue, args: &[AmfValue]) {
        let body = msg::command_body(name, transaction_id, object, args);
        self.encoder.encode(msg::CSID_COMMAND, 0, msg::COMMAND_AMF0, stream_id, &body, &mut self.out);
    }
}

fn read_u32(b: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(..4)?.try_into().ok()?))
}

/// `s` cut to at most `max` bytes on a character boundary, with `…` appended when cut.
pub fn cap_string(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// The stream name without its `?query` part.
pub fn strip_query(name: &str) -> &str {
    name.split('?').next().unwrap_or(name)
}

#[cfg(test)]
mod tests;
