"""Reads a petground SEG back with highdicom and maps its frames onto the PET grid.

Used by tests/seg_dciodvfy.rs. Usage: seg_check.py SEG.dcm GRID.json
GRID.json: {"dims": [nz, ny, nx], "origin": [..], "spacing": [sx, sy, sz],
            "row_dir": [..], "col_dir": [..], "slice_dir": [..], "slice_uids": [..]}
Prints JSON: per segment number, the sorted voxel indices [z, y, x] found
  - "by_position": from each frame's ImagePositionPatient (PlanePositionSequence),
  - "by_source":   from highdicom's get_pixels_by_source_instance (DerivationImageSequence),
plus the segment labels, descriptions and property types highdicom decoded.
"""
import json
import sys

import highdicom as hd
import numpy as np


def main():
    seg_path, grid_path = sys.argv[1], sys.argv[2]
    grid = json.load(open(grid_path))
    seg = hd.seg.segread(seg_path)
    assert seg.segmentation_type == hd.seg.SegmentationTypeValues.BINARY, seg.segmentation_type
    origin = np.array(grid["origin"])
    dirs = [np.array(grid[k]) for k in ("slice_dir", "col_dir", "row_dir")]
    steps = [grid["spacing"][2], grid["spacing"][1], grid["spacing"][0]]
    nz = grid["dims"][0]

    pixels = seg.pixel_array  # (frames, rows, cols), unpacked by pydicom
    if pixels.ndim == 2:
        pixels = pixels[np.newaxis]
    by_position = {}
    for i, fg in enumerate(seg.PerFrameFunctionalGroupsSequence):
        ipp = np.array([float(v) for v in fg.PlanePositionSequence[0].ImagePositionPatient])
        number = int(fg.SegmentIdentificationSequence[0].ReferencedSegmentNumber)
        idx = [float(np.dot(ipp - origin, d)) / s for d, s in zip(dirs, steps)]
        z = int(round(idx[0]))
        assert abs(idx[0] - z) < 1e-3 and abs(idx[1]) < 1e-3 and abs(idx[2]) < 1e-3, (i, idx)
        assert 0 <= z < nz, (i, z)
        ys, xs = np.nonzero(pixels[i])
        by_position.setdefault(number, []).extend([z, int(y), int(x)] for y, x in zip(ys, xs))

    numbers = [int(n) for n in seg.segment_numbers]
    uids = grid["slice_uids"]
    stack = seg.get_pixels_by_source_instance(
        source_sop_instance_uids=uids, segment_numbers=numbers, assert_missing_frames_are_empty=True
    )  # (instances, rows, cols, segments)
    by_source = {}
    for k, number in enumerate(numbers):
        zs, ys, xs = np.nonzero(stack[..., k])
        by_source[number] = [[int(z), int(y), int(x)] for z, y, x in zip(zs, ys, xs)]

    segments = {}
    for number in numbers:
        d = seg.get_segment_description(number)
        segments[str(number)] = {
            "label": d.segment_label,
            "description": getattr(d, "SegmentDescription", None),
            "property_type": d.segmented_property_type.value,
            "algorithm_type": d.algorithm_type.value,
            "by_position": sorted(by_position.get(number, [])),
            "by_source": sorted(by_source[number]),
        }
    out = {
        "sop_class_uid": seg.SOPClassUID,
        "study_instance_uid": seg.StudyInstanceUID,
        "frame_of_reference_uid": seg.FrameOfReferenceUID,
        "number_of_frames": int(seg.NumberOfFrames),
        "segments": segments,
    }
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
