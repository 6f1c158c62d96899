//! Box writing: a growable buffer with nested, size-patched boxes, and the init
//! segment (`ftyp` + `moov`).

use super::muxer::{Codec, Track};
use super::MOVIE_TIMESCALE;

/// Output buffer. [`boxed`](Self::boxed) and [`full_box`](Self::full_box) write the
/// header, run the closure for the body and patch the 32-bit size afterwards.
#[derive(Debug, Default)]
pub(crate) struct BoxWriter {
    pub buf: Vec<u8>,
}

impl BoxWriter {
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn boxed(&mut self, kind: &[u8; 4], body: impl FnOnce(&mut Self)) {
        let start = self.buf.len();
        self.u32(0);
        self.bytes(kind);
        body(self);
        let size = u32::try_from(self.buf.len() - start).expect("box larger than 4 GiB");
        self.buf[start..start + 4].copy_from_slice(&size.to_be_bytes());
    }

    /// A "full box": version byte and 24-bit flags precede the body.
    pub fn full_box(
        &mut self,
        kind: &[u8; 4],
        version: u8,
        flags: u32,
        body: impl FnOnce(&mut Self),
    ) {
        self.boxed(kind, |w| {
            w.u32(u32::from(version) << 24 | (flags & 0x00FF_FFFF));
            body(w);
        });
    }

    pub fn u16(&mut self, v: u16) {
        self.bytes(&v.to_be_bytes());
    }
    pub fn u32(&mut self, v: u32) {
        self.bytes(&v.to_be_bytes());
    }
    pub fn u64(&mut self, v: u64) {
        self.bytes(&v.to_be_bytes());
    }
    pub fn bytes(&mut self, b: &[u8]) {
        self.buf.extend_from_slice(b);
    }
    pub fn zeros(&mut self, n: usize) {
        self.buf.resize(self.buf.len() + n, 0);
    }
}

/// Unity transformation matrix of `mvhd` and `tkhd`.
const MATRIX: [u32; 9] = [0x0001_0000, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000];

/// The init segment and the file offset of mehd's `fragment_duration`.
pub(crate) fn init_segment(tracks: &[Track]) -> (Vec<u8>, usize) {
    let mut w = BoxWriter::default();
    w.boxed(b"ftyp", |w| {
        w.bytes(b"isom");
        w.u32(0x200);
        for brand in [b"isom", b"iso6", b"mp41"] {
            w.bytes(brand);
        }
    });
    let mut mehd_offset = 0;
    w.boxed(b"moov", |w| {
        mvhd(w, tracks.len() as u32 + 1);
        for (i, track) in tracks.iter().enumerate() {
            trak(w, i as u32 + 1, track);
        }
        w.boxed(b"mvex", |w| {
            w.full_box(b"mehd", 1, 0, |w| {
                mehd_offset = w.len();
                w.u64(0);
            });
            for i in 0..tracks.len() {
                w.full_box(b"trex", 0, 0, |w| {
                    w.u32(i as u32 + 1); // track_ID
                    w.u32(1); // default_sample_description_index
                    w.u32(0); // default_sample_duration
                    w.u32(0); // default_sample_size
                    w.u32(0); // default_sample_flags
                });
            }
        });
    });
    (w.buf, mehd_offset)
}

fn mvhd(w: &mut BoxWriter, next_track_id: u32) {
    w.full_box(b"mvhd", 0, 0, |w| {
        w.u32(0); // creation_time
        w.u32(0); // modification_time
        w.u32(MOVIE_TIMESCALE);
        w.u32(0); // duration: no samples in moov
        w.u32(0x0001_0000); // rate 1.0
        w.u16(0x0100); // volume 1.0
        w.zeros(2 + 8); // reserved
        MATRIX.iter().for_each(|&m| w.u32(m));
        w.zeros(24); // pre_defined
        w.u32(next_track_id);
    });
}

fn trak(w: &mut BoxWriter, track_id: u32, track: &Track) {
    let video = track.codec.is_video();
    let data = track.codec.is_data();
    w.boxed(b"trak", |w| {
        w.full_box(b"tkhd", 0, 0x7, |w| {
            w.u32(0); // creation_time
            w.u32(0); // modification_time
            w.u32(track_id);
            w.u32(0); // reserved
            w.u32(0); // duration
            w.zeros(8); // reserved
            w.u16(0); // layer
            w.u16(0); // alternate_group
            w.u16(if video || data { 0 } else { 0x0100 }); // volume
            w.u16(0); // reserved
            MATRIX.iter().for_each(|&m| w.u32(m));
            w.u32(track.info.width.min(0xFFFF) << 16); // 16.16 fixed point
            w.u32(track.info.height.min(0xFFFF) << 16);
        });
        w.boxed(b"mdia", |w| {
            w.full_box(b"mdhd", 0, 0, |w| {
                w.u32(0); // creation_time
                w.u32(0); // modification_time
                w.u32(track.timescale);
                w.u32(0); // duration
                w.u16(0x55C4); // language "und", packed ISO-639-2/T
                w.u16(0); // pre_defined
            });
            w.full_box(b"hdlr", 0, 0, |w| {
                w.u32(0); // pre_defined
                let (handler, name): (&[u8; 4], &[u8]) = if video {
                    (b"vide", b"VideoHandler\0")
                } else if data {
                    (b"data", b"DataHandler\0")
                } else {
                    (b"soun", b"SoundHandler\0")
                };
                w.bytes(handler);
                w.zeros(12); // reserved
                w.bytes(name);
            });
            w.boxed(b"minf", |w| {
                if video {
                    w.full_box(b"vmhd", 0, 1, |w| w.zeros(8)); // graphicsmode, opcolor
                } else if data {
                    w.full_box(b"nmhd", 0, 0, |_| {}); // null media header
                } else {
                    w.full_box(b"smhd", 0, 0, |w| w.zeros(4)); // balance, reserved
                }
                w.boxed(b"dinf", |w| {
                    w.full_box(b"dref", 0, 0, |w| {
                        w.u32(1);
                        w.full_box(b"url ", 0, 1, |_| {}); // data in this file
                    });
                });
                w.boxed(b"stbl", |w| {
                    w.full_box(b"stsd", 0, 0, |w| {
                        w.u32(1);
                        sample_entry(w, track);
                    });
                    w.full_box(b"stts", 0, 0, |w| w.u32(0));
                    w.full_box(b"stsc", 0, 0, |w| w.u32(0));
                    w.full_box(b"stsz", 0, 0, |w| w.zeros(8)); // sample_size, count
                    w.full_box(b"stco", 0, 0, |w| w.u32(0));
                });
            });
        });
    });
}

fn sample_entry(w: &mut BoxWriter, track: &Track) {
    let (entry, config_box) = match track.codec {
        Codec::H264 => (b"avc1", b"avcC"),
        Codec::Hevc => (b"hvc1", b"hvcC"),
        Codec::Amf0 => {
            // A plain SampleEntry: the samples are self-describing AMF0.
            w.boxed(b"amf0", |w| {
                w.zeros(6); // reserved
                w.u16(1); // data_reference_index
            });
            return;
        }
        Codec::Aac => {
            w.boxed(b"mp4a", |w| {
                w.zeros(6); // reserved
                w.u16(1); // data_reference_index
                w.zeros(8); // reserved
                w.u16(u16::from(track.info.channels.max(1)));
                w.u16(16); // samplesize
                w.u32(0); // pre_defined, reserved
                w.u32(track.info.sample_rate.min(0xFFFF) << 16); // 16.16
                esds(w, &track.config);
            });
            return;
        }
    };
    w.boxed(entry, |w| {
        w.zeros(6); // reserved
        w.u16(1); // data_reference_index
        w.zeros(16); // pre_defined, reserved
        w.u16(track.info.width.min(0xFFFF) as u16);
        w.u16(track.info.height.min(0xFFFF) as u16);
        w.u32(0x0048_0000); // 72 dpi
        w.u32(0x0048_0000);
        w.u32(0); // reserved
        w.u16(1); // frame_count
        w.zeros(32); // compressorname
        w.u16(0x0018); // depth
        w.u16(0xFFFF); // pre_defined = -1
        w.boxed(config_box, |w| w.bytes(&track.config));
    });
}

/// `esds` (ISO/IEC 14496-1 ES_Descriptor) carrying the AudioSpecificConfig.
fn esds(w: &mut BoxWriter, asc: &[u8]) {
    let mut decoder_config = vec![
        0x40, // objectTypeIndication: MPEG-4 Audio
        0x15, // streamType 5 (audio) << 2 | upStream 0 | reserved 1
        0, 0, 0, // bufferSizeDB
        0, 0, 0, 0, // maxBitrate
        0, 0, 0, 0, // avgBitrate
    ];
    descriptor(&mut decoder_config, 0x05, asc); // DecoderSpecificInfo
    let mut es = vec![0, 0, 0]; // ES_ID 0, no stream dependence, URL or OCR
    descriptor(&mut es, 0x04, &decoder_config); // DecoderConfigDescriptor
    descriptor(&mut es, 0x06, &[0x02]); // SLConfigDescriptor, predefined MP4
    w.full_box(b"esds", 0, 0, |w| {
        let mut body = Vec::new();
        descriptor(&mut body, 0x03, &es); // ES_Descriptor
        w.bytes(&body);
    });
}

/// Append a descriptor: tag, expandable size (7 bits per byte), body.
fn descriptor(out: &mut Vec<u8>, tag: u8, body: &[u8]) {
    out.push(tag);
    let len = body.len();
    let mut shift = (1..4).rev().find(|s| len >> (7 * s) != 0).unwrap_or(0);
    while shift > 0 {
        out.push(0x80 | ((len >> (7 * shift)) & 0x7F) as u8);
        shift -= 1;
    }
    out.push((len & 0x7F) as u8);
    out.extend_from_slice(body);
}
