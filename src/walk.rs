//! Structural completeness check of a received data set: walks element headers (skipping
//! values) and requires that the last element ends exactly at the end of the data and that every
//! undefined-length sequence or item is closed. A data set cut short anywhere — including inside
//! Pixel Data, which a header-only parse never reaches — is refused, without loading values into
//! memory. Little endian only (the transfer syntaxes we accept); deflated data sets are checked
//! by a full parse elsewhere.
//!
//! The walk also bounds how deeply sequences nest: it descends into defined-length sequences and
//! items as well as undefined-length ones, with an explicit stack (no recursion), and refuses a
//! data set nested deeper than [`MAX_NESTING`] levels before any recursive parser sees it (~1,700
//! levels once overflowed a worker thread's stack and aborted the node).

use std::io::{BufReader, Read, Seek, SeekFrom};

/// Deepest nesting of sequences and items accepted (a level is a sequence or an item; real
/// PET/CT data sets nest a handful of levels).
pub const MAX_NESTING: usize = 64;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WalkError {
    #[error("sequences nest deeper than {MAX_NESTING} levels at byte {0}")]
    TooDeep(u64),
    #[error("element ({0:04X},{1:04X}) runs past the end of its sequence or item at byte {2}")]
    Overrun(u16, u16, u64),
    #[error("data set ends inside element ({0:04X},{1:04X}) at byte {2}")]
    Truncated(u16, u16, u64),
    #[error("data set ends with {0} unclosed sequence(s) or item(s)")]
    Unclosed(u32),
    #[error("sequence delimiter without an open sequence at byte {0}")]
    StrayDelimiter(u64),
    #[error(
        "element ({0:04X},{1:04X}) has {3} bytes, not a multiple of the {4} bytes of its VR {2}"
    )]
    BadLength(u16, u16, String, u32, u32),
    #[error("cannot read data set: {0}")]
    Io(String),
}

/// Whether an explicit-VR element has a 2-byte reserved field and a 4-byte length (PS3.5
/// Table 7.1-1). Every VR but the short ones does — including VRs this walk does not know: PS3.5
/// 7.1.2 gives every future VR the long form, and dicom-rs reads an unknown VR that way too (a
/// walk that read "ZZ" with a 2-byte length once passed an element dicom-rs then read as 1 GB).
fn long_vr(vr: [u8; 2]) -> bool {
    !matches!(
        &vr,
        b"AE"
            | b"AS"
            | b"AT"
            | b"CS"
            | b"DA"
            | b"DS"
            | b"DT"
            | b"FL"
            | b"FD"
            | b"IS"
            | b"LO"
            | b"LT"
            | b"PN"
            | b"SH"
            | b"SL"
            | b"SS"
            | b"ST"
            | b"TM"
            | b"UI"
            | b"UL"
            | b"US"
    )
}

/// Checks the data set that starts at `offset` of `reader` and runs to its end.
pub fn check_complete<R: Read + Seek>(
    reader: R,
    offset: u64,
    explicit_vr: bool,
) -> Result<(), WalkError> {
    let mut r = BufReader::with_capacity(1 << 14, reader);
    let end = r.seek(SeekFrom::End(0)).map_err(io)?;
    r.seek(SeekFrom::Start(offset)).map_err(io)?;
    let mut pos = offset;
    // Open containers: `Some(end)` a defined-length sequence or item, `None` undefined length.
    let mut open: Vec<Option<u64>> = Vec::new();
    loop {
        // Close the defined-length containers that end here.
        while let Some(&Some(stop)) = open.last() {
            if pos < stop {
                break;
            }
            open.pop();
        }
        if pos >= end {
            break;
        }
        let h = read_header(&mut r, pos, end, explicit_vr)?;
        pos += h.size;
        match (h.group, h.elem) {
            (0xFFFE, 0xE00D) | (0xFFFE, 0xE0DD) => {
                match open.pop() {
                    Some(None) => {}
                    _ => return Err(WalkError::StrayDelimiter(pos)),
                }
                continue;
            }
            _ if h.len == u32::MAX => {
                push(&mut open, None, pos)?;
                continue;
            }
            _ => {}
        }
        let vr = check_value(&h, pos, end, &open, explicit_vr)?;
        let stop = pos + u64::from(h.len);
        if is_container(h.group, h.elem, vr) {
            // Walk into it: its elements are checked too, and its depth counts.
            push(&mut open, Some(stop), pos)?;
            continue;
        }
        r.seek_relative(i64::from(h.len)).map_err(io)?;
        pos = stop;
    }
    let unclosed = open.iter().filter(|c| c.is_none()).count();
    if unclosed > 0 {
        return Err(WalkError::Unclosed(unclosed as u32));
    }
    Ok(())
}

fn io(e: std::io::Error) -> WalkError {
    WalkError::Io(e.to_string())
}

/// One element header: tag, VR bytes as written (meaningless when implicit), value length
/// and the header's own size.
struct Header {
    group: u16,
    elem: u16,
    vr: [u8; 2],
    len: u32,
    size: u64,
}

/// The element header at `pos` (`end`: where the data ends), never read past `end`.
fn read_header<R: Read>(
    r: &mut R,
    pos: u64,
    end: u64,
    explicit_vr: bool,
) -> Result<Header, WalkError> {
    if end - pos < 8 {
        return Err(WalkError::Truncated(0xFFFF, 0xFFFF, pos));
    }
    let mut head = [0u8; 8];
    r.read_exact(&mut head).map_err(io)?;
    let group = u16::from_le_bytes([head[0], head[1]]);
    let elem = u16::from_le_bytes([head[2], head[3]]);
    let vr = [head[4], head[5]];
    let (len, size) = if group == 0xFFFE || !explicit_vr {
        (u32::from_le_bytes([head[4], head[5], head[6], head[7]]), 8)
    } else if long_vr(vr) {
        if end - pos < 12 {
            return Err(WalkError::Truncated(group, elem, pos));
        }
        let mut l = [0u8; 4];
        r.read_exact(&mut l).map_err(io)?;
        (u32::from_le_bytes(l), 12)
    } else {
        (u32::from(u16::from_le_bytes([head[6], head[7]])), 8)
    };
    Ok(Header {
        group,
        elem,
        vr,
        len,
        size,
    })
}

/// Checks a defined-length value starting at `pos`: it fits in the data and in the containers
/// it is in, and its length is a multiple of its VR's width. Returns its VR (from the
/// dictionary when the transfer syntax is implicit).
fn check_value(
    h: &Header,
    pos: u64,
    end: u64,
    open: &[Option<u64>],
    explicit_vr: bool,
) -> Result<Option<[u8; 2]>, WalkError> {
    let (group, elem, len) = (h.group, h.elem, h.len);
    let stop = pos + u64::from(len);
    if end < stop {
        return Err(WalkError::Truncated(group, elem, pos));
    }
    if open
        .iter()
        .rev()
        .find_map(|c| *c)
        .is_some_and(|outer| stop > outer)
    {
        return Err(WalkError::Overrun(group, elem, pos));
    }
    let vr = if explicit_vr || group == 0xFFFE {
        Some(h.vr)
    } else {
        dictionary_vr(group, elem)
    };
    if let Some(width) = vr.and_then(value_width)
        && len % width != 0
    {
        let name = vr.map(|v| String::from_utf8_lossy(&v).into_owned());
        return Err(WalkError::BadLength(
            group,
            elem,
            name.unwrap_or_default(),
            len,
            width,
        ));
    }
    Ok(vr)
}

/// A whole Part 10 file: the file meta group ([`file_meta`]), then the data set in the
/// transfer syntax the group names ([`check_complete`]). Deflated data sets are not walked here
/// (the SCP inflates and walks them; local files are the operator's).
pub fn check_part10<R: Read + Seek>(mut reader: R) -> Result<(), WalkError> {
    use dicom_dictionary_std::uids;
    let (offset, ts) = file_meta(&mut reader)?;
    let ts = ts.unwrap_or_default();
    if ts == uids::DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN {
        return Ok(());
    }
    check_complete(reader, offset, ts != uids::IMPLICIT_VR_LITTLE_ENDIAN)
}

/// Checks the file meta group of a Part 10 file (explicit VR little endian, group 0002 after
/// the 128-byte preamble and "DICM"): every element's value lies inside the file. Returns where
/// the data set starts and its (0002,0010) Transfer Syntax UID. Run before a parser reads the
/// group, which reserves from claimed lengths.
pub fn file_meta<R: Read + Seek>(reader: R) -> Result<(u64, Option<String>), WalkError> {
    let mut r = BufReader::with_capacity(4096, reader);
    let end = r.seek(SeekFrom::End(0)).map_err(io)?;
    let mut magic = [0u8; 4];
    r.seek(SeekFrom::Start(128)).map_err(io)?;
    r.read_exact(&mut magic)
        .map_err(|_| WalkError::Truncated(0x0002, 0x0000, 128))?;
    if &magic != b"DICM" {
        return Err(WalkError::Io("not a DICOM Part 10 file (no DICM)".into()));
    }
    let mut pos = 132u64;
    let mut head = [0u8; 8];
    let mut ts = None;
    while end - pos >= 8 {
        r.read_exact(&mut head).map_err(io)?;
        let (group, elem) = (
            u16::from_le_bytes([head[0], head[1]]),
            u16::from_le_bytes([head[2], head[3]]),
        );
        if group != 0x0002 {
            break;
        }
        let (header_len, len) = if long_vr([head[4], head[5]]) {
            let mut l = [0u8; 4];
            r.read_exact(&mut l)
                .map_err(|_| WalkError::Truncated(group, elem, pos))?;
            (12, u64::from(u32::from_le_bytes(l)))
        } else {
            (8, u64::from(u16::from_le_bytes([head[6], head[7]])))
        };
        let stop = pos + header_len + len;
        if stop > end {
            return Err(WalkError::Truncated(group, elem, pos));
        }
        if elem == 0x0010 && len <= 64 {
            let mut v = vec![0u8; len as usize];
            r.read_exact(&mut v).map_err(io)?;
            let text = String::from_utf8_lossy(&v);
            ts = Some(text.trim_end_matches(['\0', ' ']).to_owned());
        }
        r.seek(SeekFrom::Start(stop)).map_err(io)?;
        pos = stop;
    }
    Ok((pos, ts))
}

fn push(open: &mut Vec<Option<u64>>, c: Option<u64>, pos: u64) -> Result<(), WalkError> {
    if open.len() >= MAX_NESTING {
        return Err(WalkError::TooDeep(pos));
    }
    open.push(c);
    Ok(())
}

/// A defined-length element whose value is a data set to walk: an item, or a sequence (by its
/// explicit VR, or in implicit VR by the standard dictionary).
fn is_container(group: u16, elem: u16, vr: Option<[u8; 2]>) -> bool {
    (group, elem) == (0xFFFE, 0xE000) || vr == Some(*b"SQ")
}

/// The VR the standard dictionary gives a tag, when it gives exactly one (implicit VR).
fn dictionary_vr(group: u16, elem: u16) -> Option<[u8; 2]> {
    use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry, VirtualVr};
    match dicom_dictionary_std::StandardDataDictionary
        .by_tag(dicom_core::Tag(group, elem))?
        .vr()
    {
        VirtualVr::Exact(vr) => vr.to_string().as_bytes().try_into().ok(),
        _ => None,
    }
}

/// Bytes per value of the binary VRs: their length must be a multiple of it (PS3.5 6.2).
fn value_width(vr: [u8; 2]) -> Option<u32> {
    Some(match &vr {
        b"US" | b"SS" | b"OW" => 2,
        b"UL" | b"SL" | b"FL" | b"AT" | b"OF" | b"OL" => 4,
        b"FD" | b"SV" | b"UV" | b"OD" | b"OV" => 8,
        _ => return None,
    })
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

    /// Issue 18: sequences nested ~1,700 levels deep overflowed a worker's stack. Defined and
    /// undefined lengths, explicit and implicit VR: deeper than MAX_NESTING is refused, as
    /// deep as it is accepted.
    #[test]
    fn nesting_deeper_than_the_limit_is_refused() {
        // `levels` sequences, each with one item holding the next sequence.
        fn nested(levels: usize, defined: bool, explicit: bool) -> Vec<u8> {
            let mut inner = Vec::new();
            if explicit {
                el_explicit(&mut inner, 0x0008, 0x0060, b"CS", b"PT");
            } else {
                inner.extend_from_slice(&[0x08, 0x00, 0x60, 0x00, 2, 0, 0, 0, b'P', b'T']);
            }
            for _ in 0..levels {
                let mut item = vec![0xFE, 0xFF, 0x00, 0xE0];
                let mut seq = vec![0x08, 0x00, 0x15, 0x11];
                if explicit {
                    seq.extend_from_slice(b"SQ\0\0");
                }
                if defined {
                    item.extend_from_slice(&(inner.len() as u32).to_le_bytes());
                    item.extend_from_slice(&inner);
                    seq.extend_from_slice(&(item.len() as u32).to_le_bytes());
                    seq.extend_from_slice(&item);
                } else {
                    item.extend_from_slice(&[0xFF; 4]);
                    item.extend_from_slice(&inner);
                    item.extend_from_slice(&[0xFE, 0xFF, 0x0D, 0xE0, 0, 0, 0, 0]);
                    seq.extend_from_slice(&[0xFF; 4]);
                    seq.extend_from_slice(&item);
                    seq.extend_from_slice(&[0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0]);
                }
                inner = seq;
            }
            inner
        }
        // Each level is a sequence and an item: MAX_NESTING / 2 levels fit exactly.
        let ok = MAX_NESTING / 2;
        for (defined, explicit) in [(true, true), (false, true), (true, false), (false, false)] {
            let d = nested(ok, defined, explicit);
            assert_eq!(
                check_complete(Cursor::new(&d), 0, explicit),
                Ok(()),
                "{defined} {explicit}"
            );
            for levels in [ok + 1, 1_700] {
                let d = nested(levels, defined, explicit);
                assert!(
                    matches!(
                        check_complete(Cursor::new(&d), 0, explicit),
                        Err(WalkError::TooDeep(_))
                    ),
                    "{levels} levels, defined {defined}, explicit {explicit}"
                );
            }
        }
    }

    #[test]
    fn an_element_running_past_its_item_is_refused() {
        // A defined-length item of 8 bytes holding a 10-byte element.
        let mut d = vec![0x08, 0x00, 0x15, 0x11, b'S', b'Q', 0, 0, 26, 0, 0, 0];
        d.extend_from_slice(&[0xFE, 0xFF, 0x00, 0xE0, 8, 0, 0, 0]);
        el_explicit(&mut d, 0x0008, 0x0060, b"CS", b"PT");
        d.extend_from_slice(&[0u8; 8]);
        assert!(matches!(
            check_complete(Cursor::new(&d), 0, true),
            Err(WalkError::Overrun(0x0008, 0x0060, _))
        ));
    }

    /// Issue 18: a binary value whose length does not fit its VR was stored with Success.
    #[test]
    fn a_value_length_that_does_not_fit_its_vr_is_refused() {
        let mut d = Vec::new();
        el_explicit(&mut d, 0x0028, 0x0010, b"US", &[1, 2, 3]);
        assert!(matches!(
            check_complete(Cursor::new(&d), 0, true),
            Err(WalkError::BadLength(0x0028, 0x0010, _, 3, 2))
        ));
        let mut d = Vec::new();
        el_explicit(&mut d, 0x7FE0, 0x0010, b"OW", &[0u8; 511]);
        assert!(check_complete(Cursor::new(&d), 0, true).is_err());
        // Implicit VR: the dictionary says Rows is US.
        let d = [0x28, 0x00, 0x10, 0x00, 3, 0, 0, 0, 1, 2, 3];
        assert!(matches!(
            check_complete(Cursor::new(&d), 0, false),
            Err(WalkError::BadLength(0x0028, 0x0010, _, 3, 2))
        ));
        let mut d = Vec::new();
        el_explicit(&mut d, 0x0028, 0x0010, b"US", &[0, 2]);
        el_explicit(&mut d, 0x0018, 0x1242, b"IS", b"123");
        assert_eq!(check_complete(Cursor::new(&d), 0, true), Ok(()));
    }

    fn reproducer(name: &str) -> Vec<u8> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fuzz")
            .join(name);
        std::fs::read(path).expect("reproducer")
    }

    /// Found by tests/fuzz.rs: an unknown VR is read with the long form, as dicom-rs reads it.
    #[test]
    fn an_unknown_vr_has_a_four_byte_length() {
        let d = reproducer("walk-unknown-vr.bin");
        assert!(matches!(
            check_complete(Cursor::new(&d), 0, true),
            Err(WalkError::Truncated(0x0008, 0x0005, _))
        ));
        let mut ok = vec![0x08, 0x00, 0x05, 0x00, b'Z', b'Z', 0, 0, 2, 0, 0, 0];
        ok.extend_from_slice(b"AB");
        assert_eq!(check_complete(Cursor::new(&ok), 0, true), Ok(()));
    }

    /// Found by tests/fuzz.rs: a file meta element of unknown VR claiming 1 GB.
    #[test]
    fn a_file_meta_group_claiming_more_than_the_file_is_refused() {
        let d = reproducer("walk-unknown-vr-meta.bin");
        assert!(matches!(
            file_meta(Cursor::new(&d)),
            Err(WalkError::Truncated(0x0002, 0x0002, _))
        ));
        let mut ok = d[..132].to_vec();
        ok.extend_from_slice(&[0x02, 0x00, 0x00, 0x00, b'U', b'L', 4, 0, 4, 0, 0, 0]);
        ok.extend_from_slice(&[
            0x02, 0x00, 0x10, 0x00, b'U', b'I', 4, 0, b'1', b'.', b'2', 0,
        ]);
        let at = ok.len() as u64;
        ok.extend_from_slice(&[0x08, 0x00, 0x60, 0x00, b'C', b'S', 2, 0, b'P', b'T']);
        assert_eq!(
            file_meta(Cursor::new(&ok)),
            Ok((at, Some("1.2".to_owned())))
        );
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
