import sys; from v1 import *
C,CO,S,TM,BN=16,16,40,8,8
mode=sys.argv[1]
src,grid=gen(C,CO,S,TM,BN)
import re
if mode=="nowload":
    src=re.sub(r"wt\[wb\d / 4u \+ (\d)u\]", r"vec4<f32>(f32(ci), 1.0, 2.0, f32(kd))", src)
if mode=="nosrcload":
    src=re.sub(r"select\(0.0, src\[u32\(select\(0, p \+ (\d+), ok && okw\d+\)\)\], ok && okw\d+\)", r"f32(p + \1)", src)
if mode=="plainsrc":
    src=re.sub(r"select\(0.0, src\[u32\(select\(0, p \+ (\d+), ok && okw\d+\)\)\], ok && okw\d+\)", r"src[u32(p + \1)]", src)
if mode=="scalarw":
    src=src.replace("var<storage, read_write> wt: array<vec4<f32>>","var<storage, read_write> wt: array<f32>")
    src=re.sub(r"let w(\d)q(\d) = wt\[wb\d / 4u \+ \du\];", lambda m: f"let w{m[1]}q{m[2]} = vec4<f32>(wt[wb{m[1]} + {4*int(m[2])}u], wt[wb{m[1]} + {4*int(m[2])+1}u], wt[wb{m[1]} + {4*int(m[2])+2}u], wt[wb{m[1]} + {4*int(m[2])+3}u]);", src)
    src=src.replace("wt[0].x","wt[0]")
if mode=="shared":
    n=27*C*8//4
    src=re.sub(r"wt\[wb(\d) / 4u \+ (\d)u\]", r"wsh[(wb\1 - co0) / 2u / 4u + \2u]", src)  # wb-co0 = (tap*CI+ci)*COP ; per wg keep 8 channels -> index (tap*CI+ci)*8/4
    src=src.replace("@compute", f"var<workgroup> wsh: array<vec4<f32>, {n}>;\n@compute")
    src=src.replace("  let co0 = wg.y * 8u;", f"  let co0 = wg.y * 8u;\n  for (var i = lid; i < {n}u; i += 64u) {{ wsh[i] = wt[(i / 2u) * 4u + co0 / 4u + (i % 2u)]; }}\n  workgroupBarrier();")

src=src.replace("if live {", "if lid > 999u { dst[0] = src[0] + f32(arrayLength(&wt)); }\n  if live {")
bx,bw,by=buf(np.zeros(C*S**3+1000)),buf(np.zeros(27*C*CO)),buf(np.zeros(CO*S**3))
t,tc=run(src,[bx,bw,by],grid)
print(mode, f"{t*1e3:.1f} ms {2*S**3*C*CO*27/t/1e9:.1f} GFLOP/s")
