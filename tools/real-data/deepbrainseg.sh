#!/usr/bin/env bash
# Lays out the real BraTS 2018 training cases of koriavinash1/DeepBrainSeg (MIT repository,
# `sample_volume/brats/`) as a metakd data set folder, with a fixed split written to cases.csv.
#
#   tools/real-data/deepbrainseg.sh MIRROR OUT [PHANTOMS]
#
# MIRROR: a git directory of the repository (the session tool `fetch` gives one, or
# `git clone --bare https://github.com/koriavinash1/DeepBrainSeg`). OUT: the data set folder to
# write. PHANTOMS (optional): a `metakd phantom` folder whose cases are added to the train split
# (absolute paths in cases.csv), so a model trained on OUT still sees the generator's cases.
#
# Only the four sequences and the label map of each case are copied (not DeepBrainSeg's
# predictions and masks). The four BraTS 2013-cohort cases (`Brats18_2013_*`) are NOT copied:
# the project keeps that cohort for an independent check and never trains, tunes or selects on
# it. The images are patient data under the BraTS terms: never commit them.
#
# The split was fixed before any model was evaluated on these cases: by institution and grade
# (TCIA10/TCIA13 are lower-grade gliomas), five test cases (4 HGG, 1 LGG) that no training run
# sees, two validation cases (MetaKD's meta-validation and the loss curve), nine training cases.
set -euo pipefail
mirror=${1:?usage: deepbrainseg.sh MIRROR OUT [PHANTOMS]}
out=${2:?usage: deepbrainseg.sh MIRROR OUT [PHANTOMS]}
phantoms=${3:-}

train=(Brats18_CBICA_ABM_1 Brats18_CBICA_AQN_1 Brats18_TCIA01_201_1 Brats18_TCIA01_425_1
       Brats18_TCIA01_499_1 Brats18_TCIA02_135_1 Brats18_TCIA02_606_1 Brats18_TCIA10_628_1
       Brats18_TCIA10_639_1)
val=(Brats18_CBICA_ALU_1 Brats18_TCIA13_623_1)
test=(Brats18_CBICA_AME_1 Brats18_TCIA01_378_1 Brats18_TCIA02_370_1 Brats18_TCIA03_265_1
      Brats18_TCIA10_637_1)

mkdir -p "$out"
csv="$out/cases.csv.tmp"
echo "case,split" >"$csv"
copy_case() { # case split
    local case=$1 split=$2
    case $case in *2013*) echo "refusing a 2013-cohort case: $case" >&2; exit 2 ;; esac
    mkdir -p "$out/$case"
    for role in flair t1 t1ce t2 seg; do
        local file="$case/${case}_$role.nii.gz"
        [ -s "$out/$file" ] && continue
        git --git-dir="$mirror" show "HEAD:sample_volume/brats/$file" >"$out/$file.tmp"
        mv "$out/$file.tmp" "$out/$file"
    done
    echo "$case,$split" >>"$csv"
}
for c in "${train[@]}"; do copy_case "$c" train; done
for c in "${val[@]}"; do copy_case "$c" val; done
for c in "${test[@]}"; do copy_case "$c" test; done
if [ -n "$phantoms" ]; then
    phantoms=$(cd "$phantoms" && pwd)
    for dir in "$phantoms"/*/; do
        echo "${dir%/},train" >>"$csv"
    done
fi
mv "$csv" "$out/cases.csv"
echo "$out: $(grep -c ',train$' "$out/cases.csv") train, ${#val[@]} val, ${#test[@]} test cases"
echo "source: koriavinash1/DeepBrainSeg at $(git --git-dir="$mirror" rev-parse HEAD)"
