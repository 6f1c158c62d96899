//! Enhanced RTMP (FourCC video) end to end over real sockets: an HEVC publisher's codec is
//! recognised and reported, and a player receives its tags byte for byte. ffmpeg 5.1 (Debian
//! 12) cannot publish enhanced RTMP, so both peers are the sans-IO client session driven here.

use klive_server_core::{Decision, MediaKind, Server, ServerConfig, ServerEvent};
use rtmp_proto::amf::{amf0, AmfValue};
use rtmp_proto::session::{ClientEvent, ClientMode, ClientSession};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::timeout;

const HVCC_720P: &[u8] = include_bytes!("../../media/testdata/hevc_720.hvcC");

struct Peer {
    socket: TcpStream,
    session: ClientSession,
    buf: Vec<u8>,
}

impl Peer {
    async fn connect(port: u16, mode: ClientMode, name: &str) -> Peer {
        let socket = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let tc_url = format!("rtmp://127.0.0.1:{port}/kLive");
        let session = ClientSession::new(mode, "kLive", &tc_url, name, [5u8; 1528], true);
        Peer { socket, session, buf: vec![0u8; 65536] }
    }

    async fn flush(&mut self) {
        let out = self.session.take_output();
        if !out.is_empty() {
            self.socket.write_all(&out).await.unwrap();
        }
    }

    /// Drive the connection until `want` matches an event; returns every event seen.
    async fn until(&mut self, want: impl Fn(&ClientEvent) -> bool) -> Vec<ClientEvent> {
        let mut seen = Vec::new();
        loop {
            self.flush().await;
            while let Some(e) = self.session.poll_event() {
                let done = want(&e);
                seen.push(e);
                if done {
                    self.flush().await;
                    return seen;
                }
            }
            let n = timeout(Duration::from_secs(5), self.socket.read(&mut self.buf)).await.expect("peer timed out").unwrap();
            assert!(n > 0, "server closed the connection; events so far: {seen:?}");
            self.session.handle_input(&self.buf[..n]).unwrap();
        }
    }
}

fn enhanced(frame_type: u8, packet_type: u8, body: &[u8]) -> Vec<u8> {
    let mut tag = vec![0x80 | frame_type << 4 | packet_type];
    tag.extend_from_slice(b"hvc1");
    tag.extend_from_slice(body);
    tag
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hevc_over_enhanced_rtmp_is_recognised_and_passed_through() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let config = ServerConfig { bind: "127.0.0.1:0".parse().unwrap(), ..ServerConfig::default() };
    let server = std::sync::Arc::new(Server::start(config, move |e| tx.send(e).unwrap()).await.unwrap());
    let port = server.local_addr().port();
    let (codec_tx, mut codec_rx) = mpsc::unbounded_channel();
    let decider = server.clone();
    tokio::spawn(async move {
        while let Some(event) = rx.recv().await {
            match event {
                ServerEvent::Connect { request_id, .. } | ServerEvent::Publish { request_id, .. } | ServerEvent::Play { request_id, .. } => {
                    decider.decide(request_id, Decision::accept());
                }
                ServerEvent::CodecInfo { video: Some(v), .. } => codec_tx.send(v).unwrap(),
                _ => {}
            }
        }
    });

    let mut publisher = Peer::connect(port, ClientMode::Publish, "hevc_1").await;
    publisher.until(|e| *e == ClientEvent::PublishStarted).await;
    let sequence_start = enhanced(1, 0, HVCC_720P);
    publisher.session.send_media(MediaKind::Video, 0, &sequence_start);
    publisher.flush().await;

    let video = timeout(Duration::from_secs(5), codec_rx.recv()).await.unwrap().unwrap();
    assert_eq!((video.codec.as_str(), video.width, video.height, video.enhanced), ("HEVC", 1280, 720, true));
    assert!(video.codec_string.as_deref().unwrap().starts_with("hvc1.1."), "{:?}", video.codec_string);

    let mut player = Peer::connect(port, ClientMode::Play, "hevc_1").await;
    player.until(|e| *e == ClientEvent::PlayStarted).await;

    // A keyframe (CodedFrames with a composition time), then inter frames (CodedFramesX).
    let mut sent = vec![enhanced(1, 1, &[0, 0, 0, 0, 0, 0, 1, 0x26, 0x01, 0xAF])];
    for i in 1..=5u8 {
        sent.push(enhanced(2, 3, &[0, 0, 0, 3, 0x02, 0x01, i]));
    }
    for (i, tag) in sent.iter().enumerate() {
        publisher.session.send_media(MediaKind::Video, 40 * (i as u32 + 1), tag);
    }
    publisher.flush().await;

    // Timed text rides along as a data message and must reach the player unchanged.
    let text = amf0::encode_all(&[AmfValue::String("onTextData".into()), AmfValue::Object(vec![("text".into(), AmfValue::String("caption 1".into()))])]);
    publisher.session.send_media(MediaKind::Data, 300, &text);
    publisher.flush().await;

    let last = text.clone();
    let events = player.until(|e| matches!(e, ClientEvent::Media { payload, .. } if payload.as_ref() == last.as_slice())).await;
    let received: Vec<Vec<u8>> = events
        .iter()
        .filter_map(|e| match e {
            ClientEvent::Media { kind: MediaKind::Video, payload, .. } => Some(payload.to_vec()),
            _ => None,
        })
        .collect();
    assert_eq!(received[0], sequence_start, "a late joiner first gets the sequence header");
    assert_eq!(&received[1..], &sent[..], "then every frame from the keyframe on, unchanged");
    assert!(events.iter().any(|e| matches!(e, ClientEvent::Media { kind: MediaKind::Data, payload, .. } if payload.as_ref() == text.as_slice())));

    server.shutdown(Duration::from_secs(2)).await;
}
