//! The files side of the SCU: what each Part 10 file is (from its file meta group alone), which
//! presentation contexts to propose for a batch, which accepted context a file goes out on, and
//! its data set bytes in that context's transfer syntax. Synchronous; callers run it off the
//! runtime.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use dicom_dictionary_std::uids;
use dicom_encoding::TransferSyntaxIndex;
use dicom_object::meta::FileMetaTable;
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;
use dicom_ul::pdu::PresentationContextNegotiated;

use super::ScuError;
use crate::ids::Uid;

/// The most presentation contexts one association may propose (odd IDs 1..=255).
const MAX_CONTEXTS: usize = 128;

/// What the SCU needs to know about one file before the association.
#[derive(Debug, Clone)]
pub struct FileMeta {
    pub path: PathBuf,
    pub sop_class: String,
    pub sop_instance: String,
    pub transfer_syntax: String,
    /// Byte offset of the data set: preamble, magic and the whole file meta group.
    pub dataset_offset: u64,
}

impl FileMeta {
    /// Whether the data set can be re-encoded in explicit or implicit VR little endian: the
    /// transfer syntax is known and its pixel data is native (re-encoding never decompresses).
    fn transcodable(&self) -> bool {
        TransferSyntaxRegistry
            .get(&self.transfer_syntax)
            .is_some_and(|ts| !ts.is_unsupported() && !ts.is_encapsulated_pixel_data())
    }
}

/// Reads the file meta group of a Part 10 file (not the data set).
pub fn read_meta(path: &Path) -> Result<FileMeta, ScuError> {
    let fail = |detail: String| ScuError::ReadFile {
        path: path.to_owned(),
        detail,
    };
    let file = std::fs::File::open(path).map_err(|e| fail(e.to_string()))?;
    let mut r = std::io::BufReader::new(file);
    let mut preamble = [0u8; 128];
    r.read_exact(&mut preamble)
        .map_err(|e| fail(format!("no Part 10 preamble: {e}")))?;
    let meta = FileMetaTable::from_reader(&mut r).map_err(|e| fail(e.to_string()))?;
    let uid = |what: &str, v: &str| {
        Uid::parse(v)
            .map(|u| u.as_str().to_owned())
            .map_err(|_| fail(format!("file meta {what} `{v}` is not a valid UID")))
    };
    Ok(FileMeta {
        path: path.to_owned(),
        sop_class: uid(
            "MediaStorageSOPClassUID",
            meta.media_storage_sop_class_uid(),
        )?,
        sop_instance: uid(
            "MediaStorageSOPInstanceUID",
            meta.media_storage_sop_instance_uid(),
        )?,
        transfer_syntax: uid("TransferSyntaxUID", meta.transfer_syntax())?,
        // "DICM" then (0002,0000) UL in explicit VR LE: tag 4 + VR 2 + length 2 + value 4.
        dataset_offset: 128 + 4 + 12 + u64::from(meta.information_group_length),
    })
}

/// One presentation context to propose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proposal {
    pub abstract_syntax: String,
    pub transfer_syntaxes: Vec<String>,
}

/// One context per SOP class for files we can re-encode: the first such file's own transfer
/// syntax, then explicit and implicit VR little endian. A file with encapsulated (compressed)
/// pixel data gets a context of its own offering only its own transfer syntax, since offering
/// an uncompressed one would promise a decompression we do not do.
pub fn proposals(metas: &[FileMeta]) -> Result<Vec<Proposal>, ScuError> {
    let mut out: Vec<Proposal> = Vec::new();
    for m in metas {
        let wanted = if m.transcodable() {
            let mut ts = vec![m.transfer_syntax.clone()];
            for alt in [
                uids::EXPLICIT_VR_LITTLE_ENDIAN,
                uids::IMPLICIT_VR_LITTLE_ENDIAN,
            ] {
                if !ts.iter().any(|t| t == alt) {
                    ts.push(alt.to_owned());
                }
            }
            ts
        } else {
            vec![m.transfer_syntax.clone()]
        };
        let covered = out.iter().any(|p| {
            p.abstract_syntax == m.sop_class
                && (p.transfer_syntaxes == wanted
                    || (m.transcodable() && p.transfer_syntaxes.len() > 1))
        });
        if !covered {
            out.push(Proposal {
                abstract_syntax: m.sop_class.clone(),
                transfer_syntaxes: wanted,
            });
        }
    }
    if out.len() > MAX_CONTEXTS {
        return Err(ScuError::TooManyContexts { count: out.len() });
    }
    Ok(out)
}

/// The accepted context `meta` goes out on: its own transfer syntax (sent byte for byte) if
/// accepted, else explicit or implicit VR little endian when the file can be re-encoded.
pub fn choose_context<'a>(
    accepted: &'a [PresentationContextNegotiated],
    meta: &FileMeta,
) -> Option<&'a PresentationContextNegotiated> {
    let same = |a: &str, b: &str| a.trim_end_matches('\0') == b.trim_end_matches('\0');
    let mine = accepted
        .iter()
        .filter(|pc| same(&pc.abstract_syntax, &meta.sop_class));
    let mut fallback = None;
    for pc in mine {
        if same(&pc.transfer_syntax, &meta.transfer_syntax) {
            return Some(pc);
        }
        let native = same(&pc.transfer_syntax, uids::EXPLICIT_VR_LITTLE_ENDIAN)
            || same(&pc.transfer_syntax, uids::IMPLICIT_VR_LITTLE_ENDIAN);
        if native && meta.transcodable() && fallback.is_none() {
            fallback = Some(pc);
        }
    }
    fallback
}

/// The data set of `meta`'s file encoded in `ts`: the file's own bytes when `ts` is its
/// transfer syntax, else re-encoded by dicom-object.
pub fn dataset_in(meta: &FileMeta, ts: &str) -> Result<Vec<u8>, String> {
    let ts = ts.trim_end_matches('\0');
    let shown = meta.path.display();
    if ts == meta.transfer_syntax {
        let mut f = std::fs::File::open(&meta.path).map_err(|e| format!("{shown}: {e}"))?;
        f.seek(SeekFrom::Start(meta.dataset_offset))
            .map_err(|e| format!("{shown}: {e}"))?;
        let mut out = Vec::new();
        f.read_to_end(&mut out)
            .map_err(|e| format!("{shown}: {e}"))?;
        return Ok(out);
    }
    let target = TransferSyntaxRegistry
        .get(ts)
        .ok_or_else(|| format!("transfer syntax {ts} is unknown"))?;
    let obj = dicom_object::open_file(&meta.path).map_err(|e| format!("{shown}: {e}"))?;
    let mut out = Vec::new();
    obj.write_dataset_with_ts(&mut out, target)
        .map_err(|e| format!("{shown}: re-encoding in {ts}: {e}"))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(class: &str, ts: &str) -> FileMeta {
        FileMeta {
            path: PathBuf::from("x.dcm"),
            sop_class: class.into(),
            sop_instance: "1.2.3".into(),
            transfer_syntax: ts.into(),
            dataset_offset: 0,
        }
    }

    const JPEG2000: &str = "1.2.840.10008.1.2.4.91";

    #[test]
    fn one_context_per_class_own_syntax_first() {
        let pet = uids::POSITRON_EMISSION_TOMOGRAPHY_IMAGE_STORAGE;
        let seg = uids::SEGMENTATION_STORAGE;
        let metas = [
            meta(pet, uids::IMPLICIT_VR_LITTLE_ENDIAN),
            meta(pet, uids::EXPLICIT_VR_LITTLE_ENDIAN),
            meta(seg, uids::EXPLICIT_VR_LITTLE_ENDIAN),
            meta(pet, JPEG2000),
        ];
        let p = proposals(&metas).expect("few contexts");
        assert_eq!(p.len(), 3, "{p:?}");
        assert_eq!(
            p[0].transfer_syntaxes,
            [
                uids::IMPLICIT_VR_LITTLE_ENDIAN,
                uids::EXPLICIT_VR_LITTLE_ENDIAN
            ]
        );
        assert_eq!(p[1].abstract_syntax, seg);
        assert_eq!(
            p[1].transfer_syntaxes,
            [
                uids::EXPLICIT_VR_LITTLE_ENDIAN,
                uids::IMPLICIT_VR_LITTLE_ENDIAN
            ]
        );
        assert_eq!(p[2].transfer_syntaxes, [JPEG2000]);
    }

    #[test]
    fn too_many_classes_fail_before_connecting() {
        let metas: Vec<_> = (1..=129)
            .map(|i| meta(&format!("1.2.3.{i}"), uids::EXPLICIT_VR_LITTLE_ENDIAN))
            .collect();
        assert!(matches!(
            proposals(&metas),
            Err(ScuError::TooManyContexts { count: 129 })
        ));
    }

    #[test]
    fn contexts_prefer_the_files_own_syntax() {
        let pet = uids::POSITRON_EMISSION_TOMOGRAPHY_IMAGE_STORAGE;
        let pc = |id, class: &str, ts: &str| PresentationContextNegotiated {
            id,
            reason: dicom_ul::pdu::PresentationContextResultReason::Acceptance,
            transfer_syntax: ts.into(),
            abstract_syntax: class.into(),
        };
        let accepted = [
            pc(1, pet, uids::IMPLICIT_VR_LITTLE_ENDIAN),
            pc(3, pet, JPEG2000),
        ];
        let explicit = meta(pet, uids::EXPLICIT_VR_LITTLE_ENDIAN);
        assert_eq!(choose_context(&accepted, &explicit).map(|p| p.id), Some(1));
        assert_eq!(
            choose_context(&accepted, &meta(pet, JPEG2000)).map(|p| p.id),
            Some(3)
        );
        // A compressed file is never sent in a syntax it would have to be decompressed for.
        assert_eq!(choose_context(&accepted[..1], &meta(pet, JPEG2000)), None);
        let ct = meta(uids::CT_IMAGE_STORAGE, uids::EXPLICIT_VR_LITTLE_ENDIAN);
        assert_eq!(choose_context(&accepted, &ct), None);
    }
}
