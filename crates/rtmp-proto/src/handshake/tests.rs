//! Tests for the handshake. The Flash digest rules are re-implemented here from scratch
//! (keys spelled out from their ASCII text, offsets recomputed) so that the checks do not
//! share code with the implementation under test.

use super::*;
use hmac::{Hmac, Mac};
use proptest::prelude::*;
use rand::{rngs::StdRng, Rng, SeedableRng};
use sha2::Sha256;

// ----- independent reference implementation of the Flash digest rules ------------------------

const TAIL: [u8; 32] = [
    0xf0, 0xee, 0xc2, 0x4a, 0x80, 0x68, 0xbe, 0xe8, 0x2e, 0x00, 0xd0, 0xd1, 0x02, 0x9e, 0x7e, 0x57,
    0x6e, 0xec, 0x5d, 0x2d, 0x29, 0x80, 0x6f, 0xab, 0x93, 0xb8, 0xe6, 0x36, 0xcf, 0xeb, 0x31, 0xae,
];

fn fp_text() -> Vec<u8> {
    b"Genuine Adobe Flash Player 001".to_vec()
}

fn fms_text() -> Vec<u8> {
    b"Genuine Adobe Flash Media Server 001".to_vec()
}

fn full(mut text: Vec<u8>) -> Vec<u8> {
    text.extend_from_slice(&TAIL);
    text
}

fn mac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap();
    for p in parts {
        m.update(p);
    }
    m.finalize().into_bytes().into()
}

/// Digest position in a 1536-byte packet (no C0 byte) for a scheme.
fn ref_offset(p: &[u8], scheme: u8) -> usize {
    let (sum_at, add) = match scheme {
        0 => (8usize, 12usize),
        1 => (772, 776),
        _ => unreachable!(),
    };
    let s = p[sum_at] as usize
        + p[sum_at + 1] as usize
        + p[sum_at + 2] as usize
        + p[sum_at + 3] as usize;
    s % 728 + add
}

/// Returns the digest if `p` carries a valid one at `scheme` under `key`.
fn ref_check(p: &[u8], scheme: u8, key: &[u8]) -> Option<[u8; 32]> {
    assert_eq!(p.len(), 1536);
    let o = ref_offset(p, scheme);
    let want = mac(key, &[&p[..o], &p[o + 32..]]);
    (want[..] == p[o..o + 32]).then_some(want)
}

/// Writes a valid digest at `scheme` under `key` into `p`; returns it.
fn ref_sign(p: &mut [u8], scheme: u8, key: &[u8]) -> [u8; 32] {
    let o = ref_offset(p, scheme);
    let d = mac(key, &[&p[..o], &p[o + 32..]]);
    p[o..o + 32].copy_from_slice(&d);
    d
}

/// Checks a C2/S2 signed against `peer_digest` with `full_key`.
fn ref_response_ok(p: &[u8], full_key: &[u8], peer_digest: &[u8; 32]) -> bool {
    assert_eq!(p.len(), 1536);
    let k = mac(full_key, &[peer_digest]);
    mac(&k, &[&p[..1504]])[..] == p[1504..]
}

// ----- helpers ---------------------------------------------------------------------------------

fn rand_block(seed: u64) -> [u8; RANDOM_SIZE] {
    let mut r = StdRng::seed_from_u64(seed);
    let mut b = [0u8; RANDOM_SIZE];
    r.fill(&mut b[..]);
    b
}

fn in_progress(p: HandshakeProgress) -> Vec<u8> {
    match p {
        HandshakeProgress::InProgress { response } => response,
        other => panic!("expected InProgress, got {other:?}"),
    }
}

fn completed(p: HandshakeProgress) -> (Vec<u8>, Vec<u8>, HandshakeKind) {
    match p {
        HandshakeProgress::Completed {
            response,
            remaining,
            kind,
        } => (response, remaining, kind),
        other => panic!("expected Completed, got {other:?}"),
    }
}

/// Outcome of feeding a stream to one side in pieces.
#[derive(Debug, PartialEq)]
struct Fed {
    sent: Vec<u8>,
    remaining: Vec<u8>,
    kind: Option<HandshakeKind>,
}

/// Feeds `data` in `chunk`-sized pieces through `f`, concatenating responses, until Completed.
fn feed(
    data: &[u8],
    chunk: usize,
    mut f: impl FnMut(&[u8]) -> Result<HandshakeProgress, HandshakeError>,
) -> Result<Fed, HandshakeError> {
    let mut out = Fed {
        sent: Vec::new(),
        remaining: Vec::new(),
        kind: None,
    };
    let mut pieces = data.chunks(chunk.max(1));
    for piece in pieces.by_ref() {
        match f(piece)? {
            HandshakeProgress::InProgress { response } => out.sent.extend(response),
            HandshakeProgress::Completed {
                response,
                remaining,
                kind,
            } => {
                out.sent.extend(response);
                out.remaining = remaining;
                out.kind = Some(kind);
                break;
            }
        }
    }
    for rest in pieces {
        out.remaining.extend_from_slice(rest);
    }
    Ok(out)
}

/// Runs a full client↔server handshake in memory with a given piece size.
/// Returns (C0C1, S0S1S2, C2, client result, server result).
fn run_pair(digest: bool, chunk: usize) -> (Vec<u8>, Vec<u8>, Vec<u8>, Fed, Fed) {
    let mut client = ClientHandshake::new(rand_block(1), 0x0102_0304, digest);
    let mut server = ServerHandshake::new(rand_block(2), 0x0A0B_0C0D);
    let c0c1 = client.start();
    assert_eq!(c0c1.len(), 1537);
    let s = feed(&c0c1, chunk, |b| server.handle_input(b)).unwrap();
    assert_eq!(s.kind, None);
    let s0s1s2 = s.sent;
    assert_eq!(s0s1s2.len(), 3073);
    let c = feed(&s0s1s2, chunk, |b| client.handle_input(b)).unwrap();
    let c2 = c.sent.clone();
    assert_eq!(c2.len(), 1536);
    let s_done = feed(&c2, chunk, |b| server.handle_input(b)).unwrap();
    (c0c1, s0s1s2, c2, c, s_done)
}

// ----- plain handshake -------------------------------------------------------------------------

#[test]
fn plain_handshake_all_at_once() {
    let (c0c1, s0s1s2, c2, client, server) = run_pair(false, usize::MAX);
    assert_eq!(c0c1[0], 3);
    assert_eq!(&c0c1[1..5], &0x0102_0304u32.to_be_bytes());
    assert_eq!(&c0c1[5..9], &[0, 0, 0, 0]);
    assert_eq!(&c0c1[9..], &rand_block(1)[..]);

    assert_eq!(s0s1s2[0], 3);
    let s1 = &s0s1s2[1..1537];
    assert_eq!(&s1[..4], &0x0A0B_0C0Du32.to_be_bytes());
    assert_eq!(&s1[4..8], &[0, 0, 0, 0]);
    assert_eq!(&s1[8..], &rand_block(2)[..]);
    assert_eq!(&s0s1s2[1537..], &c0c1[1..], "S2 echoes C1");
    assert_eq!(&c2[..], s1, "C2 echoes S1");

    assert_eq!(client.kind, Some(HandshakeKind::Plain));
    assert!(client.remaining.is_empty());
    assert_eq!(server.kind, Some(HandshakeKind::Plain));
    assert!(server.sent.is_empty());
    assert!(server.remaining.is_empty());
}

#[test]
fn plain_handshake_byte_at_a_time_matches_all_at_once() {
    let whole = run_pair(false, usize::MAX);
    let bytewise = run_pair(false, 1);
    assert_eq!(whole.0, bytewise.0);
    assert_eq!(whole.1, bytewise.1);
    assert_eq!(whole.2, bytewise.2);
    assert_eq!(bytewise.3.kind, Some(HandshakeKind::Plain));
    assert_eq!(bytewise.4.kind, Some(HandshakeKind::Plain));
}

#[test]
fn odd_chunk_sizes_give_same_bytes() {
    let whole = run_pair(true, usize::MAX);
    for chunk in [2, 7, 512, 1536, 1537, 1538, 3072, 3073] {
        let split = run_pair(true, chunk);
        assert_eq!(whole.1, split.1, "chunk {chunk}");
        assert_eq!(whole.2, split.2, "chunk {chunk}");
        assert_eq!(split.4.kind, Some(HandshakeKind::Digest { scheme: 1 }));
    }
}

// ----- digest handshake ------------------------------------------------------------------------

#[test]
fn digest_handshake_client_server_verified_independently() {
    for chunk in [usize::MAX, 1] {
        let (c0c1, s0s1s2, c2, client, server) = run_pair(true, chunk);
        let c1 = &c0c1[1..];
        assert_eq!(&c1[4..8], &[0x80, 0x00, 0x07, 0x02], "FP9 version in C1");
        let c1_digest = ref_check(c1, 1, &fp_text()).expect("C1 has a scheme-1 FP digest");

        assert_eq!(s0s1s2[0], 3);
        let s1 = &s0s1s2[1..1537];
        let s2 = &s0s1s2[1537..];
        assert_eq!(&s1[..4], &0x0A0B_0C0Du32.to_be_bytes());
        assert_eq!(&s1[4..8], &[0x0D, 0x0E, 0x0A, 0x0D], "server version in S1");
        let s1_digest = ref_check(s1, 1, &fms_text()).expect("S1 has a scheme-1 FMS digest");
        assert!(
            ref_response_ok(s2, &full(fms_text()), &c1_digest),
            "S2 signed per Flash rules"
        );
        assert_ne!(s2, c1, "digest S2 is not an echo");
        assert!(
            ref_response_ok(&c2, &full(fp_text()), &s1_digest),
            "C2 signed per Flash rules"
        );

        assert_eq!(client.kind, Some(HandshakeKind::Digest { scheme: 1 }));
        assert_eq!(server.kind, Some(HandshakeKind::Digest { scheme: 1 }));
    }
}

/// Builds C0 + C1 the way FFmpeg/librtmp do: version field set, digest at `scheme`.
fn foreign_c0c1(scheme: u8, seed: u64, version: [u8; 4]) -> (Vec<u8>, [u8; 32]) {
    let mut c1 = vec![0u8; 1536];
    c1[..4].copy_from_slice(&[0, 0, 0x12, 0x34]);
    c1[4..8].copy_from_slice(&version);
    c1[8..].copy_from_slice(&rand_block(seed));
    let d = ref_sign(&mut c1, scheme, &fp_text());
    let mut out = vec![3u8];
    out.extend(c1);
    (out, d)
}

#[test]
fn scheme0_c1_gets_scheme0_s1() {
    for seed in 10..20 {
        // FFmpeg's client version, 9.0.124.2.
        let (c0c1, c1_digest) = foreign_c0c1(0, seed, [9, 0, 124, 2]);
        // Make sure the C1 is not also valid at scheme 1 (it never is in practice).
        assert!(ref_check(&c0c1[1..], 1, &fp_text()).is_none());
        let mut server = ServerHandshake::new(rand_block(seed + 100), 77);
        let out = in_progress(server.handle_input(&c0c1).unwrap());
        assert_eq!(out.len(), 3073);
        let s1 = &out[1..1537];
        assert!(
            ref_check(s1, 0, &fms_text()).is_some(),
            "S1 digest at scheme 0"
        );
        assert!(ref_check(s1, 1, &fms_text()).is_none());
        assert!(ref_response_ok(&out[1537..], &full(fms_text()), &c1_digest));
        let (resp, rem, kind) = completed(server.handle_input(&[0u8; 1536]).unwrap());
        assert!(resp.is_empty() && rem.is_empty());
        assert_eq!(kind, HandshakeKind::Digest { scheme: 0 });
    }
}

#[test]
fn scheme1_foreign_c1_gets_scheme1_s1() {
    let (c0c1, c1_digest) = foreign_c0c1(1, 5, [0x80, 0, 7, 2]);
    let mut server = ServerHandshake::new(rand_block(6), 1);
    let out = in_progress(server.handle_input(&c0c1).unwrap());
    assert!(ref_check(&out[1..1537], 1, &fms_text()).is_some());
    assert!(ref_response_ok(&out[1537..], &full(fms_text()), &c1_digest));
}

#[test]
fn digest_c1_with_zero_version_is_plain() {
    let (c0c1, _) = foreign_c0c1(0, 3, [0, 0, 0, 0]);
    let mut server = ServerHandshake::new(rand_block(4), 1);
    let out = in_progress(server.handle_input(&c0c1).unwrap());
    assert_eq!(&out[5..9], &[0, 0, 0, 0]);
    assert_eq!(&out[1537..], &c0c1[1..]);
    let (_, _, kind) = completed(server.handle_input(&[9u8; 1536]).unwrap());
    assert_eq!(kind, HandshakeKind::Plain);
}

#[test]
fn nonzero_version_without_valid_digest_is_plain() {
    let mut c0c1 = vec![3u8, 0, 0, 0, 1, 9, 0, 124, 2];
    c0c1.extend_from_slice(&rand_block(8));
    let mut server = ServerHandshake::new(rand_block(9), 1);
    let out = in_progress(server.handle_input(&c0c1).unwrap());
    assert_eq!(&out[1..5], &1u32.to_be_bytes());
    assert_eq!(&out[5..9], &[0, 0, 0, 0]);
    assert_eq!(&out[1537..], &c0c1[1..], "plain S2 echoes C1");
    let (_, _, kind) = completed(server.handle_input(&[0u8; 1536]).unwrap());
    assert_eq!(kind, HandshakeKind::Plain);
}

#[test]
fn digest_with_wrong_key_is_plain() {
    // A digest computed with the FMS key in C1 must not be accepted as a client digest.
    let mut c1 = vec![0u8; 1536];
    c1[4..8].copy_from_slice(&[9, 0, 124, 2]);
    c1[8..].copy_from_slice(&rand_block(12));
    ref_sign(&mut c1, 0, &fms_text());
    let mut c0c1 = vec![3u8];
    c0c1.extend(&c1);
    let mut server = ServerHandshake::new(rand_block(13), 0);
    let out = in_progress(server.handle_input(&c0c1).unwrap());
    assert_eq!(&out[1537..], &c1[..]);
}

/// Known answer computed outside Rust (Python's `hmac`/`hashlib`) for a fixed C1:
/// time 0, version 80 00 07 02, filler byte i = i % 251 (i counted from byte 8).
#[test]
fn client_c1_known_answer() {
    let mut random = [0u8; RANDOM_SIZE];
    for (i, b) in random.iter_mut().enumerate() {
        *b = (i % 251) as u8;
    }
    let mut client = ClientHandshake::new(random, 0, true);
    let c0c1 = client.start();
    let c1 = &c0c1[1..];
    let offset = ref_offset(c1, 1);
    assert_eq!(offset, KNOWN_C1_OFFSET);
    assert_eq!(hex(&c1[offset..offset + 32]), KNOWN_C1_DIGEST);
}

const KNOWN_C1_OFFSET: usize = 826;
const KNOWN_C1_DIGEST: &str = "9ba67bb25f5b3fec85b8e5b9673666b7baae3406474148e6cde2c0ca926b9ede";

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

// ----- client robustness ---------------------------------------------------------------------

#[test]
fn digest_client_tolerates_plain_server() {
    let mut client = ClientHandshake::new(rand_block(20), 5, true);
    let c0c1 = client.start();
    // A plain server: S1 with zero version, S2 echo of C1.
    let mut reply = vec![3u8, 0, 0, 0, 9, 0, 0, 0, 0];
    reply.extend_from_slice(&rand_block(21));
    reply.extend_from_slice(&c0c1[1..]);
    let (c2, rem, kind) = completed(client.handle_input(&reply).unwrap());
    assert_eq!(kind, HandshakeKind::Plain);
    assert_eq!(&c2[..], &reply[1..1537], "C2 echoes S1");
    assert!(rem.is_empty());
}

#[test]
fn digest_client_tolerates_nginx_style_echo() {
    // nginx-rtmp answers an undigested-looking C1 by echoing C0C1 as S0S1 and C1 as S2;
    // that S1 has a non-zero version and an FP (not FMS) digest.
    let mut client = ClientHandshake::new(rand_block(22), 5, true);
    let c0c1 = client.start();
    let mut reply = c0c1.clone();
    reply.extend_from_slice(&c0c1[1..]);
    let (c2, _, kind) = completed(client.handle_input(&reply).unwrap());
    assert_eq!(kind, HandshakeKind::Plain);
    assert_eq!(&c2[..], &c0c1[1..]);
}

#[test]
fn digest_client_accepts_scheme0_server() {
    let mut client = ClientHandshake::new(rand_block(23), 5, true);
    let c0c1 = client.start();
    let c1_digest = ref_check(&c0c1[1..], 1, &fp_text()).unwrap();
    let mut s1 = vec![0u8; 1536];
    s1[4..8].copy_from_slice(&[4, 5, 2, 1]);
    s1[8..].copy_from_slice(&rand_block(24));
    let s1_digest = ref_sign(&mut s1, 0, &fms_text());
    let mut s2 = rand_block(25)[..1504].to_vec();
    let key = mac(&full(fms_text()), &[&c1_digest]);
    let sig = mac(&key, &[&s2]);
    s2.extend_from_slice(&sig);
    let mut reply = vec![3u8];
    reply.extend(&s1);
    reply.extend(&s2);
    reply.extend(b"chunks");
    let (c2, rem, kind) = completed(client.handle_input(&reply).unwrap());
    assert_eq!(kind, HandshakeKind::Digest { scheme: 0 });
    assert_eq!(rem, b"chunks");
    assert!(ref_response_ok(&c2, &full(fp_text()), &s1_digest));
}

#[test]
fn digest_client_rejects_bad_s2_signature() {
    // Our server answers a *different* C1, so its S2 is signed for the wrong digest.
    let mut client = ClientHandshake::new(rand_block(30), 5, true);
    client.start();
    let (other_c0c1, _) = foreign_c0c1(0, 31, [9, 0, 124, 2]);
    let mut server = ServerHandshake::new(rand_block(32), 0);
    let reply = in_progress(server.handle_input(&other_c0c1).unwrap());
    // C2 is produced once S1 is in; the S2 check fails once S2 is in.
    let c2 = in_progress(client.handle_input(&reply[..1537]).unwrap());
    assert_eq!(c2.len(), 1536);
    assert_eq!(
        client.handle_input(&reply[1537..]),
        Err(HandshakeError::InvalidServerSignature)
    );
    assert_eq!(
        client.handle_input(b"x"),
        Err(HandshakeError::AlreadyFailed)
    );
}

#[test]
fn client_sends_c2_after_s1_before_s2() {
    let mut client = ClientHandshake::new(rand_block(40), 5, false);
    let mut server = ServerHandshake::new(rand_block(41), 6);
    let reply = in_progress(server.handle_input(&client.start()).unwrap());
    let c2 = in_progress(client.handle_input(&reply[..1537]).unwrap());
    assert_eq!(&c2[..], &reply[1..1537]);
    assert!(in_progress(client.handle_input(&reply[1537..3000]).unwrap()).is_empty());
    let (resp, rem, kind) = completed(client.handle_input(&reply[3000..]).unwrap());
    assert!(resp.is_empty() && rem.is_empty());
    assert_eq!(kind, HandshakeKind::Plain);
}

#[test]
fn client_not_started_and_start_twice() {
    let mut client = ClientHandshake::new(rand_block(50), 0, true);
    assert_eq!(client.handle_input(&[3]), Err(HandshakeError::NotStarted));
    assert_eq!(client.start().len(), 1537);
    assert!(client.start().is_empty());
}

// ----- remaining bytes, errors, completion --------------------------------------------------

#[test]
fn bytes_after_c2_come_back_as_remaining() {
    for digest in [false, true] {
        let mut client = ClientHandshake::new(rand_block(60), 1, digest);
        let mut server = ServerHandshake::new(rand_block(61), 2);
        let c0c1 = client.start();
        // Everything the client will ever send, in one go: C0 C1 C2 + first chunks.
        let reply = in_progress(server.handle_input(&c0c1[..100]).unwrap());
        assert!(reply.is_empty());
        let reply = in_progress(server.handle_input(&c0c1[100..]).unwrap());
        let (c2, _, _) = completed(client.handle_input(&reply).unwrap());
        let mut tail = c2.clone();
        tail.extend_from_slice(b"\x02\x00\x00\x00first chunk");
        let (resp, rem, _) = completed(server.handle_input(&tail).unwrap());
        assert!(resp.is_empty());
        assert_eq!(rem, b"\x02\x00\x00\x00first chunk");

        // Also C0 C1 C2 + chunks in one call: S0 S1 S2 and Completed together.
        let mut server = ServerHandshake::new(rand_block(61), 2);
        let mut all = c0c1.clone();
        all.extend_from_slice(&c2);
        all.extend_from_slice(b"xyz");
        let (resp, rem, kind) = completed(server.handle_input(&all).unwrap());
        assert_eq!(resp, reply);
        assert_eq!(rem, b"xyz");
        let expected = if digest {
            HandshakeKind::Digest { scheme: 1 }
        } else {
            HandshakeKind::Plain
        };
        assert_eq!(kind, expected);
    }
}

#[test]
fn client_remaining_after_s2() {
    let mut client = ClientHandshake::new(rand_block(70), 1, true);
    let mut server = ServerHandshake::new(rand_block(71), 2);
    let mut reply = in_progress(server.handle_input(&client.start()).unwrap());
    reply.extend_from_slice(b"server chunks");
    let (_, rem, _) = completed(client.handle_input(&reply).unwrap());
    assert_eq!(rem, b"server chunks");
}

#[test]
fn wrong_c0_version_is_rejected_immediately() {
    for bad in [0u8, 6, 8, 9, b'G', 0xff] {
        let mut server = ServerHandshake::new(rand_block(80), 0);
        assert_eq!(
            server.handle_input(&[bad]),
            Err(HandshakeError::UnsupportedVersion(bad))
        );
        assert_eq!(
            server.handle_input(&[3]),
            Err(HandshakeError::AlreadyFailed)
        );
    }
    let mut server = ServerHandshake::new(rand_block(80), 0);
    assert_eq!(
        server.handle_input(b"GET / HTTP/1.1\r\n"),
        Err(HandshakeError::UnsupportedVersion(b'G'))
    );
    // Empty input before C0 is fine.
    let mut server = ServerHandshake::new(rand_block(80), 0);
    assert!(in_progress(server.handle_input(&[]).unwrap()).is_empty());
}

#[test]
fn wrong_s0_version_is_rejected() {
    let mut client = ClientHandshake::new(rand_block(81), 0, true);
    client.start();
    assert_eq!(
        client.handle_input(&[6, 0, 0]),
        Err(HandshakeError::UnsupportedVersion(6))
    );
    assert_eq!(
        client.handle_input(&[3]),
        Err(HandshakeError::AlreadyFailed)
    );
}

#[test]
fn input_after_completion_is_an_error() {
    let mut client = ClientHandshake::new(rand_block(90), 0, false);
    let mut server = ServerHandshake::new(rand_block(91), 0);
    let reply = in_progress(server.handle_input(&client.start()).unwrap());
    let (c2, _, _) = completed(client.handle_input(&reply).unwrap());
    completed(server.handle_input(&c2).unwrap());
    assert_eq!(
        server.handle_input(b"more"),
        Err(HandshakeError::AlreadyCompleted)
    );
    assert_eq!(
        client.handle_input(b"more"),
        Err(HandshakeError::AlreadyCompleted)
    );
}

#[test]
fn key_constants_match_reference() {
    assert_eq!(&digest::FP_KEY[..], &full(fp_text())[..]);
    assert_eq!(&digest::FMS_KEY[..], &full(fms_text())[..]);
    assert_eq!(digest::fp_partial_key(), &fp_text()[..]);
    assert_eq!(digest::fms_partial_key(), &fms_text()[..]);
}

#[test]
fn debug_output_is_short() {
    let s = format!("{:?}", ServerHandshake::new([7; RANDOM_SIZE], 0));
    assert!(s.len() < 200, "{s}");
    let c = format!("{:?}", ClientHandshake::new([7; RANDOM_SIZE], 0, true));
    assert!(c.len() < 200, "{c}");
}

// ----- property tests --------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Arbitrary byte streams, arbitrarily split, never panic the server.
    #[test]
    fn server_never_panics(data in proptest::collection::vec(any::<u8>(), 0..5000),
                           cuts in proptest::collection::vec(1usize..2000, 0..8),
                           force_c0 in any::<bool>()) {
        let mut data = data;
        if force_c0 && !data.is_empty() { data[0] = 3; }
        let mut server = ServerHandshake::new([1; RANDOM_SIZE], 0);
        let mut rest = &data[..];
        for cut in cuts.into_iter().chain(std::iter::once(usize::MAX)) {
            let n = cut.min(rest.len());
            let _ = server.handle_input(&rest[..n]);
            rest = &rest[n..];
        }
    }

    /// Arbitrary server replies never panic the client, in either mode.
    #[test]
    fn client_never_panics(data in proptest::collection::vec(any::<u8>(), 0..5000),
                           cut in 0usize..5000, digest in any::<bool>(), force_s0 in any::<bool>()) {
        let mut data = data;
        if force_s0 && !data.is_empty() { data[0] = 3; }
        let mut client = ClientHandshake::new([2; RANDOM_SIZE], 0, digest);
        client.start();
        let cut = cut.min(data.len());
        let _ = client.handle_input(&data[..cut]);
        let _ = client.handle_input(&data[cut..]);
    }

    /// Any C1 (random, or with a real digest at a random scheme), split anywhere, yields the
    /// same bytes and kind as feeding it whole; digest C1s always get a valid digest reply.
    #[test]
    fn server_split_invariant(c1 in proptest::collection::vec(any::<u8>(), 1536),
                              sign in proptest::option::of(0u8..2),
                              trailing in proptest::collection::vec(any::<u8>(), 0..64),
                              cuts in proptest::collection::vec(0usize..3200, 0..6)) {
        let mut c1 = c1;
        let mut c1_digest = None;
        if let Some(scheme) = sign {
            if c1[4..8] == [0, 0, 0, 0] { c1[4] = 1; }
            c1_digest = Some((scheme, ref_sign(&mut c1, scheme, &fp_text())));
        }
        let mut stream = vec![3u8];
        stream.extend_from_slice(&c1);
        stream.extend_from_slice(&[0x55; 1536]);
        stream.extend_from_slice(&trailing);

        let mut whole = ServerHandshake::new([3; RANDOM_SIZE], 9);
        let (w_resp, w_rem, w_kind) = completed(whole.handle_input(&stream).unwrap());
        prop_assert_eq!(&w_rem, &trailing);

        let mut cuts = cuts;
        cuts.push(0);
        cuts.push(stream.len());
        cuts.sort_unstable();
        let mut split = ServerHandshake::new([3; RANDOM_SIZE], 9);
        let mut got = Fed { sent: Vec::new(), remaining: Vec::new(), kind: None };
        for w in cuts.windows(2) {
            let (a, b) = (w[0].min(stream.len()), w[1].min(stream.len()));
            if got.kind.is_some() { got.remaining.extend_from_slice(&stream[a..b]); continue; }
            match split.handle_input(&stream[a..b]).unwrap() {
                HandshakeProgress::InProgress { response } => got.sent.extend(response),
                HandshakeProgress::Completed { response, remaining, kind } => {
                    got.sent.extend(response);
                    got.remaining = remaining;
                    got.kind = Some(kind);
                }
            }
        }
        prop_assert_eq!(&got.sent, &w_resp);
        prop_assert_eq!(&got.remaining, &trailing);
        prop_assert_eq!(got.kind, Some(w_kind));

        if let Some((scheme, d)) = c1_digest {
            // A random C1 could in theory be valid at the other scheme too; it never is.
            let found = if ref_check(&c1, 1, &fp_text()).is_some() { 1 } else { scheme };
            prop_assert_eq!(w_kind, HandshakeKind::Digest { scheme: found });
            prop_assert!(ref_check(&w_resp[1..1537], found, &fms_text()).is_some());
            let d = ref_check(&c1, found, &fp_text()).unwrap_or(d);
            prop_assert!(ref_response_ok(&w_resp[1537..], &full(fms_text()), &d));
        } else {
            prop_assert_eq!(w_kind, HandshakeKind::Plain);
            prop_assert_eq!(&w_resp[1537..], &c1[..]);
        }
    }

    /// Digest offsets always leave room for the 32-byte digest.
    #[test]
    fn digest_offsets_in_bounds(bytes in proptest::array::uniform4(any::<u8>()), scheme in 0u8..2) {
        let mut p = [0u8; HANDSHAKE_SIZE];
        let at = if scheme == 0 { 8 } else { 772 };
        p[at..at + 4].copy_from_slice(&bytes);
        let o = digest::digest_offset(&p, scheme);
        prop_assert_eq!(o, ref_offset(&p, scheme));
        let end = if scheme == 0 { 772 } else { 1536 };
        prop_assert!(o >= at + 4 && o + 32 <= end);
    }
}
