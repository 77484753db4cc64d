#!/usr/bin/env python3
"""Where the brain lies in the grid: per case folder, the bounding box (voxel indices, on-disk
order i, j, k) and volume of the voxels that differ from the background in the T1 image. Used
to check that template phantoms (`metakd phantom --anatomy template`) sit in the BraTS grid as
real BraTS brains do (docs/phantoms.md). Needs nibabel and numpy (a throwaway environment).

    python brain_extents.py CASE_DIR...
"""
import glob
import sys

import nibabel as nib
import numpy as np

print("case,i_min,i_max,j_min,j_max,k_min,k_max,mask_ml")
for case in sys.argv[1:]:
    path = sorted(glob.glob(f"{case}/*_t1.nii.gz") + glob.glob(f"{case}/*-t1n.nii.gz"))[0]
    image = nib.load(path)
    data = np.asarray(image.dataobj)
    mask = data != data[0, 0, 0]
    box = [np.flatnonzero(mask.any(axis=tuple(b for b in range(3) if b != a))) for a in range(3)]
    ml = mask.sum() * float(np.prod(image.header.get_zooms()[:3])) / 1000
    extents = ",".join(f"{b.min()},{b.max()}" for b in box)
    print(f"{case.rstrip('/').split('/')[-1]},{extents},{ml:.0f}")
