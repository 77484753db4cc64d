import sys; from harness import *
import numpy as np
NA=int(sys.argv[1]); ITER=int(sys.argv[2]); mode=sys.argv[3]
decl="\n".join(f"var a{i}: f32 = f32(lid)*{i}.0;" for i in range(NA))
if mode=="fma":
    body="\n".join(f"a{i} = fma(a{i}, 1.0001, v);" for i in range(NA))
    pre="let v = f32(it) * 0.5;"
elif mode=="uload":  # uniform load per iteration
    pre="let v = src[it % 1024u];"
    body="\n".join(f"a{i} = fma(a{i}, 1.0001, v);" for i in range(NA))
elif mode=="uloadwg":
    pre="let v = src[(it + wg.x * 7u) % 1024u];"
    body="\n".join(f"a{i} = fma(a{i}, 1.0001, v);" for i in range(NA))
elif mode=="uload4":
    pre="let q = src4[it % 256u]; let v = q.x + q.w;"
    body="\n".join(f"a{i} = fma(a{i}, 1.0001, v);" for i in range(NA))
elif mode=="uload4b":
    pre="let q = src4[(it * 3u + wg.x) / 4u]; let v = q.x + q.w;"
    body="\n".join(f"a{i} = fma(a{i}, 1.0001, v);" for i in range(NA))
elif mode=="dload":  # divergent load per iteration
    pre="let v = src[(it*7u + lid) % 1024u];"
    body="\n".join(f"a{i} = fma(a{i}, 1.0001, v);" for i in range(NA))
elif mode=="dloadr":  # divergent load no modulo
    pre="let v = src[it + lid];"
    body="\n".join(f"a{i} = fma(a{i}, 1.0001, v);" for i in range(NA))
s=f"""
@group(0) @binding(0) var<storage, read_write> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> src4: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;
@compute @workgroup_size(64,1,1)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {{
 {decl}
 if lid > 999u {{ dst[0] = src[0] + src4[0].x; }}
 for (var it = 0u; it < {ITER}u; it++) {{ {pre}
 {body} }}
 dst[wg.x*64u+lid] = {'+'.join(f'a{i}' for i in range(NA))};
}}"""
G=256
b0=buf(np.ones(4096)); b1=buf(np.zeros(G*64))
b2=buf(np.ones(4096))
t,tc=run(s,[b0,b1,b2],(G,1,1))
fl=2*NA*ITER*G*64
print(f"{mode} NA{NA}: {t*1e3:.1f} ms {fl/t/1e9:.1f} GFLOP/s")
