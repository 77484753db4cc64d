#!/usr/bin/env bash
# Issue #19's first run: a whole-volume segmentation of the bundled sample on lavapipe with an
# empty Mesa shader cache (what a new machine, a driver update or a fresh container pays),
# then again with the cache that run filled; then the same pair on the CPU path (`metakd
# segment`'s default, and the viewer's pick on a machine without a GPU), which compiles nothing.
# Usage: tools/measure/first_run.sh METAKD OUT_DIR
set -euo pipefail
METAKD=$(realpath "$1"); OUT=$2
mkdir -p "$OUT"
tools/measure/machine.sh "$METAKD" > "$OUT/machine.txt"
CACHE=$(mktemp -d)
trap 'rm -rf "$CACHE"' EXIT
for compute in wgpu cpu; do
  rm -rf "${CACHE:?}"/*
  # lavapipe's files keep the names of this script's first version; the CPU path's get cpu-.
  prefix=$([ "$compute" = cpu ] && echo cpu- || true)
  for run in empty-cache warm-cache; do
    MESA_SHADER_CACHE_DIR="$CACHE" "$METAKD" segment --case assets/sample/Phantom_00001 \
      --compute "$compute" --out "$CACHE/$run.nii.gz" 2>&1 | tr '\r' '\n' | tail -1 \
      > "$OUT/$prefix$run.txt"
  done
  du -sh "$CACHE" | cut -f1 > "$OUT/${prefix}shader-cache-size.txt"
done
cat "$OUT"/*-cache.txt
