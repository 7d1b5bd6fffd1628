//! Structural completeness check of a received data set: walks element headers (skipping
//! values) and requires that the last element ends exactly at the end of the data and that every
//! undefined-length sequence or item is closed. A data set cut short anywhere — including inside
//! Pixel Data, which a header-only parse never reaches — is refused, without loading values into
//! memory. Little endian only (the transfer syntaxes we accept); deflated data sets are checked
//! by a full parse elsewhere.

use std::io::{BufReader, Read, Seek, SeekFrom};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WalkError {
    #[error("data set ends inside element ({0:04X},{1:04X}) at byte {2}")]
    Truncated(u16, u16, u64),
    #[error("data set ends with {0} unclosed sequence(s) or item(s)")]
    Unclosed(u32),
    #[error("sequence delimiter without an open sequence at byte {0}")]
    StrayDelimiter(u64),
    #[error("cannot read data set: {0}")]
    Io(String),
}

/// VRs with a 2-byte reserved field and a 4-byte length in explicit VR (PS3.5 Table 7.1-1).
fn long_vr(vr: [u8; 2]) -> bool {
    matches!(
        &vr,
        b"OB"
            | b"OD"
            | b"OF"
            | b"OL"
            | b"OV"
            | b"OW"
            | b"SQ"
            | b"SV"
            | b"UC"
            | b"UN"
            | b"UR"
            | b"UT"
            | b"UV"
    )
}

/// Checks the data set that starts at `offset` of `reader` and runs to its end.
pub fn check_complete<R: Read + Seek>(
    reader: R,
    offset: u64,
    explicit_vr: bool,
) -> Result<(), WalkError> {
    let mut r = BufReader::with_capacity(1 << 14, reader);
    let io = |e: std::io::Error| WalkError::Io(e.to_string());
    let end = r.seek(SeekFrom::End(0)).map_err(io)?;
    r.seek(SeekFrom::Start(offset)).map_err(io)?;
    let mut pos = offset;
    let mut depth: u32 = 0;
    let mut head = [0u8; 8];
    while pos < end {
        let short = |g, e| WalkError::Truncated(g, e, pos);
        if end - pos < 8 {
            return Err(short(0xFFFF, 0xFFFF));
        }
        r.read_exact(&mut head).map_err(io)?;
        let group = u16::from_le_bytes([head[0], head[1]]);
        let elem = u16::from_le_bytes([head[2], head[3]]);
        let mut header_len = 8u64;
        let len = if group == 0xFFFE || !explicit_vr {
            u32::from_le_bytes([head[4], head[5], head[6], head[7]])
        } else if long_vr([head[4], head[5]]) {
            let mut l = [0u8; 4];
            if end - pos < 12 {
                return Err(short(group, elem));
            }
            r.read_exact(&mut l).map_err(io)?;
            header_len = 12;
            u32::from_le_bytes(l)
        } else {
            u16::from_le_bytes([head[6], head[7]]) as u32
        };
        pos += header_len;
        match (group, elem) {
            (0xFFFE, 0xE00D) | (0xFFFE, 0xE0DD) => {
                depth = depth.checked_sub(1).ok_or(WalkError::StrayDelimiter(pos))?;
                continue;
            }
            _ if len == u32::MAX => {
                depth += 1;
                continue;
            }
            _ => {}
        }
        if end - pos < len as u64 {
            return Err(WalkError::Truncated(group, elem, pos));
        }
        r.seek_relative(len as i64).map_err(io)?;
        pos += len as u64;
    }
    if depth > 0 {
        return Err(WalkError::Unclosed(depth));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn el_explicit(out: &mut Vec<u8>, g: u16, e: u16, vr: &[u8; 2], value: &[u8]) {
        out.extend_from_slice(&g.to_le_bytes());
        out.extend_from_slice(&e.to_le_bytes());
        out.extend_from_slice(vr);
        if long_vr(*vr) {
            out.extend_from_slice(&[0, 0]);
            out.extend_from_slice(&(value.len() as u32).to_le_bytes());
        } else {
            out.extend_from_slice(&(value.len() as u16).to_le_bytes());
        }
        out.extend_from_slice(value);
    }

    fn sample() -> Vec<u8> {
        let mut d = Vec::new();
        el_explicit(&mut d, 0x0008, 0x0060, b"CS", b"PT");
        // undefined-length sequence with one undefined-length item
        d.extend_from_slice(&[
            0x08, 0x00, 0x15, 0x11, b'S', b'Q', 0, 0, 0xFF, 0xFF, 0xFF, 0xFF,
        ]);
        d.extend_from_slice(&[0xFE, 0xFF, 0x00, 0xE0, 0xFF, 0xFF, 0xFF, 0xFF]);
        el_explicit(&mut d, 0x0008, 0x1150, b"UI", b"1.2\0");
        d.extend_from_slice(&[0xFE, 0xFF, 0x0D, 0xE0, 0, 0, 0, 0]);
        d.extend_from_slice(&[0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0]);
        el_explicit(&mut d, 0x7FE0, 0x0010, b"OW", &[7u8; 512]);
        d
    }

    #[test]
    fn complete_data_set_passes_and_every_cut_fails() {
        let d = sample();
        assert_eq!(check_complete(Cursor::new(&d), 0, true), Ok(()));
        // Cuts exactly between two top-level elements leave a shorter but well-formed data set;
        // every other cut must be caught.
        let boundaries = [10, d.len() - (12 + 512)];
        for cut in (1..d.len()).filter(|c| !boundaries.contains(c)) {
            assert!(
                check_complete(Cursor::new(&d[..cut]), 0, true).is_err(),
                "a data set cut at byte {cut} of {} must fail",
                d.len()
            );
        }
    }

    #[test]
    fn implicit_vr_lengths_are_four_bytes() {
        let mut d = Vec::new();
        d.extend_from_slice(&[0x08, 0x00, 0x60, 0x00, 2, 0, 0, 0, b'P', b'T']);
        d.extend_from_slice(&[0xE0, 0x7F, 0x10, 0x00, 4, 0, 0, 0, 1, 2, 3, 4]);
        assert_eq!(check_complete(Cursor::new(&d), 0, false), Ok(()));
        assert!(check_complete(Cursor::new(&d[..d.len() - 1]), 0, false).is_err());
    }
}
