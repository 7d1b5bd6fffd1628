//! Tracers: radionuclide, half-life, dose and the physiological uptake pattern (SUV per tissue),
//! plus the CT number of each tissue. Anatomy lives in `anatomy`; lesions in `lesion`.

use crate::anatomy::Tissue;
use crate::rng::Rng;
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Tracer {
    /// F-18 FDG: brain, myocardium, kidneys and bladder hot, liver about SUV 2.
    Fdg,
    /// F-18 DCFPyL (PSMA): salivary glands, kidneys, bladder hot, liver moderate, brain cold.
    Psma,
    /// Ga-68 DOTATATE: spleen, kidneys, liver, pituitary hot.
    Dotatate,
}

impl Tracer {
    pub const ALL: [Tracer; 3] = [Tracer::Fdg, Tracer::Psma, Tracer::Dotatate];

    pub fn name(self) -> &'static str {
        match self {
            Tracer::Fdg => "Fluorodeoxyglucose F^18^",
            Tracer::Psma => "Piflufolastat F 18 (DCFPyL)",
            Tracer::Dotatate => "Ga-68 DOTATATE",
        }
    }

    pub fn short(self) -> &'static str {
        match self {
            Tracer::Fdg => "FDG",
            Tracer::Psma => "PSMA (18F-DCFPyL)",
            Tracer::Dotatate => "68Ga-DOTATATE",
        }
    }

    /// RadionuclideHalfLife (0018,1075) in seconds: F-18 6586.2 s, Ga-68 4057.7 s.
    pub fn half_life_s(self) -> f64 {
        match self {
            Tracer::Fdg | Tracer::Psma => 6586.2,
            Tracer::Dotatate => 4057.7,
        }
    }

    /// (code value, meaning) of the radionuclide (SNOMED, as in PS3.16 CID 4020).
    pub fn nuclide_code(self) -> (&'static str, &'static str) {
        match self {
            Tracer::Fdg | Tracer::Psma => ("C-111A1", "^18^Fluorine"),
            Tracer::Dotatate => ("C-131A3", "^68^Gallium"),
        }
    }

    /// Injected activity in Bq for a patient of `weight_kg`, rounded to 0.1 MBq.
    pub fn dose_bq(self, weight_kg: f64, rng: &mut Rng) -> f64 {
        let mbq = match self {
            Tracer::Fdg => (weight_kg * rng.range(3.5, 4.5)).clamp(180.0, 450.0),
            Tracer::Psma => rng.range(300.0, 370.0),
            Tracer::Dotatate => rng.range(150.0, 200.0),
        };
        (mbq * 10.0).round() * 1e5
    }

    /// Mean physiological SUV of a tissue before per-patient jitter.
    pub fn base_suv(self, t: Tissue) -> f64 {
        use Tissue::*;
        match (self, t) {
            (_, Air | AirWay) => 0.0,
            (_, Fat) => 0.3,
            (Tracer::Fdg, Soft) => 0.7,
            (_, Soft) => 0.4,
            (Tracer::Fdg, Lung) => 0.4,
            (_, Lung) => 0.2,
            (Tracer::Fdg, Liver) => 2.0,
            (Tracer::Psma, Liver) => 5.0,
            (Tracer::Dotatate, Liver) => 7.0,
            (Tracer::Fdg, Spleen) => 1.8,
            (Tracer::Psma, Spleen) => 2.5,
            (Tracer::Dotatate, Spleen) => 20.0,
            (Tracer::Fdg, Kidney) => 5.0,
            (Tracer::Psma, Kidney) => 30.0,
            (Tracer::Dotatate, Kidney) => 14.0,
            (Tracer::Fdg, Bladder) => 25.0,
            (Tracer::Psma, Bladder) => 20.0,
            (Tracer::Dotatate, Bladder) => 18.0,
            (Tracer::Fdg, Brain) => 8.0,
            (_, Brain) => 0.2,
            (Tracer::Fdg, Myocardium) => 4.0,
            (_, Myocardium) => 1.0,
            (Tracer::Fdg, BloodPool) => 1.7,
            (Tracer::Psma, BloodPool) => 1.2,
            (Tracer::Dotatate, BloodPool) => 0.9,
            (Tracer::Fdg, Bone) => 1.0,
            (_, Bone) => 0.6,
            (Tracer::Psma, Salivary) => 15.0,
            (_, Salivary) => 1.5,
            (Tracer::Dotatate, Pituitary) => 10.0,
            (_, Pituitary) => 1.5,
        }
    }

    /// Per-patient uptake table: the base pattern with lognormal jitter (myocardium varies most).
    pub fn uptake_table(self, rng: &mut Rng) -> [f32; Tissue::COUNT] {
        let mut out = [0.0f32; Tissue::COUNT];
        for (i, t) in ALL_TISSUES.iter().enumerate() {
            let spread = if *t == Tissue::Myocardium { 0.35 } else { 0.12 };
            out[i] = (self.base_suv(*t) * (spread * rng.normal()).exp()) as f32;
        }
        out
    }
}

pub const ALL_TISSUES: [Tissue; Tissue::COUNT] = [
    Tissue::Air,
    Tissue::Fat,
    Tissue::Soft,
    Tissue::Lung,
    Tissue::AirWay,
    Tissue::Liver,
    Tissue::Spleen,
    Tissue::Kidney,
    Tissue::Bladder,
    Tissue::Brain,
    Tissue::Myocardium,
    Tissue::BloodPool,
    Tissue::Bone,
    Tissue::Salivary,
    Tissue::Pituitary,
];

/// CT number (HU) of a tissue.
pub fn hounsfield(t: Tissue) -> f32 {
    use Tissue::*;
    match t {
        Air | AirWay => -1000.0,
        Lung => -800.0,
        Fat => -100.0,
        Soft | Salivary | Pituitary | Myocardium | BloodPool | Spleen => 40.0,
        Kidney => 35.0,
        Bladder => 8.0,
        Brain => 35.0,
        Liver => 60.0,
        Bone => 700.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_order_matches_discriminants() {
        for (i, t) in ALL_TISSUES.iter().enumerate() {
            assert_eq!(*t as usize, i);
        }
    }

    #[test]
    fn fdg_brain_hot_psma_brain_cold() {
        assert!(Tracer::Fdg.base_suv(Tissue::Brain) > 5.0);
        assert!(Tracer::Psma.base_suv(Tissue::Brain) < 0.5);
        assert!(
            Tracer::Dotatate.base_suv(Tissue::Spleen) > Tracer::Dotatate.base_suv(Tissue::Liver)
        );
    }
}
