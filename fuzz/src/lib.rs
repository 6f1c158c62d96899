//! The fuzz harnesses of klive-server, one function per cargo-fuzz target.
//!
//! Every function takes the raw fuzzer input and drives one sans-IO parser of
//! `rtmp-proto` or `media` the way the server drives it, so the same code runs under
//! libFuzzer (`fuzz_targets/*.rs`, nightly, `scripts/fuzz.sh`) and as a plain test that
//! replays the committed corpus (`tests/corpus.rs`, stable). Besides "no panic, no
//! out-of-memory, no hang", each harness asserts properties a caller relies on (output
//! that parses back, lengths within the input); a failed assertion is a crash like any
//! other.
//!
//! Input layout: most harnesses spend the first byte or two on choices (piece sizes,
//! a codec, a decision) so that one corpus file fully determines a run.

use bytes::Bytes;
use media::{aac, audio, avc, flv, hevc, mp4, ts, video};
use rtmp_proto::amf::{amf0, amf3, AmfError, AmfValue};
use rtmp_proto::chunk::{ChunkDecoder, ChunkLimits};
use rtmp_proto::handshake::{ClientHandshake, HandshakeProgress, ServerHandshake, HANDSHAKE_SIZE, RANDOM_SIZE};
use rtmp_proto::session::{MediaKind, ServerSession, SessionConfig, SessionEvent};

/// Every fuzz target, in the order `scripts/fuzz.sh` runs them.
pub const TARGETS: &[(&str, fn(&[u8]))] = &[
    ("handshake", handshake),
    ("chunk", chunk),
    ("amf0", amf0),
    ("amf3", amf3),
    ("session", session),
    ("flv", flv),
    ("avc", avc),
    ("hevc", hevc),
    ("aac", aac),
    ("mp4_recover", mp4_recover),
    ("mp4_mux", mp4_mux),
    ("ts_mux", ts_mux),
];

/// Splits `data` into pieces whose sizes cycle through `sizes` (each 1..=256), the way a
/// socket hands over bytes in arbitrary reads. An empty `sizes` yields the whole input.
fn pieces<'a>(data: &'a [u8], sizes: &'a [u8]) -> impl Iterator<Item = &'a [u8]> + 'a {
    let mut rest = data;
    let mut i = 0;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let n = if sizes.is_empty() { rest.len() } else { usize::from(sizes[i % sizes.len()]) + 1 };
        i += 1;
        let (head, tail) = rest.split_at(n.min(rest.len()));
        rest = tail;
        Some(head)
    })
}

/// Handshake, both sides. Byte 0: piece size (0 = all at once); the rest is what the peer
/// sends. The server answers S0+S1+S2 (3073 bytes) exactly once, after exactly 1537 bytes,
/// and completes after 1536 more, handing back the rest untouched.
pub fn handshake(data: &[u8]) {
    let Some((&split, input)) = data.split_first() else { return };
    let sizes = [split.wrapping_sub(1)];
    let sizes: &[u8] = if split == 0 { &[] } else { &sizes };

    let mut server = ServerHandshake::new([0x5a; RANDOM_SIZE], 1);
    let mut fed = 0usize;
    let mut answered = 0usize;
    for piece in pieces(input, sizes) {
        match server.handle_input(piece) {
            Ok(HandshakeProgress::InProgress { response }) => {
                fed += piece.len();
                answered += response.len();
                assert!(fed <= 2 * HANDSHAKE_SIZE);
            }
            Ok(HandshakeProgress::Completed { response, remaining, .. }) => {
                answered += response.len();
                assert_eq!(answered, 1 + 2 * HANDSHAKE_SIZE, "S0 S1 S2 exactly once");
                let used = 1 + 2 * HANDSHAKE_SIZE - fed;
                assert_eq!(remaining, &piece[used..], "bytes after C2 are handed back as they came");
                break;
            }
            Err(_) => break,
        }
        assert!(answered == 0 || answered == 1 + 2 * HANDSHAKE_SIZE);
    }

    // The client side reads S0 S1 S2 from the same bytes (the load generator faces servers
    // it does not control).
    for digest in [false, true] {
        let mut client = ClientHandshake::new([0xa5; RANDOM_SIZE], 2, digest);
        let c0c1 = client.start();
        assert_eq!(c0c1.len(), 1 + HANDSHAKE_SIZE);
        for piece in pieces(input, sizes) {
            match client.handle_input(piece) {
                Ok(HandshakeProgress::InProgress { .. }) => {}
                Ok(HandshakeProgress::Completed { .. }) | Err(_) => break,
            }
        }
    }
}

/// Chunk decoder. Byte 0: piece size; bytes 1..3: chunk size the peer announced (as the
/// session applies Set Chunk Size); the rest: the chunk stream. Every message is within
/// the limit, and the decoder never holds more than it was given.
pub fn chunk(data: &[u8]) {
    if data.len() < 3 {
        return;
    }
    let limits = ChunkLimits::default();
    let mut decoder = ChunkDecoder::new(limits);
    let chunk_size = u32::from(u16::from_be_bytes([data[1], data[2]]));
    let _ = decoder.set_chunk_size(chunk_size);
    let sizes = [data[0]];
    let mut pushed = 0usize;
    'feed: for piece in pieces(&data[3..], &sizes) {
        decoder.push(piece);
        pushed += piece.len();
        loop {
            match decoder.next_message() {
                Ok(Some(m)) => {
                    assert!(m.payload.len() <= limits.max_message_size as usize);
                    // Apply protocol control messages as the session does.
                    match m.type_id {
                        1 if m.payload.len() >= 4 => {
                            let size = u32::from_be_bytes([m.payload[0], m.payload[1], m.payload[2], m.payload[3]]);
                            if decoder.set_chunk_size(size & 0x7fff_ffff).is_err() {
                                break 'feed;
                            }
                        }
                        2 if m.payload.len() >= 4 => {
                            decoder.abort(u32::from_be_bytes([m.payload[0], m.payload[1], m.payload[2], m.payload[3]]));
                        }
                        _ => {}
                    }
                }
                Ok(None) => break,
                Err(_) => break 'feed,
            }
        }
        assert!(decoder.buffered() <= pushed);
    }
}

/// Whether decoding our own encoding of a value may fail: only with the size budget. The
/// budget is linear in the length of the buffer given to the decoder, and the decoder charges
/// the reference-table copy of every complex value it completes, so the same value costs
/// more when written inline at depth (as the encoder writes it) than through references (as
/// an input may have it), and a compact re-encoding gets a smaller budget. Three amf3
/// campaign findings in `regressions/amf3/` show each case; none is a product defect
/// (nothing decodes its own re-encoding of client AMF), and the budget is what bounds memory.
fn budget_refusal_allowed(e: &AmfError) -> bool {
    *e == AmfError::TooLarge
}

/// Checks that a decoded AMF value survives being written back (what the session does
/// when it echoes or forwards values) and is read back with the same shape.
fn amf0_roundtrip(values: &[AmfValue]) {
    let bytes = amf0::encode_all(values);
    let again = match amf0::decode_all(&bytes) {
        Ok(again) => again,
        Err(e) if budget_refusal_allowed(&e) => return,
        Err(e) => panic!("AMF0 the encoder wrote does not decode: {e}"),
    };
    assert_eq!(again.len(), values.len());
    for v in values {
        let _ = v.to_json();
    }
}

/// AMF0: one value, and a whole command body; whatever decodes re-encodes and decodes.
pub fn amf0(data: &[u8]) {
    if let Ok((value, used)) = amf0::decode(data) {
        assert!(used <= data.len());
        amf0_roundtrip(std::slice::from_ref(&value));
    }
    if let Ok(values) = amf0::decode_all(data) {
        amf0_roundtrip(&values);
    }
}

/// AMF3: one value, and an AMF3 command message body (type 17: a 0x00 format byte, then
/// AMF0 values that may switch to AMF3). Decoded values must fit AMF0 again, since that
/// is how the session answers and forwards them.
pub fn amf3(data: &[u8]) {
    if let Ok((value, used)) = amf3::decode(data) {
        assert!(used <= data.len());
        let mut out = Vec::new();
        amf3::encode(&value, &mut out);
        match amf3::decode(&out) {
            Ok(_) => {}
            Err(e) if budget_refusal_allowed(&e) => {}
            Err(e) => panic!("AMF3 the encoder wrote does not decode: {e}"),
        }
        amf0_roundtrip(std::slice::from_ref(&value));
    }
    if let Ok(values) = amf3::decode_message_body(data) {
        amf0_roundtrip(&values);
    }
}

/// The plain handshake a client sends: C0, a version-0 C1 (no digest), C2.
fn plain_handshake() -> Vec<u8> {
    let mut bytes = vec![3u8];
    bytes.resize(1 + 2 * HANDSHAKE_SIZE, 0);
    bytes
}

/// What the server does with a publisher's media before it reaches the bus
/// (`crates/server/src/ingest.rs`: codec reports) and the packagers (sequence headers to
/// decoder configurations, frames to TS).
fn ingest_media(kind: MediaKind, payload: &[u8]) {
    match kind {
        MediaKind::Video => {
            if let Ok(tag) = video::parse_video_tag(payload) {
                let record = video::sequence_header_payload(payload).unwrap_or(&[]);
                match tag.codec {
                    video::VideoCodec::H264 => {
                        if let Ok(c) = avc::parse_avc_decoder_config(record) {
                            let _ = (c.codec_string(), c.profile_name());
                        }
                    }
                    video::VideoCodec::Hevc => {
                        if let Ok(c) = hevc::parse_hevc_decoder_config(record) {
                            let _ = (c.codec_string(), c.profile_name());
                        }
                    }
                    _ => {}
                }
                if let Some(body) = video::payload(payload) {
                    assert!(body.len() <= payload.len());
                }
            }
        }
        MediaKind::Audio => {
            if let Ok(tag) = audio::parse_audio_tag(payload) {
                if tag.codec == audio::AudioCodec::Aac {
                    if let Some(Ok(c)) = audio::aac_sequence_header_payload(payload).map(aac::parse_audio_specific_config) {
                        let _ = (c.codec_string(), c.profile_name());
                    }
                    let _ = audio::aac_frame(payload);
                }
                let _ = audio::sequence_header_payload(payload);
                if let Some(body) = audio::payload(payload) {
                    assert!(body.len() <= payload.len());
                }
            }
        }
        MediaKind::Data => {}
    }
}

/// The server session as a whole, after a valid plain handshake: bytes in, events and
/// bytes out, with an application that decides as byte 0 says (bit 0: refuse connect,
/// bit 1: refuse publish, bit 2: refuse play) and answers players with media. Byte 1:
/// piece size. Everything the session writes after S0 S1 S2 must be a valid chunk stream.
pub fn session(data: &[u8]) {
    if data.len() < 2 {
        return;
    }
    let policy = data[0];
    let sizes = [data[1]];
    let mut s = ServerSession::new(SessionConfig::default(), [0x33; RANDOM_SIZE], 0);
    let mut out = Vec::new();
    s.handle_input(&plain_handshake()).expect("a plain handshake completes");
    assert!(s.handshake_done());
    out.extend(s.take_output());
    assert_eq!(out.len(), 1 + 2 * HANDSHAKE_SIZE);
    let mut playing = Vec::new();
    'feed: for piece in pieces(&data[2..], &sizes) {
        if s.handle_input(piece).is_err() {
            break;
        }
        loop {
            let Some(event) = s.poll_event() else { break };
            let decided = match event {
                SessionEvent::ConnectRequested(req) => {
                    decide(&mut s, req.request_id, policy & 1 != 0);
                    true
                }
                SessionEvent::PublishRequested { request_id, .. } => {
                    decide(&mut s, request_id, policy & 2 != 0);
                    true
                }
                SessionEvent::PlayRequested { request_id, stream_id, .. } => {
                    decide(&mut s, request_id, policy & 4 != 0);
                    if policy & 4 == 0 {
                        playing.push(stream_id);
                    }
                    true
                }
                SessionEvent::Media { stream_id, kind, timestamp, payload } => {
                    ingest_media(kind, &payload);
                    // Relay to players, as the bus would.
                    for &id in &playing {
                        s.send_media(id, kind, timestamp, &payload);
                    }
                    let _ = stream_id;
                    false
                }
                SessionEvent::Data { values, payload, .. } => {
                    let _ = amf0::decode_all(&payload);
                    amf0_roundtrip(&values);
                    false
                }
                SessionEvent::PlayStopped { stream_id } => {
                    playing.retain(|&id| id != stream_id);
                    false
                }
                _ => false,
            };
            if s.is_closing() {
                break 'feed;
            }
            if decided && s.resume().is_err() {
                break 'feed;
            }
        }
        out.extend(s.take_output());
    }
    out.extend(s.take_output());
    check_chunk_stream(&out[1 + 2 * HANDSHAKE_SIZE..]);
}

fn decide(s: &mut ServerSession, request_id: u32, refuse: bool) {
    if refuse {
        s.reject(request_id, "refused by the fuzz policy", None);
    } else {
        s.accept(request_id);
    }
}

/// Decodes what a session wrote as a client would, following its Set Chunk Size.
// `..default()`: ChunkLimits grows budget fields (issue #12) that a client decoder leaves as is.
#[allow(clippy::needless_update)]
fn check_chunk_stream(bytes: &[u8]) {
    let mut decoder = ChunkDecoder::new(ChunkLimits { max_message_size: u32::MAX, max_chunk_streams: usize::MAX, ..ChunkLimits::default() });
    decoder.push(bytes);
    loop {
        match decoder.next_message() {
            Ok(Some(m)) => {
                if m.type_id == 1 {
                    let size = u32::from_be_bytes(m.payload[..4].try_into().expect("Set Chunk Size has 4 bytes"));
                    decoder.set_chunk_size(size).expect("the session announces a valid chunk size");
                }
            }
            Ok(None) => break,
            Err(e) => panic!("the session wrote an invalid chunk stream: {e}"),
        }
    }
    assert_eq!(decoder.buffered(), 0, "the session wrote a partial chunk");
}

/// FLV reader (the load generator and FLV sources read files and sockets with it), then
/// every tag body through the media parsers. Byte 0: piece size; bit 7 of byte 1 read
/// without a file header.
pub fn flv(data: &[u8]) {
    if data.len() < 2 {
        return;
    }
    let mut reader = if data[1] & 0x80 != 0 { flv::FlvReader::without_file_header() } else { flv::FlvReader::new() };
    let sizes = [data[0]];
    let mut pushed = 0usize;
    let mut tags = 0usize;
    for piece in pieces(&data[2..], &sizes) {
        reader.push(piece);
        pushed += piece.len();
        loop {
            match reader.next_tag() {
                Ok(Some(tag)) => {
                    tags += 1;
                    assert!(tag.data.len() + flv::TAG_HEADER_LEN * tags <= pushed);
                    match tag.tag_type {
                        flv::TAG_AUDIO => ingest_media(MediaKind::Audio, &tag.data),
                        flv::TAG_VIDEO => ingest_media(MediaKind::Video, &tag.data),
                        flv::TAG_SCRIPT => {
                            let _ = amf0::decode_all(&tag.data);
                        }
                        _ => {}
                    }
                }
                Ok(None) => break,
                Err(_) => return,
            }
        }
        assert!(reader.buffered() <= pushed);
    }
    let _ = reader.header();
}

/// AVC: the AVCDecoderConfigurationRecord (byte 0 even) or a bare SPS NAL unit (odd), and
/// the parameter sets the TS muxer repeats on keyframes.
pub fn avc(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else { return };
    if mode & 1 == 0 {
        if let Ok(c) = avc::parse_avc_decoder_config(rest) {
            let _ = (c.codec_string(), c.profile_name());
            assert!((1..=4).contains(&c.nal_length_size));
            let sets = ts::convert::avc_parameter_sets(&c);
            assert!(sets.iter().map(|s| s.len()).sum::<usize>() <= rest.len());
            let _ = mp4::Mp4Muxer::new(&[mp4::TrackConfig::H264(Bytes::copy_from_slice(rest))]).map(|m| m.init_segment());
        }
    } else if let Ok(sps) = avc::parse_sps(rest) {
        let _ = format!("{sps:?}");
    }
}

/// HEVC: the HEVCDecoderConfigurationRecord (byte 0 even) or a bare SPS (odd).
pub fn hevc(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else { return };
    if mode & 1 == 0 {
        if let Ok(c) = hevc::parse_hevc_decoder_config(rest) {
            let _ = (c.codec_string(), c.profile_name());
            let sets = ts::convert::hevc_parameter_sets(&c);
            assert!(sets.iter().map(|s| s.len()).sum::<usize>() <= rest.len());
            let _ = mp4::Mp4Muxer::new(&[mp4::TrackConfig::Hevc(Bytes::copy_from_slice(rest))]).map(|m| m.init_segment());
        }
    } else if let Ok(sps) = hevc::parse_hevc_sps(rest) {
        let _ = format!("{sps:?}");
    }
}

/// AAC: the AudioSpecificConfig (and the ADTS header the TS muxer derives from it; there
/// is no ADTS parser, ADTS is only written), then the same bytes as an FLV audio tag.
pub fn aac(data: &[u8]) {
    if let Ok(c) = aac::parse_audio_specific_config(data) {
        let _ = (c.codec_string(), c.profile_name());
        let header = ts::convert::adts_header(&c, data.len().min(8000));
        assert_eq!(header[0], 0xFF, "ADTS syncword");
        let _ = mp4::Mp4Muxer::new(&[mp4::TrackConfig::Aac(Bytes::copy_from_slice(data))]).map(|m| m.init_segment());
    }
    ingest_media(MediaKind::Audio, data);
}

/// MP4 recovery (`recover_segment` at start-up reads a file a crash may have torn
/// anywhere): the usable prefix lies within the file, scanning it again finds the same,
/// and the duration patch lands inside it.
pub fn mp4_recover(data: &[u8]) {
    let r = mp4::recover(data);
    assert!(r.init_len <= r.valid_len && r.valid_len <= data.len(), "{r:?}");
    if let Some(patch) = r.duration_patch() {
        let mut copy = data[..r.valid_len].to_vec();
        assert!(patch.apply(&mut copy), "mehd lies inside the prefix: {r:?}");
    }
    let again = mp4::recover(&data[..r.valid_len]);
    assert_eq!(again.valid_len, r.valid_len, "recovering the recovered prefix keeps it whole");
    assert_eq!(again.fragments, r.fragments);
}

/// Reads `n` bytes from the front of `rest`, or `None` when it is too short.
fn take<'a>(rest: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
    if rest.len() < n {
        return None;
    }
    let (head, tail) = rest.split_at(n);
    *rest = tail;
    Some(head)
}

/// Reads up to `n` bytes from the front of `rest`.
fn take_upto<'a>(rest: &mut &'a [u8], n: usize) -> &'a [u8] {
    let (head, tail) = rest.split_at(n.min(rest.len()));
    *rest = tail;
    head
}

/// A real AVC sequence header (FLV video tag body from x264, see
/// `crates/media/testdata/README.md`), so the mux harnesses get past configuration.
const AVC_SEQ: &[u8] = include_bytes!("../../crates/media/testdata/h264_360.seq");

/// The AVCDecoderConfigurationRecord inside [`AVC_SEQ`].
fn avc_record() -> &'static [u8] {
    &AVC_SEQ[5..]
}

/// AAC-LC, 48 kHz, stereo.
const AAC_ASC: &[u8] = &[0x11, 0x90];

/// The MP4 muxer with arbitrary samples, then recovery over what it wrote: every
/// fragment the muxer produced is found again and the file is whole. Records of the
/// tracks come from the input when byte 0 bit 0 is set, else valid fixed ones.
/// Then: per sample, 1 byte (track, keyframe, fragment-after), 4 bytes dts/pts deltas,
/// 1 byte length, data.
pub fn mp4_mux(data: &[u8]) {
    let mut rest = data;
    let Some(flags) = take(&mut rest, 1).map(|b| b[0]) else { return };
    let tracks = if flags & 1 != 0 {
        let Some(n) = take(&mut rest, 1) else { return };
        let Some(record) = take(&mut rest, usize::from(n[0])) else { return };
        let record = Bytes::copy_from_slice(record);
        match flags >> 1 & 3 {
            0 => vec![mp4::TrackConfig::H264(record)],
            1 => vec![mp4::TrackConfig::Hevc(record)],
            _ => vec![mp4::TrackConfig::Aac(record)],
        }
    } else {
        vec![
            mp4::TrackConfig::H264(Bytes::from_static(avc_record())),
            mp4::TrackConfig::Aac(Bytes::from_static(AAC_ASC)),
        ]
    };
    let Ok(mut muxer) = mp4::Mp4Muxer::new(&tracks) else { return };
    let mut file = muxer.init_segment();
    let mut fragments = 0usize;
    let mut dts = [0i64; 2];
    while let Some(head) = take(&mut rest, 6) {
        let track = usize::from(head[0] & 1);
        // Signed steps, so DTS may go backwards (the muxer squeezes that) and PTS may sit
        // before DTS.
        dts[track % 2] += i64::from(i16::from_be_bytes([head[1], head[2]]));
        let pts = dts[track % 2] + i64::from(i8::from_be_bytes([head[3]]));
        let len = usize::from(head[5]);
        let body = take_upto(&mut rest, len);
        let sample = mp4::Sample { dts_ms: dts[track % 2], pts_ms: pts, keyframe: head[0] & 2 != 0, data: Bytes::copy_from_slice(body) };
        let _ = muxer.push(track, sample);
        if head[0] & 4 != 0 {
            if let Some(f) = muxer.fragment() {
                file.extend_from_slice(&f);
                fragments += 1;
            }
        }
        let _ = head[4];
    }
    if let Some(f) = muxer.finish() {
        file.extend_from_slice(&f);
        fragments += 1;
    }
    assert_eq!(muxer.bytes_written() as usize, file.len());
    let r = mp4::recover(&file);
    assert_eq!(r.valid_len, file.len(), "a finished recording is whole: {r:?}");
    assert_eq!(r.fragments, fragments);
    assert!(muxer.duration_patch().apply(&mut file));
}

/// The TS muxer's input path: RTMP video bodies (AVCC: length-prefixed NAL units, any
/// length size) and raw AAC frames go in as they arrive; the output is whole 188-byte
/// packets. Byte 0: configuration (bit 0: HEVC, bits 1-2: NAL length size - 1, bit 3:
/// audio, bit 4: ID3); then per write, 1 byte (bits 0-2: which write, bits 3-7: time step,
/// 31 = an arbitrary 64-bit timestamp follows the data), 2 bytes length, data.
pub fn ts_mux(data: &[u8]) {
    let mut rest = data;
    let Some(cfg) = take(&mut rest, 1) else { return };
    let cfg = cfg[0];
    let kind = if cfg & 1 != 0 { ts::VideoStreamKind::Hevc } else { ts::VideoStreamKind::H264 };
    let config = ts::TsConfig { video: Some(kind), audio: cfg & 8 != 0, timed_metadata: cfg & 16 != 0 };
    let nal_length_size = (cfg >> 1 & 3) + 1;
    let mut muxer = ts::TsMuxer::new(config);
    let aac_config = aac::parse_audio_specific_config(AAC_ASC).expect("fixed ASC parses");
    let avc = avc::parse_avc_decoder_config(avc_record()).expect("fixed record parses");
    let params = ts::convert::avc_parameter_sets(&avc);
    let mut out = Vec::new();
    muxer.begin_segment(&mut out);
    let mut t: u64 = 0x1_ffff_0000; // Near the 33-bit wrap.
    while let Some(head) = take(&mut rest, 3) {
        let len = usize::from(u16::from_be_bytes([head[1], head[2]]));
        let body = take_upto(&mut rest, len);
        t = match head[0] >> 3 {
            // Any u64 is a valid timestamp (written modulo 2^33).
            31 => take(&mut rest, 8).map_or(t, |b| u64::from_be_bytes(b.try_into().expect("8 bytes"))),
            step => t.wrapping_add(u64::from(step) * 1500),
        };
        let before = out.len();
        let result = match head[0] & 7 {
            0 => muxer.write_video_avcc(&mut out, t.wrapping_add(3000), t, head[0] & 8 != 0, body, nal_length_size, None),
            1 => muxer.write_video_avcc(&mut out, t, t, true, body, nal_length_size, Some(&params)),
            2 => muxer.write_video(&mut out, t, t, false, body),
            3 => muxer.write_aac_frame(&mut out, t, &aac_config, body),
            4 => muxer.write_audio(&mut out, t, body),
            5 => muxer.write_timed_metadata(&mut out, t, body),
            6 => muxer.write_video_avcc(&mut out, t, t, false, body, head[0] >> 4, None),
            _ => {
                muxer.begin_segment(&mut out);
                Ok(())
            }
        };
        if result.is_err() {
            assert_eq!(out.len(), before, "a failed write writes nothing");
        }
    }
    assert_eq!(out.len() % ts::TS_PACKET_SIZE, 0);
    assert!(out.chunks(ts::TS_PACKET_SIZE).all(|p| p[0] == 0x47), "every packet starts with the sync byte");
}
