//! Writes the hand-made seed inputs of every fuzz target into `fuzz/seeds/<target>/`:
//! valid protocol exchanges built with the project's own encoders and the real encoder
//! output in `crates/media/testdata`, each with the harness's leading control bytes.
//! `scripts/fuzz.sh --seed` runs it, fuzzes from these seeds and minimises the result
//! into `fuzz/corpus/` (see the README's "Fuzzing" section).
//!
//! Run: `cargo run --manifest-path fuzz/Cargo.toml --example make_seeds`

use bytes::Bytes;
use media::flv::{self, FlvReader};
use media::mp4::{Mp4Muxer, Sample, TrackConfig};
use media::video;
use rtmp_proto::amf::{amf0, amf3, AmfValue};
use rtmp_proto::chunk::ChunkEncoder;
use rtmp_proto::handshake::{ClientHandshake, HANDSHAKE_SIZE, RANDOM_SIZE};
use rtmp_proto::message;
use rtmp_proto::session::{ClientMode, ClientSession, MediaKind, ServerSession, SessionConfig};
use std::path::{Path, PathBuf};

const TESTDATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../crates/media/testdata");

fn testdata(name: &str) -> Vec<u8> {
    std::fs::read(Path::new(TESTDATA).join(name)).expect("crates/media/testdata file")
}

struct Seeds {
    root: PathBuf,
}

impl Seeds {
    fn put(&self, target: &str, name: &str, parts: &[&[u8]]) {
        let dir = self.root.join(target);
        std::fs::create_dir_all(&dir).expect("create seed directory");
        std::fs::write(dir.join(name), parts.concat()).expect("write seed");
    }
}

/// The media tags of the small test FLV (H.264 + AAC from ffmpeg).
fn flv_tags() -> Vec<flv::FlvTag> {
    let mut reader = FlvReader::new();
    reader.push(&testdata("small_flv.bin"));
    std::iter::from_fn(|| reader.next_tag().expect("test FLV parses")).collect()
}

/// The client's bytes of a whole publish (or play) exchange against a real server session
/// that accepts everything, without the client's handshake (the session harness prepends
/// its own).
fn client_stream(mode: ClientMode, with_media: bool, chunk_size: u32) -> Vec<u8> {
    let mut client = ClientSession::new(mode, "live", "rtmp://127.0.0.1/live", "0_abcdef12_1?t=token", [1; RANDOM_SIZE], false);
    client.set_out_chunk_size(chunk_size);
    let mut server = ServerSession::new(SessionConfig::default(), [2; RANDOM_SIZE], 0);
    let mut sent = Vec::new();
    let mut media_sent = false;
    for _ in 0..20 {
        let c = client.take_output();
        sent.extend_from_slice(&c);
        server.handle_input(&c).expect("server takes the client's bytes");
        while let Some(e) = server.poll_event() {
            use rtmp_proto::session::SessionEvent::*;
            match e {
                ConnectRequested(r) => server.accept(r.request_id),
                PublishRequested { request_id, .. } | PlayRequested { request_id, .. } => server.accept(request_id),
                _ => {}
            }
            server.resume().expect("resume");
        }
        client.handle_input(&server.take_output()).expect("client takes the server's bytes");
        while let Some(e) = client.poll_event() {
            if e == rtmp_proto::session::ClientEvent::PublishStarted && with_media && !media_sent {
                media_sent = true;
                let meta = amf0::encode_all(&[
                    AmfValue::String("@setDataFrame".into()),
                    AmfValue::String("onMetaData".into()),
                    AmfValue::EcmaArray(vec![("width".into(), AmfValue::Number(320.0)), ("encoder".into(), AmfValue::String("Lavf".into()))]),
                ]);
                client.send_media(MediaKind::Data, 0, &meta);
                for tag in flv_tags().iter().take(12) {
                    let kind = match tag.tag_type {
                        flv::TAG_AUDIO => MediaKind::Audio,
                        flv::TAG_VIDEO => MediaKind::Video,
                        _ => continue,
                    };
                    client.send_media(kind, tag.timestamp, &tag.data);
                }
                client.stop();
            }
        }
    }
    sent.drain(..1 + 2 * HANDSHAKE_SIZE);
    sent
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds");
    let _ = std::fs::remove_dir_all(&root);
    let seeds = Seeds { root };

    // Handshake: plain and digest C0+C1 from the project's client, C2, and a first chunk.
    let mut c2 = vec![0u8; HANDSHAKE_SIZE];
    c2[..4].copy_from_slice(&[0, 0, 0, 9]);
    for (i, digest) in [false, true].into_iter().enumerate() {
        let c0c1 = ClientHandshake::new([7; RANDOM_SIZE], 5, digest).start();
        seeds.put("handshake", &format!("client-{i}-whole"), &[&[0], &c0c1, &c2, &[0x03, 0, 0]]);
        seeds.put("handshake", &format!("client-{i}-pieces"), &[&[200], &c0c1, &c2]);
    }
    // S0 S1 S2 of our server, for the client side.
    let mut server = ServerSession::new(SessionConfig::default(), [9; RANDOM_SIZE], 0);
    let digest_c0c1 = ClientHandshake::new([7; RANDOM_SIZE], 5, true).start();
    server.handle_input(&digest_c0c1).expect("digest C1");
    seeds.put("handshake", "server-reply-digest", &[&[0], &server.take_output()]);

    // Chunk streams: commands, media split across chunks, extended timestamps, fmt 1-3
    // headers, a large chunk stream id, Set Chunk Size and Abort.
    let mut enc = ChunkEncoder::new();
    let mut out = Vec::new();
    let connect = message::command_body("connect", 1.0, message::object([("app", AmfValue::String("live".into()))]), &[]);
    enc.encode(3, 0, message::COMMAND_AMF0, 0, &connect, &mut out);
    enc.encode(2, 0, message::SET_CHUNK_SIZE, 0, &message::u32_body(300), &mut out);
    enc.set_chunk_size(300);
    let tags = flv_tags();
    for (i, tag) in tags.iter().take(10).enumerate() {
        enc.encode(4 + (i as u32 % 2), tag.timestamp + 0x00FF_FFF0 * (i as u32 / 5), tag.tag_type, 1, &tag.data, &mut out);
    }
    enc.encode(320, 5, message::AUDIO, 1, &[0xAF, 1, 2, 3], &mut out);
    enc.encode(70_000, 5, message::VIDEO, 1, &[0x17, 1, 0, 0, 0], &mut out);
    enc.encode(2, 0, message::ABORT, 0, &message::u32_body(4), &mut out);
    seeds.put("chunk", "mixed-whole", &[&[255, 0, 128], &out]);
    seeds.put("chunk", "mixed-pieces", &[&[13, 0, 128], &out]);

    // AMF0: a connect and a publish body, onMetaData, every type the decoder knows.
    seeds.put("amf0", "connect", &[&connect]);
    let all = vec![
        AmfValue::Number(1.5),
        AmfValue::Boolean(true),
        AmfValue::String("s".into()),
        AmfValue::Object(vec![("a".into(), AmfValue::Null), ("b".into(), AmfValue::Undefined)]),
        AmfValue::EcmaArray(vec![("duration".into(), AmfValue::Number(0.0))]),
        AmfValue::StrictArray(vec![AmfValue::Number(2.0), AmfValue::String("x".repeat(70_000))]),
        AmfValue::Date { millis: 1.7e12, timezone: 0 },
    ];
    seeds.put("amf0", "all-types", &[&amf0::encode_all(&all)]);
    let publish = message::command_body("publish", 5.0, AmfValue::Null, &[AmfValue::String("name?t=1".into()), AmfValue::String("live".into())]);
    seeds.put("amf0", "publish", &[&publish]);
    // Hand-written: reference (0x07), typed object (0x10), XML (0x0F), AMF3 switch (0x11).
    seeds.put("amf0", "references", &[&[0x03, 0, 1, b'a', 0x07, 0, 0, 0, 0, 9, 0x10, 0, 1, b'T', 0, 0, 9, 0x0F, 0, 0, 0, 1, b'<', 0x11, 0x04, 0x05]]);

    // AMF3: every value the encoder writes, plus hand-written references and traits.
    for (i, v) in all.iter().enumerate() {
        let mut b = Vec::new();
        amf3::encode(v, &mut b);
        seeds.put("amf3", &format!("value-{i}"), &[&b]);
    }
    seeds.put("amf3", "refs-traits", &[&[0x0A, 0x0B, 0x01, 0x03, b'a', 0x04, 0x01, 0x01, 0x09, 0x05, 0x01, 0x0A, 0x00, 0x0A, 0x02, 0x06, 0x00, 0x06, 0x03, b'z']]);
    seeds.put("amf3", "message-body", &[&[0x00], &connect]);
    seeds.put("amf3", "message-body-amf3", &[&[0x00, 0x02, 0, 4, b'p', b'l', b'a', b'y', 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0x11, 0x06, 0x05, b'h', b'i']]);

    // Session: whole publish and play exchanges; accept all, and refuse publish.
    let publish_stream = client_stream(ClientMode::Publish, true, 4096);
    seeds.put("session", "publish-accept", &[&[0, 255], &publish_stream]);
    seeds.put("session", "publish-refuse", &[&[2, 60], &publish_stream]);
    seeds.put("session", "publish-small-chunks", &[&[0, 255], &client_stream(ClientMode::Publish, true, 128)]);
    seeds.put("session", "play-accept", &[&[0, 255], &client_stream(ClientMode::Play, false, 4096)]);

    // FLV: the whole test file, in one piece and in pieces, and bare tags.
    let small = testdata("small_flv.bin");
    seeds.put("flv", "small-whole", &[&[255, 0], &small]);
    seeds.put("flv", "small-pieces", &[&[6, 0], &small[..small.len().min(4000)]]);
    seeds.put("flv", "bare-tags", &[&[255, 0x80], &small[13..small.len().min(2000)]]);

    // AVC / HEVC: the records and their first SPS.
    for name in ["h264_360.seq", "h264_1080p5994.seq", "h264_444.seq", "h264_hi10.seq", "h264_interlaced.seq"] {
        let seq = testdata(name);
        let record = video::sequence_header_payload(&seq).expect("sequence header");
        seeds.put("avc", name, &[&[0], record]);
        let cfg = media::avc::parse_avc_decoder_config(record).expect("record parses");
        seeds.put("avc", &format!("{name}.sps"), &[&[1], &cfg.sps[0]]);
    }
    for name in ["hevc_360.hvcC", "hevc_1918_10bit.hvcC", "hevc_444.hvcC", "hevc_422_10bit.hvcC"] {
        let record = testdata(name);
        seeds.put("hevc", name, &[&[0], &record]);
        let cfg = media::hevc::parse_hevc_decoder_config(&record).expect("record parses");
        seeds.put("hevc", &format!("{name}.sps"), &[&[1], &cfg.sps[0]]);
    }

    // AAC: AudioSpecificConfigs (LC, HE-AAC with explicit SBR, a PCE), and audio tags.
    for (i, asc) in [&[0x12u8, 0x10][..], &[0x11, 0x88, 0x56, 0xE5, 0x00], &[0x2B, 0x92, 0x08, 0x00], &[0x11, 0x80, 0x04, 0xC8, 0x44, 0x00, 0x20, 0x00, 0xC4, 0x0D, 0x4C, 0x61]]
        .iter()
        .enumerate()
    {
        seeds.put("aac", &format!("asc-{i}"), &[asc]);
    }
    if let Some(tag) = tags.iter().find(|t| t.tag_type == flv::TAG_AUDIO) {
        seeds.put("aac", "flv-audio-tag", &[&tag.data]);
    }

    // MP4: a recording of the test FLV written by the muxer, whole and torn.
    let avc_record = video::sequence_header_payload(&testdata("h264_360.seq")).expect("record").to_vec();
    let mut muxer = Mp4Muxer::new(&[TrackConfig::H264(Bytes::from(avc_record)), TrackConfig::Aac(Bytes::from_static(&[0x12, 0x10]))]).expect("muxer");
    let mut file = muxer.init_segment();
    for (i, tag) in tags.iter().enumerate() {
        let (track, data) = match tag.tag_type {
            flv::TAG_VIDEO if tag.data.len() > 5 && tag.data[1] == 1 => (0, tag.data.slice(5..)),
            flv::TAG_AUDIO if tag.data.len() > 2 && tag.data[1] == 1 => (1, tag.data.slice(2..)),
            _ => continue,
        };
        let keyframe = track == 1 || tag.data[0] >> 4 == 1;
        muxer.push(track, Sample { dts_ms: tag.timestamp as i64, pts_ms: tag.timestamp as i64, keyframe, data }).expect("push");
        if i % 8 == 7 {
            if let Some(f) = muxer.fragment() {
                file.extend_from_slice(&f);
            }
        }
    }
    if let Some(f) = muxer.finish() {
        file.extend_from_slice(&f);
    }
    assert!(muxer.duration_patch().apply(&mut file));
    seeds.put("mp4_recover", "recording", &[&file]);
    seeds.put("mp4_recover", "recording-torn", &[&file[..file.len() * 2 / 3]]);

    // MP4 muxer input: fixed tracks with a few samples, and a record from the input.
    let sample = |flags: u8, step: i16, len: u8| {
        let mut v = vec![flags];
        v.extend_from_slice(&step.to_be_bytes());
        v.extend_from_slice(&[40, 0, len]);
        v.extend(std::iter::repeat_n(0x65, usize::from(len)));
        v
    };
    let steps: Vec<u8> = [sample(2, 0, 20), sample(1, 0, 8), sample(0, 33, 10), sample(1, 21, 8), sample(6, 33, 30), sample(1, -5, 4), sample(0, 33, 3)].concat();
    seeds.put("mp4_mux", "fixed-tracks", &[&[0], &steps]);
    let record = video::sequence_header_payload(&testdata("h264_360.seq")).expect("record").to_vec();
    seeds.put("mp4_mux", "input-record", &[&[1, record.len() as u8], &record, &steps]);

    // TS muxer input: AVCC frames (4-byte lengths), with parameter sets, raw AAC, ID3.
    let mut ts_in = vec![0b0001_1110u8];
    let mut write = |kind: u8, body: &[u8]| {
        ts_in.push(kind);
        ts_in.extend_from_slice(&(body.len() as u16).to_be_bytes());
        ts_in.extend_from_slice(body);
    };
    for tag in tags.iter().take(16) {
        match tag.tag_type {
            flv::TAG_VIDEO if tag.data.len() > 5 && tag.data[1] == 1 => write(if tag.data[0] >> 4 == 1 { 0x19 } else { 0x10 }, &tag.data[5..]),
            flv::TAG_AUDIO if tag.data.len() > 2 && tag.data[1] == 1 => write(0x0B, &tag.data[2..]),
            _ => {}
        }
    }
    write(0x0D, &media::ts::convert::id3_text_tag("fuzz"));
    write(0x07, &[]);
    write(0x0A, &[0, 0, 0, 1, 0x09, 0xF0, 0, 0, 1, 0x65, 0x88]);
    seeds.put("ts_mux", "av-id3", &[&ts_in]);
}
