//! The ratio chart: horizontal bars on a log scale, rasterized into an RGB buffer and written
//! as a PNG (zlib via `flate2`, chunk checksums via `crc32fast`).

use std::io::Write;

use super::font::glyph;

/// One bar: Floe's figure divided by a peer's.
#[derive(Debug, Clone)]
pub struct Bar {
    pub label: String,
    pub ratio: f64,
    /// Whether a ratio above 1 is good for Floe (throughput) or bad (bytes, latency).
    pub higher_is_better: bool,
}

const WIDTH: usize = 1400;
const ROW: usize = 26;
const TOP: usize = 70;
const SCALE: usize = 2;
const BAR_X0: usize = 780;
const BAR_X1: usize = 1370;
/// The axis spans 2^-LOG2_SPAN ..= 2^LOG2_SPAN.
const LOG2_SPAN: f64 = 6.0;

const WHITE: [u8; 3] = [255, 255, 255];
const BLACK: [u8; 3] = [20, 20, 20];
const GREY: [u8; 3] = [200, 200, 200];
const GREEN: [u8; 3] = [46, 160, 67];
const RED: [u8; 3] = [207, 34, 46];

struct Canvas {
    w: usize,
    h: usize,
    px: Vec<u8>,
}

impl Canvas {
    fn new(w: usize, h: usize) -> Self {
        Canvas {
            w,
            h,
            px: WHITE.repeat(w * h),
        }
    }

    fn rect(&mut self, x0: usize, y0: usize, x1: usize, y1: usize, c: [u8; 3]) {
        for y in y0.min(self.h)..y1.min(self.h) {
            for x in x0.min(self.w)..x1.min(self.w) {
                let i = (y * self.w + x) * 3;
                self.px[i..i + 3].copy_from_slice(&c);
            }
        }
    }

    fn text(&mut self, x: usize, y: usize, s: &str, c: [u8; 3]) {
        for (n, ch) in s.chars().enumerate() {
            let gx = x + n * 6 * SCALE;
            for (row, bits) in glyph(ch).iter().enumerate() {
                for col in 0..5 {
                    if bits & (0x10 >> col) != 0 {
                        let (px, py) = (gx + col * SCALE, y + row * SCALE);
                        self.rect(px, py, px + SCALE, py + SCALE, c);
                    }
                }
            }
        }
    }
}

/// The x pixel of `ratio` on the log axis (clamped to the axis).
fn x_of(ratio: f64) -> usize {
    let r = ratio
        .max(f64::MIN_POSITIVE)
        .log2()
        .clamp(-LOG2_SPAN, LOG2_SPAN);
    let f = (r + LOG2_SPAN) / (2.0 * LOG2_SPAN);
    BAR_X0 + (f * (BAR_X1 - BAR_X0) as f64).round() as usize
}

/// Renders the bars as a PNG file's bytes.
pub fn render(title: &str, subtitle: &str, bars: &[Bar]) -> Vec<u8> {
    let h = TOP + bars.len() * ROW + 50;
    let mut c = Canvas::new(WIDTH, h);
    c.text(10, 10, title, BLACK);
    c.text(10, 36, subtitle, BLACK);
    let one = x_of(1.0);
    for e in -(LOG2_SPAN as i32)..=(LOG2_SPAN as i32) {
        if e % 2 != 0 {
            continue;
        }
        let x = x_of(2f64.powi(e));
        c.rect(x, TOP - 4, x + 1, TOP + bars.len() * ROW, GREY);
        let label = if e >= 0 {
            format!("{}", 1u64 << e)
        } else {
            format!("1/{}", 1u64 << -e)
        };
        let half = label.len() * 6 * SCALE / 2;
        c.text(
            x.saturating_sub(half),
            TOP + bars.len() * ROW + 8,
            &label,
            BLACK,
        );
    }
    for (i, b) in bars.iter().enumerate() {
        let y = TOP + i * ROW;
        c.text(10, y + 5, &format!("{} {:.2}X", b.label, b.ratio), BLACK);
        let better = (b.ratio >= 1.0) == b.higher_is_better;
        let x = x_of(b.ratio);
        let (x0, x1) = if x >= one { (one, x + 1) } else { (x, one + 1) };
        c.rect(x0, y + 4, x1, y + ROW - 4, if better { GREEN } else { RED });
    }
    c.rect(one, TOP - 4, one + 2, TOP + bars.len() * ROW, BLACK);
    encode_png(&c)
}

fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let mut crc = crc32fast::Hasher::new();
    crc.update(kind);
    crc.update(data);
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    out.extend_from_slice(&crc.finalize().to_be_bytes());
}

fn encode_png(c: &Canvas) -> Vec<u8> {
    let mut raw = Vec::with_capacity((c.w * 3 + 1) * c.h);
    for row in c.px.chunks(c.w * 3) {
        raw.push(0); // filter: none
        raw.extend_from_slice(row);
    }
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    z.write_all(&raw).expect("compress into memory");
    let idat = z.finish().expect("compress into memory");
    let mut ihdr = Vec::with_capacity(13);
    ihdr.extend_from_slice(&(c.w as u32).to_be_bytes());
    ihdr.extend_from_slice(&(c.h as u32).to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]); // 8-bit RGB, deflate, no filter, no interlace
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(&mut out, b"IDAT", &idat);
    chunk(&mut out, b"IEND", &[]);
    out
}
