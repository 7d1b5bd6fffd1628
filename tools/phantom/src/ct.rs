//! The CT series: tissues painted on a 512×512 grid (128×128 in small mode) at the PET slice
//! positions, CT numbers per tissue, a little noise, lesions as nodules / hypodense / sclerotic
//! spheres; written slice by slice so memory stays one slice. Tissue HU values live in `tracer`.

use crate::anatomy::{Patient, Tissue, rasterize};
use crate::dcm::{self, CtSlice, Header};
use crate::lesion::{Kind, Lesion};
use crate::pet::{self, Grid};
use crate::rng::Rng;
use crate::tracer::hounsfield;
use anyhow::Result;
use dicom_dictionary_std::uids;
use std::path::Path;

/// CT numbers for lesions: soft-tissue nodules, hypodense liver lesions, sclerotic bone lesions.
fn lesion_hu(k: Kind) -> f32 {
    match k {
        Kind::Node | Kind::Lung => 35.0,
        Kind::Liver => 30.0,
        Kind::Bone => 450.0,
    }
}

pub fn write_ct(
    h: &Header,
    p: &Patient,
    g: &Grid,
    lesions: &[Lesion],
    noise: &mut Rng,
    rng: &mut Rng,
    out: &Path,
) -> Result<()> {
    let mut hu_table = [0f32; Tissue::COUNT];
    for t in crate::tracer::ALL_TISSUES {
        hu_table[t as usize] = hounsfield(t);
    }
    let mut values = vec![0u16; g.nx * g.ny];
    for z in 0..g.nz {
        let zz = g.z(z);
        let tissues = rasterize(
            &p.parts,
            zz,
            [g.origin[0], g.origin[1]],
            g.pixel,
            [g.nx, g.ny],
        );
        for (v, t) in values.iter_mut().zip(&tissues) {
            let hu = hu_table[*t as usize];
            // Irwin–Hall: four 16-bit uniforms from one draw, σ ≈ 12 HU, cheap enough for 78 M voxels.
            let r = noise.next_u64();
            let u = (0..4)
                .map(|s| ((r >> (16 * s)) & 0xFFFF) as f32 / 65535.0)
                .sum::<f32>()
                - 2.0;
            let n = if *t == Tissue::Air { 0.0 } else { u * 20.8 };
            *v = (hu + n + 1024.0).round().clamp(0.0, 4095.0) as u16;
        }
        for l in lesions {
            let r = l.diameter_mm / 2.0;
            let dzl = zz - l.centre_mm[2];
            if dzl.abs() >= r {
                continue;
            }
            let rr = (r * r - dzl * dzl).sqrt();
            let c3 = [l.centre_mm[0], l.centre_mm[1], zz];
            let flat = Grid {
                nz: 1,
                origin: [g.origin[0], g.origin[1], zz],
                ..*g
            };
            pet::for_each_voxel_near(&flat, c3, rr, |_, j, i| {
                if (g.x(i) - c3[0]).powi(2) + (g.y(j) - c3[1]).powi(2) <= rr * rr {
                    values[j * g.nx + i] = (lesion_hu(l.kind) + 1024.0) as u16;
                }
            });
        }
        let uid = rng.uid();
        let slice = CtSlice {
            index: z,
            position: [g.origin[0], g.origin[1], zz],
            pixel: g.pixel,
            thickness: g.dz,
            rows: g.ny,
            cols: g.nx,
            sop_uid: &uid,
            values: &values,
        };
        let path = out.join("ct").join(format!("CT{:04}.dcm", z + 1));
        dcm::write_file(
            dcm::ct_object(h, &slice),
            uids::CT_IMAGE_STORAGE,
            &uid,
            &path,
        )?;
    }
    Ok(())
}
