//! AMF0 decoding and encoding.
//!
//! AMF0 is the encoding of RTMP command messages (type 20) and data messages
//! (type 18), e.g. `connect`, `publish` and `@setDataFrame`/`onMetaData`.
//!
//! Decoding notes:
//!
//! * Movieclip (0x04) and recordset (0x0E) are rejected with
//!   [`AmfError::UnsupportedMarker`]; "unsupported" (0x0D) decodes to
//!   [`AmfValue::Undefined`]; XML documents decode to [`AmfValue::String`];
//!   typed objects decode to [`AmfValue::Object`] (class name dropped).
//! * The ECMA array count is only a hint (encoders get it wrong); properties are
//!   read up to the object-end marker, and an ECMA array may also simply stop
//!   at the end of the buffer (some encoders omit `00 00 09`).
//! * References (0x07) are resolved by cloning the referenced object; the
//!   reference table (objects, typed objects, ECMA and strict arrays, in the
//!   order their markers appear) spans one [`decode`] / [`decode_all`] call.
//! * The avmplus marker (0x11) switches to AMF3 for exactly one value, with
//!   fresh AMF3 reference tables.
//!
//! Encoding never uses references. Strings over 65535 bytes use the long
//! string type; property keys over 65535 bytes are truncated (on a char
//! boundary); [`AmfValue::ByteArray`] is written as avmplus + AMF3 ByteArray.

use super::{amf3, initial_capacity, table_copy, truncate_utf8, AmfError, AmfValue, Reader};
use super::{Shape, KEY_COST, VALUE_COST};

const NUMBER: u8 = 0x00;
const BOOLEAN: u8 = 0x01;
const STRING: u8 = 0x02;
const OBJECT: u8 = 0x03;
const MOVIECLIP: u8 = 0x04;
const NULL: u8 = 0x05;
const UNDEFINED: u8 = 0x06;
const REFERENCE: u8 = 0x07;
const ECMA_ARRAY: u8 = 0x08;
const OBJECT_END: u8 = 0x09;
const STRICT_ARRAY: u8 = 0x0A;
const DATE: u8 = 0x0B;
const LONG_STRING: u8 = 0x0C;
const UNSUPPORTED: u8 = 0x0D;
const RECORDSET: u8 = 0x0E;
const XML_DOCUMENT: u8 = 0x0F;
const TYPED_OBJECT: u8 = 0x10;
const AVMPLUS: u8 = 0x11;

/// AMF0 reference indices are 16 bits, so later objects are never stored.
const MAX_REFERENCES: usize = 1 << 16;

/// Decode one AMF0 value from the start of `buf`; returns it and the number of
/// bytes consumed. Trailing bytes are left alone.
pub fn decode(buf: &[u8]) -> Result<(AmfValue, usize), AmfError> {
    let mut reader = Reader::new(buf);
    let value = Decoder::default().value(&mut reader)?;
    Ok((value, reader.position()))
}

/// Decode consecutive AMF0 values until the buffer is exhausted (the body of a
/// command or data message). Fails if any value is malformed or truncated.
pub fn decode_all(buf: &[u8]) -> Result<Vec<AmfValue>, AmfError> {
    decode_rest(&mut Reader::new(buf))
}

/// [`decode_all`] with the decoded size capped at `max_decoded` bytes (approximate) whatever
/// the input length: fails with [`AmfError::TooLarge`] past it.
pub fn decode_all_capped(buf: &[u8], max_decoded: usize) -> Result<Vec<AmfValue>, AmfError> {
    decode_rest(&mut Reader::with_cap(buf, max_decoded))
}

/// Decode AMF0 values from the reader until its input is exhausted, sharing
/// one reference table.
pub(crate) fn decode_rest(reader: &mut Reader<'_>) -> Result<Vec<AmfValue>, AmfError> {
    let mut decoder = Decoder::default();
    let mut values = Vec::new();
    while reader.remaining() > 0 {
        values.push(decoder.value(reader)?);
    }
    Ok(values)
}

/// Per-message AMF0 decoding state: the object reference table.
#[derive(Default)]
struct Decoder {
    /// `None` while the object is still being decoded (a reference to it then
    /// would be a cycle).
    refs: Vec<Option<(AmfValue, Shape)>>,
}

impl Decoder {
    fn value(&mut self, r: &mut Reader<'_>) -> Result<AmfValue, AmfError> {
        let marker = r.u8()?;
        r.charge(VALUE_COST)?;
        Ok(match marker {
            NUMBER => AmfValue::Number(r.f64()?),
            BOOLEAN => AmfValue::Boolean(r.u8()? != 0),
            STRING => {
                let len = r.u16()?;
                AmfValue::String(r.utf8(usize::from(len))?)
            }
            LONG_STRING | XML_DOCUMENT => {
                let len = r.u32()?;
                AmfValue::String(r.utf8(len as usize)?)
            }
            OBJECT => self.complex(r, |d, r| Ok(AmfValue::Object(d.properties(r, false)?)))?,
            TYPED_OBJECT => {
                let len = r.u16()?;
                r.take(usize::from(len))?; // class name, dropped
                self.complex(r, |d, r| Ok(AmfValue::Object(d.properties(r, false)?)))?
            }
            ECMA_ARRAY => {
                r.u32()?; // count hint, deliberately ignored
                self.complex(r, |d, r| Ok(AmfValue::EcmaArray(d.properties(r, true)?)))?
            }
            STRICT_ARRAY => {
                let count = r.u32()? as usize;
                self.complex(r, |d, r| {
                    let mut items = Vec::with_capacity(initial_capacity(count, r.remaining()));
                    // Each item consumes at least its marker byte, so a bogus
                    // count ends in `UnexpectedEnd` after at most `remaining` steps.
                    for _ in 0..count {
                        items.push(d.value(r)?);
                    }
                    Ok(AmfValue::StrictArray(items))
                })?
            }
            NULL => AmfValue::Null,
            UNDEFINED | UNSUPPORTED => AmfValue::Undefined,
            REFERENCE => {
                let index = usize::from(r.u16()?);
                match self.refs.get(index) {
                    None => return Err(AmfError::ReferenceOutOfRange),
                    Some(None) => return Err(AmfError::CircularReference),
                    Some(Some((value, shape))) => {
                        r.graft(*shape)?;
                        value.clone()
                    }
                }
            }
            DATE => {
                let millis = r.f64()?;
                let timezone = r.i16()?;
                AmfValue::Date { millis, timezone }
            }
            AVMPLUS => amf3::decode_switched(r)?,
            OBJECT_END => return Err(AmfError::UnexpectedObjectEnd),
            MOVIECLIP | RECORDSET => return Err(AmfError::UnsupportedMarker(marker)),
            other => return Err(AmfError::UnknownMarker(other)),
        })
    }

    /// Decode a referenceable container with `body`, registering it in the
    /// reference table (as in-progress first, so cycles are detected).
    fn complex(
        &mut self,
        r: &mut Reader<'_>,
        body: impl FnOnce(&mut Self, &mut Reader<'_>) -> Result<AmfValue, AmfError>,
    ) -> Result<AmfValue, AmfError> {
        let slot = (self.refs.len() < MAX_REFERENCES).then(|| {
            self.refs.push(None);
            self.refs.len() - 1
        });
        let mark = r.mark();
        r.enter()?;
        let value = body(self, r)?;
        r.leave();
        let shape = r.shape_since(mark);
        if let Some(slot) = slot {
            self.refs[slot] = Some(table_copy(r, &value, shape)?);
        }
        Ok(value)
    }

    /// Read `key, value` pairs up to the object-end marker (`00 00 09`).
    ///
    /// With `eof_ends`, the end of the buffer (or a truncated end marker right
    /// before it) also ends the list.
    fn properties(
        &mut self,
        r: &mut Reader<'_>,
        eof_ends: bool,
    ) -> Result<Vec<(String, AmfValue)>, AmfError> {
        let mut props = Vec::new();
        loop {
            if eof_ends && matches!(r.rest(), [] | [0] | [0, 0]) {
                r.take(r.remaining())?;
                break;
            }
            let key_len = usize::from(r.u16()?);
            if key_len == 0 && r.peek_u8() == Some(OBJECT_END) {
                r.u8()?;
                break;
            }
            let key = r.utf8(key_len)?;
            r.charge(KEY_COST)?;
            let value = self.value(r)?;
            props.push((key, value));
        }
        Ok(props)
    }
}

/// Append the AMF0 encoding of `value` to `out`.
pub fn encode(value: &AmfValue, out: &mut Vec<u8>) {
    match value {
        AmfValue::Number(n) => {
            out.push(NUMBER);
            out.extend_from_slice(&n.to_be_bytes());
        }
        AmfValue::Boolean(b) => out.extend_from_slice(&[BOOLEAN, u8::from(*b)]),
        AmfValue::String(s) => encode_string(s, out),
        AmfValue::Object(props) => {
            out.push(OBJECT);
            encode_properties(props, out);
        }
        AmfValue::Null => out.push(NULL),
        AmfValue::Undefined => out.push(UNDEFINED),
        AmfValue::EcmaArray(props) => {
            out.push(ECMA_ARRAY);
            out.extend_from_slice(&saturating_u32(props.len()).to_be_bytes());
            encode_properties(props, out);
        }
        AmfValue::StrictArray(items) => {
            let count = saturating_u32(items.len());
            out.push(STRICT_ARRAY);
            out.extend_from_slice(&count.to_be_bytes());
            for item in items.iter().take(count as usize) {
                encode(item, out);
            }
        }
        AmfValue::Date { millis, timezone } => {
            out.push(DATE);
            out.extend_from_slice(&millis.to_be_bytes());
            out.extend_from_slice(&timezone.to_be_bytes());
        }
        AmfValue::ByteArray(_) => {
            out.push(AVMPLUS);
            amf3::encode(value, out);
        }
    }
}

/// Encode `values` back to back (a command or data message body).
pub fn encode_all(values: &[AmfValue]) -> Vec<u8> {
    let mut out = Vec::new();
    for value in values {
        encode(value, &mut out);
    }
    out
}

/// String or long string, depending on the UTF-8 length.
fn encode_string(s: &str, out: &mut Vec<u8>) {
    if let Ok(len) = u16::try_from(s.len()) {
        out.push(STRING);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(s.as_bytes());
    } else {
        let s = truncate_utf8(s, u32::MAX as usize);
        out.push(LONG_STRING);
        out.extend_from_slice(&saturating_u32(s.len()).to_be_bytes());
        out.extend_from_slice(s.as_bytes());
    }
}

/// Property list followed by the object-end marker.
fn encode_properties(props: &[(String, AmfValue)], out: &mut Vec<u8>) {
    for (key, value) in props {
        let key = truncate_utf8(key, usize::from(u16::MAX));
        out.extend_from_slice(&(key.len() as u16).to_be_bytes());
        out.extend_from_slice(key.as_bytes());
        encode(value, out);
    }
    out.extend_from_slice(&[0, 0, OBJECT_END]);
}

fn saturating_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}
