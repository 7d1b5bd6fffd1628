//! The mutator of `tests/fuzz.rs`: a deterministic PRNG and the byte- and text-level mutations
//! applied to a target's seeds. An input depends only on the RNG state it is drawn from, so the
//! runner can regenerate any input from one `u64`. Knows nothing about what the targets do.

/// SplitMix64 (Steele, Lea, Flood 2014): tiny, fast, and its whole state is one `u64`, so an
/// input is regenerated from the state it was drawn from.
#[derive(Clone, Copy)]
pub struct Rng(pub u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }

    /// A position in `0..=len`, half the time near the start, where headers are.
    fn pos(&mut self, len: usize) -> usize {
        let span = if self.next() & 1 == 0 {
            len
        } else {
            len.min(1 << self.below(14))
        };
        self.below(span + 1)
    }

    /// Uniform in `0..2^k` for `k` uniform in `0..bits`: mostly small.
    fn small(&mut self, bits: usize) -> usize {
        let k = self.below(bits);
        self.below(1 << k)
    }

    /// A run length, mostly short: 1 to 8192.
    fn run(&mut self) -> usize {
        1 + self.small(14)
    }
}

pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xCBF2_9CE4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01B3)
    })
}

// Dictionaries of the mutator, one line per family (rustfmt would give each its own line).
#[rustfmt::skip]
const SEPARATORS: &[&[u8]] = &[
    b"|", b"^", b"~", b"\\", b"&", b"\r", b"\n", b"\r\n", b"\x0b", b"\x1c", b"\x1c\r", b"|^~\\&",
];
#[rustfmt::skip]
const CHARACTERS: &[&str] = &[
    "é", "ü", "°", "µ", "–", "€", "≥", "中", "😀", "\u{feff}", "\u{85}", "\u{2028}", "\0",
];
#[rustfmt::skip]
pub const HL7_TOKENS: &[&[u8]] = &[
    b"MSH|^~\\&|", b"\rOBX|1|TX|", b"\rOBR|1|", b"\rPID|1||", b"\rORC|RE|", b"113014",
    b"\\F\\", b"\\S\\", b"\\E\\", b"\\T\\", b"\\R\\", b"\\X0D\\", b"\\Xc3a9\\", b"\\.br\\",
    b"8859/1", b"UNICODE UTF-8", b"ORU^R01",
    b"SUVmax 12.4", b"SUV max of 3.1", b"image 123", b"(slice 45)", b"IMPRESSION:", b"FINDINGS:\n",
    b"\n\n", b"  ", b" | ", b"1.", b"-", b"cm", b"x",
];
#[rustfmt::skip]
pub const PDU_TOKENS: &[&[u8]] = &[
    b"1.2.840.10008.1.1\0", b"1.2.840.10008.3.1.1.1", b"1.2.840.10008.1.2\0",
    b"\x10\x00", b"\x20\x00", b"\x30\x00", b"\x40\x00", b"\x50\x00", b"\x51\x00\x00\x04",
    b"\x52\x00", b"\x55\x00", b"\x54\x00", b"\x58\x00", b"\x04\x00\x00\x00", b"\x03\x00",
    b"\x02\x00",
];
#[rustfmt::skip]
pub const DICOM_TOKENS: &[&[u8]] = &[
    b"SQ\0\0\xff\xff\xff\xff", b"\xfe\xff\x00\xe0\xff\xff\xff\xff", b"\xfe\xff\x0d\xe0\0\0\0\0",
    b"\xfe\xff\xdd\xe0\0\0\0\0", b"\xe0\x7f\x10\x00OB\0\0", b"\x08\x00\x16\x00UI", b"UN\0\0",
    b"OW\0\0", b"UT\0\0", b"\x02\x00\x10\x00UI", b"1.2.840.10008.1.2\0", b"1.2.840.10008.1.2.1\0",
];
#[rustfmt::skip]
pub const TOML_TOKENS: &[&[u8]] = &[
    b"[", b"]", b"[[destinations]]\n", b"\"", b"'''", b"\"\"\"", b"=", b"#", b"\n", b".", b",",
    b"0", b"-1", b"18446744073709551615", b"4294967296", b"1e400", b"inf", b"nan", b"true",
    b"\"*\"", b"\"[::1]:0\"", b"\"0.0.0.0:0\"", b"{}", b"\\u0000", b"\\",
];

/// How inputs of one target are made: which seeds, which dictionary, whether it is text.
pub struct Mutator {
    seeds: Vec<Vec<u8>>,
    tokens: &'static [&'static [u8]],
    text: bool,
    max_len: usize,
}

impl Mutator {
    pub fn new(seeds: Vec<Vec<u8>>, tokens: &'static [&'static [u8]], text: bool) -> Self {
        let biggest = seeds.iter().map(Vec::len).max().unwrap_or(0);
        assert!(!seeds.is_empty(), "a target needs seeds");
        Self {
            seeds,
            tokens,
            text,
            max_len: (2 * biggest).max(1 << 16),
        }
    }

    /// One input: a seed with one to eight stacked mutations. Depends on `rng` only.
    pub fn input(&self, rng: &mut Rng) -> Vec<u8> {
        let mut d = self.seeds[rng.below(self.seeds.len())].clone();
        for _ in 0..1 + rng.small(4) {
            self.mutate(rng, &mut d);
        }
        d.truncate(self.max_len);
        d
    }

    fn mutate(&self, rng: &mut Rng, d: &mut Vec<u8>) {
        let len = d.len();
        let at = rng.pos(len.saturating_sub(1));
        match rng.below(if self.text { 15 } else { 11 }) {
            0 if len > 0 => d[at] ^= 1 << rng.below(8),
            1 if len > 0 => d[at] = [0, 0xFF, 0x7F, 0x80, rng.next() as u8][rng.below(5)],
            2 => {
                let n = rng.run();
                let fill: Vec<u8> = match rng.below(2) {
                    0 => (0..n).map(|_| rng.next() as u8).collect(),
                    _ => vec![rng.next() as u8; n],
                };
                d.splice(at.min(len)..at.min(len), fill);
            }
            3 if len > 0 => {
                let n = rng.run().min(len - at);
                d.drain(at..at + n);
            }
            4 if len > 0 => {
                let from = rng.below(len);
                let chunk = d[from..from + rng.run().min(len - from)].to_vec();
                if rng.next() & 1 == 0 {
                    d.splice(at..at, chunk);
                } else {
                    let end = (at + chunk.len()).min(len);
                    d.splice(at..end, chunk);
                }
            }
            5 if len >= 2 => boundary_number(rng, d, at, 2),
            6 if len >= 4 => boundary_number(rng, d, at, 4),
            7 => d.truncate(rng.pos(len)),
            8 => {
                let other = &self.seeds[rng.below(self.seeds.len())];
                let from = rng.pos(other.len());
                d.truncate(rng.pos(len));
                d.extend_from_slice(&other[from..]);
            }
            9 | 10 => {
                let t = self.tokens[rng.below(self.tokens.len())];
                insert_or_overwrite(rng, d, at, t);
            }
            11 | 12 => {
                let t = SEPARATORS[rng.below(SEPARATORS.len())];
                insert_or_overwrite(rng, d, at, t);
            }
            13 => {
                let c = CHARACTERS[rng.below(CHARACTERS.len())];
                d.splice(at.min(len)..at.min(len), c.bytes());
            }
            14 => d.insert(at.min(len), 0x80 + rng.below(0x80) as u8), // a Latin-1 byte
            _ => d.push(rng.next() as u8),
        }
    }
}

/// Overwrites the `width`-byte (2 or 4) number at `at`, little or big endian, with a boundary
/// value: 0, 1, the signed and unsigned limits, or a length that ends just past the input's end
/// or exactly at it.
fn boundary_number(rng: &mut Rng, d: &mut [u8], at: usize, width: usize) {
    let at = at.min(d.len() - width);
    let max = if width == 2 { 0xFFFF } else { u32::MAX };
    let past = u32::try_from(d.len() - at - width + 1).map_or(max, |p| p.min(max));
    let v = [0, 1, 0xFFFF, max >> 1, (max >> 1) + 1, max, past, past - 1][rng.below(8)];
    let (le, be) = (v.to_le_bytes(), v.to_be_bytes());
    let bytes = if rng.next() & 1 == 0 {
        &le[..width]
    } else {
        &be[4 - width..]
    };
    d[at..at + width].copy_from_slice(bytes);
}

fn insert_or_overwrite(rng: &mut Rng, d: &mut Vec<u8>, at: usize, t: &[u8]) {
    let at = at.min(d.len());
    let end = if rng.next() & 1 == 0 {
        at
    } else {
        (at + t.len()).min(d.len())
    };
    d.splice(at..end, t.iter().copied());
}
