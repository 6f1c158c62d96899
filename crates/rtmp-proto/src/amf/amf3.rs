//! AMF3 decoding and encoding, and AMF3 message bodies (RTMP types 15 and 17).
//!
//! Mapping to [`AmfValue`]:
//!
//! * integer and double → [`AmfValue::Number`] (integers are 29-bit, sign-extended);
//! * XMLDocument, XML and ByteArray → [`AmfValue::ByteArray`];
//! * Date → [`AmfValue::Date`] with `timezone: 0`;
//! * Array with only a dense part → [`AmfValue::StrictArray`]; with an
//!   associative part → [`AmfValue::EcmaArray`] holding the dense items first,
//!   keyed `"0"`, `"1"`, …, then the associative pairs in wire order;
//! * Object (sealed then dynamic members, class name dropped) →
//!   [`AmfValue::Object`]; externalizable objects are rejected with
//!   [`AmfError::Externalizable`];
//! * Vector.<int/uint/Number/Object> → [`AmfValue::StrictArray`];
//!   Dictionary is rejected with [`AmfError::UnsupportedMarker`].
//!
//! String, object and traits reference tables live for one [`decode`] call (or
//! one avmplus-switched value inside an AMF0 body).
//!
//! The encoder writes string and traits references but never object
//! references. AMF3 cannot carry an empty property name (it terminates the
//! dynamic member list), so empty keys are skipped; Date timezones are not
//! encoded; an empty EcmaArray is indistinguishable from an empty StrictArray;
//! lengths over 2^28 - 1 bytes/items are truncated.

use super::{amf0, initial_capacity, table_copy, truncate_utf8, AmfError, AmfValue, Reader};
use super::{Shape, KEY_COST, VALUE_COST};
use std::collections::HashMap;

const UNDEFINED: u8 = 0x00;
const NULL: u8 = 0x01;
const FALSE: u8 = 0x02;
const TRUE: u8 = 0x03;
const INTEGER: u8 = 0x04;
const DOUBLE: u8 = 0x05;
const STRING: u8 = 0x06;
const XML_DOC: u8 = 0x07;
const DATE: u8 = 0x08;
const ARRAY: u8 = 0x09;
const OBJECT: u8 = 0x0A;
const XML: u8 = 0x0B;
const BYTE_ARRAY: u8 = 0x0C;
const VECTOR_INT: u8 = 0x0D;
const VECTOR_UINT: u8 = 0x0E;
const VECTOR_DOUBLE: u8 = 0x0F;
const VECTOR_OBJECT: u8 = 0x10;
const DICTIONARY: u8 = 0x11;

/// Largest value a U29 can carry.
const U29_MAX: u32 = (1 << 29) - 1;
/// Largest length / index that fits a U29 with its flag bit.
const U28_MAX: u32 = (1 << 28) - 1;
/// Range of integers encoded as AMF3 `integer` rather than `double`.
const INT_MIN: f64 = -((1 << 28) as f64);
const INT_MAX: f64 = ((1 << 28) - 1) as f64;

/// Decode one AMF3 value from the start of `buf`; returns it and the number of
/// bytes consumed.
pub fn decode(buf: &[u8]) -> Result<(AmfValue, usize), AmfError> {
    let mut reader = Reader::new(buf);
    let value = Decoder::default().value(&mut reader)?;
    Ok((value, reader.position()))
}

/// Body of an AMF3 command message (RTMP type 17) or AMF3 data message (type 15):
/// an optional leading 0x00 format byte (type 17 always has it), then AMF0 values,
/// any of which may be the AMF0 "avmplus-object" marker 0x11 switching to one AMF3 value.
///
/// A leading 0x00 is always taken as the format byte (a body whose first value
/// is an AMF0 number would therefore be misread; real bodies start with a
/// command name or handler string).
pub fn decode_message_body(buf: &[u8]) -> Result<Vec<AmfValue>, AmfError> {
    decode_message_body_capped(buf, usize::MAX)
}

/// [`decode_message_body`] with the decoded size capped at `max_decoded` bytes
/// (approximate) whatever the input length.
pub fn decode_message_body_capped(buf: &[u8], max_decoded: usize) -> Result<Vec<AmfValue>, AmfError> {
    let mut reader = Reader::with_cap(buf, max_decoded);
    if reader.peek_u8() == Some(0x00) {
        reader.u8()?;
    }
    amf0::decode_rest(&mut reader)
}

/// Decode the single AMF3 value that follows an AMF0 avmplus marker, with
/// fresh reference tables but the caller's depth and size limits.
pub(crate) fn decode_switched(reader: &mut Reader<'_>) -> Result<AmfValue, AmfError> {
    Decoder::default().value(reader)
}

/// Read a variable-length unsigned 29-bit integer.
fn read_u29(r: &mut Reader<'_>) -> Result<u32, AmfError> {
    let mut value = 0u32;
    for _ in 0..3 {
        let byte = r.u8()?;
        if byte & 0x80 == 0 {
            return Ok((value << 7) | u32::from(byte));
        }
        value = (value << 7) | u32::from(byte & 0x7F);
    }
    Ok((value << 8) | u32::from(r.u8()?))
}

/// Sign-extend a 29-bit two's complement integer.
fn sign_extend_29(value: u32) -> i32 {
    ((value << 3) as i32) >> 3
}

/// Class definition shared by objects through the traits table.
struct Traits {
    sealed: Vec<String>,
    dynamic: bool,
}

/// First part of a referenceable value: either a resolved reference or the
/// inline header bits (U29 with the reference flag removed).
enum Header {
    Reference(AmfValue),
    Inline(u32),
}

/// AMF3 decoding state: the three reference tables.
#[derive(Default)]
struct Decoder {
    strings: Vec<String>,
    /// `None` while the object is still being decoded.
    objects: Vec<Option<(AmfValue, Shape)>>,
    traits: Vec<Traits>,
}

impl Decoder {
    fn value(&mut self, r: &mut Reader<'_>) -> Result<AmfValue, AmfError> {
        let marker = r.u8()?;
        r.charge(VALUE_COST)?;
        match marker {
            UNDEFINED => Ok(AmfValue::Undefined),
            NULL => Ok(AmfValue::Null),
            FALSE => Ok(AmfValue::Boolean(false)),
            TRUE => Ok(AmfValue::Boolean(true)),
            INTEGER => Ok(AmfValue::Number(f64::from(sign_extend_29(read_u29(r)?)))),
            DOUBLE => Ok(AmfValue::Number(r.f64()?)),
            STRING => Ok(AmfValue::String(self.string(r)?)),
            XML_DOC | XML | BYTE_ARRAY => self.leaf(r, |r, len| {
                let bytes = r.take(len as usize)?;
                r.charge(bytes.len())?;
                Ok(AmfValue::ByteArray(bytes.to_vec()))
            }),
            DATE => self.leaf(r, |r, _| {
                Ok(AmfValue::Date {
                    millis: r.f64()?,
                    timezone: 0,
                })
            }),
            ARRAY => self.array(r),
            OBJECT => self.object(r),
            VECTOR_INT | VECTOR_UINT | VECTOR_DOUBLE | VECTOR_OBJECT => self.vector(r, marker),
            DICTIONARY => Err(AmfError::UnsupportedMarker(marker)),
            other => Err(AmfError::UnknownMarker(other)),
        }
    }

    /// `UTF-8-vr`: an inline string (added to the table unless empty) or a
    /// string reference.
    fn string(&mut self, r: &mut Reader<'_>) -> Result<String, AmfError> {
        let header = read_u29(r)?;
        let n = (header >> 1) as usize;
        if header & 1 == 0 {
            let s = self.strings.get(n).ok_or(AmfError::ReferenceOutOfRange)?;
            r.charge(s.len())?;
            return Ok(s.clone());
        }
        let s = r.utf8(n)?;
        if !s.is_empty() {
            r.charge_copy(s.len())?;
            self.strings.push(s.clone());
        }
        Ok(s)
    }

    /// Read a `U29O-ref`: resolve an object reference, or return inline bits.
    fn header(&mut self, r: &mut Reader<'_>) -> Result<Header, AmfError> {
        let header = read_u29(r)?;
        if header & 1 == 1 {
            return Ok(Header::Inline(header >> 1));
        }
        match self.objects.get((header >> 1) as usize) {
            None => Err(AmfError::ReferenceOutOfRange),
            Some(None) => Err(AmfError::CircularReference),
            Some(Some((value, shape))) => {
                r.graft(*shape)?;
                Ok(Header::Reference(value.clone()))
            }
        }
    }

    /// A referenceable value without children (XML, Date, ByteArray).
    fn leaf(
        &mut self,
        r: &mut Reader<'_>,
        body: impl FnOnce(&mut Reader<'_>, u32) -> Result<AmfValue, AmfError>,
    ) -> Result<AmfValue, AmfError> {
        let bits = match self.header(r)? {
            Header::Reference(value) => return Ok(value),
            Header::Inline(bits) => bits,
        };
        let mark = r.mark();
        let value = body(r, bits)?;
        let shape = r.shape_since(mark);
        self.objects.push(Some(table_copy(r, &value, shape)?));
        Ok(value)
    }

    /// A referenceable container: registered as in-progress, decoded with
    /// `body` one level deeper, then stored.
    fn container(
        &mut self,
        r: &mut Reader<'_>,
        body: impl FnOnce(&mut Self, &mut Reader<'_>) -> Result<AmfValue, AmfError>,
    ) -> Result<AmfValue, AmfError> {
        let slot = self.objects.len();
        self.objects.push(None);
        let mark = r.mark();
        r.enter()?;
        let value = body(self, r)?;
        r.leave();
        let shape = r.shape_since(mark);
        self.objects[slot] = Some(table_copy(r, &value, shape)?);
        Ok(value)
    }

    /// Dynamic `name, value` pairs up to the empty name.
    fn dynamic_members(
        &mut self,
        r: &mut Reader<'_>,
        props: &mut Vec<(String, AmfValue)>,
    ) -> Result<(), AmfError> {
        loop {
            let key = self.string(r)?;
            if key.is_empty() {
                return Ok(());
            }
            r.charge(KEY_COST)?;
            let value = self.value(r)?;
            props.push((key, value));
        }
    }

    fn array(&mut self, r: &mut Reader<'_>) -> Result<AmfValue, AmfError> {
        let dense_len = match self.header(r)? {
            Header::Reference(value) => return Ok(value),
            Header::Inline(bits) => bits as usize,
        };
        self.container(r, |d, r| {
            let mut assoc = Vec::new();
            d.dynamic_members(r, &mut assoc)?;
            let mut dense = Vec::with_capacity(initial_capacity(dense_len, r.remaining()));
            for _ in 0..dense_len {
                dense.push(d.value(r)?);
            }
            if assoc.is_empty() {
                return Ok(AmfValue::StrictArray(dense));
            }
            let mut props = Vec::with_capacity(dense.len() + assoc.len());
            for (i, value) in dense.into_iter().enumerate() {
                let key = i.to_string();
                r.charge(KEY_COST + key.len())?;
                props.push((key, value));
            }
            props.extend(assoc);
            Ok(AmfValue::EcmaArray(props))
        })
    }

    fn object(&mut self, r: &mut Reader<'_>) -> Result<AmfValue, AmfError> {
        let bits = match self.header(r)? {
            Header::Reference(value) => return Ok(value),
            Header::Inline(bits) => bits,
        };
        let traits = if bits & 1 == 0 {
            // U29O-traits-ref
            let index = (bits >> 1) as usize;
            if index >= self.traits.len() {
                return Err(AmfError::ReferenceOutOfRange);
            }
            index
        } else if bits & 2 != 0 {
            // U29O-traits-ext: the body format is up to the class.
            return Err(AmfError::Externalizable(self.string(r)?));
        } else {
            let dynamic = bits & 4 != 0;
            let sealed_count = bits >> 3;
            self.string(r)?; // class name, dropped
            let mut sealed = Vec::new();
            for _ in 0..sealed_count {
                let name = self.string(r)?;
                r.charge_copy(KEY_COST + name.len())?;
                sealed.push(name);
            }
            self.traits.push(Traits { sealed, dynamic });
            self.traits.len() - 1
        };
        self.container(r, |d, r| {
            let mut props = Vec::new();
            for i in 0..d.traits[traits].sealed.len() {
                let key = d.traits[traits].sealed[i].clone();
                r.charge(KEY_COST + key.len())?;
                let value = d.value(r)?;
                props.push((key, value));
            }
            if d.traits[traits].dynamic {
                d.dynamic_members(r, &mut props)?;
            }
            Ok(AmfValue::Object(props))
        })
    }

    fn vector(&mut self, r: &mut Reader<'_>, marker: u8) -> Result<AmfValue, AmfError> {
        let len = match self.header(r)? {
            Header::Reference(value) => return Ok(value),
            Header::Inline(bits) => bits as usize,
        };
        r.u8()?; // fixed-length flag
        self.container(r, |d, r| {
            if marker == VECTOR_OBJECT {
                d.string(r)?; // element type name, dropped
            }
            let mut items = Vec::with_capacity(initial_capacity(len, r.remaining()));
            for _ in 0..len {
                let item = match marker {
                    VECTOR_INT => AmfValue::Number(f64::from(r.u32()? as i32)),
                    VECTOR_UINT => AmfValue::Number(f64::from(r.u32()?)),
                    VECTOR_DOUBLE => AmfValue::Number(r.f64()?),
                    _ => {
                        items.push(d.value(r)?);
                        continue;
                    }
                };
                r.charge(VALUE_COST)?;
                items.push(item);
            }
            Ok(AmfValue::StrictArray(items))
        })
    }
}

/// Append the AMF3 encoding of `value` to `out` (fresh reference tables).
pub fn encode(value: &AmfValue, out: &mut Vec<u8>) {
    Encoder::default().value(value, out);
}

/// Append a U29; values above 2^29 - 1 are clamped.
fn write_u29(value: u32, out: &mut Vec<u8>) {
    let v = value.min(U29_MAX);
    if v < 0x80 {
        out.push(v as u8);
    } else if v < 0x4000 {
        out.extend_from_slice(&[(v >> 7) as u8 | 0x80, (v & 0x7F) as u8]);
    } else if v < 0x20_0000 {
        out.extend_from_slice(&[
            (v >> 14) as u8 | 0x80,
            ((v >> 7) & 0x7F) as u8 | 0x80,
            (v & 0x7F) as u8,
        ]);
    } else {
        out.extend_from_slice(&[
            (v >> 22) as u8 | 0x80,
            ((v >> 15) & 0x7F) as u8 | 0x80,
            ((v >> 8) & 0x7F) as u8 | 0x80,
            v as u8,
        ]);
    }
}

/// A length or table index (at most 2^28 - 1) with the low "inline" flag.
fn write_length(len: usize, inline: bool, out: &mut Vec<u8>) {
    let len = u32::try_from(len).unwrap_or(U28_MAX).min(U28_MAX);
    write_u29((len << 1) | u32::from(inline), out);
}

/// Encoding state: string table and whether the anonymous dynamic traits
/// (the only traits this encoder writes) have been sent (as index 0).
#[derive(Default)]
struct Encoder<'v> {
    strings: HashMap<&'v str, usize>,
    dynamic_traits_sent: bool,
}

impl<'v> Encoder<'v> {
    fn value(&mut self, value: &'v AmfValue, out: &mut Vec<u8>) {
        match value {
            AmfValue::Undefined => out.push(UNDEFINED),
            AmfValue::Null => out.push(NULL),
            AmfValue::Boolean(b) => out.push(if *b { TRUE } else { FALSE }),
            AmfValue::Number(n) => {
                let integral = n.fract() == 0.0 && (INT_MIN..=INT_MAX).contains(n);
                if integral && !(*n == 0.0 && n.is_sign_negative()) {
                    out.push(INTEGER);
                    write_u29((*n as i32 as u32) & U29_MAX, out);
                } else {
                    out.push(DOUBLE);
                    out.extend_from_slice(&n.to_be_bytes());
                }
            }
            AmfValue::String(s) => {
                out.push(STRING);
                self.string(s, out);
            }
            AmfValue::Object(props) => {
                out.push(OBJECT);
                if self.dynamic_traits_sent {
                    write_u29(0b01, out); // inline object, traits reference #0
                } else {
                    write_u29(0b1011, out); // inline object, inline dynamic traits, 0 sealed
                    self.string("", out); // anonymous class
                    self.dynamic_traits_sent = true;
                }
                self.members(props, out);
            }
            AmfValue::EcmaArray(props) => {
                out.push(ARRAY);
                write_length(0, true, out);
                self.members(props, out);
            }
            AmfValue::StrictArray(items) => {
                out.push(ARRAY);
                write_length(items.len(), true, out);
                self.string("", out); // no associative part
                for item in items.iter().take(U28_MAX as usize) {
                    self.value(item, out);
                }
            }
            AmfValue::Date { millis, .. } => {
                out.push(DATE);
                write_length(0, true, out);
                out.extend_from_slice(&millis.to_be_bytes());
            }
            AmfValue::ByteArray(bytes) => {
                let bytes = &bytes[..bytes.len().min(U28_MAX as usize)];
                out.push(BYTE_ARRAY);
                write_length(bytes.len(), true, out);
                out.extend_from_slice(bytes);
            }
        }
    }

    /// Dynamic members terminated by the empty string; empty keys are skipped.
    fn members(&mut self, props: &'v [(String, AmfValue)], out: &mut Vec<u8>) {
        for (key, value) in props.iter().filter(|(k, _)| !k.is_empty()) {
            self.string(key, out);
            self.value(value, out);
        }
        self.string("", out);
    }

    /// `UTF-8-vr`, using a string reference when the string was sent before.
    fn string(&mut self, s: &'v str, out: &mut Vec<u8>) {
        let s = truncate_utf8(s, U28_MAX as usize);
        if s.is_empty() {
            write_length(0, true, out);
        } else if let Some(&index) = self.strings.get(s) {
            write_length(index, false, out);
        } else {
            if self.strings.len() <= U28_MAX as usize {
                let index = self.strings.len();
                self.strings.insert(s, index);
            }
            write_length(s.len(), true, out);
            out.extend_from_slice(s.as_bytes());
        }
    }
}
