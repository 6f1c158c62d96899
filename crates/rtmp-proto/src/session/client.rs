//! A minimal sans-IO RTMP client (publish or play), used by the load generator and by
//! in-memory session tests. Same call pattern as the server session: `handle_input`, then
//! `poll_event` / `take_output`.

use super::{MediaKind, SessionError};
use crate::amf::{amf0, AmfValue};
use crate::chunk::{ChunkDecoder, ChunkEncoder, ChunkLimits, RawMessage};
use crate::handshake::{ClientHandshake, HandshakeProgress};
use crate::message::{self as msg, UserControl};
use bytes::Bytes;
use std::collections::VecDeque;

const TXN_CONNECT: f64 = 1.0;
const TXN_CREATE_STREAM: f64 = 4.0;

/// What the client reports.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientEvent {
    /// The server accepted `connect`.
    Connected,
    /// Publishing may start (NetStream.Publish.Start).
    PublishStarted,
    /// Playback started (NetStream.Play.Start).
    PlayStarted,
    /// The server refused something: `_error` or an error-level onStatus.
    Refused {
        /// Status code, e.g. NetConnection.Connect.Rejected.
        code: String,
        /// The server's description.
        description: String,
    },
    /// Media or data received while playing.
    Media {
        /// Audio, video or data.
        kind: MediaKind,
        /// RTMP timestamp.
        timestamp: u32,
        /// Tag body.
        payload: Bytes,
    },
    /// A status-level onStatus (code), e.g. NetStream.Play.UnpublishNotify.
    Status {
        /// Status code.
        code: String,
    },
}

/// Publish or play.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientMode {
    /// Send media.
    Publish,
    /// Receive media.
    Play,
}

/// Client side of one RTMP connection.
pub struct ClientSession {
    mode: ClientMode,
    app: String,
    tc_url: String,
    stream_name: String,
    handshake: Option<ClientHandshake>,
    decoder: ChunkDecoder,
    encoder: ChunkEncoder,
    out: Vec<u8>,
    events: VecDeque<ClientEvent>,
    stream_id: u32,
    bytes_received: u64,
    last_ack_at: u64,
    peer_window: u32,
    out_chunk_size: u32,
}

impl ClientSession {
    /// A client that will connect to `tc_url` (application `app`) and publish or play
    /// `stream_name`. Call [`Self::take_output`] right away to get C0+C1.
    pub fn new(mode: ClientMode, app: &str, tc_url: &str, stream_name: &str, random: [u8; 1528], digest: bool) -> Self {
        let mut handshake = ClientHandshake::new(random, 0, digest);
        let out = handshake.start();
        ClientSession {
            mode,
            app: app.into(),
            tc_url: tc_url.into(),
            stream_name: stream_name.into(),
            handshake: Some(handshake),
            decoder: ChunkDecoder::new(ChunkLimits::default()),
            encoder: ChunkEncoder::new(),
            out,
            events: VecDeque::new(),
            stream_id: 0,
            bytes_received: 0,
            last_ack_at: 0,
            peer_window: 0,
            out_chunk_size: 4096,
        }
    }

    /// Outgoing chunk size to announce after connecting (default 4096).
    pub fn set_out_chunk_size(&mut self, size: u32) {
        self.out_chunk_size = size;
    }

    /// Next event.
    pub fn poll_event(&mut self) -> Option<ClientEvent> {
        self.events.pop_front()
    }

    /// Bytes to send.
    pub fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.out)
    }

    /// Feed received bytes.
    pub fn handle_input(&mut self, bytes: &[u8]) -> Result<(), SessionError> {
        self.bytes_received += bytes.len() as u64;
        if let Some(handshake) = self.handshake.as_mut() {
            match handshake.handle_input(bytes)? {
                HandshakeProgress::InProgress { response } => {
                    self.out.extend_from_slice(&response);
                    return Ok(());
                }
                HandshakeProgress::Completed { response, remaining, .. } => {
                    self.out.extend_from_slice(&response);
                    self.handshake = None;
                    self.send_connect();
                    self.decoder.push(&remaining);
                }
            }
        } else {
            self.decoder.push(bytes);
        }
        while let Some(m) = self.decoder.next_message()? {
            self.handle_message(m)?;
        }
        if self.peer_window > 0 && self.bytes_received - self.last_ack_at >= self.peer_window as u64 {
            self.last_ack_at = self.bytes_received;
            let body = msg::u32_body(self.bytes_received as u32);
            self.encoder.encode(msg::CSID_CONTROL, 0, msg::ACKNOWLEDGEMENT, 0, &body, &mut self.out);
        }
        Ok(())
    }

    /// Send one media/data message on the published stream. Data payloads are AMF0 bodies
    /// (e.g. `@setDataFrame`, `onMetaData`, ecma array).
    pub fn send_media(&mut self, kind: MediaKind, timestamp: u32, payload: &[u8]) {
        let (csid, type_id) = match kind {
            MediaKind::Audio => (msg::CSID_AUDIO, msg::AUDIO),
            MediaKind::Video => (msg::CSID_VIDEO, msg::VIDEO),
            MediaKind::Data => (msg::CSID_DATA, msg::DATA_AMF0),
        };
        self.encoder.encode(csid, timestamp, type_id, self.stream_id, payload, &mut self.out);
    }

    /// Send FCUnpublish + deleteStream (clean end of publishing).
    pub fn stop(&mut self) {
        let name = AmfValue::String(self.stream_name.clone());
        self.command(0, "FCUnpublish", 6.0, &[name]);
        self.command(0, "deleteStream", 7.0, &[AmfValue::Number(self.stream_id as f64)]);
    }

    fn send_connect(&mut self) {
        let object = msg::object([
            ("app", AmfValue::String(self.app.clone())),
            ("type", AmfValue::String("nonprivate".into())),
            ("flashVer", AmfValue::String("FMLE/3.0 (compatible; klive-loadgen)".into())),
            ("tcUrl", AmfValue::String(self.tc_url.clone())),
        ]);
        let body = msg::command_body("connect", TXN_CONNECT, object, &[]);
        self.encoder.encode(msg::CSID_COMMAND, 0, msg::COMMAND_AMF0, 0, &body, &mut self.out);
    }

    fn command(&mut self, stream_id: u32, name: &str, txn: f64, args: &[AmfValue]) {
        let body = msg::command_body(name, txn, AmfValue::Null, args);
        self.encoder.encode(msg::CSID_COMMAND, 0, msg::COMMAND_AMF0, stream_id, &body, &mut self.out);
    }

    fn handle_message(&mut self, m: RawMessage) -> Result<(), SessionError> {
        match m.type_id {
            msg::SET_CHUNK_SIZE => {
                if let Some(size) = m.payload.get(..4) {
                    let size = u32::from_be_bytes(size.try_into().unwrap_or([0, 0, 0, 128])) & 0x7FFF_FFFF;
                    self.decoder.set_chunk_size(size)?;
                }
            }
            msg::WINDOW_ACK_SIZE => {
                if let Some(b) = m.payload.get(..4) {
                    self.peer_window = u32::from_be_bytes(b.try_into().unwrap_or([0; 4]));
                }
            }
            msg::USER_CONTROL => {
                if let Some(UserControl::PingRequest(t)) = UserControl::parse(&m.payload) {
                    let body = UserControl::PingResponse(t).encode();
                    self.encoder.encode(msg::CSID_CONTROL, 0, msg::USER_CONTROL, 0, &body, &mut self.out);
                }
            }
            msg::AUDIO => self.events.push_back(ClientEvent::Media { kind: MediaKind::Audio, timestamp: m.timestamp, payload: m.payload }),
            msg::VIDEO => self.events.push_back(ClientEvent::Media { kind: MediaKind::Video, timestamp: m.timestamp, payload: m.payload }),
            msg::DATA_AMF0 => self.events.push_back(ClientEvent::Media { kind: MediaKind::Data, timestamp: m.timestamp, payload: m.payload }),
            msg::COMMAND_AMF0 => {
                let values = amf0::decode_all(&m.payload).map_err(|source| SessionError::Amf { context: "command", source })?;
                self.handle_command(values);
            }
            _ => {}
        }
        Ok(())
    }

    fn handle_command(&mut self, values: Vec<AmfValue>) {
        let name = values.first().and_then(AmfValue::as_str).unwrap_or("");
        let txn = values.get(1).and_then(AmfValue::as_f64).unwrap_or(0.0);
        let info = values.get(3);
        let field = |key: &str| info.and_then(|i| i.get(key)).and_then(AmfValue::as_str).unwrap_or("").to_string();
        match name {
            "_result" if txn == TXN_CONNECT => {
                self.events.push_back(ClientEvent::Connected);
                let size = self.out_chunk_size;
                self.encoder.encode(msg::CSID_CONTROL, 0, msg::SET_CHUNK_SIZE, 0, &msg::u32_body(size), &mut self.out);
                self.encoder.set_chunk_size(size);
                if self.mode == ClientMode::Publish {
                    let name = AmfValue::String(self.stream_name.clone());
                    self.command(0, "releaseStream", 2.0, std::slice::from_ref(&name));
                    self.command(0, "FCPublish", 3.0, &[name]);
                }
                self.command(0, "createStream", TXN_CREATE_STREAM, &[]);
            }
            "_result" if txn == TXN_CREATE_STREAM => {
                self.stream_id = info.and_then(AmfValue::as_f64).unwrap_or(1.0) as u32;
                let name = AmfValue::String(self.stream_name.clone());
                match self.mode {
                    ClientMode::Publish => self.command(self.stream_id, "publish", 5.0, &[name, AmfValue::String("live".into())]),
                    ClientMode::Play => self.command(self.stream_id, "play", 5.0, &[name, AmfValue::Number(-1000.0)]),
                }
            }
            "_error" => self.events.push_back(ClientEvent::Refused { code: field("code"), description: field("description") }),
            "onStatus" => {
                let code = field("code");
                if field("level") == "error" {
                    self.events.push_back(ClientEvent::Refused { code, description: field("description") });
                } else if code == "NetStream.Publish.Start" {
                    self.events.push_back(ClientEvent::PublishStarted);
                } else if code == "NetStream.Play.Start" {
                    self.events.push_back(ClientEvent::PlayStarted);
                } else {
                    self.events.push_back(ClientEvent::Status { code });
                }
            }
            _ => {}
        }
    }
}
