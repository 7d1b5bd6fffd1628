//! What one segment *is*: the coded description of a finding's mask (highdicom's
//! `SegmentDescription`). Owns the codes this node writes (SNOMED CT and DCM) and the choice of
//! property type from a finding sentence. The builder (`builder.rs`) checks descriptions against
//! each other and against the masks; this file checks each description on its own.

use super::SegError;

/// A coded concept (Code Value, Coding Scheme Designator, Code Meaning), as in PS3.3 §8.8.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Code {
    pub value: String,
    pub scheme: String,
    pub meaning: String,
}

impl Code {
    pub fn new(value: &str, scheme: &str, meaning: &str) -> Self {
        Code {
            value: value.to_owned(),
            scheme: scheme.to_owned(),
            meaning: meaning.to_owned(),
        }
    }
}

/// SCT 49755003 "Morphologically abnormal structure" (CID 7150): the category of every segment
/// this node writes (CONTRACT §5, issue 7).
pub fn category_morphologically_abnormal() -> Code {
    Code::new("49755003", "SCT", "Morphologically abnormal structure")
}

/// DCM 123110 "Artificial Intelligence" (CID 7162): the algorithm family of automatic masks.
pub fn family_artificial_intelligence() -> Code {
    Code::new("123110", "DCM", "Artificial Intelligence")
}

/// CIELab (L* 0–100, a* and b* −128–127) scaled to DICOM's 16-bit Recommended Display CIELab
/// Value, truncating as highdicom's `CIELabColor` does.
pub fn cielab_to_dicom(l: f64, a: f64, b: f64) -> [u16; 3] {
    let scale =
        |v: f64, lo: f64, range: f64| ((v - lo) * 65535.0 / range).clamp(0.0, 65535.0) as u16;
    [
        scale(l, 0.0, 100.0),
        scale(a, -128.0, 255.0),
        scale(b, -128.0, 255.0),
    ]
}

/// A display colour per segment so viewers tell findings apart: red, green, blue, yellow, cyan,
/// magenta, orange, purple (sRGB primaries in CIELab D65, Bruce Lindbloom's converter), cycling.
pub fn default_display_cielab(segment_number: u16) -> [u16; 3] {
    const PALETTE: [(f64, f64, f64); 8] = [
        (53.24, 80.09, 67.20),
        (87.73, -86.18, 83.18),
        (32.30, 79.19, -107.86),
        (97.14, -21.55, 94.48),
        (91.11, -48.09, -14.13),
        (60.32, 98.23, -60.82),
        (74.93, 23.93, 78.95),
        (29.78, 58.94, -36.50),
    ];
    let (l, a, b) = PALETTE[usize::from(segment_number.saturating_sub(1)) % PALETTE.len()];
    cielab_to_dicom(l, a, b)
}

/// The Segmented Property Type of a finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SegmentedPropertyType {
    /// SCT 52988006 "Lesion".
    Lesion,
    /// SCT 59441001 "Lymph node".
    LymphNode,
}

impl SegmentedPropertyType {
    pub fn code(self) -> Code {
        match self {
            Self::Lesion => Code::new("52988006", "SCT", "Lesion"),
            Self::LymphNode => Code::new("59441001", "SCT", "Lymph node"),
        }
    }

    /// Picks the property type from a finding sentence: a sentence that speaks of a node
    /// ("node", "nodes", "nodal", "adenopathy", words beginning with "lymph" such as
    /// "lymphadenopathy") is a lymph node, anything else a lesion. Whole words are matched so
    /// that "nodular" stays a lesion, and "lymphoma" alone does not make a node.
    pub fn from_sentence(sentence: &str) -> Self {
        let lower = sentence.to_lowercase();
        let is_node = lower.split(|c: char| !c.is_alphanumeric()).any(|w| {
            matches!(w, "node" | "nodes" | "nodal" | "adenopathy")
                // "lymphoma" names a disease, not a node (e.g. splenic lymphoma).
                    || (w.starts_with("lymph") && !w.starts_with("lymphom"))
        });
        if is_node {
            Self::LymphNode
        } else {
            Self::Lesion
        }
    }
}

/// Segment Algorithm Type (0062,0008).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlgorithmType {
    Automatic,
    SemiAutomatic,
    Manual,
}

impl AlgorithmType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Automatic => "AUTOMATIC",
            Self::SemiAutomatic => "SEMIAUTOMATIC",
            Self::Manual => "MANUAL",
        }
    }
}

/// Segmentation Algorithm Identification (PS3.3 §10.16): which method produced a mask.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlgorithmIdentification {
    /// Algorithm Name, e.g. "petground weak-label ITM" or a model name (LO, ≤ 64 characters).
    pub name: String,
    /// Algorithm Version (LO); defaults to this crate's version.
    pub version: String,
    /// Algorithm Family; defaults to DCM 123110 "Artificial Intelligence".
    pub family: Code,
}

impl AlgorithmIdentification {
    pub fn new(name: &str) -> Self {
        AlgorithmIdentification {
            name: name.to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            family: family_artificial_intelligence(),
        }
    }
}

/// Laterality of a finding, written as a modifier of its property type (CID 244).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Laterality {
    Right,
    Left,
    Bilateral,
}

impl Laterality {
    pub fn code(self) -> Code {
        match self {
            Self::Right => Code::new("24028007", "SCT", "Right"),
            Self::Left => Code::new("7771000", "SCT", "Left"),
            Self::Bilateral => Code::new("51440002", "SCT", "Right and left"),
        }
    }
}

/// One segment of a SEG, in highdicom's terms. Required: number, label, property type and
/// algorithm type (and, unless MANUAL, the algorithm identification); the rest are setters.
#[derive(Debug, Clone, PartialEq)]
pub struct SegmentDescription {
    pub segment_number: u16,
    pub segment_label: String,
    pub segmented_property_type: SegmentedPropertyType,
    pub algorithm_type: AlgorithmType,
    pub algorithm_identification: Option<AlgorithmIdentification>,
    /// Segment Description (ST): the finding's sentence.
    pub description: Option<String>,
    pub laterality: Option<Laterality>,
    /// Anatomic Region Sequence entry, when the finding names a coded region.
    pub anatomic_region: Option<Code>,
    pub tracking_id: Option<String>,
    pub tracking_uid: Option<String>,
}

impl SegmentDescription {
    pub fn new(
        segment_number: u16,
        segment_label: &str,
        segmented_property_type: SegmentedPropertyType,
        algorithm_type: AlgorithmType,
        algorithm_identification: Option<AlgorithmIdentification>,
    ) -> Self {
        SegmentDescription {
            segment_number,
            segment_label: segment_label.to_owned(),
            segmented_property_type,
            algorithm_type,
            algorithm_identification,
            description: None,
            laterality: None,
            anatomic_region: None,
            tracking_id: None,
            tracking_uid: None,
        }
    }

    /// An AUTOMATIC segment for a finding sentence: property type chosen from the sentence.
    pub fn automatic(segment_number: u16, label: &str, sentence: &str, algorithm: &str) -> Self {
        Self::new(
            segment_number,
            label,
            SegmentedPropertyType::from_sentence(sentence),
            AlgorithmType::Automatic,
            Some(AlgorithmIdentification::new(algorithm)),
        )
        .with_description(sentence)
    }

    pub fn with_description(mut self, sentence: &str) -> Self {
        self.description = Some(sentence.to_owned());
        self
    }

    pub fn with_laterality(mut self, laterality: Laterality) -> Self {
        self.laterality = Some(laterality);
        self
    }

    pub fn with_anatomic_region(mut self, region: Code) -> Self {
        self.anatomic_region = Some(region);
        self
    }

    /// Tracking ID (a finding's ID in the report) and, optionally, its Tracking UID; without a
    /// UID the builder makes one, since TrackingUID is required whenever TrackingID is present.
    pub fn with_tracking(mut self, id: &str, uid: Option<&str>) -> Self {
        self.tracking_id = Some(id.to_owned());
        self.tracking_uid = uid.map(str::to_owned);
        self
    }

    /// Checks what one description can check alone (value lengths and character repertoires).
    pub(super) fn validate(&self) -> Result<(), SegError> {
        let n = self.segment_number;
        let bad = |field: &'static str, reason: String| SegError::InvalidSegment {
            segment_number: n,
            field,
            reason,
        };
        check_lo(&self.segment_label).map_err(|r| bad("SegmentLabel", r))?;
        if let Some(d) = &self.description {
            if d.chars().count() > 1024 {
                return Err(bad(
                    "SegmentDescription",
                    format!("{} characters > 1024", d.chars().count()),
                ));
            }
            if d.chars().any(|c| c.is_control() && c != '\n' && c != '\r') {
                return Err(bad("SegmentDescription", "control character".into()));
            }
        }
        match (&self.algorithm_type, &self.algorithm_identification) {
            (AlgorithmType::Manual, _) => {}
            (_, None) => return Err(bad("SegmentAlgorithmName", "required unless MANUAL".into())),
            (_, Some(a)) => {
                check_lo(&a.name).map_err(|r| bad("AlgorithmName", r))?;
                check_lo(&a.version).map_err(|r| bad("AlgorithmVersion", r))?;
            }
        }
        if let Some(id) = &self.tracking_id {
            check_lo(id).map_err(|r| bad("TrackingID", r))?;
        }
        if let Some(uid) = &self.tracking_uid
            && !crate::ids::is_uid(uid)
        {
            return Err(bad("TrackingUID", format!("not a UID: {uid:?}")));
        }
        Ok(())
    }
}

/// A Long String (LO) value: 1–64 characters, no backslash, no control characters.
pub(crate) fn check_lo(s: &str) -> Result<(), String> {
    let n = s.chars().count();
    if s.trim().is_empty() {
        Err("empty".into())
    } else if n > 64 {
        Err(format!("{n} characters > 64"))
    } else if s.chars().any(|c| c == '\\' || c.is_control()) {
        Err("backslash or control character".into())
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn property_type_from_sentence() {
        use SegmentedPropertyType::*;
        for (s, t) in [
            ("FDG-avid right axillary lymph node, SUVmax 8.2.", LymphNode),
            (
                "Hypermetabolic nodal conglomerate in the mediastinum.",
                LymphNode,
            ),
            ("Two avid left supraclavicular nodes.", LymphNode),
            ("Lymphadenopathy at the porta hepatis.", LymphNode),
            ("Hypermetabolic mass in the right upper lobe.", Lesion),
            ("Nodular uptake in the liver.", Lesion),
            ("Splenic involvement by lymphoma.", Lesion),
            ("Lymphoma with avid retroperitoneal nodes.", LymphNode),
            ("Cervical adenopathy, level II.", LymphNode),
        ] {
            assert_eq!(SegmentedPropertyType::from_sentence(s), t, "{s}");
        }
    }

    #[test]
    fn display_colours() {
        // Golden values: highdicom 0.26 `CIELabColor(53.24, 80.09, 67.2).value` etc.
        assert_eq!(cielab_to_dicom(53.24, 80.09, 67.20), [34890, 53479, 50166]);
        assert_eq!(cielab_to_dicom(87.73, -86.18, 83.18), [57493, 10747, 54273]);
        assert_eq!(cielab_to_dicom(100.0, -128.0, 127.0), [65535, 0, 65535]);
        assert_eq!(cielab_to_dicom(0.0, 0.0, 0.0), [0, 32896, 32896]);
        assert_eq!(default_display_cielab(1), default_display_cielab(9));
        assert_ne!(default_display_cielab(1), default_display_cielab(2));
    }

    #[test]
    fn validation() {
        let ok =
            SegmentDescription::automatic(1, "Lesion 1", "A mass.", "petground weak-label ITM");
        assert!(ok.validate().is_ok());
        let long = SegmentDescription::automatic(1, &"x".repeat(65), "A mass.", "a");
        assert!(matches!(
            long.validate(),
            Err(SegError::InvalidSegment {
                field: "SegmentLabel",
                ..
            })
        ));
        let sentence = "y".repeat(1025);
        let long = SegmentDescription::automatic(1, "L", &sentence, "a");
        assert!(matches!(
            long.validate(),
            Err(SegError::InvalidSegment {
                field: "SegmentDescription",
                ..
            })
        ));
        let no_alg = SegmentDescription::new(
            1,
            "L",
            SegmentedPropertyType::Lesion,
            AlgorithmType::Automatic,
            None,
        );
        assert!(matches!(
            no_alg.validate(),
            Err(SegError::InvalidSegment {
                field: "SegmentAlgorithmName",
                ..
            })
        ));
        let manual = SegmentDescription::new(
            1,
            "L",
            SegmentedPropertyType::Lesion,
            AlgorithmType::Manual,
            None,
        );
        assert!(manual.validate().is_ok());
        let bad_uid = ok.clone().with_tracking("F1", Some("1.02"));
        assert!(matches!(
            bad_uid.validate(),
            Err(SegError::InvalidSegment {
                field: "TrackingUID",
                ..
            })
        ));
    }
}
