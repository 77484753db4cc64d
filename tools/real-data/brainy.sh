#!/usr/bin/env bash
# Lays out the one non-2013 real BraTS 2018 case of IAmSuyogJadhav/Brainy (`samples/`; the
# repository has no licence file: use it to evaluate, never commit it) as a data set folder whose
# cases.csv puts it in the test split. Its other case is 2013-cohort (`Brats18_2013_2_1`) and is
# not copied. A patient not among tools/real-data/deepbrainseg.sh's cases.
#
#   tools/real-data/brainy.sh MIRROR OUT
set -euo pipefail
mirror=${1:?usage: brainy.sh MIRROR OUT}
out=${2:?usage: brainy.sh MIRROR OUT}
"$(dirname "$0")/one_case.sh" "$mirror" "$out" samples Brats18_TCIA05_396_1 _ "flair t1 t1ce t2 seg"
echo "source: IAmSuyogJadhav/Brainy at $(git --git-dir="$mirror" rev-parse HEAD)"
