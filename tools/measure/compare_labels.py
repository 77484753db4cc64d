"""Compares two label maps voxel by voxel: how many voxels differ, and per BraTS region (WT: any
label, TC: 1 or 4, ET: 4) the Dice between them and each one's voxel count.

usage: PYTHON tools/measure/compare_labels.py A.nii.gz B.nii.gz   (PYTHON with nibabel, numpy)
"""
import sys

import nibabel as nib
import numpy as np

a = np.asarray(nib.load(sys.argv[1]).dataobj)
b = np.asarray(nib.load(sys.argv[2]).dataobj)
print(f"{sys.argv[1]} vs {sys.argv[2]}: {int((a != b).sum())} of {a.size} voxels differ")
for name, region in [("WT", lambda x: x > 0), ("TC", lambda x: (x == 1) | (x == 4)), ("ET", lambda x: x == 4)]:
    ra, rb = region(a), region(b)
    dice = 2 * (ra & rb).sum() / max(ra.sum() + rb.sum(), 1)
    print(f"{name}: Dice {dice:.6f}, voxels {int(ra.sum())} and {int(rb.sum())}")
