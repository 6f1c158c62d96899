//! HMAC-SHA256 digest helpers for the Flash-style ("complex") handshake.
//!
//! Layout facts (shared by Flash Player, FMS, librtmp, FFmpeg, nginx-rtmp):
//!
//! * A 1536-byte C1/S1 packet carries a 32-byte digest at an offset derived from four
//!   bytes of the packet itself. Scheme 0 sums bytes `8..12` and places the digest at
//!   `sum % 728 + 12`; scheme 1 sums bytes `772..776` and places it at `sum % 728 + 776`.
//!   Both always fit: the furthest digest ends at `727 + 776 + 32 = 1535`.
//! * The digest is HMAC-SHA256 over the packet with the 32 digest bytes left out, keyed
//!   with the first 30 bytes of the Flash Player key (C1) or the first 36 bytes of the
//!   Flash Media Server key (S1).
//! * A C2/S2 answering a digest packet is 1504 filler bytes followed by
//!   HMAC-SHA256(key = HMAC-SHA256(full own-role key, peer's digest), data = filler).

use hmac::{Hmac, Mac};
use sha2::{Digest as _, Sha256};

use super::HANDSHAKE_SIZE;

type HmacSha256 = Hmac<Sha256>;

/// Length of an HMAC-SHA256 output.
pub(super) const DIGEST_LEN: usize = 32;

/// Where a C2/S2 signature starts: the last 32 bytes of the packet.
pub(super) const SIGNATURE_OFFSET: usize = HANDSHAKE_SIZE - DIGEST_LEN;

/// The 32 fixed bytes appended to both textual keys.
const KEY_TAIL: [u8; 32] = [
    0xF0, 0xEE, 0xC2, 0x4A, 0x80, 0x68, 0xBE, 0xE8, 0x2E, 0x00, 0xD0, 0xD1, 0x02, 0x9E, 0x7E, 0x57,
    0x6E, 0xEC, 0x5D, 0x2D, 0x29, 0x80, 0x6F, 0xAB, 0x93, 0xB8, 0xE6, 0x36, 0xCF, 0xEB, 0x31, 0xAE,
];

/// Concatenates a textual key prefix and [`KEY_TAIL`]; fails to compile if `N` is wrong.
const fn join_key<const N: usize>(head: &[u8]) -> [u8; N] {
    assert!(head.len() + KEY_TAIL.len() == N);
    let mut out = [0u8; N];
    let mut i = 0;
    while i < head.len() {
        out[i] = head[i];
        i += 1;
    }
    let mut j = 0;
    while j < KEY_TAIL.len() {
        out[head.len() + j] = KEY_TAIL[j];
        j += 1;
    }
    out
}

/// Flash Player key: "Genuine Adobe Flash Player 001" + tail (62 bytes).
pub(super) const FP_KEY: [u8; 62] = join_key(b"Genuine Adobe Flash Player 001");
/// Flash Media Server key: "Genuine Adobe Flash Media Server 001" + tail (68 bytes).
pub(super) const FMS_KEY: [u8; 68] = join_key(b"Genuine Adobe Flash Media Server 001");

/// The part of [`FP_KEY`] that keys the C1 digest (the text only).
pub(super) fn fp_partial_key() -> &'static [u8] {
    &FP_KEY[..30]
}

/// The part of [`FMS_KEY`] that keys the S1 digest (the text only).
pub(super) fn fms_partial_key() -> &'static [u8] {
    &FMS_KEY[..36]
}

fn new_mac(key: &[u8]) -> HmacSha256 {
    // HMAC is defined for keys of every length; this cannot fail.
    HmacSha256::new_from_slice(key).expect("HMAC accepts keys of any length")
}

/// HMAC-SHA256 of `data` under `key`.
pub(super) fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; DIGEST_LEN] {
    let mut mac = new_mac(key);
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// Offset of the 32-byte digest inside a C1/S1 packet for `scheme` (0 or 1).
pub(super) fn digest_offset(packet: &[u8; HANDSHAKE_SIZE], scheme: u8) -> usize {
    let base = if scheme == 0 { 8 } else { 772 };
    let sum: usize = packet[base..base + 4].iter().map(|&b| usize::from(b)).sum();
    sum % 728 + base + 4
}

/// HMAC state fed with the whole packet except the digest at `offset`.
fn mac_without_digest(key: &[u8], packet: &[u8; HANDSHAKE_SIZE], offset: usize) -> HmacSha256 {
    let mut mac = new_mac(key);
    mac.update(&packet[..offset]);
    mac.update(&packet[offset + DIGEST_LEN..]);
    mac
}

/// Looks for a valid digest under `key`, trying scheme `first` and then the other one.
///
/// Returns the scheme it was found at and the digest bytes.
pub(super) fn find_digest(
    packet: &[u8; HANDSHAKE_SIZE],
    key: &[u8],
    first: u8,
) -> Option<(u8, [u8; DIGEST_LEN])> {
    let first = first.min(1);
    [first, 1 - first].into_iter().find_map(|scheme| {
        let offset = digest_offset(packet, scheme);
        let stored = &packet[offset..offset + DIGEST_LEN];
        mac_without_digest(key, packet, offset)
            .verify_slice(stored)
            .ok()
            .map(|()| {
                let mut digest = [0u8; DIGEST_LEN];
                digest.copy_from_slice(stored);
                (scheme, digest)
            })
    })
}

/// Computes the digest of `packet` under `key`, stores it at the `scheme` offset and returns it.
pub(super) fn write_digest(
    packet: &mut [u8; HANDSHAKE_SIZE],
    key: &[u8],
    scheme: u8,
) -> [u8; DIGEST_LEN] {
    let offset = digest_offset(packet, scheme);
    let digest: [u8; DIGEST_LEN] = mac_without_digest(key, packet, offset)
        .finalize()
        .into_bytes()
        .into();
    packet[offset..offset + DIGEST_LEN].copy_from_slice(&digest);
    digest
}

/// Fills `out` with bytes derived from `seed` (SHA-256 in counter mode).
///
/// Used for the filler of a signed C2/S2 so the caller only has to supply one block of
/// randomness. The filler carries no security; it only has to look random on the wire.
fn expand(seed: &[&[u8]], out: &mut [u8]) {
    let mut hasher = Sha256::new();
    for part in seed {
        hasher.update(part);
    }
    let seed_hash = hasher.finalize();
    for (counter, block) in (0u32..).zip(out.chunks_mut(DIGEST_LEN)) {
        let bytes = Sha256::new()
            .chain_update(seed_hash)
            .chain_update(counter.to_be_bytes())
            .finalize();
        block.copy_from_slice(&bytes[..block.len()]);
    }
}

/// Appends a signed C2/S2 answering `peer_digest` to `out`.
///
/// `full_key` is the sender's own full key (FMS for S2, FP for C2); `seed` feeds the filler.
pub(super) fn push_signed_response(
    out: &mut Vec<u8>,
    full_key: &[u8],
    peer_digest: &[u8; DIGEST_LEN],
    seed: &[&[u8]],
) {
    let mut packet = [0u8; HANDSHAKE_SIZE];
    expand(seed, &mut packet[..SIGNATURE_OFFSET]);
    let signing_key = hmac_sha256(full_key, peer_digest);
    let signature = hmac_sha256(&signing_key, &packet[..SIGNATURE_OFFSET]);
    packet[SIGNATURE_OFFSET..].copy_from_slice(&signature);
    out.extend_from_slice(&packet);
}

/// Checks that `packet` (a C2/S2) is signed with `signing_key` (already derived from the digest).
pub(super) fn verify_signed_response(signing_key: &[u8; DIGEST_LEN], packet: &[u8]) -> bool {
    if packet.len() != HANDSHAKE_SIZE {
        return false;
    }
    let mut mac = new_mac(signing_key);
    mac.update(&packet[..SIGNATURE_OFFSET]);
    mac.verify_slice(&packet[SIGNATURE_OFFSET..]).is_ok()
}
