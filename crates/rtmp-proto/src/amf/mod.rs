//! Action Message Format (AMF0 and AMF3) values, decoders and encoders.
//!
//! RTMP carries command and data messages as sequences of AMF values. Both
//! AMF versions decode into one tree type, [`AmfValue`]; [`amf0`] handles the
//! classic encoding (RTMP message types 18 and 20) and [`amf3`] the newer one
//! (message types 15 and 17, where AMF3 is embedded in AMF0 through the
//! "avmplus-object" marker).
//!
//! # Hostile input
//!
//! The decoders parse untrusted network bytes, so they are written to:
//!
//! * never panic, whatever the input;
//! * never nest deeper than [`MAX_DEPTH`] containers (no unbounded recursion);
//! * never allocate from a declared length: containers grow as elements are
//!   actually read, and every element consumes at least one input byte;
//! * bound the total amount of memory materialised, including values cloned
//!   through reference tables ("billion laughs" style amplification), by a
//!   budget linear in the input size (see [`AmfError::TooLarge`]).

pub mod amf0;
pub mod amf3;
#[cfg(test)]
mod tests;

use std::fmt::Write as _;

/// Maximum container nesting accepted by the decoders.
///
/// A value nested deeper than this fails with [`AmfError::TooDeep`]. The count is
/// shared across an AMF0 → AMF3 switch.
pub const MAX_DEPTH: usize = 64;

/// A decoded AMF value. AMF3 values decode into the same type.
#[derive(Debug, Clone, PartialEq)]
pub enum AmfValue {
    /// IEEE-754 double (AMF0 number; AMF3 integer or double).
    Number(f64),
    /// Boolean.
    Boolean(bool),
    /// UTF-8 string (AMF0 string, long string and XML document; AMF3 string).
    String(String),
    /// Anonymous or typed object, properties in wire order. The class name of
    /// typed objects is dropped.
    Object(Vec<(String, AmfValue)>),
    /// `null`.
    Null,
    /// `undefined` (also used for the AMF0 "unsupported" marker).
    Undefined,
    /// Associative ("ECMA" / mixed) array, properties in wire order.
    EcmaArray(Vec<(String, AmfValue)>),
    /// Dense array.
    StrictArray(Vec<AmfValue>),
    /// Date: milliseconds since the Unix epoch (UTC) and the AMF0 timezone field
    /// (reserved, normally 0; always 0 for AMF3).
    Date {
        /// Milliseconds since 1970-01-01T00:00:00Z.
        millis: f64,
        /// Timezone offset field as sent (AMF0 only; reserved).
        timezone: i16,
    },
    /// Raw bytes: AMF3 ByteArray, AMF3 XML and XMLDocument.
    ByteArray(Vec<u8>),
}

impl AmfValue {
    /// The string contents if this is a [`AmfValue::String`].
    pub fn as_str(&self) -> Option<&str> {
        match self {
            AmfValue::String(s) => Some(s),
            _ => None,
        }
    }

    /// The number if this is a [`AmfValue::Number`].
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            AmfValue::Number(n) => Some(*n),
            _ => None,
        }
    }

    /// The boolean if this is a [`AmfValue::Boolean`].
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            AmfValue::Boolean(b) => Some(*b),
            _ => None,
        }
    }

    /// Property lookup on Object or EcmaArray (first match).
    pub fn get(&self, key: &str) -> Option<&AmfValue> {
        self.properties()?
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }

    /// The ordered properties of an Object or EcmaArray.
    pub fn properties(&self) -> Option<&[(String, AmfValue)]> {
        match self {
            AmfValue::Object(props) | AmfValue::EcmaArray(props) => Some(props),
            _ => None,
        }
    }

    /// Render as a compact JSON string, for logs and events.
    ///
    /// Mapping: integral numbers print without a fraction (`1`, not `1.0`),
    /// non-finite numbers become `null`; `Null` and `Undefined` become `null`;
    /// Object and EcmaArray become JSON objects (keys in order, duplicates
    /// kept); StrictArray becomes a JSON array; Date becomes its millisecond
    /// number; ByteArray becomes a lowercase hex string.
    pub fn to_json(&self) -> String {
        let mut out = String::new();
        write_json(self, &mut out);
        out
    }
}

fn write_json(value: &AmfValue, out: &mut String) {
    match value {
        AmfValue::Number(n) | AmfValue::Date { millis: n, .. } => write_json_number(*n, out),
        AmfValue::Boolean(b) => out.push_str(if *b { "true" } else { "false" }),
        AmfValue::String(s) => write_json_string(s, out),
        AmfValue::Null | AmfValue::Undefined => out.push_str("null"),
        AmfValue::Object(props) | AmfValue::EcmaArray(props) => {
            out.push('{');
            for (i, (k, v)) in props.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json_string(k, out);
                out.push(':');
                write_json(v, out);
            }
            out.push('}');
        }
        AmfValue::StrictArray(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(v, out);
            }
            out.push(']');
        }
        AmfValue::ByteArray(bytes) => {
            out.push('"');
            for b in bytes {
                let _ = write!(out, "{b:02x}");
            }
            out.push('"');
        }
    }
}

fn write_json_number(n: f64, out: &mut String) {
    /// Largest magnitude below which every integral f64 is exactly an i64 we can print.
    const EXACT_INT: f64 = 9_007_199_254_740_992.0; // 2^53
    if !n.is_finite() {
        out.push_str("null");
    } else if n.fract() == 0.0 && n.abs() <= EXACT_INT {
        // `as` is exact here; -0.0 prints as 0.
        let _ = write!(out, "{}", n as i64);
    } else {
        // Rust's Display never uses exponent notation and round-trips, so it
        // is always valid JSON for finite values.
        let _ = write!(out, "{n}");
    }
}

fn write_json_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || c == '\u{7f}' || c == '\u{2028}' || c == '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Errors produced while decoding AMF.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum AmfError {
    /// The input ended in the middle of a value.
    #[error("unexpected end of AMF data")]
    UnexpectedEnd,
    /// A type marker that is not defined by the specification.
    #[error("unknown AMF type marker 0x{0:02x}")]
    UnknownMarker(u8),
    /// A defined type marker this decoder deliberately rejects (AMF0 movieclip,
    /// recordset; AMF3 dictionary).
    #[error("unsupported AMF type marker 0x{0:02x}")]
    UnsupportedMarker(u8),
    /// An AMF0 object-end marker where a value was expected.
    #[error("AMF0 object-end marker outside an object")]
    UnexpectedObjectEnd,
    /// A string was not valid UTF-8.
    #[error("invalid UTF-8 in AMF string")]
    InvalidUtf8,
    /// Containers nested deeper than [`MAX_DEPTH`].
    #[error("AMF value nested deeper than {MAX_DEPTH} levels")]
    TooDeep,
    /// A string, object or traits reference pointed past its table.
    #[error("AMF reference index out of range")]
    ReferenceOutOfRange,
    /// A reference to an object that is still being decoded (a cycle), which a
    /// value tree cannot represent.
    #[error("circular AMF object reference")]
    CircularReference,
    /// An AMF3 object with externalizable traits; their body format is
    /// class-specific and cannot be decoded generically.
    #[error("AMF3 externalizable object of class {0:?} is not supported")]
    Externalizable(String),
    /// Decoding would materialise more data than the budget allowed for this
    /// input size (typically reference-table amplification).
    #[error("decoded AMF value exceeds the size budget")]
    TooLarge,
}

/// Memory budget (in approximate bytes of decoded data) granted per input byte.
const BUDGET_PER_INPUT_BYTE: usize = 64;
/// Memory budget granted to every decode call regardless of input size, so
/// small messages may still use reference tables freely.
const BUDGET_FLOOR: usize = 1 << 20;

/// Approximate cost of one value node in the decoded tree.
pub(crate) const VALUE_COST: usize = std::mem::size_of::<AmfValue>();
/// Approximate fixed cost of one property key (the `String` header).
pub(crate) const KEY_COST: usize = std::mem::size_of::<String>();

/// Byte cursor plus the per-call decode limits, shared by the AMF0 and AMF3
/// decoders.
///
/// Two limits are enforced here:
///
/// * **depth**: [`Reader::enter`] / [`Reader::leave`] bracket every container;
///   values cloned from a reference table are checked with [`Reader::graft`] so
///   the *output* tree never exceeds [`MAX_DEPTH`] either;
/// * **size**: every materialised node, key and string byte is charged with
///   [`Reader::charge`], and copies kept in reference tables with
///   [`Reader::charge_copy`]; the total may not exceed a budget linear in the
///   input length.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    /// Current container nesting.
    depth: usize,
    /// Deepest nesting reached since the innermost open [`Mark`].
    peak: usize,
    /// Approximate size of the decoded tree(s) so far.
    tree: usize,
    /// `tree` plus reference-table copies.
    spent: usize,
    budget: usize,
}

/// Snapshot taken by [`Reader::mark`] before decoding a referenceable value.
pub(crate) struct Mark {
    tree: usize,
    depth: usize,
    peak: usize,
}

/// Size and height of a decoded subtree, used when it is cloned through a
/// reference.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Shape {
    cost: usize,
    height: usize,
}

impl<'a> Reader<'a> {
    /// A reader over `buf` with a size budget derived from its length.
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Self::with_cap(buf, usize::MAX)
    }

    /// A reader over `buf` whose budget (derived from its length) never exceeds `cap`
    /// bytes: for input from a peer that has not been authorized yet.
    pub(crate) fn with_cap(buf: &'a [u8], cap: usize) -> Self {
        Reader {
            buf,
            pos: 0,
            depth: 0,
            peak: 0,
            tree: 0,
            spent: 0,
            budget: buf
                .len()
                .saturating_mul(BUDGET_PER_INPUT_BYTE)
                .saturating_add(BUDGET_FLOOR)
                .min(cap),
        }
    }

    /// Bytes consumed so far.
    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    /// Bytes left to read.
    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// The unread part of the input.
    pub(crate) fn rest(&self) -> &'a [u8] {
        &self.buf[self.pos..]
    }

    /// Next byte without consuming it.
    pub(crate) fn peek_u8(&self) -> Option<u8> {
        self.buf.get(self.pos).copied()
    }

    /// Consume exactly `n` bytes.
    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], AmfError> {
        if n > self.remaining() {
            return Err(AmfError::UnexpectedEnd);
        }
        let bytes = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(bytes)
    }

    /// Consume a fixed-size array.
    fn array<const N: usize>(&mut self) -> Result<[u8; N], AmfError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    /// Consume one byte.
    pub(crate) fn u8(&mut self) -> Result<u8, AmfError> {
        Ok(self.array::<1>()?[0])
    }

    /// Consume a big-endian `u16`.
    pub(crate) fn u16(&mut self) -> Result<u16, AmfError> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    /// Consume a big-endian `i16`.
    pub(crate) fn i16(&mut self) -> Result<i16, AmfError> {
        Ok(i16::from_be_bytes(self.array()?))
    }

    /// Consume a big-endian `u32`.
    pub(crate) fn u32(&mut self) -> Result<u32, AmfError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    /// Consume a big-endian IEEE-754 double.
    pub(crate) fn f64(&mut self) -> Result<f64, AmfError> {
        Ok(f64::from_be_bytes(self.array()?))
    }

    /// Consume `n` bytes of UTF-8, charging their size to the budget.
    pub(crate) fn utf8(&mut self, n: usize) -> Result<String, AmfError> {
        let bytes = self.take(n)?;
        self.charge(n)?;
        std::str::from_utf8(bytes)
            .map(str::to_owned)
            .map_err(|_| AmfError::InvalidUtf8)
    }

    /// Account for `cost` bytes added to the decoded tree.
    pub(crate) fn charge(&mut self, cost: usize) -> Result<(), AmfError> {
        self.tree = self.tree.saturating_add(cost);
        self.charge_copy(cost)
    }

    /// Account for `cost` bytes held outside the tree (reference-table copies).
    pub(crate) fn charge_copy(&mut self, cost: usize) -> Result<(), AmfError> {
        self.spent = self.spent.saturating_add(cost);
        if self.spent > self.budget {
            Err(AmfError::TooLarge)
        } else {
            Ok(())
        }
    }

    /// Enter a container; fails with [`AmfError::TooDeep`] past [`MAX_DEPTH`].
    pub(crate) fn enter(&mut self) -> Result<(), AmfError> {
        if self.depth >= MAX_DEPTH {
            return Err(AmfError::TooDeep);
        }
        self.depth += 1;
        self.peak = self.peak.max(self.depth);
        Ok(())
    }

    /// Leave a container entered with [`Reader::enter`].
    pub(crate) fn leave(&mut self) {
        self.depth -= 1;
    }

    /// Start measuring a referenceable value (call before its `enter`).
    pub(crate) fn mark(&mut self) -> Mark {
        let mark = Mark {
            tree: self.tree,
            depth: self.depth,
            peak: self.peak,
        };
        self.peak = self.depth;
        mark
    }

    /// Finish measuring the value started at `mark` (call after its `leave`).
    pub(crate) fn shape_since(&mut self, mark: Mark) -> Shape {
        let shape = Shape {
            cost: self.tree - mark.tree,
            height: self.peak - mark.depth,
        };
        self.peak = self.peak.max(mark.peak);
        shape
    }

    /// Account for a value of `shape` cloned from a reference table at the
    /// current position: checks the resulting depth and charges its size.
    pub(crate) fn graft(&mut self, shape: Shape) -> Result<(), AmfError> {
        let bottom = self.depth + shape.height;
        if bottom > MAX_DEPTH {
            return Err(AmfError::TooDeep);
        }
        self.peak = self.peak.max(bottom);
        self.charge(shape.cost)
    }
}

/// Keep a reference-table copy of `value`, charging it to the budget.
pub(crate) fn table_copy(
    reader: &mut Reader<'_>,
    value: &AmfValue,
    shape: Shape,
) -> Result<(AmfValue, Shape), AmfError> {
    reader.charge_copy(shape.cost)?;
    Ok((value.clone(), shape))
}

/// An initial capacity for a container whose declared length is untrusted:
/// never more than a small constant, and never more than the input left.
pub(crate) fn initial_capacity(declared: usize, remaining: usize) -> usize {
    declared.min(remaining).min(16)
}

/// The longest prefix of `s` that is at most `max` bytes and ends on a char
/// boundary. Used by encoders for lengths the wire format cannot express.
pub(crate) fn truncate_utf8(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}
