//! Tests for the AMF module: byte-exact vectors, reference tables, hostile
//! input limits and property-based round-trips / fuzzing.

use super::{amf0, amf3, AmfError, AmfValue, MAX_DEPTH};
use proptest::prelude::*;

/// Parse a hex fixture: whitespace is ignored and `//` starts a comment.
fn hex(text: &str) -> Vec<u8> {
    let digits: String = text
        .lines()
        .map(|line| line.split("//").next().unwrap_or(""))
        .flat_map(|line| line.chars().filter(|c| !c.is_whitespace()))
        .collect();
    assert!(digits.len().is_multiple_of(2), "odd number of hex digits");
    (0..digits.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&digits[i..i + 2], 16).expect("hex digit"))
        .collect()
}

fn s(text: &str) -> AmfValue {
    AmfValue::String(text.to_owned())
}

fn n(value: f64) -> AmfValue {
    AmfValue::Number(value)
}

fn props(pairs: &[(&str, AmfValue)]) -> Vec<(String, AmfValue)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}

fn obj(pairs: &[(&str, AmfValue)]) -> AmfValue {
    AmfValue::Object(props(pairs))
}

// ---------------------------------------------------------------------------
// AMF0 byte-exact vectors
// ---------------------------------------------------------------------------

/// `connect` command body as sent by OBS / FMLE-style publishers.
const CONNECT: &str = "
    02 0007 636f6e6e656374                                  // \"connect\"
    00 3ff0000000000000                                     // transaction id 1
    03                                                      // command object
    0003 617070 02 0004 6c697665                            // app: \"live\"
    0008 666c617368566572 02 001f
         464d4c452f332e302028636f6d70617469626c653b20464d53632f312e3029
                                                            // flashVer
    0005 746355726c 02 0015
         72746d703a2f2f6c6f63616c686f73742f6c697665         // tcUrl
    0004 66706164 01 00                                     // fpad: false
    000c 6361706162696c6974696573 00 402e000000000000       // capabilities: 15
    000b 617564696f436f64656373 00 40a8ee0000000000         // audioCodecs: 3191
    000b 766964656f436f64656373 00 406f800000000000         // videoCodecs: 252
    000e 6f626a656374456e636f64696e67 00 0000000000000000   // objectEncoding: 0
    00 00 09                                                // object end
";

fn connect_values() -> Vec<AmfValue> {
    vec![
        s("connect"),
        n(1.0),
        obj(&[
            ("app", s("live")),
            ("flashVer", s("FMLE/3.0 (compatible; FMSc/1.0)")),
            ("tcUrl", s("rtmp://localhost/live")),
            ("fpad", AmfValue::Boolean(false)),
            ("capabilities", n(15.0)),
            ("audioCodecs", n(3191.0)),
            ("videoCodecs", n(252.0)),
            ("objectEncoding", n(0.0)),
        ]),
    ]
}

#[test]
fn connect_decodes() {
    let values = amf0::decode_all(&hex(CONNECT)).unwrap();
    assert_eq!(values, connect_values());
    let cmd = &values[2];
    assert_eq!(values[0].as_str(), Some("connect"));
    assert_eq!(values[1].as_f64(), Some(1.0));
    assert_eq!(cmd.get("app").and_then(AmfValue::as_str), Some("live"));
    assert_eq!(cmd.get("fpad").and_then(AmfValue::as_bool), Some(false));
    assert_eq!(
        cmd.get("objectEncoding").and_then(AmfValue::as_f64),
        Some(0.0)
    );
    assert_eq!(cmd.get("missing"), None);
    assert_eq!(cmd.properties().map(<[_]>::len), Some(8));
}

#[test]
fn connect_encodes_byte_exact() {
    assert_eq!(amf0::encode_all(&connect_values()), hex(CONNECT));
}

#[test]
fn decode_reports_consumed_bytes() {
    let bytes = hex(CONNECT);
    let (value, used) = amf0::decode(&bytes).unwrap();
    assert_eq!(value, s("connect"));
    assert_eq!(used, 10);
    let (value, used) = amf0::decode(&bytes[used..]).unwrap();
    assert_eq!((value, used), (n(1.0), 9));
}

/// `@setDataFrame onMetaData {ecma array}` exactly as ffmpeg's FLV muxer writes it.
const FFMPEG_METADATA: &str = "
    02 000d 40736574446174614672616d65                      // \"@setDataFrame\"
    02 000a 6f6e4d65746144617461                            // \"onMetaData\"
    08 0000000d                                             // ecma array, 13 entries
    0008 6475726174696f6e 00 0000000000000000               // duration: 0
    0005 7769647468 00 4094000000000000                     // width: 1280
    0006 686569676874 00 4086800000000000                   // height: 720
    000d 766964656f6461746172617465 00 40a3880000000000     // videodatarate: 2500
    0009 6672616d6572617465 00 403e000000000000             // framerate: 30
    000c 766964656f636f6465636964 00 401c000000000000       // videocodecid: 7
    000d 617564696f6461746172617465 00 4060000000000000     // audiodatarate: 128
    000f 617564696f73616d706c6572617465 00 40e5888000000000 // audiosamplerate: 44100
    000f 617564696f73616d706c6573697a65 00 4030000000000000 // audiosamplesize: 16
    0006 73746572656f 01 01                                 // stereo: true
    000c 617564696f636f6465636964 00 4024000000000000       // audiocodecid: 10
    0007 656e636f646572 02 000d 4c61766636302e31362e313030  // encoder: \"Lavf60.16.100\"
    0008 66696c6573697a65 00 0000000000000000               // filesize: 0
    00 00 09                                                // object end
";

fn metadata_values() -> Vec<AmfValue> {
    vec![
        s("@setDataFrame"),
        s("onMetaData"),
        AmfValue::EcmaArray(props(&[
            ("duration", n(0.0)),
            ("width", n(1280.0)),
            ("height", n(720.0)),
            ("videodatarate", n(2500.0)),
            ("framerate", n(30.0)),
            ("videocodecid", n(7.0)),
            ("audiodatarate", n(128.0)),
            ("audiosamplerate", n(44100.0)),
            ("audiosamplesize", n(16.0)),
            ("stereo", AmfValue::Boolean(true)),
            ("audiocodecid", n(10.0)),
            ("encoder", s("Lavf60.16.100")),
            ("filesize", n(0.0)),
        ])),
    ]
}

#[test]
fn ffmpeg_metadata_decodes_and_encodes() {
    let bytes = hex(FFMPEG_METADATA);
    let values = amf0::decode_all(&bytes).unwrap();
    assert_eq!(values, metadata_values());
    assert_eq!(
        values[2].get("width").and_then(AmfValue::as_f64),
        Some(1280.0)
    );
    assert_eq!(amf0::encode_all(&metadata_values()), bytes);
}

#[test]
fn ecma_array_count_is_only_a_hint() {
    let mut bytes = hex(FFMPEG_METADATA);
    // Wrong count (0) must not matter.
    let count_at = bytes.iter().position(|&b| b == 0x08).unwrap() + 1;
    bytes[count_at..count_at + 4].copy_from_slice(&0u32.to_be_bytes());
    assert_eq!(amf0::decode_all(&bytes).unwrap(), metadata_values());
    // Missing or truncated end marker at the end of the buffer is accepted.
    for cut in 1..=3 {
        let truncated = &bytes[..bytes.len() - cut];
        assert_eq!(
            amf0::decode_all(truncated).unwrap(),
            metadata_values(),
            "cut {cut}"
        );
    }
}

#[test]
fn object_without_end_marker_is_truncated() {
    let bytes = hex(CONNECT);
    assert_eq!(
        amf0::decode_all(&bytes[..bytes.len() - 3]),
        Err(AmfError::UnexpectedEnd)
    );
}

#[test]
fn amf0_scalar_markers() {
    let cases: Vec<(&str, AmfValue)> = vec![
        ("01 00", AmfValue::Boolean(false)),
        ("01 07", AmfValue::Boolean(true)),
        ("05", AmfValue::Null),
        ("06", AmfValue::Undefined),
        ("0d", AmfValue::Undefined),
        ("0c 00000003 616263", s("abc")),
        ("0f 00000003 3c613e", s("<a>")),
        (
            "0b 4270000000000000 fffe",
            AmfValue::Date {
                millis: 1_099_511_627_776.0,
                timezone: -2,
            },
        ),
        (
            "10 0003 466f6f 0001 61 05 000009",
            obj(&[("a", AmfValue::Null)]),
        ),
        ("11 04 7f", n(127.0)),
        ("11 0c 07 010203", AmfValue::ByteArray(vec![1, 2, 3])),
    ];
    for (bytes, expected) in cases {
        let bytes = hex(bytes);
        assert_eq!(
            amf0::decode(&bytes),
            Ok((expected, bytes.len())),
            "{bytes:02x?}"
        );
    }
}

#[test]
fn amf0_rejected_markers() {
    assert_eq!(
        amf0::decode(&[0x04]),
        Err(AmfError::UnsupportedMarker(0x04))
    );
    assert_eq!(
        amf0::decode(&[0x0E]),
        Err(AmfError::UnsupportedMarker(0x0E))
    );
    assert_eq!(amf0::decode(&[0x09]), Err(AmfError::UnexpectedObjectEnd));
    assert_eq!(amf0::decode(&[0x12]), Err(AmfError::UnknownMarker(0x12)));
    assert_eq!(amf0::decode(&[]), Err(AmfError::UnexpectedEnd));
    assert_eq!(amf0::decode(&hex("02 0001 ff")), Err(AmfError::InvalidUtf8));
    assert_eq!(
        amf0::decode(&hex("02 0005 6162")),
        Err(AmfError::UnexpectedEnd)
    );
    assert_eq!(
        amf0::decode(&hex("11 11")),
        Err(AmfError::UnsupportedMarker(0x11))
    );
}

#[test]
fn amf0_references_resolve() {
    // strict array (#0) [ object (#1) {a: 1}, reference #1 ]
    let bytes = hex("0a 00000002  03 0001 61 00 3ff0000000000000 000009  07 0001");
    let inner = obj(&[("a", n(1.0))]);
    assert_eq!(
        amf0::decode(&bytes).unwrap().0,
        AmfValue::StrictArray(vec![inner.clone(), inner.clone()])
    );
    // The table spans all values of a message.
    let bytes = hex("03 0001 61 00 3ff0000000000000 000009  07 0000");
    assert_eq!(
        amf0::decode_all(&bytes).unwrap(),
        vec![inner.clone(), inner]
    );
}

#[test]
fn amf0_bad_references() {
    assert_eq!(
        amf0::decode(&hex("07 0000")),
        Err(AmfError::ReferenceOutOfRange)
    );
    // An object referencing itself cannot become a tree.
    assert_eq!(
        amf0::decode(&hex("03 0001 61 07 0000 000009")),
        Err(AmfError::CircularReference)
    );
}

#[test]
fn amf0_long_strings_and_byte_arrays_encode() {
    let long = "x".repeat(70_000);
    let mut out = Vec::new();
    amf0::encode(&s(&long), &mut out);
    assert_eq!(&out[..5], &[0x0C, 0x00, 0x01, 0x11, 0x70]);
    assert_eq!(amf0::decode(&out).unwrap(), (s(&long), out.len()));

    let exact = "y".repeat(65_535);
    out.clear();
    amf0::encode(&s(&exact), &mut out);
    assert_eq!(&out[..3], &[0x02, 0xFF, 0xFF]);

    out.clear();
    amf0::encode(&AmfValue::ByteArray(vec![9, 8]), &mut out);
    assert_eq!(out, hex("11 0c 05 0908"));
}

#[test]
fn amf0_other_encodings() {
    let date = AmfValue::Date {
        millis: 1.5,
        timezone: 60,
    };
    let values = vec![
        AmfValue::Null,
        AmfValue::Undefined,
        AmfValue::Boolean(true),
        date,
        AmfValue::StrictArray(vec![n(2.0), AmfValue::Null]),
        AmfValue::EcmaArray(vec![]),
    ];
    let bytes = amf0::encode_all(&values);
    assert_eq!(
        bytes,
        hex("05 06 0101 0b 3ff8000000000000 003c
             0a 00000002 00 4000000000000000 05
             08 00000000 000009")
    );
    assert_eq!(amf0::decode_all(&bytes).unwrap(), values);
}

// ---------------------------------------------------------------------------
// AMF3
// ---------------------------------------------------------------------------

/// An RTMP type-17 (AMF3 command) body: format byte, AMF0 values, and values
/// switched to AMF3 through the avmplus marker.
const AMF3_COMMAND: &str = "
    00                                  // format byte
    02 0007 636f6e6e656374              // AMF0 \"connect\"
    00 3ff0000000000000                 // AMF0 1.0
    11 0a 0b 01                         // AMF3 object, dynamic anonymous traits
       07 617070 06 09 6c697665         //   app: \"live\"
       1d 6f626a656374456e636f64696e67 04 03 // objectEncoding: 3
       01                               //   end of dynamic members
    11 06 0b 68656c6c6f                 // AMF3 \"hello\"
    11 04 ffffffff                      // AMF3 integer -1
    11 06 0b 68656c6c6f                 // fresh tables: inline again
    05                                  // AMF0 null
";

#[test]
fn amf3_command_body() {
    let values = amf3::decode_message_body(&hex(AMF3_COMMAND)).unwrap();
    assert_eq!(
        values,
        vec![
            s("connect"),
            n(1.0),
            obj(&[("app", s("live")), ("objectEncoding", n(3.0))]),
            s("hello"),
            n(-1.0),
            s("hello"),
            AmfValue::Null,
        ]
    );
    // Without the format byte (type 15 data messages may omit it).
    let body = hex(AMF3_COMMAND);
    assert_eq!(amf3::decode_message_body(&body[1..]).unwrap(), values);
}

#[test]
fn amf3_switch_resets_reference_tables() {
    // Second switched value refers to string #0 of the first: not shared.
    assert_eq!(
        amf3::decode_message_body(&hex("00 11 06 07 616263 11 06 00")),
        Err(AmfError::ReferenceOutOfRange)
    );
}

#[test]
fn amf3_scalars() {
    let cases: Vec<(&str, AmfValue)> = vec![
        ("00", AmfValue::Undefined),
        ("01", AmfValue::Null),
        ("02", AmfValue::Boolean(false)),
        ("03", AmfValue::Boolean(true)),
        ("04 00", n(0.0)),
        ("04 7f", n(127.0)),
        ("04 8100", n(128.0)),
        ("04 ff7f", n(16_383.0)),
        ("04 818000", n(16_384.0)),
        ("04 bfffffff", n(268_435_455.0)),
        ("04 c0808000", n(-268_435_456.0)),
        ("04 ffffffff", n(-1.0)),
        ("05 400921fb54442d18", n(std::f64::consts::PI)),
        ("06 01", s("")),
        ("06 07 616263", s("abc")),
        ("07 07 3c613e", AmfValue::ByteArray(b"<a>".to_vec())),
        ("0b 07 3c623e", AmfValue::ByteArray(b"<b>".to_vec())),
        ("0c 07 010203", AmfValue::ByteArray(vec![1, 2, 3])),
        (
            "08 01 4270000000000000",
            AmfValue::Date {
                millis: 1_099_511_627_776.0,
                timezone: 0,
            },
        ),
        (
            "0d 05 00 ffffffff 00000002",
            AmfValue::StrictArray(vec![n(-1.0), n(2.0)]),
        ),
        (
            "0e 03 01 ffffffff",
            AmfValue::StrictArray(vec![n(4_294_967_295.0)]),
        ),
        (
            "0f 03 00 3ff8000000000000",
            AmfValue::StrictArray(vec![n(1.5)]),
        ),
        (
            "10 05 00 01 04 01 06 03 61",
            AmfValue::StrictArray(vec![n(1.0), s("a")]),
        ),
    ];
    for (bytes, expected) in cases {
        let bytes = hex(bytes);
        assert_eq!(
            amf3::decode(&bytes),
            Ok((expected, bytes.len())),
            "{bytes:02x?}"
        );
    }
}

#[test]
fn amf3_string_references() {
    // dense array of 3: "abc", string ref #0, "" (inline empty)
    let bytes = hex("09 07 01 06 07 616263 06 00 06 01");
    assert_eq!(
        amf3::decode(&bytes).unwrap().0,
        AmfValue::StrictArray(vec![s("abc"), s("abc"), s("")])
    );
    // The empty string is never added to the table.
    assert_eq!(
        amf3::decode(&hex("09 05 01 06 01 06 00")),
        Err(AmfError::ReferenceOutOfRange)
    );
    // Keys share the table with values.
    let bytes = hex("0a 0b 01 03 6b 06 00 01");
    assert_eq!(amf3::decode(&bytes).unwrap().0, obj(&[("k", s("k"))]));
}

#[test]
fn amf3_object_references() {
    // array (#0) [ object (#1) {a: 1}, object ref #1 ]
    let bytes = hex("09 05 01  0a 0b 01 03 61 04 01 01  0a 02");
    let inner = obj(&[("a", n(1.0))]);
    assert_eq!(
        amf3::decode(&bytes).unwrap().0,
        AmfValue::StrictArray(vec![inner.clone(), inner])
    );
    // Dates and byte arrays are referenceable too.
    let bytes = hex("09 05 01 0c 03 ff 0c 02");
    assert_eq!(
        amf3::decode(&bytes).unwrap().0,
        AmfValue::StrictArray(vec![AmfValue::ByteArray(vec![0xFF]); 2])
    );
    assert_eq!(
        amf3::decode(&hex("09 03 01 09 00")),
        Err(AmfError::CircularReference)
    );
    assert_eq!(
        amf3::decode(&hex("0a 00")),
        Err(AmfError::ReferenceOutOfRange)
    );
}

#[test]
fn amf3_traits() {
    // Sealed traits with one member "x", then a traits reference to them.
    let bytes = hex("09 05 01  0a 13 01 03 78 04 01  0a 01 04 02");
    assert_eq!(
        amf3::decode(&bytes).unwrap().0,
        AmfValue::StrictArray(vec![obj(&[("x", n(1.0))]), obj(&[("x", n(2.0))])])
    );
    // Typed, dynamic, one sealed member: class "Foo" {a: 5, b: "c"}.
    let bytes = hex("0a 1b 07 466f6f 03 61 04 05 03 62 06 03 63 01");
    assert_eq!(
        amf3::decode(&bytes).unwrap().0,
        obj(&[("a", n(5.0)), ("b", s("c"))])
    );
    assert_eq!(
        amf3::decode(&hex("0a 05 04 01")),
        Err(AmfError::ReferenceOutOfRange)
    );
    assert_eq!(
        amf3::decode(&hex("0a 07 07 466f6f")),
        Err(AmfError::Externalizable("Foo".to_owned()))
    );
}

#[test]
fn amf3_arrays() {
    // dense [1, 2] plus associative k: "v"
    let bytes = hex("09 05 03 6b 06 03 76 01 04 01 04 02");
    assert_eq!(
        amf3::decode(&bytes).unwrap().0,
        AmfValue::EcmaArray(props(&[("0", n(1.0)), ("1", n(2.0)), ("k", s("v"))]))
    );
    assert_eq!(
        amf3::decode(&hex("09 01 01")).unwrap().0,
        AmfValue::StrictArray(vec![])
    );
    assert_eq!(
        amf3::decode(&hex("11 01")),
        Err(AmfError::UnsupportedMarker(0x11))
    );
    assert_eq!(amf3::decode(&hex("12")), Err(AmfError::UnknownMarker(0x12)));
}

#[test]
fn amf3_encoding_uses_string_and_traits_references() {
    let value = AmfValue::StrictArray(vec![
        obj(&[("abc", s("abc"))]),
        obj(&[("abc", n(-1.0))]),
        n(0.5),
        n(1e10),
    ]);
    let mut out = Vec::new();
    amf3::encode(&value, &mut out);
    assert_eq!(
        out,
        hex("09 09 01
             0a 0b 01 07 616263 06 00 01
             0a 01 00 04 ffffffff 01
             05 3fe0000000000000
             05 4202a05f20000000")
    );
    assert_eq!(amf3::decode(&out).unwrap(), (value, out.len()));
}

#[test]
fn amf3_lossy_encodings() {
    let value = AmfValue::EcmaArray(props(&[
        ("", n(1.0)),
        (
            "k",
            AmfValue::Date {
                millis: 2.0,
                timezone: 5,
            },
        ),
    ]));
    let mut out = Vec::new();
    amf3::encode(&value, &mut out);
    assert_eq!(
        amf3::decode(&out).unwrap().0,
        AmfValue::EcmaArray(props(&[(
            "k",
            AmfValue::Date {
                millis: 2.0,
                timezone: 0
            }
        )]))
    );
}

// ---------------------------------------------------------------------------
// Hostile input
// ---------------------------------------------------------------------------

#[test]
fn declared_lengths_do_not_allocate() {
    assert_eq!(
        amf0::decode(&hex("0a ffffffff 05")),
        Err(AmfError::UnexpectedEnd)
    );
    assert_eq!(
        amf0::decode(&hex("0c ffffffff 41")),
        Err(AmfError::UnexpectedEnd)
    );
    assert_eq!(
        amf0::decode(&hex("08 ffffffff 0001")),
        Err(AmfError::UnexpectedEnd)
    );
    assert_eq!(
        amf3::decode(&hex("09 ffffffff 01")),
        Err(AmfError::UnexpectedEnd)
    );
    assert_eq!(
        amf3::decode(&hex("0c ffffffff")),
        Err(AmfError::UnexpectedEnd)
    );
    assert_eq!(
        amf3::decode(&hex("0d ffffffff 00")),
        Err(AmfError::UnexpectedEnd)
    );
    assert_eq!(
        amf3::decode(&hex("0a ffffff7b 01")),
        Err(AmfError::UnexpectedEnd)
    );
}

fn nested_amf0_arrays(depth: usize, leaf: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::new();
    for _ in 0..depth {
        bytes.extend_from_slice(&hex("0a 00000001"));
    }
    bytes.extend_from_slice(leaf);
    bytes
}

#[test]
fn depth_is_limited() {
    assert!(amf0::decode(&nested_amf0_arrays(MAX_DEPTH, &[0x05])).is_ok());
    assert_eq!(
        amf0::decode(&nested_amf0_arrays(MAX_DEPTH + 1, &[0x05])),
        Err(AmfError::TooDeep)
    );
    // Deep AMF3 behind an AMF0 wrapper: the limit spans the switch.
    let mut bytes = nested_amf0_arrays(MAX_DEPTH - 1, &[0x11]);
    bytes.extend_from_slice(&hex("09 03 01 01"));
    assert!(amf0::decode(&bytes).is_ok());
    let mut bytes = nested_amf0_arrays(MAX_DEPTH, &[0x11]);
    bytes.extend_from_slice(&hex("09 03 01 01"));
    assert_eq!(amf0::decode(&bytes), Err(AmfError::TooDeep));
    // A huge nesting attempt fails fast without overflowing the stack.
    assert_eq!(
        amf3::decode(&[0x09, 0x03, 0x01].repeat(100_000)),
        Err(AmfError::TooDeep)
    );
    assert_eq!(
        amf0::decode(&hex("03 0001 61").repeat(100_000)),
        Err(AmfError::TooDeep)
    );
}

#[test]
fn references_cannot_exceed_depth() {
    // Value #0..#59 is 60 levels deep; a later reference to it may only be
    // placed where the result stays within MAX_DEPTH.
    let deep = nested_amf0_arrays(60, &[0x05]);
    let mut ok = deep.clone();
    ok.extend_from_slice(&nested_amf0_arrays(MAX_DEPTH - 60, &hex("07 0000")));
    assert_eq!(amf0::decode_all(&ok).unwrap().len(), 2);
    let mut bad = deep;
    bad.extend_from_slice(&nested_amf0_arrays(MAX_DEPTH - 59, &hex("07 0000")));
    assert_eq!(amf0::decode_all(&bad), Err(AmfError::TooDeep));
}

#[test]
fn reference_amplification_is_bounded() {
    // AMF0: each value is [ref(prev), ref(prev)], doubling the tree per 11
    // input bytes ("billion laughs").
    let mut bytes = hex("0a 00000001 05");
    for i in 0..40u16 {
        bytes.extend_from_slice(&hex("0a 00000002 07"));
        bytes.extend_from_slice(&i.to_be_bytes());
        bytes.push(0x07);
        bytes.extend_from_slice(&i.to_be_bytes());
    }
    assert_eq!(amf0::decode_all(&bytes), Err(AmfError::TooLarge));

    // AMF3: same with object references inside one array.
    let mut bytes = vec![0x09, 0x53, 0x01, 0x09, 0x03, 0x01, 0x01]; // [ [null], ...
    for i in 1u8..=40 {
        // [ref(i), ref(i)] where #i is the previous element
        bytes.extend_from_slice(&[0x09, 0x05, 0x01, 0x09, i << 1, 0x09, i << 1]);
    }
    assert_eq!(amf3::decode(&bytes), Err(AmfError::TooLarge));

    // AMF3: one long string referenced many times.
    let long = 100_000usize;
    let mut bytes = Vec::new();
    // dense array of 1 + 20_000 items: one 100 kB string then references to it.
    let count = 20_001u32;
    bytes.push(0x09);
    push_u29((count << 1) | 1, &mut bytes);
    bytes.push(0x01);
    bytes.push(0x06);
    push_u29(((long as u32) << 1) | 1, &mut bytes);
    bytes.extend(std::iter::repeat_n(b'z', long));
    for _ in 1..count {
        bytes.extend_from_slice(&[0x06, 0x00]);
    }
    assert_eq!(amf3::decode(&bytes), Err(AmfError::TooLarge));
}

/// Test helper: U29 encoding (independent of the encoder under test).
fn push_u29(v: u32, out: &mut Vec<u8>) {
    assert!(v < 1 << 29);
    if v < 1 << 7 {
        out.push(v as u8);
    } else if v < 1 << 14 {
        out.extend_from_slice(&[0x80 | (v >> 7) as u8, (v & 0x7F) as u8]);
    } else if v < 1 << 21 {
        out.extend_from_slice(&[
            0x80 | (v >> 14) as u8,
            0x80 | ((v >> 7) & 0x7F) as u8,
            (v & 0x7F) as u8,
        ]);
    } else {
        out.extend_from_slice(&[
            0x80 | (v >> 22) as u8,
            0x80 | ((v >> 15) & 0x7F) as u8,
            0x80 | ((v >> 8) & 0x7F) as u8,
            v as u8,
        ]);
    }
}

// ---------------------------------------------------------------------------
// to_json
// ---------------------------------------------------------------------------

#[test]
fn to_json_output() {
    let value = AmfValue::EcmaArray(props(&[
        ("int", n(30.0)),
        ("neg", n(-2.0)),
        ("frac", n(29.97)),
        ("big", n(1e21)),
        ("nan", n(f64::NAN)),
        ("esc", s("a\"b\\c\nd\u{1}\u{7f}é")),
        (
            "flags",
            AmfValue::StrictArray(vec![
                AmfValue::Boolean(true),
                AmfValue::Null,
                AmfValue::Undefined,
            ]),
        ),
        ("obj", obj(&[("k", s("v"))])),
        ("empty", obj(&[])),
        (
            "date",
            AmfValue::Date {
                millis: 1000.0,
                timezone: 0,
            },
        ),
        ("bytes", AmfValue::ByteArray(vec![0x00, 0xAB])),
    ]));
    assert_eq!(
        value.to_json(),
        concat!(
            r#"{"int":30,"neg":-2,"frac":29.97,"big":1000000000000000000000,"nan":null,"#,
            r#""esc":"a\"b\\c\nd\u0001\u007fé","flags":[true,null,null],"obj":{"k":"v"},"#,
            r#""empty":{},"date":1000,"bytes":"00ab"}"#
        )
    );
    assert_eq!(
        connect_values()[2].to_json(),
        concat!(
            r#"{"app":"live","flashVer":"FMLE/3.0 (compatible; FMSc/1.0)","#,
            r#""tcUrl":"rtmp://localhost/live","fpad":false,"capabilities":15,"#,
            r#""audioCodecs":3191,"videoCodecs":252,"objectEncoding":0}"#
        )
    );
    assert_eq!(n(-0.0).to_json(), "0");
    assert_eq!(n(f64::INFINITY).to_json(), "null");
}

#[test]
fn accessors_are_type_specific() {
    assert_eq!(n(1.0).as_str(), None);
    assert_eq!(s("1").as_f64(), None);
    assert_eq!(n(1.0).as_bool(), None);
    assert_eq!(s("x").get("x"), None);
    assert_eq!(AmfValue::StrictArray(vec![]).properties(), None);
    let dup = AmfValue::EcmaArray(props(&[("k", n(1.0)), ("k", n(2.0))]));
    assert_eq!(dup.get("k"), Some(&n(1.0)));
}

// ---------------------------------------------------------------------------
// Property tests
// ---------------------------------------------------------------------------

fn finite_f64() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<i32>().prop_map(f64::from),
        any::<f64>().prop_map(|f| if f.is_finite() { f } else { 0.0 }),
    ]
}

fn arb_value() -> impl Strategy<Value = AmfValue> {
    let leaf = prop_oneof![
        finite_f64().prop_map(AmfValue::Number),
        any::<bool>().prop_map(AmfValue::Boolean),
        any::<String>().prop_map(AmfValue::String),
        Just(AmfValue::Null),
        Just(AmfValue::Undefined),
        (finite_f64(), any::<i16>())
            .prop_map(|(millis, timezone)| AmfValue::Date { millis, timezone }),
        proptest::collection::vec(any::<u8>(), 0..16).prop_map(AmfValue::ByteArray),
    ];
    leaf.prop_recursive(4, 64, 6, |inner| {
        let key = prop_oneof![Just(String::new()), "[a-z]{1,3}", any::<String>()];
        let pairs = proptest::collection::vec((key, inner.clone()), 0..6);
        prop_oneof![
            pairs.clone().prop_map(AmfValue::Object),
            pairs.prop_map(AmfValue::EcmaArray),
            proptest::collection::vec(inner, 0..6).prop_map(AmfValue::StrictArray),
        ]
    })
}

/// What an AMF3 round trip is expected to give back (see the lossy notes in
/// the amf3 module docs).
fn amf3_normalized(value: &AmfValue) -> AmfValue {
    let members = |props: &[(String, AmfValue)]| -> Vec<(String, AmfValue)> {
        props
            .iter()
            .filter(|(k, _)| !k.is_empty())
            .map(|(k, v)| (k.clone(), amf3_normalized(v)))
            .collect()
    };
    match value {
        AmfValue::Date { millis, .. } => AmfValue::Date {
            millis: *millis,
            timezone: 0,
        },
        AmfValue::Object(props) => AmfValue::Object(members(props)),
        AmfValue::EcmaArray(props) => match members(props) {
            props if props.is_empty() => AmfValue::StrictArray(vec![]),
            props => AmfValue::EcmaArray(props),
        },
        AmfValue::StrictArray(items) => {
            AmfValue::StrictArray(items.iter().map(amf3_normalized).collect())
        }
        other => other.clone(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn amf0_decode_all_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = amf0::decode_all(&bytes);
        if let Ok((_, used)) = amf0::decode(&bytes) {
            prop_assert!(used <= bytes.len());
        }
    }

    #[test]
    fn amf3_decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        if let Ok((_, used)) = amf3::decode(&bytes) {
            prop_assert!(used <= bytes.len());
        }
    }

    #[test]
    fn amf3_message_body_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = amf3::decode_message_body(&bytes);
        let mut prefixed = vec![0x00, 0x11];
        prefixed.extend_from_slice(&bytes);
        let _ = amf3::decode_message_body(&prefixed);
    }

    /// Mutated valid encodings reach much deeper into the decoders than
    /// uniformly random bytes.
    #[test]
    fn mutated_encodings_never_panic(
        value in arb_value(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut amf0_bytes = Vec::new();
        amf0::encode(&value, &mut amf0_bytes);
        let mut amf3_bytes = Vec::new();
        amf3::encode(&value, &mut amf3_bytes);
        for bytes in [&mut amf0_bytes, &mut amf3_bytes] {
            for (at, byte) in &edits {
                let i = at.index(bytes.len());
                bytes[i] = *byte;
            }
            let _ = amf0::decode_all(bytes);
            let _ = amf3::decode(bytes);
            let _ = amf3::decode_message_body(bytes);
            let truncated = &bytes[..cut.index(bytes.len() + 1)];
            let _ = amf0::decode_all(truncated);
            let _ = amf3::decode(truncated);
        }
    }

    #[test]
    fn amf0_round_trip(value in arb_value()) {
        let mut bytes = Vec::new();
        amf0::encode(&value, &mut bytes);
        prop_assert_eq!(amf0::decode(&bytes), Ok((value.clone(), bytes.len())));
        let pair = [value.clone(), value];
        prop_assert_eq!(amf0::decode_all(&amf0::encode_all(&pair)), Ok(pair.to_vec()));
    }

    #[test]
    fn amf3_round_trip(value in arb_value()) {
        let mut bytes = Vec::new();
        amf3::encode(&value, &mut bytes);
        prop_assert_eq!(amf3::decode(&bytes), Ok((amf3_normalized(&value), bytes.len())));
    }

    #[test]
    fn to_json_is_balanced(value in arb_value()) {
        let json = value.to_json();
        // Every opening bracket outside strings is closed: a cheap structural check.
        let (mut depth, mut in_string, mut escaped) = (0i32, false, false);
        for c in json.chars() {
            if in_string {
                prop_assert!(c >= ' ', "raw control character in JSON string");
                match (escaped, c) {
                    (true, _) => escaped = false,
                    (false, '\\') => escaped = true,
                    (false, '"') => in_string = false,
                    _ => {}
                }
            } else {
                match c {
                    '"' => in_string = true,
                    '{' | '[' => depth += 1,
                    '}' | ']' => depth -= 1,
                    _ => {}
                }
                prop_assert!(depth >= 0);
            }
        }
        prop_assert!(!in_string);
        prop_assert_eq!(depth, 0);
    }
}
