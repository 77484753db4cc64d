#!/bin/bash
# Prints what a measurement ran on, for the machine.txt every tools/measure script keeps next
# to its raw output: commit (and whether engine/, app/ or shaders/ had uncommitted changes),
# date, CPU, memory, Mesa's Vulkan driver, and the binaries measured.
# usage: tools/measure/machine.sh BINARIES
echo "commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- engine app shaders || echo ' (with uncommitted changes)')"
echo "date $(date -u +%FT%TZ)"
echo "cpu $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores, flags: $(grep -m1 -o -w 'avx512f\|avx2' /proc/cpuinfo | sort -u | xargs)"
echo "memory $(free -g | awk '/Mem:/ {print $2}') GiB"
echo "mesa-vulkan-drivers $(dpkg-query -W -f='${Version}' mesa-vulkan-drivers 2>/dev/null || echo none)"
echo "gpu none (wgpu runs on lavapipe)"
echo "binaries $1"
