# Sourced by the device scripts: the Vulkan loader from .gl (see the device README), the
# NVIDIA ICD, $OUT, and the metakd binary from .gpu/metakd.xz at $B.
for f in .gl/*.deb; do dpkg -x "$f" /; done
ldconfig
icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
[ -f "$icd" ] && export VK_DRIVER_FILES=$icd
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
B=/tmp/metakd
xz -dc .gpu/metakd.xz >"$B" && chmod +x "$B"
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
