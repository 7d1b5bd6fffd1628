//! One phantom study end to end: draw patient, tracer, acquisition and lesions from the seed,
//! render PET and CT, measure each lesion on the stored PET values, and write the DICOM files,
//! report.txt, report.hl7, truth.json and truth_labels.u8. The pieces live in sibling modules.

use crate::anatomy::{Patient, Tissue};
use crate::ct;
use crate::dcm::{self, Header, PetSlice, Vendor};
use crate::lesion::{self, Lesion, LesionPlan};
use crate::measure::{calibrate, lesion_truth, measure, references};
use crate::pet::{self, Grid, StoredSlice};
use crate::report;
use crate::rng::Rng;
use crate::tracer::Tracer;
use crate::truth::{LesionTruth, Truth};
use anyhow::{Context, Result};
use dicom_dictionary_std::uids;
use petground::volume::Geometry;
use std::path::Path;

/// What to generate. `Options::new(seed)` gives the defaults the CLI uses.
#[derive(Debug, Clone)]
pub struct Options {
    pub seed: u64,
    /// 64×64 PET at 8 mm, 16 mm slices, 128×128 CT: a whole study well under 5 MB.
    pub small: bool,
    /// Tracer; drawn from the seed when `None`.
    pub tracer: Option<Tracer>,
    /// Number of lesions; 3–8 drawn from the seed when `None`. Fewer may be placed when sites
    /// run out (each site at most once, lesions kept ≥ 30 mm apart).
    pub lesions: Option<usize>,
    pub vendor: Vendor,
    /// Keep each lesion separable from hot physiological neighbours by the paper's threshold
    /// (see `lesion::LesionPlan::groundable`); off gives harder, more realistic cases.
    pub groundable: bool,
    /// Range of the target SUV of lesions.
    pub min_suv: f64,
    pub max_suv: f64,
    /// Full-size PET matrix (e.g. 200 for a 200×200 benchmark); drawn from 168–200 when `None`.
    /// Ignored in small mode.
    pub pet_matrix: Option<usize>,
}

impl Options {
    pub fn new(seed: u64) -> Self {
        Self {
            seed,
            small: false,
            tracer: None,
            lesions: None,
            vendor: Vendor::Plain,
            groundable: true,
            min_suv: 2.0,
            max_suv: 25.0,
            pet_matrix: None,
        }
    }
}

const GIVEN: [&str; 8] = ["ALEX", "SAM", "ROBIN", "KIM", "JO", "LEE", "PAT", "CHRIS"];

fn hhmmss(s: u32) -> String {
    format!("{:02}{:02}{:02}", s / 3600, (s / 60) % 60, s % 60)
}

/// Draws identity and acquisition; everything is a function of the seed.
fn header(p: &Patient, tracer: Tracer, vendor: Vendor, rng: &mut Rng) -> Header {
    let day = rng.below(28) + 1;
    let month = rng.below(12) + 1;
    let inj = 7 * 3600 + rng.below(6 * 3600) as u32;
    let uptake = 55 * 60 + rng.below(20 * 60) as u32;
    let dose_bq = tracer.dose_bq(p.weight_kg, rng);
    Header {
        patient_name: format!("PHANTOM^{}", rng.pick(&GIVEN)),
        patient_id: format!("PH{:07}", rng.below(10_000_000)),
        birth_date: format!(
            "19{:02}{:02}{:02}",
            35 + rng.below(55),
            rng.below(12) + 1,
            rng.below(28) + 1
        ),
        sex: p.sex,
        weight_kg: p.weight_kg,
        height_m: (p.height_m * 100.0).round() / 100.0,
        accession: format!("ACC{:08}", rng.below(100_000_000)),
        study_uid: rng.uid(),
        pet_series_uid: rng.uid(),
        ct_series_uid: rng.uid(),
        frame_of_reference_uid: rng.uid(),
        study_date: format!("2025{month:02}{day:02}"),
        injection_time: hhmmss(inj),
        series_time: hhmmss(inj + uptake),
        tracer,
        dose_bq,
        vendor,
    }
}

/// PET and CT grids sharing the z positions; slice 0 is the most superior.
fn grids(p: &Patient, small: bool, matrix: Option<usize>, rng: &mut Rng) -> (Grid, Grid, f64) {
    let (n, pixel, dz, fwhm) = if small {
        (64, 8.0, 16.0, 12.0)
    } else {
        let drawn = *rng.pick(&[168usize, 176, 192, 200]);
        let n = matrix.unwrap_or(drawn);
        (n, rng.range(3.6, 4.2), 3.27, rng.range(6.0, 7.0))
    };
    let top = if rng.chance(0.8) {
        p.vertex_z + rng.range(5.0, 25.0)
    } else {
        p.head_centre()[2] - rng.range(20.0, 40.0)
    };
    // Down to just below the bladder (its lowest point is at most 43 mm under its centre).
    let bottom_needed = p.z_bladder - 50.0 - rng.range(0.0, 40.0);
    let min_slices = ((top - bottom_needed) / dz).ceil() as usize + 1;
    let nz = if small {
        min_slices
    } else {
        min_slices.max(250 + rng.below(51))
    };
    let half = |n: usize, px: f64| -(n as f64 - 1.0) / 2.0 * px;
    let pet = Grid {
        nx: n,
        ny: n,
        nz,
        pixel: [pixel, pixel],
        dz,
        origin: [half(n, pixel), half(n, pixel), top],
    };
    let (cn, cpx) = if small {
        (128, 4.0)
    } else {
        (512, 500.0 / 512.0)
    };
    let ct = Grid {
        nx: cn,
        ny: cn,
        nz,
        pixel: [cpx, cpx],
        dz,
        origin: [half(cn, cpx), half(cn, cpx), top],
    };
    (pet, ct, fwhm)
}

fn grid_truth(g: &Grid) -> Geometry {
    Geometry {
        dims: [g.nz, g.ny, g.nx],
        origin: g.origin,
        spacing: [g.pixel[0], g.pixel[1], g.dz],
        row_dir: [1.0, 0.0, 0.0],
        col_dir: [0.0, 1.0, 0.0],
        slice_dir: [0.0, 0.0, -1.0],
    }
}

/// The seeded draw of one study, before any rendering.
struct Drawn {
    patient: Patient,
    tracer: Tracer,
    header: Header,
    pet: Grid,
    ct: Grid,
    fwhm: f64,
    uptake: [f32; Tissue::COUNT],
    lesions: Vec<Lesion>,
}

fn draw(opts: &Options, r_anat: &mut Rng, r_acq: &mut Rng, r_les: &mut Rng) -> Drawn {
    let patient = Patient::sample(r_anat);
    let tracer = opts.tracer.unwrap_or_else(|| *r_acq.pick(&Tracer::ALL));
    let header = header(&patient, tracer, opts.vendor, r_acq);
    let uptake = tracer.uptake_table(r_acq);
    let (pg, cg, fwhm) = grids(&patient, opts.small, opts.pet_matrix, r_acq);
    let count = opts.lesions.unwrap_or_else(|| 3 + r_les.below(6));
    let plan = LesionPlan {
        count,
        min_suv: opts.min_suv,
        max_suv: opts.max_suv,
        groundable: opts.groundable,
        clearance_mm: 2.0 * fwhm + pg.pixel[0].max(pg.dz) / 2.0,
        // 8 × 8 × 16 mm voxels cannot show a 5 mm lesion; keep small-mode lesions ≥ 12 mm.
        min_diameter_mm: if opts.small { 12.0 } else { 5.0 },
    };
    let mut lesions = lesion::draw(&patient, &uptake, &plan, r_les);
    // Keep only lesions whose centre lies inside the scanned range.
    lesions.retain(|l| pg.nearest(l.centre_mm).is_some());
    for (i, l) in lesions.iter_mut().enumerate() {
        l.id = (i + 1) as u8;
    }
    Drawn {
        patient,
        tracer,
        header,
        pet: pg,
        ct: cg,
        fwhm,
        uptake,
        lesions,
    }
}

/// Renders the PET in SUV (uptake, calibrated lesions, blur, noise) and stores it slice by slice
/// as 16-bit values of Bq/mL (or counts when `per_stored` is the Philips counts factor).
fn render_pet(d: &Drawn, small: bool, per_stored: f64, r_noise: &mut Rng) -> Vec<StoredSlice> {
    let pg = &d.pet;
    let sigma = d.fwhm / (8.0 * 2f64.ln()).sqrt();
    let mut suv = pet::uptake_volume(&d.patient, &d.uptake, pg);
    let gains = calibrate(&suv, pg, &d.lesions, sigma, d.fwhm);
    pet::add_lesions(&mut suv, pg, &d.lesions, sigma, &gains);
    pet::blur(&mut suv, pg, d.fwhm);
    let cov = if small {
        0.04
    } else {
        r_noise.range(0.06, 0.12)
    };
    pet::add_noise(&mut suv, cov, r_noise);
    let k = d.header.bqml_per_suv();
    let plane = pg.nx * pg.ny;
    (0..pg.nz)
        .map(|z| {
            let slice = &suv[z * plane..(z + 1) * plane];
            pet::quantize_slice(slice.iter().map(|v| f64::from(*v) * k / per_stored))
        })
        .collect()
}

/// Generates one study into `out` (created if missing) and returns its truth.
pub fn generate(opts: &Options, out: &Path) -> Result<Truth> {
    let mut root = Rng::new(opts.seed);
    let (mut r_anat, mut r_acq, mut r_les, mut r_noise, mut r_ct, mut r_rep) = (
        root.fork(1),
        root.fork(2),
        root.fork(3),
        root.fork(4),
        root.fork(5),
        root.fork(6),
    );
    let d = draw(opts, &mut r_anat, &mut r_acq, &mut r_les);
    let counts_factor = (opts.vendor == Vendor::Philips).then(|| r_acq.range(0.5, 3.0));
    let per_stored = counts_factor.unwrap_or(1.0);
    let slices = render_pet(&d, opts.small, per_stored, &mut r_noise);
    let (pg, h) = (&d.pet, &d.header);
    let k = h.bqml_per_suv();
    // SUV as any reader computes it from the file: stored × slope (× counts factor) / k.
    let stored_suv = |[z, y, x]: [usize; 3]| {
        let s = &slices[z];
        f64::from(s.values[y * pg.nx + x]) * s.slope * per_stored / k
    };
    let (labels, measured) = measure(pg, &d.lesions, &stored_suv);
    let (liver_ref, blood_ref) = references(&d.patient, pg, &stored_suv);
    let mut lt: Vec<LesionTruth> = d
        .lesions
        .iter()
        .zip(&measured)
        .map(|(l, m)| lesion_truth(l, m, pg))
        .collect();
    let (text, sentences) = report::write_report(h, &lt, liver_ref, blood_ref, &mut r_rep);
    for (l, s) in lt.iter_mut().zip(sentences) {
        l.sentence = s;
    }

    for sub in ["pet", "ct"] {
        let dir = out.join(sub);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    write_pet(h, pg, &slices, counts_factor, &mut root, out)?;
    ct::write_ct(h, &d.patient, &d.ct, &d.lesions, &mut r_ct, &mut root, out)?;
    std::fs::write(out.join("report.txt"), &text).context("writing report.txt")?;
    let report_time = hhmmss(16 * 3600 + (opts.seed % 3600) as u32);
    let hl7 = report::hl7_oru(h, &text, &format!("PH{}", opts.seed), &report_time);
    std::fs::write(out.join("report.hl7"), hl7).context("writing report.hl7")?;
    std::fs::write(out.join("truth_labels.u8"), &labels).context("writing truth_labels.u8")?;
    let truth = truth_of(opts, &d, lt);
    truth.save(&out.join("truth.json"))?;
    Ok(truth)
}

fn truth_of(opts: &Options, d: &Drawn, lesions: Vec<LesionTruth>) -> Truth {
    let h = &d.header;
    Truth {
        seed: opts.seed,
        small: opts.small,
        tracer: format!("{:?}", d.tracer).to_lowercase(),
        vendor: format!("{:?}", opts.vendor).to_lowercase(),
        patient_id: h.patient_id.clone(),
        patient_name: h.patient_name.clone(),
        patient_sex: h.sex.to_string(),
        patient_weight_kg: h.weight_kg,
        patient_height_m: h.height_m,
        body_centre_mm: d.patient.centre,
        accession_number: h.accession.clone(),
        study_instance_uid: h.study_uid.clone(),
        pet_series_instance_uid: h.pet_series_uid.clone(),
        ct_series_instance_uid: h.ct_series_uid.clone(),
        frame_of_reference_uid: h.frame_of_reference_uid.clone(),
        study_date: h.study_date.clone(),
        injection_time: h.injection_time.clone(),
        series_time: h.series_time.clone(),
        injected_dose_bq: h.dose_bq,
        half_life_s: d.tracer.half_life_s(),
        delta_t_s: h.delta_t_s(),
        bqml_per_suv: h.bqml_per_suv(),
        pet_fwhm_mm: d.fwhm,
        pet_grid: grid_truth(&d.pet),
        ct_grid: grid_truth(&d.ct),
        labels_file: "truth_labels.u8".into(),
        lesions,
    }
}

fn write_pet(
    h: &Header,
    g: &Grid,
    slices: &[StoredSlice],
    cf: Option<f64>,
    rng: &mut Rng,
    out: &Path,
) -> Result<()> {
    for (z, s) in slices.iter().enumerate() {
        let uid = rng.uid();
        let slice = PetSlice {
            index: z,
            count: g.nz,
            position: [g.origin[0], g.origin[1], g.z(z)],
            pixel: g.pixel,
            thickness: g.dz,
            rows: g.ny,
            cols: g.nx,
            sop_uid: &uid,
            values: &s.values,
            slope_text: &s.slope_text,
            counts_factor: cf,
        };
        let path = out.join("pet").join(format!("PT{:04}.dcm", z + 1));
        dcm::write_file(
            dcm::pet_object(h, &slice),
            uids::POSITRON_EMISSION_TOMOGRAPHY_IMAGE_STORAGE,
            &uid,
            &path,
        )?;
    }
    Ok(())
}
