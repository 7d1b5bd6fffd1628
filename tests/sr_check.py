"""Reads a petground SR back with highdicom and checks it against the SEG and the PET itself.

Used by tests/sr_dciodvfy.rs. Usage:
  sr_check.py SR.dcm SEG.dcm PET_DIR    prints JSON (below); exits non-zero when a check fails
  sr_check.py --golden                  prints the reference measurements of the golden volume
                                        of src/label/measure/tests.rs

The reference implementation here is independent of the node's: SUVbw from the PET files' own
attributes (Units BQML, DecayCorrection START: value x weight / decayed dose), the masks from the
SEG through highdicom (by source instance), SUVpeak by summing whole shifted copies of the padded
volume (a convolution, not the node's per-candidate loop), diameters by brute force over every
pixel corner. Output JSON: {"groups": [{segment, tracking_id, tracking_uid, finding, site,
laterality, values: {name: sr value}, reference: {name: ours}}], "ungrounded": [...],
"max_abs_diff": {name: d}, ...}.
"""
import json
import os
import sys

import numpy as np

PEAK_RADIUS_MM = 6.203504908994  # (3 / 4 pi)^(1/3) cm: a 1 mL sphere


def sphere_offsets(spacing_zyx):
    reach = [int(np.floor(PEAK_RADIUS_MM / s)) for s in spacing_zyx]
    out = []
    for dz in range(-reach[0], reach[0] + 1):
        for dy in range(-reach[1], reach[1] + 1):
            for dx in range(-reach[2], reach[2] + 1):
                d2 = sum((d * s) ** 2 for d, s in zip((dz, dy, dx), spacing_zyx))
                if d2 <= PEAK_RADIUS_MM ** 2:
                    out.append((dz, dy, dx))
    return out


def sphere_means(suv, spacing_zyx):
    """Mean of the 1 mL sphere centred on every voxel (voxels beyond the edge absent)."""
    offsets = sphere_offsets(spacing_zyx)
    pad = [max(abs(o[a]) for o in offsets) for a in range(3)]
    padded = np.pad(suv, [(p, p) for p in pad])
    ones = np.pad(np.ones_like(suv), [(p, p) for p in pad])
    total = np.zeros_like(suv)
    count = np.zeros_like(suv)
    nz, ny, nx = suv.shape
    for dz, dy, dx in offsets:
        sl = (
            slice(pad[0] + dz, pad[0] + dz + nz),
            slice(pad[1] + dy, pad[1] + dy + ny),
            slice(pad[2] + dx, pad[2] + dx + nx),
        )
        total += padded[sl]
        count += ones[sl]
    return total / count, len(offsets)


def axial_diameter(mask, pixel_xy):
    best = 0.0
    for z in range(mask.shape[0]):
        ys, xs = np.nonzero(mask[z])
        if len(ys) == 0:
            continue
        corners = np.concatenate(
            [np.stack([(xs + dx) * pixel_xy[0], (ys + dy) * pixel_xy[1]], 1)
             for dy in (0, 1) for dx in (0, 1)]
        )
        d = np.sqrt(((corners[:, None, :] - corners[None, :, :]) ** 2).sum(-1)).max()
        best = max(best, float(d))
    return best


def measure(suv, mask, spacing_xyz):
    """The node's definitions (src/label/measure.rs), computed another way."""
    suv = suv.astype(np.float64)
    spacing_zyx = (spacing_xyz[2], spacing_xyz[1], spacing_xyz[0])
    values = suv[mask]
    means, _ = sphere_means(suv, spacing_zyx)
    n = int(mask.sum())
    mtv = n * float(np.prod(spacing_xyz)) / 1000.0
    peak_at = np.unravel_index(np.argmax(np.where(mask, means, -np.inf)), suv.shape)
    return {
        "suv_max": float(values.max()),
        "suv_mean": float(values.mean()),
        "suv_peak": float(means[mask].max()),
        "peak_voxel": [int(i) for i in peak_at],
        "mtv_ml": mtv,
        "tlg": float(values.mean()) * mtv,
        "long_axis_mm": axial_diameter(mask, spacing_xyz[:2]),
        "voxels": n,
    }


def golden():
    """The volume of src/label/measure/tests.rs `golden()`."""
    z, y, x = np.meshgrid(np.arange(6), np.arange(9), np.arange(11), indexing="ij")
    d2 = (z - 3) ** 2 + (y - 4) ** 2 + (x - 5) ** 2
    bump = np.where(d2 <= 2, 8.0, np.where(d2 <= 5, 4.0, 0.0))
    suv = (1.0 + ((3 * z + 5 * y + 7 * x) % 11) * 0.25 + bump).astype(np.float32)
    box = (z >= 1) & (z < 5) & (y >= 2) & (y < 7) & (x >= 2) & (x < 9)
    mask = box & (suv > 3.0)
    m = measure(suv, mask, (4.0, 3.0, 2.5))
    m["sphere_voxels_2mm"] = len(sphere_offsets((2.0, 2.0, 2.0)))
    m["sphere_voxels_4x4x2mm"] = len(sphere_offsets((2.0, 4.0, 4.0)))
    m["sphere_voxels_golden"] = len(sphere_offsets((2.5, 3.0, 4.0)))
    json.dump(m, sys.stdout, indent=1)
    print()


def seconds(tm):
    tm = str(tm)
    return int(tm[0:2]) * 3600 + int(tm[2:4]) * 60 + float(tm[4:] or 0)


def pet_suv(pet_dir):
    """SUVbw volume [z, y, x] (z by position along the slice normal), spacing, SOP UIDs."""
    import pydicom

    files = [os.path.join(pet_dir, f) for f in sorted(os.listdir(pet_dir))]
    slices = [pydicom.dcmread(f) for f in files]
    first = slices[0]
    assert first.Units == "BQML", f"reference handles Units BQML only, not {first.Units}"
    assert first.DecayCorrection == "START", first.DecayCorrection
    rp = first.RadiopharmaceuticalInformationSequence[0]
    dt = seconds(first.SeriesTime) - seconds(rp.RadiopharmaceuticalStartTime)
    decayed = float(rp.RadionuclideTotalDose) * 2.0 ** (-dt / float(rp.RadionuclideHalfLife))
    per_suv = decayed / (float(first.PatientWeight) * 1000.0)
    iop = np.array([float(v) for v in first.ImageOrientationPatient])
    normal = np.cross(iop[:3], iop[3:])
    slices.sort(key=lambda s: float(np.dot([float(v) for v in s.ImagePositionPatient], normal)))
    planes = [
        s.pixel_array.astype(np.float64) * float(s.RescaleSlope) + float(s.RescaleIntercept)
        for s in slices
    ]
    pos = [float(np.dot([float(v) for v in s.ImagePositionPatient], normal)) for s in slices]
    dz = float(np.median(np.diff(pos)))
    px = [float(v) for v in first.PixelSpacing]  # row spacing (y), column spacing (x)
    spacing_xyz = (px[1], px[0], dz)
    return np.stack(planes) / per_suv, spacing_xyz, [s.SOPInstanceUID for s in slices]


def code_of(concept):
    return None if concept is None else (concept.value, concept.scheme_designator)


def num_values(group):
    """The group's NUM items by our names."""
    names = {
        ("126401", "56851009"): "suv_max",
        ("126401", "373098007"): "suv_mean",
        ("126401", "126031"): "suv_peak",
        ("126032", None): "mtv_ml",
        ("126033", None): "tlg",
        ("103339001", None): "long_axis_mm",
    }
    out, units = {}, {}
    for m in group.get_measurements():
        derivation = m.derivation.value if m.derivation is not None else None
        key = (m.name.value, derivation if m.name.value == "126401" else None)
        name = names.get(key)
        assert name is not None, f"unexpected measurement {m.name} / {m.derivation}"
        assert name not in out, f"{name} twice"
        out[name] = float(m.value)
        units[name] = m.unit.value
    return out, units


def texts(group, code):
    return [
        item.TextValue
        for item in group[0].ContentSequence
        if item.ValueType == "TEXT" and item.ConceptNameCodeSequence[0].CodeValue == code
    ]


def main(sr_path, seg_path, pet_dir):
    import highdicom as hd

    sr = hd.sr.srread(sr_path)
    seg = hd.seg.segread(seg_path)
    report = sr.content
    assert isinstance(report, hd.sr.MeasurementReport), type(report)
    suv, spacing, uids = pet_suv(pet_dir)
    groups = report.get_volumetric_roi_measurement_groups()
    seg_numbers = [int(n) for n in seg.segment_numbers]
    stack = seg.get_pixels_by_source_instance(
        source_sop_instance_uids=uids, segment_numbers=seg_numbers,
        assert_missing_frames_are_empty=True,
    )
    out = {"sop_class_uid": sr.SOPClassUID, "study_instance_uid": sr.StudyInstanceUID,
           "modality": sr.Modality, "groups": [], "ungrounded": [], "max_abs_diff": {}}
    for g in groups:
        ref = g.referenced_segment
        assert ref is not None, "volumetric group without Referenced Segment"
        sop = ref.referenced_sop_instance_uid if hasattr(ref, "referenced_sop_instance_uid") \
            else ref[0].ReferencedSOPSequence[0].ReferencedSOPInstanceUID
        number = int(ref[0].ReferencedSOPSequence[0].ReferencedSegmentNumber)
        assert sop == seg.SOPInstanceUID, (sop, seg.SOPInstanceUID)
        mask = stack[..., seg_numbers.index(number)].astype(bool)
        values, units = num_values(g)
        reference = measure(suv, mask, spacing)
        for k, v in values.items():
            d = abs(v - reference[k])
            out["max_abs_diff"][k] = max(out["max_abs_diff"].get(k, 0.0), d)
        sites = g.finding_sites
        out["groups"].append({
            "segment": number,
            "tracking_id": g.tracking_identifier,
            "tracking_uid": str(g.tracking_uid),
            "finding_type": code_of(g.finding_type),
            "finding": texts(g, "121071"),
            "site": code_of(sites[0].value) if sites else None,
            "laterality": code_of(sites[0].laterality) if sites and sites[0].laterality else None,
            "values": values,
            "units": units,
            "reference": reference,
            "segment_label": seg.get_segment_description(number).segment_label,
            "segment_description": getattr(seg.get_segment_description(number),
                                           "SegmentDescription", None),
        })
    for g in report.get_image_measurement_groups():
        out["ungrounded"].append({
            "tracking_id": g.tracking_identifier,
            "finding": texts(g, "121071"),
            "comment": texts(g, "121106"),
            "measurements": len(g.get_measurements()),
        })
    # The SR IOD has no Frame of Reference module: the image library group carries it.
    library = [i for i in report[0].ContentSequence
               if i.ConceptNameCodeSequence[0].CodeValue == "111028"]
    assert len(library) == 1, "one Image Library"
    group = library[0].ContentSequence[0]
    out["frame_of_reference_uid"] = [
        i.UID for i in group.ContentSequence
        if i.ValueType == "UIDREF" and i.ConceptNameCodeSequence[0].CodeValue == "112227"
    ]
    out["library_images"] = sorted(
        i.ReferencedSOPSequence[0].ReferencedSOPInstanceUID
        for i in group.ContentSequence if i.ValueType == "IMAGE"
    )
    out["pet_images"] = sorted(uids)
    observers = report.get_observer_contexts()
    out["observer"] = [str(o) for o in observers][:1]
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    if sys.argv[1:] == ["--golden"]:
        golden()
    else:
        main(*sys.argv[1:4])
