#!/usr/bin/env bash
# Seconds per training iteration of each method on a lent GPU (device tool), one run after
# another in one process each: the bundled model's configuration (desktop, batch 2 × 48³,
# assets/models/metakd-desktop.toml) on 8 BraTS-size phantoms, with the method, backbone and
# GMD's subsets per step changed. Prints the median of iterations 2..N of each run.
#
#   device run, carry [.gl, .gpu]:  bash tools/gpu-bench/method_costs.sh
set -u
. tools/gpu-bench/setup.sh
"$B" phantom --out /tmp/phantom --cases 8 --seed 11 --size brats >/dev/null
cost() { # name method fusion subsets iterations
  sed -e "s/^method = .*/method = \"$2\"/" -e 's/^workers = .*/workers = 12/' \
    -e 's/^compute = .*/compute = "wgpu"/' \
    -e "s/^shared_encoder = true/shared_encoder = true\nfusion = \"$3\"/" \
    assets/models/metakd-desktop.toml >"/tmp/$1.toml"
  printf '\n[gmd]\nsubsets_per_step = %s\n' "$4" >>"/tmp/$1.toml"
  timeout 150 "$B" train --data /tmp/phantom --config "/tmp/$1.toml" --iterations "$5" \
    --out "/tmp/run-$1" >/dev/null 2>"$OUT/$1.err"
  cp "/tmp/run-$1/metrics.jsonl" "$OUT/$1.jsonl" 2>/dev/null
  python3 - "$1" "/tmp/run-$1/metrics.jsonl" <<'PY'
import json, statistics, sys
s = [json.loads(l)["seconds"] for l in open(sys.argv[2]) if '"seconds"' in l]
print(f"{sys.argv[1]:<22} {len(s):>3} iterations  median of 2..: {statistics.median(s[1:]):.3f} s")
PY
}
cost baseline baseline concat 15 20
cost lckd lckd concat 15 20
cost metakd metakd concat 15 20
cost gmd-concat-15 gmd concat 15 12
cost gmd-concat-5 gmd concat 5 12
cost gmd-ds-15 gmd dynamic_sharing 15 12
cost gmd-ds-5 gmd dynamic_sharing 5 12
cost baseline-ds baseline dynamic_sharing 15 20
