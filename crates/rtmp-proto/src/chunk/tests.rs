use super::*;
use proptest::prelude::*;

fn decode_all(dec: &mut ChunkDecoder) -> Vec<RawMessage> {
    let mut out = Vec::new();
    while let Some(m) = dec.next_message().unwrap() {
        out.push(m);
    }
    out
}

fn msg(csid: u32, timestamp: u32, type_id: u8, stream_id: u32, payload: &[u8]) -> RawMessage {
    RawMessage { csid, timestamp, type_id, stream_id, payload: Bytes::copy_from_slice(payload) }
}

#[test]
fn fmt0_single_chunk_byte_exact() {
    let mut enc = ChunkEncoder::new();
    let mut out = Vec::new();
    enc.encode(3, 0x010203, 20, 1, b"abc", &mut out);
    assert_eq!(out, vec![0x03, 0x01, 0x02, 0x03, 0, 0, 3, 20, 1, 0, 0, 0, b'a', b'b', b'c']);
    let mut dec = ChunkDecoder::new(ChunkLimits::default());
    dec.push(&out);
    assert_eq!(decode_all(&mut dec), vec![msg(3, 0x010203, 20, 1, b"abc")]);
}

#[test]
fn compressed_headers_accumulate_deltas() {
    // fmt0 ts=1000, fmt1 delta 40 new length, fmt2 delta 40, fmt3 (delta reused).
    let mut bytes = vec![0x06, 0x00, 0x03, 0xE8, 0, 0, 2, 9, 1, 0, 0, 0, 0xAA, 0xBB];
    bytes.extend_from_slice(&[0x46, 0, 0, 40, 0, 0, 1, 8, 0xCC]);
    bytes.extend_from_slice(&[0x86, 0, 0, 40, 0xDD]);
    bytes.extend_from_slice(&[0xC6, 0xEE]);
    let mut dec = ChunkDecoder::new(ChunkLimits::default());
    dec.push(&bytes);
    let got = decode_all(&mut dec);
    assert_eq!(
        got,
        vec![msg(6, 1000, 9, 1, &[0xAA, 0xBB]), msg(6, 1040, 8, 1, &[0xCC]), msg(6, 1080, 8, 1, &[0xDD]), msg(6, 1120, 8, 1, &[0xEE])]
    );
}

#[test]
fn extended_timestamp_is_repeated_on_fmt3_continuations() {
    let mut enc = ChunkEncoder::new();
    let payload: Vec<u8> = (0..300u32).map(|i| i as u8).collect();
    let mut out = Vec::new();
    enc.encode(4, 0x0100_0000, 9, 1, &payload, &mut out);
    // 12-byte header + 4 extended + 128, then (1 + 4 + 128), then (1 + 4 + 44)
    assert_eq!(out.len(), 12 + 4 + 128 + 1 + 4 + 128 + 1 + 4 + 44);
    assert_eq!(&out[1..4], &[0xFF, 0xFF, 0xFF]);
    assert_eq!(&out[12..16], &[0x01, 0, 0, 0]);
    assert_eq!(out[144], 0xC4);
    assert_eq!(&out[145..149], &[0x01, 0, 0, 0]);
    let mut dec = ChunkDecoder::new(ChunkLimits::default());
    dec.push(&out);
    assert_eq!(decode_all(&mut dec), vec![msg(4, 0x0100_0000, 9, 1, &payload)]);
}

#[test]
fn byte_at_a_time_with_interleaved_chunk_streams() {
    let mut enc = ChunkEncoder::new();
    enc.set_chunk_size(50);
    let a: Vec<u8> = vec![1; 120];
    let b: Vec<u8> = vec![2; 70];
    let mut sa = Vec::new();
    enc.encode(4, 10, 8, 1, &a, &mut sa);
    let mut sb = Vec::new();
    enc.encode(6, 20, 9, 1, &b, &mut sb);
    // Interleave: first chunk of a, first chunk of b, rest of a, rest of b.
    let a1 = 12 + 50;
    let b1 = 12 + 50;
    let mut wire = Vec::new();
    wire.extend_from_slice(&sa[..a1]);
    wire.extend_from_slice(&sb[..b1]);
    wire.extend_from_slice(&sa[a1..]);
    wire.extend_from_slice(&sb[b1..]);
    let mut dec = ChunkDecoder::new(ChunkLimits::default());
    dec.set_chunk_size(50).unwrap();
    let mut got = Vec::new();
    for byte in wire {
        dec.push(&[byte]);
        got.extend(decode_all(&mut dec));
    }
    assert_eq!(got, vec![msg(4, 10, 8, 1, &a), msg(6, 20, 9, 1, &b)]);
}

#[test]
fn two_and_three_byte_basic_headers() {
    let mut enc = ChunkEncoder::new();
    let mut out = Vec::new();
    enc.encode(64, 0, 8, 1, b"x", &mut out);
    enc.encode(319, 0, 8, 1, b"y", &mut out);
    enc.encode(320, 0, 8, 1, b"z", &mut out);
    enc.encode(65599, 0, 8, 1, b"w", &mut out);
    assert_eq!(&out[0..2], &[0x00, 0x00]);
    let mut dec = ChunkDecoder::new(ChunkLimits::default());
    dec.push(&out);
    let ids: Vec<u32> = decode_all(&mut dec).iter().map(|m| m.csid).collect();
    assert_eq!(ids, vec![64, 319, 320, 65599]);
}

#[test]
fn abort_discards_partial_message() {
    let mut enc = ChunkEncoder::new();
    let mut first = Vec::new();
    enc.encode(5, 0, 9, 1, &[7u8; 200], &mut first);
    let mut dec = ChunkDecoder::new(ChunkLimits::default());
    dec.push(&first[..12 + 128]);
    assert_eq!(dec.next_message().unwrap(), None);
    dec.abort(5);
    let mut enc2 = ChunkEncoder::new();
    let mut second = Vec::new();
    enc2.encode(5, 40, 9, 1, b"fresh", &mut second);
    dec.push(&second);
    assert_eq!(decode_all(&mut dec), vec![msg(5, 40, 9, 1, b"fresh")]);
}

#[test]
fn oversized_message_is_refused() {
    let mut dec = ChunkDecoder::new(ChunkLimits { max_message_size: 1000, max_chunk_streams: 4, ..Default::default() });
    dec.push(&[0x03, 0, 0, 0, 0x00, 0x10, 0x00, 9, 1, 0, 0, 0]);
    assert_eq!(dec.next_message(), Err(ChunkError::MessageTooLarge { length: 4096, limit: 1000 }));
}

#[test]
fn chunk_stream_count_is_limited() {
    let mut dec = ChunkDecoder::new(ChunkLimits { max_message_size: 1000, max_chunk_streams: 2, ..Default::default() });
    let mut enc = ChunkEncoder::new();
    let mut out = Vec::new();
    for csid in 3..6 {
        enc.encode(csid, 0, 8, 1, b"a", &mut out);
    }
    dec.push(&out);
    assert!(dec.next_message().unwrap().is_some());
    assert!(dec.next_message().unwrap().is_some());
    assert_eq!(dec.next_message(), Err(ChunkError::TooManyChunkStreams(2)));
}

#[test]
fn compressed_header_without_previous_is_an_error() {
    let mut dec = ChunkDecoder::new(ChunkLimits::default());
    dec.push(&[0x43, 0, 0, 0, 0, 0, 1, 8, 0]);
    assert_eq!(dec.next_message(), Err(ChunkError::MissingPreviousHeader { csid: 3, fmt: 1 }));
}

#[test]
fn invalid_chunk_size_rejected() {
    let mut dec = ChunkDecoder::new(ChunkLimits::default());
    assert!(dec.set_chunk_size(0).is_err());
    assert!(dec.set_chunk_size(0x8000_0000).is_err());
    assert!(dec.set_chunk_size(65536).is_ok());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, .. ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048), size in 1u32..300) {
        let mut dec = ChunkDecoder::new(ChunkLimits { max_message_size: 65536, max_chunk_streams: 8, ..Default::default() });
        let _ = dec.set_chunk_size(size);
        dec.push(&bytes);
        for _ in 0..4096 {
            match dec.next_message() {
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => break,
            }
        }
    }

    #[test]
    fn encode_decode_round_trip(
        messages in proptest::collection::vec(
            (2u32..400, any::<u32>(), 1u8..23, 0u32..4, proptest::collection::vec(any::<u8>(), 0..600)), 1..12),
        chunk_size in 1u32..700,
        split in 1usize..97,
    ) {
        let mut enc = ChunkEncoder::new();
        enc.set_chunk_size(chunk_size);
        let mut wire = Vec::new();
        let mut expected = Vec::new();
        for (csid, ts, type_id, stream_id, payload) in &messages {
            enc.encode(*csid, *ts, *type_id, *stream_id, payload, &mut wire);
            expected.push(msg(*csid, *ts, *type_id, *stream_id, payload));
        }
        let mut dec = ChunkDecoder::new(ChunkLimits { max_message_size: 65536, max_chunk_streams: 512, ..Default::default() });
        dec.set_chunk_size(chunk_size).unwrap();
        let mut got = Vec::new();
        for piece in wire.chunks(split) {
            dec.push(piece);
            got.extend(decode_all(&mut dec));
        }
        prop_assert_eq!(got, expected);
    }
}

#[test]
fn partial_buffers_grow_with_arrived_bytes_and_are_bounded_in_total() {
    let limits = ChunkLimits { max_message_size: 16 << 20, max_chunk_streams: 64, max_partial_bytes: 4096, reserve_announced: false };
    let mut dec = ChunkDecoder::new(limits);
    // 16 MiB announced on each of 20 chunk streams, one 128-byte chunk sent on each.
    for csid in 3..23u8 {
        dec.push(&[csid, 0, 0, 0, 0xFF, 0xFF, 0xFF, 9, 1, 0, 0, 0]);
        dec.push(&[0u8; 128]);
    }
    assert_eq!(dec.next_message(), Ok(None));
    assert_eq!(dec.partial_bytes(), 20 * 128);
    for csid in 23..40u8 {
        dec.push(&[csid, 0, 0, 0, 0xFF, 0xFF, 0xFF, 9, 1, 0, 0, 0]);
        dec.push(&[0u8; 128]);
    }
    assert_eq!(dec.next_message(), Err(ChunkError::PartialBytesExceeded(4096)));
}

#[test]
fn abort_returns_partial_bytes() {
    let mut dec = ChunkDecoder::new(ChunkLimits::default());
    dec.push(&[3, 0, 0, 0, 0, 1, 0, 9, 1, 0, 0, 0]);
    dec.push(&[0u8; 128]);
    assert_eq!(dec.next_message(), Ok(None));
    assert_eq!(dec.partial_bytes(), 128);
    dec.abort(3);
    assert_eq!(dec.partial_bytes(), 0);
}
