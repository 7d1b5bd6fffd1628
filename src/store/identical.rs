//! Whether a received instance is one the store already has: the same data set, whoever sent
//! it and in whichever transfer syntax. The file meta groups are never compared (we write them,
//! and they record the sending AE). In the same transfer syntax the data sets are compared byte
//! for byte, streamed; in another one (implicit vs explicit VR, deflated, a lossless
//! compression) element by element: the same tags with the same values, and the same decoded
//! pixels. A lossy re-encoding is a different data set and is kept as a new version.

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use dicom_core::DicomValue;
use dicom_dictionary_std::tags;
use dicom_object::{InMemDicomObject, OpenFileOptions};
use dicom_pixeldata::PixelDecoder;

use super::StoreError;

/// Files larger than this are compared across transfer syntaxes only byte for byte (that is,
/// kept as a new version): the element comparison holds both data sets and their decoded
/// pixels in memory.
const ELEMENT_COMPARE_MAX_BYTES: u64 = 256 << 20;

/// Whether `a` and `b` hold the same data set. `b` missing or unreadable: not the same.
pub(super) fn same_data_set(a: &Path, b: &Path) -> Result<bool, StoreError> {
    let open = |p: &Path| std::fs::File::open(p).map_err(StoreError::io("open", p));
    let mut fa = open(a)?;
    let Ok(mut fb) = open(b) else {
        return Ok(false);
    };
    let (Some((oa, ta, la)), Some((ob, tb, lb))) = (layout(&mut fa), layout(&mut fb)) else {
        return Ok(false);
    };
    if ta == tb {
        return Ok(la == lb && same_bytes_from(fa, oa, a, fb, ob, b)?);
    }
    if la + oa > ELEMENT_COMPARE_MAX_BYTES || lb + ob > ELEMENT_COMPARE_MAX_BYTES {
        return Ok(false);
    }
    Ok(same_elements(a, b))
}

/// The data set's offset, transfer syntax and length.
fn layout(f: &mut std::fs::File) -> Option<(u64, Option<String>, u64)> {
    let len = f.metadata().ok()?.len();
    let (offset, ts) = crate::walk::file_meta(&mut *f).unwrap_or((0, None));
    Some((offset, ts, len - offset.min(len)))
}

fn same_bytes_from(
    fa: std::fs::File,
    oa: u64,
    a: &Path,
    fb: std::fs::File,
    ob: u64,
    b: &Path,
) -> Result<bool, StoreError> {
    let (mut fa, mut fb) = (std::io::BufReader::new(fa), std::io::BufReader::new(fb));
    fa.seek(SeekFrom::Start(oa))
        .map_err(StoreError::io("read", a))?;
    fb.seek(SeekFrom::Start(ob))
        .map_err(StoreError::io("read", b))?;
    let (mut ba, mut bb) = (vec![0u8; 1 << 16], vec![0u8; 1 << 16]);
    loop {
        let n = fa.read(&mut ba).map_err(StoreError::io("read", a))?;
        if n == 0 {
            return Ok(true);
        }
        fb.read_exact(&mut bb[..n])
            .map_err(StoreError::io("read", b))?;
        if ba[..n] != bb[..n] {
            return Ok(false);
        }
    }
}

/// Both files parsed: the same elements with the same values, and the same decoded pixels.
/// A file that cannot be parsed or decoded is not the same (it is kept as a new version).
fn same_elements(a: &Path, b: &Path) -> bool {
    let read = |p: &Path| OpenFileOptions::new().open_file(p).ok();
    let (Some(fa), Some(fb)) = (read(a), read(b)) else {
        return false;
    };
    if !same_objects(&fa, &fb, true) {
        return false;
    }
    match (
        fa.element_opt(tags::PIXEL_DATA),
        fb.element_opt(tags::PIXEL_DATA),
    ) {
        (Ok(None), Ok(None)) => true,
        (Ok(Some(_)), Ok(Some(_))) => match (fa.decode_pixel_data(), fb.decode_pixel_data()) {
            (Ok(da), Ok(db)) => da.data() == db.data(),
            _ => false,
        },
        _ => false,
    }
}

/// Element-wise equality of two data sets, the VRs aside (an implicit-VR private element reads
/// as UN, the explicit one as its real VR; their bytes are what matters). With `top`, the pixel
/// data is left to the caller (it may be encapsulated in one file and native in the other).
fn same_objects(a: &InMemDicomObject, b: &InMemDicomObject, top: bool) -> bool {
    let skip = |tag| top && tag == tags::PIXEL_DATA;
    let mut ea = a.iter().filter(|e| !skip(e.header().tag));
    let mut eb = b.iter().filter(|e| !skip(e.header().tag));
    loop {
        match (ea.next(), eb.next()) {
            (None, None) => return true,
            (Some(x), Some(y)) => {
                if x.header().tag != y.header().tag || !same_values(x.value(), y.value()) {
                    return false;
                }
            }
            _ => return false,
        }
    }
}

fn same_values(
    a: &DicomValue<InMemDicomObject, dicom_core::value::InMemFragment>,
    b: &DicomValue<InMemDicomObject, dicom_core::value::InMemFragment>,
) -> bool {
    match (a, b) {
        (DicomValue::Primitive(x), DicomValue::Primitive(y)) => x.to_bytes() == y.to_bytes(),
        (DicomValue::Sequence(x), DicomValue::Sequence(y)) => {
            x.items().len() == y.items().len()
                && x.items()
                    .iter()
                    .zip(y.items())
                    .all(|(i, j)| same_objects(i, j, false))
        }
        (DicomValue::PixelSequence(x), DicomValue::PixelSequence(y)) => {
            x.fragments() == y.fragments()
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dicom_core::{DataElement, PrimitiveValue, VR};
    use dicom_object::FileMetaTableBuilder;

    fn write(dir: &Path, name: &str, ts: &str, obj: &InMemDicomObject) -> std::path::PathBuf {
        let meta = FileMetaTableBuilder::new()
            .transfer_syntax(ts)
            .media_storage_sop_class_uid("1.2.840.10008.5.1.4.1.1.128")
            .media_storage_sop_instance_uid("1.2.3.4");
        let file = obj.clone().with_meta(meta).expect("meta");
        let path = dir.join(name);
        file.write_to_file(&path).expect("write");
        path
    }

    fn object(rows: u16, private: &str) -> InMemDicomObject {
        let mut o = InMemDicomObject::new_empty();
        o.put(DataElement::new(
            tags::SOP_INSTANCE_UID,
            VR::UI,
            PrimitiveValue::from("1.2.3.4"),
        ));
        o.put(DataElement::new(
            tags::ROWS,
            VR::US,
            PrimitiveValue::from(rows),
        ));
        o.put(DataElement::new(
            dicom_core::Tag(0x0009, 0x1001),
            VR::LO,
            PrimitiveValue::from(private),
        ));
        o
    }

    #[test]
    fn the_same_data_set_in_another_transfer_syntax_is_the_same() {
        let dir = tempfile::tempdir().expect("tempdir");
        let explicit = write(dir.path(), "e.dcm", "1.2.840.10008.1.2.1", &object(2, "AB"));
        let implicit = write(dir.path(), "i.dcm", "1.2.840.10008.1.2", &object(2, "AB"));
        let other = write(dir.path(), "o.dcm", "1.2.840.10008.1.2", &object(3, "AB"));
        assert!(same_data_set(&explicit, &implicit).expect("compare"));
        assert!(!same_data_set(&explicit, &other).expect("compare"));
        assert!(same_data_set(&explicit, &explicit).expect("compare"));
        let gone = dir.path().join("missing.dcm");
        assert!(!same_data_set(&explicit, &gone).expect("compare"));
    }
}
