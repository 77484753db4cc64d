#!/usr/bin/env python3
"""Derives the phantom generator's real anatomy from the ICBM 2009a nonlinear symmetric template.

    python3 -m venv /tmp/anatomy-venv && /tmp/anatomy-venv/bin/pip install nibabel scipy numpy
    /tmp/anatomy-venv/bin/pip download nilearn==0.14.1 --no-deps -d /tmp/nilearn
    (cd /tmp/nilearn && unzip -q nilearn-0.14.1-py3-none-any.whl 'nilearn/datasets/data/mni_icbm152_*')
    /tmp/anatomy-venv/bin/python tools/anatomy/make_template.py \
        /tmp/nilearn/nilearn/datasets/data assets/anatomy/icbm152_2009a_sym_tissues.nii.gz

Input: the template's T1 and its grey- and white-matter probability maps (1 mm, 197×233×189,
RAS, uint8 0–255) as the nilearn wheel ships them. Output: one uint8 NIfTI with six frames on
the template's own 1 mm grid (MNI millimetres, cropped to the head), read by
`engine::phantom::template`:

  0 CSF fraction ×255: what the skull-stripped mask holds beyond grey and white matter
    (sulci, cisterns, ventricles, a one-voxel shell around the brain as in BraTS masks);
  1 cortical grey matter fraction ×255;
  2 white matter fraction ×255;
  3 deep grey matter fraction ×255: grey matter in the box of the basal ganglia and thalami,
    away from the surface;
  4 depth below the cerebrum's hull in mm, stored as (depth + 40) × 2 (0.5 mm steps, −40..87 mm);
  5 depth inside the lateral and third ventricles in mm, stored the same way.

The generator stays pure Rust: this script only makes the asset; Python is never a dependency
of the product.
"""
import sys

import nibabel as nib
import numpy as np
from scipy import ndimage

DEPTH_OFFSET = 40.0
DEPTH_SCALE = 2.0
# Box (MNI mm) holding the caudate, putamen, pallidum and thalamus.
DEEP_BOX = {"x": (-34.0, 34.0), "y": (-40.0, 28.0), "z": (-14.0, 24.0)}


def ball(radius):
    r = int(radius)
    z, y, x = np.mgrid[-r : r + 1, -r : r + 1, -r : r + 1]
    return x * x + y * y + z * z <= radius * radius


def signed_depth(mask):
    """Distance to the mask's boundary in mm, positive inside."""
    return ndimage.distance_transform_edt(mask) - ndimage.distance_transform_edt(~mask)


def encode_depth(depth):
    return np.clip(np.round((depth + DEPTH_OFFSET) * DEPTH_SCALE), 0, 255).astype(np.uint8)


def main(data_dir, out_path):
    load = lambda name: nib.load(f"{data_dir}/mni_icbm152_{name}_tal_nlin_sym_09a_converted.nii.gz")
    gm_img = load("gm")
    affine = gm_img.affine
    assert nib.aff2axcodes(affine) == ("R", "A", "S"), "the template is stored RAS"
    gm = gm_img.get_fdata() / 255.0
    wm = load("wm").get_fdata() / 255.0
    total = gm + wm
    over = total > 1.0
    gm[over] /= total[over]
    wm[over] /= total[over]

    # Skull-stripped mask: brain tissue, closed and filled (ventricles, sulci), one voxel more.
    brain = ndimage.binary_closing(gm + wm > 0.5, structure=ball(3))
    brain = ndimage.binary_fill_holes(brain)
    labels, count = ndimage.label(brain)
    sizes = ndimage.sum(brain, labels, range(1, count + 1))
    brain = labels == 1 + int(np.argmax(sizes))
    mask = ndimage.binary_dilation(brain, structure=ball(1))
    gm *= mask
    wm *= mask
    csf = np.clip(1.0 - gm - wm, 0.0, 1.0) * mask

    hull = ndimage.binary_fill_holes(ndimage.binary_closing(mask, structure=ball(5)))
    depth = signed_depth(hull)

    # Ventricles: CSF deep inside the hull, the large components near the centre.
    ijk = np.indices(mask.shape).reshape(3, -1)
    world = (affine[:3, :3] @ ijk + affine[:3, 3:4]).reshape((3,) + mask.shape)
    x, y, z = world
    candidates = (csf > 0.6) & (depth > 12.0) & (np.abs(x) < 35) & (z > -25) & (z < 40)
    labels, count = ndimage.label(candidates)
    sizes = ndimage.sum(candidates, labels, range(1, count + 1))
    ventricles = np.isin(labels, 1 + np.flatnonzero(sizes >= 300))
    ventricle_depth = signed_depth(ventricles)

    # Deep grey matter: grey matter in the basal-ganglia box, fading in below 15 mm of depth.
    in_box = np.ones(mask.shape, bool)
    for axis, (low, high) in zip((x, y, z), DEEP_BOX.values()):
        in_box &= (axis > low) & (axis < high)
    deep_share = np.clip((depth - 12.0) / 6.0, 0.0, 1.0) * in_box
    deep = gm * deep_share
    cortex = gm - deep

    # Crop to the mask with a margin, keeping the affine right.
    nz = np.argwhere(mask)
    low = np.maximum(nz.min(0) - 2, 0)
    high = np.minimum(nz.max(0) + 3, mask.shape)
    crop = tuple(slice(a, b) for a, b in zip(low, high))
    fraction = lambda f: np.round(np.clip(f, 0.0, 1.0) * 255.0).astype(np.uint8)
    frames = [fraction(csf), fraction(cortex), fraction(wm), fraction(deep),
              encode_depth(depth), encode_depth(ventricle_depth)]
    data = np.stack([f[crop] for f in frames], axis=-1)
    cropped = affine.copy()
    cropped[:3, 3] = affine[:3, :3] @ low + affine[:3, 3]
    image = nib.Nifti1Image(data, cropped)
    image.header.set_xyzt_units("mm")
    image.set_sform(cropped, code=4)  # MNI 152
    image.set_qform(cropped, code=4)
    image.header["descrip"] = b"ICBM2009a sym tissues metakd v1"
    nib.save(image, out_path)
    print(f"{out_path}: {data.shape}, mask {mask.sum() / 1000:.0f} mL, "
          f"ventricles {ventricles.sum() / 1000:.1f} mL, deep grey {deep.sum() / 1000:.1f} mL, "
          f"CSF {csf.sum() / 1000:.0f} mL, GM {cortex.sum() / 1000:.0f} mL, WM {wm.sum() / 1000:.0f} mL")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
