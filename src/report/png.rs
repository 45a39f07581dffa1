//! The scatter's raster and its PNG encoding: an RGB image on white that dots are
//! alpha-blended into, written as the minimum PNG the format needs (one IDAT of zlib,
//! from flate2, which hdrhistogram already builds; CRC-32 per chunk).

/// An RGB image on white, for the scatter's points.
pub struct Raster {
    w: usize,
    h: usize,
    px: Vec<[f32; 3]>,
}

impl Raster {
    pub fn new(w: usize, h: usize) -> Raster {
        Raster {
            w,
            h,
            px: vec![[255.0; 3]; w * h],
        }
    }

    /// A `size`-pixel square dot centred at (x, y), alpha-blended.
    pub fn dot(&mut self, x: f64, y: f64, size: usize, rgb: [u8; 3], alpha: f64) {
        if !(x.is_finite() && y.is_finite()) || x < -4.0 || y < -4.0 {
            return;
        }
        let half = size as f64 / 2.0;
        let x0 = (x - half).round().max(0.0) as usize;
        let y0 = (y - half).round().max(0.0) as usize;
        let a = alpha as f32;
        for yy in y0..(y0 + size).min(self.h) {
            for xx in x0..(x0 + size).min(self.w) {
                let p = &mut self.px[yy * self.w + xx];
                for (c, v) in p.iter_mut().zip(rgb) {
                    *c = *c * (1.0 - a) + v as f32 * a;
                }
            }
        }
    }

    /// The image as PNG bytes; pixels nothing was drawn on are transparent, so the
    /// chart's grid shows through.
    pub fn png(&self) -> Vec<u8> {
        let mut raw = Vec::with_capacity(self.h * (1 + self.w * 4));
        for row in self.px.chunks(self.w) {
            raw.push(0); // filter type: none
            for p in row {
                let [r, g, b] = p.map(|c| c.round().clamp(0.0, 255.0) as u8);
                let a = if [r, g, b] == [255, 255, 255] { 0 } else { 255 };
                raw.extend_from_slice(&[r, g, b, a]);
            }
        }
        png_encode(self.w as u32, self.h as u32, &raw)
    }
}

/// Encodes RGBA scanlines (each led by its filter byte) as a PNG.
pub fn png_encode(w: u32, h: u32, raw: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::new(6));
    // Writing into a Vec cannot fail.
    let _ = z.write_all(raw);
    let idat = z.finish().unwrap_or_default();
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::with_capacity(13);
    ihdr.extend_from_slice(&w.to_be_bytes());
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 6, 0, 0, 0]); // 8-bit RGBA, deflate, no interlace
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(&mut out, b"IDAT", &idat);
    chunk(&mut out, b"IEND", &[]);
    out
}

fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let start = out.len();
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let crc = crc32(&out[start..]);
    out.extend_from_slice(&crc.to_be_bytes());
}

/// CRC-32 (IEEE), as PNG chunks need (flate2's, already linked for the deflate).
pub fn crc32(data: &[u8]) -> u32 {
    let mut c = flate2::Crc::new();
    c.update(data);
    c.sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc() {
        assert_eq!(crc32(b"IEND"), 0xAE42_6082);
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn png_is_well_formed() {
        let mut r = Raster::new(4, 3);
        r.dot(1.0, 1.0, 2, [255, 0, 0], 1.0);
        let png = r.png();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        assert_eq!(&png[12..16], b"IHDR");
        assert_eq!(&png[png.len() - 8..png.len() - 4], b"IEND");
    }
}
