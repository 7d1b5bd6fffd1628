//! 1-bit packing of BINARY segmentation frames (PS3.5 §8.1.1 and §8.2).
//!
//! Pixels are packed least-significant bit first, eight to a byte. Frames are packed one after
//! another *without* padding to a byte boundary: when `rows × columns` is not a multiple of 8
//! (169 × 169 PET), frame `k` starts at bit `k × rows × columns`, as PS3.5 §8.1.1 prescribes and
//! as highdicom and pydicom write and read it. Only the whole Pixel Data value is padded, with
//! zero bits up to an even number of bytes (PS3.5 §7.1.1). The SEG builder owns which pixels go
//! into which frame; this file only turns bits into bytes and back.

/// Packs a stream of pixels (frame after frame, row-major in each frame) into Pixel Data bytes:
/// LSB first, contiguous across frame boundaries, padded with zeros to an even length.
pub fn pack_bits(pixels: impl IntoIterator<Item = bool>) -> Vec<u8> {
    let mut out = Vec::new();
    let mut byte = 0u8;
    let mut n = 0usize;
    for px in pixels {
        if px {
            byte |= 1 << (n % 8);
        }
        n += 1;
        if n.is_multiple_of(8) {
            out.push(byte);
            byte = 0;
        }
    }
    if !n.is_multiple_of(8) {
        out.push(byte);
    }
    if !out.len().is_multiple_of(2) {
        out.push(0);
    }
    out
}

/// Number of Pixel Data bytes that [`pack_bits`] produces for `n_pixels` pixels.
pub fn packed_len(n_pixels: usize) -> usize {
    let bytes = n_pixels.div_ceil(8);
    bytes + bytes % 2
}

/// Reads `n_pixels` pixels back from packed bytes; the inverse of [`pack_bits`].
/// Returns `None` when `bytes` is too short to hold that many pixels.
pub fn unpack_bits(bytes: &[u8], n_pixels: usize) -> Option<Vec<bool>> {
    if bytes.len() < n_pixels.div_ceil(8) {
        return None;
    }
    Some(
        (0..n_pixels)
            .map(|i| bytes[i / 8] & (1 << (i % 8)) != 0)
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn lsb_first_golden() {
        // PS3.5 §8.1.1: the first pixel is the least significant bit of the first byte.
        // Pixels 1,0,0,0,0,0,0,1 | 1 → 0b1000_0001, 0b0000_0001, padded to even length.
        let px = [true, false, false, false, false, false, false, true, true];
        assert_eq!(pack_bits(px), vec![0x81, 0x01]);
        assert_eq!(pack_bits([true; 3]), vec![0x07, 0x00]);
        assert_eq!(pack_bits(std::iter::empty()), Vec::<u8>::new());
    }

    #[test]
    fn frames_are_contiguous_across_byte_boundaries() {
        // Two 3×3 frames (9 pixels each): the second frame starts at bit 9, i.e. bit 1 of byte 1,
        // not at byte 2. Frame 1 is all zero except its first pixel; frame 2 only its first pixel.
        let mut px = vec![false; 18];
        px[0] = true;
        px[9] = true;
        assert_eq!(pack_bits(px), vec![0x01, 0x02, 0x00, 0x00]);
    }

    #[test]
    fn pet_169_matrix_sizes() {
        // 169 × 169 = 28561 pixels = 3570 bytes + 1 bit per frame: three frames need 85683 bits.
        assert_eq!(packed_len(169 * 169), 3572);
        assert_eq!(packed_len(3 * 169 * 169), 10712);
        assert_eq!(pack_bits(vec![true; 3 * 169 * 169]).len(), 10712);
    }

    proptest! {
        #[test]
        fn round_trip(bits in proptest::collection::vec(any::<bool>(), 0..5000)) {
            let packed = pack_bits(bits.iter().copied());
            prop_assert_eq!(packed.len(), packed_len(bits.len()));
            prop_assert_eq!(packed.len() % 2, 0);
            prop_assert_eq!(unpack_bits(&packed, bits.len()), Some(bits));
        }

        #[test]
        fn round_trip_169_frames(frames in 1usize..4, seed in any::<u64>()) {
            // Pseudo-random 169×169 frames (xorshift from the seed) so every bit offset occurs.
            let n = frames * 169 * 169;
            let mut s = seed | 1;
            let bits: Vec<bool> = (0..n).map(|_| { s ^= s << 13; s ^= s >> 7; s ^= s << 17; s & 1 == 1 }).collect();
            let packed = pack_bits(bits.iter().copied());
            let back = unpack_bits(&packed, n).expect("packed buffer holds n pixels");
            for f in 0..frames {
                let r = f * 169 * 169..(f + 1) * 169 * 169;
                prop_assert_eq!(&back[r.clone()], &bits[r]);
            }
        }
    }
}
