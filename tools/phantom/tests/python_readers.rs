//! Independent readers: pydicom recomputes every lesion's SUVmax from the PET files (QIBA
//! vendor-neutral formula, its own DS/TM parsing) and python-hl7 parses report.hl7. Python is
//! `PETGROUND_PYTHON`, else `.venv/bin/python` at the repository root; missing Python fails loudly.

use petground_phantom::{Options, Tracer, Vendor, generate};
use std::path::PathBuf;
use std::process::Command;

fn python() -> PathBuf {
    let p = std::env::var_os("PETGROUND_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python")
        });
    assert!(
        p.exists(),
        "Python with pydicom and hl7 not found at {} (set PETGROUND_PYTHON or create .venv at the repo root)",
        p.display()
    );
    p
}

const CHECK: &str = r#"
import json, sys, datetime
import numpy as np, pydicom, hl7
d = sys.argv[1]
t = json.load(open(f"{d}/truth.json"))
nz, ny, nx = t["pet_grid"]["dims"]
labels = np.fromfile(f"{d}/truth_labels.u8", dtype=np.uint8).reshape(nz, ny, nx)
def tm(s):
    s = s.split(".")[0]
    return int(s[0:2]) * 3600 + int(s[2:4]) * 60 + int(s[4:6])
for l in t["lesions"]:
    ds = pydicom.dcmread(f"{d}/pet/PT{l['instance_number']:04d}.dcm")
    assert int(ds.InstanceNumber) == l["instance_number"]
    assert ds.Units == "BQML" and ds.DecayCorrection == "START"
    assert "ATTN" in ds.CorrectedImage and "DECY" in ds.CorrectedImage
    rp = ds.RadiopharmaceuticalInformationSequence[0]
    dt = tm(ds.SeriesTime) - tm(str(rp.RadiopharmaceuticalStartDateTime)[8:])
    decayed = float(rp.RadionuclideTotalDose) * 2 ** (-dt / float(rp.RadionuclideHalfLife))
    bqml = ds.pixel_array.astype(np.float64) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    suv = bqml * float(ds.PatientWeight) * 1000.0 / decayed
    m = suv[labels[l["instance_number"] - 1] == l["id"]].max()
    assert abs(m - l["measured_suv_max"]) < 0.05, (l["site"], m, l["measured_suv_max"])
msg = hl7.parse(open(f"{d}/report.hl7", newline="").read())
assert str(msg.segment("PID")[3][0][0]) == t["patient_id"]
obr = msg.segment("OBR")
assert str(obr[18]) == t["accession_number"] and str(obr[25]) == "F"
study = [s for s in msg.segments("OBX") if str(s[3]) == "113014^DICOM Study^DCM"]
assert len(study) == 1 and str(study[0][5]) == t["study_instance_uid"]
print("ok", len(t["lesions"]))
"#;

#[test]
fn pydicom_and_python_hl7_agree_with_truth() {
    let py = python();
    for (seed, tracer) in [
        (81, Tracer::Fdg),
        (82, Tracer::Psma),
        (83, Tracer::Dotatate),
    ] {
        let dir = tempfile::tempdir().expect("temp");
        let opts = Options {
            small: true,
            tracer: Some(tracer),
            vendor: Vendor::Ge,
            ..Options::new(seed)
        };
        generate(&opts, dir.path()).expect("generate");
        let out = Command::new(&py)
            .arg("-c")
            .arg(CHECK)
            .arg(dir.path())
            .output()
            .expect("run python");
        assert!(
            out.status.success(),
            "python check failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
