#!/usr/bin/env bash
# Lays out the one real BraTS 2023 glioma case of hongweilibran/BraSyn
# (`data/reference/BraTS-GLI-00000-000/`, MIT repository; the BraTS data terms apply: use it to
# evaluate, never commit it) as a data set folder whose cases.csv puts it in the test split. Its
# files keep the 2023 names (-t2f/-t1n/-t1c/-t2w, labels 1/2/3), so it exercises that layout
# on a real scan. `data/output/` of the same repository holds synthesised sequences and is not
# copied. BraTS 2023 renumbered the patients, so whether this one is of the 2013 cohort cannot
# be told from its name: evaluate with it only, never choose anything by it.
#
#   tools/real-data/brasyn.sh MIRROR OUT
set -euo pipefail
mirror=${1:?usage: brasyn.sh MIRROR OUT}
out=${2:?usage: brasyn.sh MIRROR OUT}
"$(dirname "$0")/one_case.sh" "$mirror" "$out" data/reference BraTS-GLI-00000-000 - "t2f t1n t1c t2w seg"
echo "source: hongweilibran/BraSyn at $(git --git-dir="$mirror" rev-parse HEAD)"
