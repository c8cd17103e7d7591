//! Decoding bombs, written byte by byte: small files that would decode to gigabytes, or keep a
//! decoder busy for a minute. Grey, so every block is a DC difference of 0 and an end of block,
//! each one a single-bit Huffman code.

use std::path::{Path, PathBuf};

fn segment(marker: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![0xFF, marker];
    out.extend(u16::try_from(payload.len() + 2).unwrap().to_be_bytes());
    out.extend(payload);
    out
}

fn app0() -> Vec<u8> {
    segment(0xE0, b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0")
}

fn dqt() -> Vec<u8> {
    let mut table = vec![0];
    table.extend([1; 64]);
    segment(0xDB, &table)
}

/// A Huffman table of one code, "0", for `symbol`.
fn dht(class: u8, symbol: u8) -> Vec<u8> {
    let mut table = vec![class << 4];
    table.push(1);
    table.extend([0; 15]);
    table.push(symbol);
    segment(0xC4, &table)
}

/// A frame header of one (grey) component.
fn sof(marker: u8, side: u16) -> Vec<u8> {
    let mut header = vec![8];
    header.extend(side.to_be_bytes());
    header.extend(side.to_be_bytes());
    header.extend([1, 1, 0x11, 0]);
    segment(marker, &header)
}

fn sos(first: u8, last: u8) -> Vec<u8> {
    segment(0xDA, &[1, 1, 0, first, last, 0])
}

/// A 16000x16000 baseline JPEG of 1 MB with one stray byte after its APP0 segment, which
/// libjpeg skips (with a warning) and a header reader that stops at it does not.
pub(crate) fn stray_byte_jpeg(dir: &Path) -> PathBuf {
    let side = 16_000u16;
    let blocks = (usize::from(side) / 8).pow(2);
    let mut jpeg = vec![0xFF, 0xD8];
    jpeg.extend(app0());
    jpeg.push(0);
    jpeg.extend(dqt());
    jpeg.extend(sof(0xC0, side));
    jpeg.extend(dht(0, 0));
    jpeg.extend(dht(1, 0));
    jpeg.extend(sos(0, 63));
    // Each block is 2 bits: DC "0" (no change) and AC "0" (end of block).
    jpeg.resize(jpeg.len() + blocks * 2 / 8, 0);
    jpeg.extend([0xFF, 0xD9]);
    write(dir, "stray.jpg", &jpeg)
}

/// A progressive 8000x8000 JPEG of 180 KB whose one AC scan is repeated 600 times: within the
/// pixel limit, but each scan is another pass over 64 million pixels.
pub(crate) fn many_scans_jpeg(dir: &Path) -> PathBuf {
    let side = 8_000u16;
    let blocks = (usize::from(side) / 8).pow(2);
    let mut jpeg = vec![0xFF, 0xD8];
    jpeg.extend(app0());
    jpeg.extend(dqt());
    jpeg.extend(sof(0xC2, side));
    jpeg.extend(dht(0, 0));
    jpeg.extend(sos(0, 0));
    jpeg.resize(jpeg.len() + blocks.div_ceil(8), 0);
    // The AC scan: end-of-band runs of up to 32767 blocks (symbol 0xE0, code "0", 14 bits).
    jpeg.extend(dht(1, 0xE0));
    let mut bits = Bits::default();
    let mut left = blocks;
    while left > 0 {
        let run = left.min(32_767);
        bits.put(0, 1);
        bits.put(u32::try_from(run - 16_384).unwrap(), 14);
        left -= run;
    }
    let ac = bits.finish();
    for _ in 0..600 {
        jpeg.extend(sos(1, 63));
        jpeg.extend(&ac);
    }
    jpeg.extend([0xFF, 0xD9]);
    write(dir, "scans.jpg", &jpeg)
}

/// A 16000x16000 grey TIFF of 5 KB: 64 strips of 250 rows of zeros, deflated, all 64 the
/// same bytes.
pub(crate) fn big_tiff(dir: &Path) -> PathBuf {
    use std::io::Write as _;
    let (side, rows) = (16_000u32, 250u32);
    let strips = side / rows;
    let mut deflate = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    deflate.write_all(&vec![0; (side * rows) as usize]).unwrap();
    let strip = deflate.finish().unwrap();
    let strip_len = u32::try_from(strip.len()).unwrap();
    // Header, the strip, the two arrays (offsets, lengths), then the directory.
    let arrays_at = 8 + strip_len;
    let directory_at = arrays_at + 8 * strips;
    let mut tiff = b"II*\0".to_vec();
    tiff.extend(directory_at.to_le_bytes());
    tiff.extend(&strip);
    tiff.extend((0..strips).flat_map(|_| 8u32.to_le_bytes()));
    tiff.extend((0..strips).flat_map(|_| strip_len.to_le_bytes()));
    // (tag, type: 3 short / 4 long, count, value or where the values are)
    let entries: [(u16, u16, u32, u32); 9] = [
        (256, 4, 1, side),
        (257, 4, 1, side),
        (258, 3, 1, 8),
        (259, 3, 1, 8),
        (262, 3, 1, 1),
        (273, 4, strips, arrays_at),
        (277, 3, 1, 1),
        (278, 4, 1, rows),
        (279, 4, strips, arrays_at + 4 * strips),
    ];
    tiff.extend(u16::try_from(entries.len()).unwrap().to_le_bytes());
    for (tag, kind, count, value) in entries {
        tiff.extend(tag.to_le_bytes());
        tiff.extend(kind.to_le_bytes());
        tiff.extend(count.to_le_bytes());
        if kind == 3 {
            tiff.extend(u16::try_from(value).unwrap().to_le_bytes());
            tiff.extend([0, 0]);
        } else {
            tiff.extend(value.to_le_bytes());
        }
    }
    tiff.extend([0; 4]);
    write(dir, "big.tif", &tiff)
}

/// A PNG whose header claims `width` x `height`, with its checksums right and the start of
/// its pixels (rows of zeros), as a bomb's would be.
pub(crate) fn png_claiming(width: u32, height: u32) -> Vec<u8> {
    use std::io::Write as _;
    let mut header = Vec::new();
    header.extend(width.to_be_bytes());
    header.extend(height.to_be_bytes());
    header.extend([8, 2, 0, 0, 0]);
    let mut deflate = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    deflate.write_all(&vec![0; 1 << 20]).unwrap();
    let pixels = deflate.finish().unwrap();
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    for (kind, data) in [
        (b"IHDR", &header),
        (b"IDAT", &pixels),
        (b"IEND", &Vec::new()),
    ] {
        png.extend(u32::try_from(data.len()).unwrap().to_be_bytes());
        let mut crc = flate2::Crc::new();
        crc.update(kind);
        crc.update(data);
        png.extend(kind);
        png.extend(data);
        png.extend(crc.sum().to_be_bytes());
    }
    png
}

/// All three, each with the words its refusal must contain.
pub(crate) fn all(dir: &Path) -> [(PathBuf, &'static str); 3] {
    [
        (stray_byte_jpeg(dir), "16000x16000"),
        (many_scans_jpeg(dir), "scans"),
        (big_tiff(dir), "TIFF"),
    ]
}

/// An MJPG AVI of `frames` frames, each the JPEG at `jpeg` (16000x16000 for
/// [`stray_byte_jpeg`]): a video whose every frame is a bomb, with a header that says so.
pub(crate) fn mjpeg_avi(dir: &Path, jpeg: &Path, frames: u32, side: u32) -> PathBuf {
    fn chunk(tag: &[u8], data: &[u8]) -> Vec<u8> {
        let mut out = tag.to_vec();
        out.extend(u32::try_from(data.len()).unwrap().to_le_bytes());
        out.extend(data);
        if data.len() % 2 == 1 {
            out.push(0);
        }
        out
    }
    fn list(kind: &[u8], parts: &[Vec<u8>]) -> Vec<u8> {
        let mut data = kind.to_vec();
        data.extend(parts.concat());
        chunk(b"LIST", &data)
    }
    let le = |values: &[u32]| {
        values
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect::<Vec<u8>>()
    };
    let jpeg = std::fs::read(jpeg).unwrap();
    let size = u32::try_from(jpeg.len()).unwrap();
    // avih: 25 fps, has an index flag off, one stream, the frame size.
    let avih = le(&[
        40_000, 0, 0, 0x10, frames, 0, 1, size, side, side, 0, 0, 0, 0,
    ]);
    let mut strh = b"vidsMJPG".to_vec();
    strh.extend(le(&[0, 0, 0, 1, 25, 0, frames, size, u32::MAX, 0]));
    strh.extend([0u16, 0, 0, 0].iter().flat_map(|v| v.to_le_bytes()));
    // BITMAPINFOHEADER: 24-bit MJPG.
    let mut strf = le(&[40, side, side]);
    strf.extend(1u16.to_le_bytes());
    strf.extend(24u16.to_le_bytes());
    strf.extend(b"MJPG");
    strf.extend(le(&[side * side * 3, 0, 0, 0, 0]));
    let header = list(
        b"hdrl",
        &[
            chunk(b"avih", &avih),
            list(b"strl", &[chunk(b"strh", &strh), chunk(b"strf", &strf)]),
        ],
    );
    let movi = list(b"movi", &vec![chunk(b"00dc", &jpeg); frames as usize]);
    let mut body = b"AVI ".to_vec();
    body.extend(header);
    body.extend(movi);
    write(dir, "bombs.avi", &chunk(b"RIFF", &body))
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// Bits written most significant first, with a 0x00 stuffed after every 0xFF byte.
#[derive(Default)]
struct Bits {
    out: Vec<u8>,
    byte: u8,
    used: u32,
}

impl Bits {
    fn put(&mut self, value: u32, count: u32) {
        for i in (0..count).rev() {
            self.byte = self.byte << 1 | u8::from((value >> i) & 1 == 1);
            self.used += 1;
            if self.used == 8 {
                self.out.push(self.byte);
                if self.byte == 0xFF {
                    self.out.push(0);
                }
                (self.byte, self.used) = (0, 0);
            }
        }
    }

    /// The bytes, the last one padded with ones.
    fn finish(mut self) -> Vec<u8> {
        if self.used > 0 {
            let pad = 8 - self.used;
            self.put((1 << pad) - 1, pad);
        }
        self.out
    }
}
