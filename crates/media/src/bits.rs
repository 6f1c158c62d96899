//! MSB-first bit reader with exp-Golomb support, for H.264/H.265 parameter sets and
//! MPEG-4 AudioSpecificConfig.
//!
//! All reads are bounds-checked and fail with [`MediaError::Truncated`]; exp-Golomb
//! codes longer than 32 bits are rejected as invalid rather than looped over.

use super::MediaError;

/// Remove H.264/H.265 emulation-prevention bytes (`00 00 03` → `00 00`), producing the
/// raw byte sequence payload. The output is never longer than the input.
pub(crate) fn unescape_rbsp(nal: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(nal.len());
    let mut zeros = 0usize;
    for &b in nal {
        if zeros >= 2 && b == 3 {
            zeros = 0;
            continue;
        }
        if b == 0 {
            zeros += 1;
        } else {
            zeros = 0;
        }
        out.push(b);
    }
    out
}

/// Big-endian (MSB-first) bit reader over a byte slice.
#[derive(Debug, Clone)]
pub(crate) struct BitReader<'a> {
    data: &'a [u8],
    /// Position in bits from the start of `data`.
    pos: usize,
}

impl<'a> BitReader<'a> {
    /// Reader positioned at the first bit of `data`.
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Self { data, pos: 0 }
    }

    /// Number of bits not yet consumed.
    pub(crate) fn bits_left(&self) -> usize {
        (self.data.len() * 8).saturating_sub(self.pos)
    }

    /// Read one bit.
    pub(crate) fn read_bit(&mut self) -> Result<bool, MediaError> {
        let byte = *self.data.get(self.pos / 8).ok_or(MediaError::Truncated)?;
        let bit = (byte >> (7 - (self.pos % 8))) & 1;
        self.pos += 1;
        Ok(bit == 1)
    }

    /// Read one bit as a flag (alias kept for readability at call sites).
    pub(crate) fn flag(&mut self) -> Result<bool, MediaError> {
        self.read_bit()
    }

    /// Read `n` bits (0..=32) as an unsigned value.
    pub(crate) fn read_bits(&mut self, n: u32) -> Result<u32, MediaError> {
        debug_assert!(n <= 32);
        if n > 32 {
            return Err(MediaError::Invalid("bit field wider than 32 bits"));
        }
        if (n as usize) > self.bits_left() {
            return Err(MediaError::Truncated);
        }
        let mut v: u64 = 0;
        for _ in 0..n {
            v = (v << 1) | u64::from(self.read_bit()?);
        }
        Ok(v as u32)
    }

    /// Read an 8-bit value.
    pub(crate) fn read_u8(&mut self) -> Result<u8, MediaError> {
        Ok(self.read_bits(8)? as u8)
    }

    /// Skip `n` bits.
    pub(crate) fn skip(&mut self, n: usize) -> Result<(), MediaError> {
        if n > self.bits_left() {
            return Err(MediaError::Truncated);
        }
        self.pos += n;
        Ok(())
    }

    /// Skip to the next byte boundary (relative to the start of the data).
    pub(crate) fn byte_align(&mut self) -> Result<(), MediaError> {
        let pad = (8 - self.pos % 8) % 8;
        self.skip(pad)
    }

    /// Read an unsigned exp-Golomb code `ue(v)`. Codes with more than 31 leading zero
    /// bits would not fit in `u32` and are rejected.
    pub(crate) fn read_ue(&mut self) -> Result<u32, MediaError> {
        let mut zeros = 0u32;
        while !self.read_bit()? {
            zeros += 1;
            if zeros > 31 {
                return Err(MediaError::Invalid("exp-Golomb code too long"));
            }
        }
        if zeros == 0 {
            return Ok(0);
        }
        let rest = self.read_bits(zeros)?;
        // (1 << zeros) - 1 + rest, computed in u64 so zeros == 31/32 cannot overflow.
        let v = (1u64 << zeros) - 1 + u64::from(rest);
        u32::try_from(v).map_err(|_| MediaError::Invalid("exp-Golomb value out of range"))
    }

    /// Read an unsigned exp-Golomb code and check it against an inclusive maximum.
    pub(crate) fn read_ue_max(&mut self, max: u32, what: &'static str) -> Result<u32, MediaError> {
        let v = self.read_ue()?;
        if v > max {
            return Err(MediaError::Invalid(what));
        }
        Ok(v)
    }

    /// Read a signed exp-Golomb code `se(v)`.
    pub(crate) fn read_se(&mut self) -> Result<i32, MediaError> {
        let k = i64::from(self.read_ue()?);
        let v = if k % 2 == 1 { (k + 1) / 2 } else { -(k / 2) };
        i32::try_from(v).map_err(|_| MediaError::Invalid("exp-Golomb value out of range"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_fixed_width_fields() {
        let mut r = BitReader::new(&[0b1010_1100, 0xFF, 0x01]);
        assert!(r.read_bit().unwrap());
        assert_eq!(r.read_bits(3).unwrap(), 0b010);
        assert_eq!(r.read_bits(8).unwrap(), 0b1100_1111);
        assert_eq!(r.bits_left(), 12);
        assert_eq!(r.read_bits(12).unwrap(), 0xF01);
        assert_eq!(r.read_bit(), Err(MediaError::Truncated));
    }

    #[test]
    fn reads_exp_golomb() {
        // ue: 1 -> 0, 010 -> 1, 011 -> 2, 00100 -> 3, 00111 -> 6
        // bits: 1 010 011 00100 00111 + padding
        let bytes = [0b1010_0110, 0b0100_0011, 0b1000_0000];
        let mut r = BitReader::new(&bytes);
        let got: Vec<u32> = (0..5).map(|_| r.read_ue().unwrap()).collect();
        assert_eq!(got, vec![0, 1, 2, 3, 6]);
        // se mapping: 0->0, 1->1, 2->-1, 3->2, 4->-2
        let bytes = [0b1010_0110, 0b0100_0010, 0b1000_0000];
        let mut r = BitReader::new(&bytes);
        let got: Vec<i32> = (0..5).map(|_| r.read_se().unwrap()).collect();
        assert_eq!(got, vec![0, 1, -1, 2, -2]);
    }

    #[test]
    fn exp_golomb_extremes() {
        // 31 zeros, a one, then 31 ones: 2^32 - 2, the largest value that fits.
        let mut bytes = vec![0u8; 3];
        bytes.extend_from_slice(&[0b0000_0001, 0xFF, 0xFF, 0xFF, 0xFE]);
        let mut r = BitReader::new(&bytes);
        assert_eq!(r.read_ue().unwrap(), u32::MAX - 1);
        // 32 zeros must be rejected, not looped over or overflowed.
        let mut r = BitReader::new(&[0, 0, 0, 0, 0x80, 0, 0, 0, 0]);
        assert!(matches!(r.read_ue(), Err(MediaError::Invalid(_))));
        // All zeros, truncated.
        let mut r = BitReader::new(&[0, 0]);
        assert_eq!(r.read_ue(), Err(MediaError::Truncated));
    }

    #[test]
    fn removes_emulation_prevention() {
        assert_eq!(
            unescape_rbsp(&[0, 0, 3, 1, 0, 0, 3, 0, 0, 3]),
            vec![0, 0, 1, 0, 0, 0, 0]
        );
        assert_eq!(unescape_rbsp(&[0, 3, 0, 0, 0, 3]), vec![0, 3, 0, 0, 0]);
        assert_eq!(unescape_rbsp(&[0, 0, 3, 0, 0, 3]), vec![0, 0, 0, 0]);
    }
}
