#!/usr/bin/env bash
# Lays out one real case kept in a git repository as a data set folder whose cases.csv puts it
# in the test split; brainy.sh and brasyn.sh each name their repository's case with it.
#
#   tools/real-data/one_case.sh MIRROR OUT SOURCE CASE SEPARATOR ROLES
#
# MIRROR: a git directory of the repository; OUT: the folder to write; SOURCE: the folder in
# the repository that holds CASE/; SEPARATOR: what joins the case name and the role in file
# names (`_` for BraTS 2018–2021, `-` for 2023); ROLES: the space-separated roles to copy.
set -euo pipefail
mirror=${1:?usage: one_case.sh MIRROR OUT SOURCE CASE SEPARATOR ROLES}
out=${2:?out}
source_dir=${3:?source}
case=${4:?case}
separator=${5:?separator}
roles=${6:?roles}
mkdir -p "$out/$case"
for role in $roles; do
    file="$case/$case$separator$role.nii.gz"
    git --git-dir="$mirror" show "HEAD:$source_dir/$file" >"$out/$file.tmp"
    mv "$out/$file.tmp" "$out/$file"
done
printf 'case,split\n%s,test\n' "$case" >"$out/cases.csv"
echo "$out: 1 test case ($case)"
