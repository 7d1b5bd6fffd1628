//! The site tables of `site.rs`: SNOMED CT codes and meanings (DICOM PS3.16, checked against
//! pydicom 3.0.1's concept dictionary) and the report phrases that name them.

use crate::label::qc::Side;

/// One row of a site table: phrases (lower-case words, matched whole), code, meaning, paired.
pub(super) type Row = (&'static [&'static str], &'static str, &'static str, bool);

/// Nodal stations, most specific first; a node sentence naming none is a plain "Lymph node".
pub(super) const NODES: &[Row] = &[
    (&["splenic"], "280824006", "splenic lymph node", false),
    (
        &["renal hilar"],
        "249708006",
        "renal hilar lymph node",
        true,
    ),
    (&["hilar", "hilum"], "53074004", "hilar lymph node", true),
    (
        &["subcarinal", "station 7"],
        "28330007",
        "subcarinal lymph node",
        false,
    ),
    (
        &["lower paratracheal", "4r", "4l", "station 4"],
        "127932007",
        "lower paratracheal (including azygous) lymph node",
        false,
    ),
    (
        &["upper paratracheal", "2r", "2l", "station 2"],
        "127927006",
        "upper paratracheal lymph node (mediastinal)",
        false,
    ),
    (
        &["paratracheal"],
        "65690001",
        "paratracheal lymph node",
        false,
    ),
    (
        &["aortopulmonary", "ap window", "station 5"],
        "127938006",
        "lymph node of aortopulmonary window",
        false,
    ),
    (
        &["axillary", "axilla"],
        "68171009",
        "Axillary lymph node",
        true,
    ),
    (
        &["supraclavicular"],
        "76838003",
        "supraclavicular lymph node",
        true,
    ),
    (
        &["infraclavicular"],
        "9659009",
        "infraclavicular lymph node",
        true,
    ),
    (
        &["internal mammary", "parasternal"],
        "82365008",
        "parasternal lymph node",
        true,
    ),
    (
        &["mediastinal", "mediastinum"],
        "62683002",
        "mediastinal lymph node",
        false,
    ),
    (
        &["external iliac"],
        "65349008",
        "external iliac lymph node",
        true,
    ),
    (&["obturator"], "36086000", "obturator lymph node", true),
    (&["iliac"], "84219008", "iliac lymph node", true),
    (
        &["inguinal", "groin"],
        "8928004",
        "inguinal lymph node",
        true,
    ),
    (
        &["para aortic", "paraaortic", "aortocaval"],
        "35783009",
        "aortic lymph node",
        false,
    ),
    (
        &["retroperitoneal", "retroperitoneum"],
        "91394001",
        "retroperitoneal lymph node",
        false,
    ),
    (
        &["mesenteric", "mesentery"],
        "279795009",
        "lymph node of mesentery",
        false,
    ),
    (
        &["celiac", "coeliac"],
        "47985009",
        "celiac lymph node",
        false,
    ),
    (
        &["porta hepatis", "portacaval", "hepatic"],
        "61492009",
        "hepatic lymph node",
        false,
    ),
    (&["pelvic", "pelvis"], "54268001", "pelvic lymph node", true),
    (
        &["cervical", "neck", "jugular"],
        "81105003",
        "cervical lymph node",
        true,
    ),
];

/// Lung lobes: (phrases, code, meaning, side the phrase itself names).
pub(super) const LOBES: &[(&[&str], &str, &str, Option<Side>)] = &[
    (
        &["right upper lobe", "rul"],
        "45653009",
        "Upper lobe of lung",
        Some(Side::Right),
    ),
    (
        &["right middle lobe", "rml", "middle lobe"],
        "72481006",
        "Middle lobe of right lung",
        None,
    ),
    (
        &["right lower lobe", "rll"],
        "90572001",
        "Lower lobe of lung",
        Some(Side::Right),
    ),
    (
        &["left upper lobe", "lul", "lingula", "lingular"],
        "45653009",
        "Upper lobe of lung",
        Some(Side::Left),
    ),
    (
        &["left lower lobe", "lll"],
        "90572001",
        "Lower lobe of lung",
        Some(Side::Left),
    ),
    (&["upper lobe"], "45653009", "Upper lobe of lung", None),
    (&["lower lobe"], "90572001", "Lower lobe of lung", None),
];

/// Organs and bones other than lobes, liver segments and vertebral levels, in match order.
pub(super) const OTHER: &[Row] = &[
    (&["lung", "lungs", "pulmonary"], "39607008", "Lung", true),
    (&["spleen", "splenic"], "78961009", "Spleen", false),
    (&["liver", "hepatic"], "10200004", "Liver", false),
    (&["ilium", "iliac"], "22356005", "Ilium", true),
    (&["sacrum", "sacral"], "54735007", "Sacrum", false),
    (
        &["vertebra", "vertebral", "spine", "spinal"],
        "51282000",
        "Vertebra",
        false,
    ),
    (&["rib", "ribs"], "113197003", "Rib", true),
    (&["sternum", "sternal"], "56873002", "Sternum", false),
    (&["femur", "femoral"], "71341001", "Femur", true),
    (&["humerus", "humeral"], "85050009", "Humerus", true),
    (&["scapula", "scapular"], "79601000", "Scapula", true),
    (&["adrenal"], "23451007", "Adrenal gland", true),
    (&["kidney", "renal"], "64033007", "Kidney", true),
    (&["pancreas", "pancreatic"], "15776009", "Pancreas", false),
    (&["thyroid"], "69748006", "Thyroid", false),
    (&["breast"], "76752008", "Breast", true),
    (
        &["esophagus", "esophageal", "oesophagus", "oesophageal"],
        "32849002",
        "Esophagus",
        false,
    ),
    (&["stomach", "gastric"], "69695003", "Stomach", false),
    (&["colon", "colonic"], "71854001", "Colon", false),
    (&["prostate", "prostatic"], "41216001", "Prostate", false),
    (&["bladder"], "89837001", "Bladder", false),
    (
        &["mediastinum", "mediastinal"],
        "72410000",
        "Mediastinum",
        false,
    ),
];

/// Couinaud segments I–VIII (SCT 71133005 … 277962002).
pub(super) const COUINAUD: [(&str, &str); 8] = [
    ("71133005", "Couinaud hepatic segment I"),
    ("277956007", "Couinaud hepatic segment II"),
    ("277957003", "Couinaud hepatic segment III"),
    ("277958008", "Couinaud hepatic segment IV"),
    ("277959000", "Couinaud hepatic segment V"),
    ("277960005", "Couinaud hepatic segment VI"),
    ("277961009", "Couinaud hepatic segment VII"),
    ("277962002", "Couinaud hepatic segment VIII"),
];

/// Vertebrae C1–C7, T1–T12, L1–L5 (SCT).
pub(super) const VERTEBRAE: [(&str, &[&str]); 3] = [
    (
        "C",
        &[
            "14806007",
            "39976000",
            "113205007",
            "5329002",
            "36978003",
            "36054005",
            "87391001",
        ],
    ),
    (
        "T",
        &[
            "64864005", "53733008", "1626008", "73071006", "56401006", "45296009", "62487009",
            "11068009", "82687006", "7610001", "12989004", "23215003",
        ],
    ),
    (
        "L",
        &["66794005", "14293000", "36470004", "11994002", "49668003"],
    ),
];
