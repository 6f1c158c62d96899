//! In-memory client ↔ server tests (no sockets).

use super::*;
use crate::amf::amf0;
use proptest::prelude::*;

/// A client and a server session joined by in-memory pipes.
struct Pair {
    client: ClientSession,
    server: ServerSession,
    server_events: Vec<SessionEvent>,
    client_events: Vec<ClientEvent>,
}

impl Pair {
    fn new(mode: ClientMode, digest: bool) -> Pair {
        Pair {
            client: ClientSession::new(mode, "kLive", "rtmp://127.0.0.1/kLive", "0_abcdefgh_1", [7u8; 1528], digest),
            server: ServerSession::new(SessionConfig::default(), [9u8; 1528], 0),
            server_events: Vec::new(),
            client_events: Vec::new(),
        }
    }

    /// Move bytes both ways until both sides are quiet.
    fn drive(&mut self) {
        for _ in 0..64 {
            let to_server = self.client.take_output();
            let to_client = self.server.take_output();
            if to_server.is_empty() && to_client.is_empty() {
                break;
            }
            if !to_server.is_empty() {
                self.server.handle_input(&to_server).expect("server input");
            }
            if !to_client.is_empty() {
                self.client.handle_input(&to_client).expect("client input");
            }
            while let Some(e) = self.server.poll_event() {
                self.server_events.push(e);
            }
            while let Some(e) = self.client.poll_event() {
                self.client_events.push(e);
            }
        }
    }

    fn take_server_events(&mut self) -> Vec<SessionEvent> {
        std::mem::take(&mut self.server_events)
    }

    fn request_id(&self) -> u32 {
        self.server_events
            .iter()
            .rev()
            .find_map(|e| match e {
                SessionEvent::ConnectRequested(r) => Some(r.request_id),
                SessionEvent::PublishRequested { request_id, .. } | SessionEvent::PlayRequested { request_id, .. } => Some(*request_id),
                _ => None,
            })
            .expect("a pending request")
    }

    fn connect_and_publish(&mut self) {
        self.drive();
        let id = self.request_id();
        self.server.accept(id);
        self.drive();
        let id = self.request_id();
        self.server.accept(id);
        self.drive();
        assert!(self.client_events.contains(&ClientEvent::PublishStarted), "{:?}", self.client_events);
    }
}

#[test]
fn publish_flow_reports_connect_publish_and_media() {
    let mut pair = Pair::new(ClientMode::Publish, false);
    pair.drive();
    let events = pair.take_server_events();
    let SessionEvent::ConnectRequested(req) = &events[0] else { panic!("{events:?}") };
    assert_eq!(req.app, "kLive");
    assert_eq!(req.tc_url.as_deref(), Some("rtmp://127.0.0.1/kLive"));
    assert!(req.flash_ver.as_deref().unwrap().starts_with("FMLE/3.0"));
    pair.server.accept(req.request_id);
    pair.drive();
    assert!(pair.client_events.contains(&ClientEvent::Connected));
    let events = pair.take_server_events();
    let publish = events.iter().find_map(|e| match e {
        SessionEvent::PublishRequested { request_id, stream_id, stream_name, publish_type } => {
            Some((*request_id, *stream_id, stream_name.clone(), publish_type.clone()))
        }
        _ => None,
    });
    let (request_id, stream_id, name, kind) = publish.expect("publish requested");
    assert_eq!((stream_id, name.as_str(), kind.as_str()), (1, "0_abcdefgh_1", "live"));
    pair.server.accept(request_id);
    pair.drive();
    assert!(pair.client_events.contains(&ClientEvent::PublishStarted));

    let meta = amf0::encode_all(&[
        AmfValue::String("@setDataFrame".into()),
        AmfValue::String("onMetaData".into()),
        AmfValue::EcmaArray(vec![("width".into(), AmfValue::Number(1280.0))]),
    ]);
    pair.client.send_media(MediaKind::Data, 0, &meta);
    let frame = vec![0x17u8; 10_000];
    pair.client.send_media(MediaKind::Video, 40, &frame);
    pair.client.send_media(MediaKind::Audio, 42, &[0xAF, 0x01, 1, 2, 3]);
    pair.drive();
    let events = pair.take_server_events();
    match &events[0] {
        SessionEvent::Data { name, values, payload, .. } => {
            assert_eq!(name, "onMetaData");
            assert_eq!(values[1].get("width").and_then(AmfValue::as_f64), Some(1280.0));
            assert_eq!(amf0::decode_all(payload).unwrap()[0], AmfValue::String("onMetaData".into()));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(events[1], SessionEvent::Media { stream_id: 1, kind: MediaKind::Video, timestamp: 40, payload: Bytes::from(frame) });
    assert!(matches!(&events[2], SessionEvent::Media { kind: MediaKind::Audio, timestamp: 42, .. }));

    pair.client.stop();
    pair.drive();
    assert!(pair.take_server_events().contains(&SessionEvent::PublishStopped { stream_id: 1 }));
}

#[test]
fn digest_handshake_is_reported() {
    let mut pair = Pair::new(ClientMode::Publish, true);
    pair.drive();
    assert!(matches!(pair.server.handshake_kind(), Some(HandshakeKind::Digest { .. })));
}

#[test]
fn refused_connect_carries_the_description_and_closes() {
    let mut pair = Pair::new(ClientMode::Publish, false);
    pair.drive();
    let id = pair.request_id();
    pair.server.reject(id, "Missing argument: entryId", None);
    assert!(pair.server.is_closing());
    pair.drive();
    assert!(pair.client_events.contains(&ClientEvent::Refused {
        code: "NetConnection.Connect.Rejected".into(),
        description: "Missing argument: entryId".into()
    }));
}

#[test]
fn refused_publish_is_bad_name_by_default() {
    let mut pair = Pair::new(ClientMode::Publish, false);
    pair.drive();
    let id = pair.request_id();
    pair.server.accept(id);
    pair.drive();
    let id = pair.request_id();
    pair.server.reject(id, "stream name does not match the entry", None);
    pair.drive();
    assert!(pair.server.is_closing());
    assert!(pair.client_events.contains(&ClientEvent::Refused {
        code: "NetStream.Publish.BadName".into(),
        description: "stream name does not match the entry".into()
    }));
}

#[test]
fn an_accepted_publish_refused_later_gets_an_error_status_and_the_session_closes() {
    let mut pair = Pair::new(ClientMode::Publish, false);
    pair.connect_and_publish();
    let stream_id = pair
        .take_server_events()
        .iter()
        .find_map(|e| match e {
            SessionEvent::PublishRequested { stream_id, .. } => Some(*stream_id),
            _ => None,
        })
        .expect("a publish was requested");
    // Not publishing: nothing happens.
    pair.server.refuse_publishing(stream_id + 7, "no such stream", None);
    assert!(!pair.server.is_closing());
    pair.server.refuse_publishing(stream_id, "Ingest \"0_abcd1234_4\" is not in conversion profile", None);
    assert!(pair.server.is_closing());
    pair.drive();
    assert!(pair.client_events.contains(&ClientEvent::Refused {
        code: "NetStream.Publish.BadName".into(),
        description: "Ingest \"0_abcd1234_4\" is not in conversion profile".into()
    }));
}

#[test]
fn media_before_publish_is_accepted_is_dropped() {
    let mut pair = Pair::new(ClientMode::Publish, false);
    pair.drive();
    let id = pair.request_id();
    pair.server.accept(id);
    pair.drive();
    pair.client.send_media(MediaKind::Video, 0, &[0x17, 0, 0, 0, 0]);
    pair.drive();
    assert!(!pair.take_server_events().iter().any(|e| matches!(e, SessionEvent::Media { .. })));
}

#[test]
fn play_flow_delivers_media_to_the_player() {
    let mut pair = Pair::new(ClientMode::Play, false);
    pair.drive();
    let id = pair.request_id();
    pair.server.accept(id);
    pair.drive();
    let events = pair.take_server_events();
    let (request_id, stream_id) = events
        .iter()
        .find_map(|e| match e {
            SessionEvent::PlayRequested { request_id, stream_id, stream_name } => {
                assert_eq!(stream_name, "0_abcdefgh_1");
                Some((*request_id, *stream_id))
            }
            _ => None,
        })
        .expect("play requested");
    pair.server.accept(request_id);
    pair.server.send_media(stream_id, MediaKind::Video, 1000, &[0x17, 1, 0, 0, 0, 9, 9]);
    pair.drive();
    assert!(pair.client_events.contains(&ClientEvent::PlayStarted));
    assert!(pair.client_events.iter().any(|e| matches!(e,
        ClientEvent::Media { kind: MediaKind::Video, timestamp: 1000, payload } if payload.as_ref() == [0x17, 1, 0, 0, 0, 9, 9])));
    pair.server.send_play_end(stream_id, "0_abcdefgh_1");
    pair.drive();
    assert!(pair.client_events.contains(&ClientEvent::Status { code: "NetStream.Play.UnpublishNotify".into() }));
}

/// Builds raw chunks by hand for messages the client session does not send.
fn raw(server: &mut ServerSession, csid: u32, type_id: u8, stream_id: u32, timestamp: u32, body: &[u8]) -> Result<(), SessionError> {
    let mut enc = ChunkEncoder::new();
    enc.set_chunk_size(4096);
    let mut out = Vec::new();
    // Announce our chunk size first so the server decodes big bodies.
    enc.encode(2, 0, msg::SET_CHUNK_SIZE, 0, &msg::u32_body(4096), &mut out);
    let mut enc = ChunkEncoder::new();
    enc.set_chunk_size(4096);
    let mut body_out = Vec::new();
    enc.encode(csid + 10, timestamp, type_id, stream_id, body, &mut body_out);
    out.extend_from_slice(&body_out);
    server.handle_input(&out)
}

#[test]
fn aggregate_message_is_split_into_tags() {
    let mut pair = Pair::new(ClientMode::Publish, false);
    pair.connect_and_publish();
    pair.take_server_events();
    let mut agg = Vec::new();
    for (i, (tag, ts)) in [(9u8, 5000u32), (8, 5010), (9, 5033)].iter().enumerate() {
        let data = vec![if *tag == 9 { 0x27 } else { 0xAF }, 1, i as u8];
        agg.push(*tag);
        agg.extend_from_slice(&(data.len() as u32).to_be_bytes()[1..]);
        agg.extend_from_slice(&ts.to_be_bytes()[1..]);
        agg.push((ts >> 24) as u8);
        agg.extend_from_slice(&[0, 0, 0]);
        agg.extend_from_slice(&data);
        agg.extend_from_slice(&(11 + data.len() as u32).to_be_bytes());
    }
    raw(&mut pair.server, 4, msg::AGGREGATE, 1, 100, &agg).unwrap();
    let mut got = Vec::new();
    while let Some(SessionEvent::Media { kind, timestamp, payload, .. }) = pair.server.poll_event() {
        got.push((kind, timestamp, payload[2]));
    }
    assert_eq!(got, vec![(MediaKind::Video, 100, 0), (MediaKind::Audio, 110, 1), (MediaKind::Video, 133, 2)]);
}

#[test]
fn aggregate_with_overrunning_tag_is_an_error() {
    let mut pair = Pair::new(ClientMode::Publish, false);
    pair.connect_and_publish();
    let agg = [9u8, 0, 0, 50, 0, 0, 0, 0, 0, 0, 0, 1, 2];
    assert!(matches!(raw(&mut pair.server, 4, msg::AGGREGATE, 1, 0, &agg), Err(SessionError::Protocol(_))));
}

#[test]
fn amf3_connect_is_understood() {
    let mut server = ServerSession::new(SessionConfig::default(), [1u8; 1528], 0);
    let mut client = crate::handshake::ClientHandshake::new([2u8; 1528], 0, false);
    let c01 = client.start();
    server.handle_input(&c01).unwrap();
    let s012 = server.take_output();
    let HandshakeProgress::Completed { response, .. } = client.handle_input(&s012).unwrap() else { panic!() };
    server.handle_input(&response).unwrap();
    let mut body = vec![0u8];
    body.extend(amf0::encode_all(&[
        AmfValue::String("connect".into()),
        AmfValue::Number(1.0),
        msg::object([("app", AmfValue::String("kLive".into())), ("objectEncoding", AmfValue::Number(3.0))]),
    ]));
    raw(&mut server, 3, msg::COMMAND_AMF3, 0, 0, &body).unwrap();
    match server.poll_event() {
        Some(SessionEvent::ConnectRequested(r)) => {
            assert_eq!(r.app, "kLive");
            assert_eq!(r.object_encoding, 3.0);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn unknown_command_gets_an_error_reply_and_session_continues() {
    let mut pair = Pair::new(ClientMode::Publish, false);
    pair.connect_and_publish();
    pair.take_server_events();
    let body = msg::command_body("someVendorCall", 42.0, AmfValue::Null, &[]);
    raw(&mut pair.server, 3, msg::COMMAND_AMF0, 0, 0, &body).unwrap();
    assert_eq!(pair.server.poll_event(), Some(SessionEvent::UnknownCommand { name: "someVendorCall".into() }));
    let out = pair.server.take_output();
    let text = String::from_utf8_lossy(&out);
    assert!(text.contains("_error") && text.contains("Method not found (someVendorCall)."));
    assert!(!pair.server.is_closing());
}

#[test]
fn command_before_connect_is_a_protocol_error() {
    let mut server = ServerSession::new(SessionConfig::default(), [1u8; 1528], 0);
    let mut client = crate::handshake::ClientHandshake::new([2u8; 1528], 0, false);
    server.handle_input(&client.start()).unwrap();
    let HandshakeProgress::Completed { response, .. } = client.handle_input(&server.take_output()).unwrap() else { panic!() };
    server.handle_input(&response).unwrap();
    let body = msg::command_body("createStream", 2.0, AmfValue::Null, &[]);
    assert!(matches!(raw(&mut server, 3, msg::COMMAND_AMF0, 0, 0, &body), Err(SessionError::Protocol(_))));
}

#[test]
fn invalid_amf_in_a_command_is_an_error() {
    let mut pair = Pair::new(ClientMode::Publish, false);
    pair.connect_and_publish();
    assert!(matches!(raw(&mut pair.server, 3, msg::COMMAND_AMF0, 0, 0, &[0x02, 0xFF, 0xFF, b'a']), Err(SessionError::Amf { .. })));
}

#[test]
fn ping_round_trip_and_acknowledgements() {
    let mut pair = Pair::new(ClientMode::Publish, false);
    pair.connect_and_publish();
    pair.take_server_events();
    pair.server.send_ping(123_456);
    pair.drive();
    assert!(pair.take_server_events().contains(&SessionEvent::PingResponse { timestamp: 123_456 }));

    // Client announces a small window: the server must acknowledge.
    raw(&mut pair.server, 2, msg::WINDOW_ACK_SIZE, 0, 0, &msg::u32_body(1000)).unwrap();
    pair.server.take_output();
    pair.client.send_media(MediaKind::Video, 0, &[0x27; 1500]);
    let bytes = pair.client.take_output();
    pair.server.handle_input(&bytes).unwrap();
    // The acknowledgement goes out on the control chunk stream with a compressed header
    // (csid 2 last carried a 4-byte Acknowledgement-sized message): fmt 2 = [0x82, ts×3] + body.
    let out = pair.server.take_output();
    assert_eq!(out.len(), 8, "{out:?}");
    assert_eq!(out[0], 0x82);
    assert_eq!(u32::from_be_bytes(out[4..8].try_into().unwrap()) as u64, pair.server.bytes_received());
}

#[test]
fn create_stream_is_limited() {
    let mut pair = Pair::new(ClientMode::Publish, false);
    pair.connect_and_publish();
    for i in 0..10 {
        let body = msg::command_body("createStream", 10.0 + i as f64, AmfValue::Null, &[]);
        raw(&mut pair.server, 3, msg::COMMAND_AMF0, 0, 0, &body).unwrap();
    }
    let out = String::from_utf8_lossy(&pair.server.take_output()).to_string();
    assert!(out.contains("Too many streams"));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, .. ProptestConfig::default() })]

    /// After a valid handshake and connect, arbitrary bytes never panic the session.
    #[test]
    fn arbitrary_input_after_connect_never_panics(junk in proptest::collection::vec(any::<u8>(), 0..1500)) {
        let mut pair = Pair::new(ClientMode::Publish, false);
        pair.connect_and_publish();
        let _ = pair.server.handle_input(&junk);
        let _ = pair.server.take_output();
    }

    /// Arbitrary bytes from the very first byte never panic the session.
    #[test]
    fn arbitrary_input_from_start_never_panics(junk in proptest::collection::vec(any::<u8>(), 0..4000)) {
        let mut server = ServerSession::new(SessionConfig::default(), [0u8; 1528], 0);
        for piece in junk.chunks(700) {
            if server.handle_input(piece).is_err() { break; }
        }
    }
}

#[test]
fn commands_pipelined_behind_connect_wait_for_the_decision() {
    let mut server = ServerSession::new(SessionConfig::default(), [1u8; 1528], 0);
    let mut client = crate::handshake::ClientHandshake::new([2u8; 1528], 0, false);
    server.handle_input(&client.start()).unwrap();
    let HandshakeProgress::Completed { response, .. } = client.handle_input(&server.take_output()).unwrap() else { panic!() };
    let mut enc = ChunkEncoder::new();
    let mut wire = response;
    let connect = msg::command_body("connect", 1.0, msg::object([("app", AmfValue::String("kLive".into()))]), &[]);
    enc.encode(3, 0, msg::COMMAND_AMF0, 0, &connect, &mut wire);
    enc.encode(3, 0, msg::COMMAND_AMF0, 0, &msg::command_body("createStream", 2.0, AmfValue::Null, &[]), &mut wire);
    server.handle_input(&wire).unwrap();
    let Some(SessionEvent::ConnectRequested(req)) = server.poll_event() else { panic!() };
    assert_eq!(server.poll_event(), None, "createStream waits for the connect decision");
    server.take_output();
    server.accept(req.request_id);
    server.resume().unwrap();
    let out = String::from_utf8_lossy(&server.take_output()).to_string();
    assert!(out.contains("NetConnection.Connect.Success"));
    assert_eq!(out.matches("_result").count(), 2, "connect and createStream both answered");
}

/// A server session past the handshake (no connect yet).
fn handshaken() -> ServerSession {
    let mut server = ServerSession::new(SessionConfig::default(), [1u8; 1528], 0);
    let mut client = crate::handshake::ClientHandshake::new([2u8; 1528], 0, false);
    server.handle_input(&client.start()).unwrap();
    let HandshakeProgress::Completed { response, .. } = client.handle_input(&server.take_output()).unwrap() else { panic!() };
    server.handle_input(&response).unwrap();
    server.take_output();
    server
}

#[test]
fn before_authorization_a_message_over_64_kib_closes_the_connection() {
    let mut server = handshaken();
    let big = "x".repeat(100 * 1024);
    let connect = msg::command_body("connect", 1.0, msg::object([("app", AmfValue::String(big))]), &[]);
    let err = raw(&mut server, 3, msg::COMMAND_AMF0, 0, 0, &connect).unwrap_err();
    assert!(matches!(err, SessionError::Chunk(ChunkError::MessageTooLarge { limit: 65536, .. })), "{err}");
}

#[test]
fn announced_lengths_cost_nothing_until_the_bytes_arrive() {
    let mut server = handshaken();
    // Eight chunk streams each announce a 64 KiB message and send one 128-byte chunk of it.
    let mut wire = Vec::new();
    for csid in 3..11u8 {
        wire.extend_from_slice(&[csid, 0, 0, 0, 0x00, 0xFF, 0xFF, msg::COMMAND_AMF0, 0, 0, 0, 0]);
        wire.extend_from_slice(&[0u8; 128]);
    }
    server.handle_input(&wire).unwrap();
    assert_eq!(server.buffered_input(), 8 * 128);
    // A ninth chunk stream is over the pre-authorization limit.
    let err = server.handle_input(&[11, 0, 0, 0, 0, 0, 5, msg::COMMAND_AMF0, 0, 0, 0, 0]).unwrap_err();
    assert!(matches!(err, SessionError::Chunk(ChunkError::TooManyChunkStreams(8))), "{err}");
}

#[test]
fn partial_messages_together_may_not_exceed_64_kib_before_authorization() {
    let mut server = handshaken();
    raw(&mut server, 3, msg::SET_CHUNK_SIZE, 0, 0, &msg::u32_body(40_000)).unwrap();
    let mut wire = Vec::new();
    for csid in 4..6u8 {
        // Announce 65535 bytes, send 40000 of them.
        wire.extend_from_slice(&[csid, 0, 0, 0, 0x00, 0xFF, 0xFF, msg::COMMAND_AMF0, 0, 0, 0, 0]);
        wire.extend_from_slice(&vec![0u8; 40_000]);
    }
    let err = server.handle_input(&wire).unwrap_err();
    assert!(matches!(err, SessionError::Chunk(ChunkError::PartialBytesExceeded(65536))), "{err}");
}

#[test]
fn amf_decoding_before_authorization_has_an_absolute_budget() {
    let mut server = handshaken();
    // 10000 empty objects: 40 KB on the wire, far more than 256 KiB once decoded.
    let mut body = amf0::encode_all(&[AmfValue::String("connect".into()), AmfValue::Number(1.0)]);
    body.push(0x0A); // strict array
    body.extend_from_slice(&10000u32.to_be_bytes());
    for _ in 0..10000 {
        body.extend_from_slice(&[0x03, 0, 0, 0x09]);
    }
    let err = raw(&mut server, 3, msg::COMMAND_AMF0, 0, 0, &body).unwrap_err();
    assert!(matches!(err, SessionError::Amf { source: AmfError::TooLarge, .. }), "{err}");
}

#[test]
fn client_strings_are_capped() {
    let mut server = handshaken();
    let long = "a".repeat(5000);
    let connect = msg::command_body(
        "connect",
        1.0,
        msg::object([("app", AmfValue::String("kLive".into())), ("flashVer", AmfValue::String(long.clone())), ("tcUrl", AmfValue::String(long))]),
        &[],
    );
    raw(&mut server, 3, msg::COMMAND_AMF0, 0, 0, &connect).unwrap();
    let Some(SessionEvent::ConnectRequested(req)) = server.poll_event() else { panic!() };
    assert_eq!(req.flash_ver.as_deref().map(str::len), Some(1024 + "…".len()));
    assert!(req.tc_url.unwrap().ends_with("a…"));
    assert_eq!(cap_string("héllo", 2), "h…");
}

#[test]
fn unknown_commands_are_reported_a_few_times_and_close_the_connection_past_a_limit() {
    let mut server = handshaken();
    let connect = msg::command_body("connect", 1.0, msg::object([("app", AmfValue::String("kLive".into()))]), &[]);
    raw(&mut server, 3, msg::COMMAND_AMF0, 0, 0, &connect).unwrap();
    let Some(SessionEvent::ConnectRequested(req)) = server.poll_event() else { panic!() };
    server.accept(req.request_id);
    let mut result = Ok(());
    let mut sent = 0;
    while result.is_ok() && sent < 100 {
        sent += 1;
        result = raw(&mut server, 3, msg::COMMAND_AMF0, 0, 0, &msg::command_body("junk", 0.0, AmfValue::Null, &[]));
    }
    assert_eq!(sent, 17, "the 17th unknown command before publish closes the connection");
    assert!(matches!(result, Err(SessionError::Protocol(_))));
    let mut reported = 0;
    while let Some(e) = server.poll_event() {
        reported += matches!(e, SessionEvent::UnknownCommand { .. }) as u32;
    }
    assert_eq!(reported, 4);
    assert_eq!(server.unknown_commands(), 17);
}

#[test]
fn an_accepted_publisher_gets_the_full_message_limit() {
    let mut pair = Pair::new(ClientMode::Publish, false);
    pair.connect_and_publish();
    assert!(pair.server.is_authorized());
    pair.take_server_events();
    let frame = vec![0x17u8; 1_000_000];
    raw(&mut pair.server, 6, msg::VIDEO, 1, 40, &frame).unwrap();
    let got = std::iter::from_fn(|| pair.server.poll_event()).find(|e| matches!(e, SessionEvent::Media { .. }));
    assert!(matches!(got, Some(SessionEvent::Media { payload, .. }) if payload.len() == 1_000_000));
}
