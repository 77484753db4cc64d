# v1 with weights fetched through the subgroup: lane l loads one weight, subgroupBroadcast hands it to all lanes.
import numpy as np, sys
from harness import *
from v1 import reference
def gen(C,CO,D,TM,BN,WG=64,SG=8):
    S=D
    decl="\n".join(f"var a{i}_{j}: f32 = 0.0;" for i in range(TM) for j in range(BN))
    body=[]
    for e in range(TM+2):
        body.append(f"let v{e} = select(0.0, src[u32(select(0, p + {e}, ok && okw{e}))], ok && okw{e});")
    nw=3*BN  # weights per ci: [kw][BN] contiguous in packing [ctile][kd][kh][ci][kw][BN]
    for g in range((nw+SG-1)//SG):
        body.append(f"let m{g} = wt[wbase + ci * {nw}u + {g*SG}u + sl];")
    for kw in range(3):
        for j in range(BN):
            idx=kw*BN+j
            body.append(f"let w{kw}_{j} = subgroupBroadcast(m{idx//SG}, {idx%SG}u);")
        for i in range(TM):
            for j in range(BN):
                body.append(f"a{i}_{j} = fma(v{i+kw}, w{kw}_{j}, a{i}_{j});")
    okw="\n".join(f"let okw{e} = w0 - 1 + {e} >= 0 && w0 - 1 + {e} < {S};" for e in range(TM+2))
    store=[]
    for i in range(TM):
        for j in range(BN):
            store.append(f"if u32(w0) + {i}u < {S}u && co0 + {j}u < CO {{ dst[((co0+{j}u)*{S}u + d)*{S*S}u + h*{S}u + u32(w0) + {i}u] = a{i}_{j}; }}")
    nseg=(S+TM-1)//TM
    return f"""

@group(0) @binding(0) var<storage, read_write> src: array<f32>;
@group(0) @binding(1) var<storage, read_write> wt: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;
const CI: u32 = {C}u; const CO: u32 = {CO}u;
const SV: u32 = {S**3}u;
@compute @workgroup_size({WG},1,1)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32, @builtin(subgroup_invocation_id) sl: u32) {{
  let row = wg.x * {WG}u + lid;
  let live = row < {S*S*nseg}u;
  let rr = select(0u, row, live);
  let seg = rr % {nseg}u; let h = (rr / {nseg}u) % {S}u; let d = rr / {nseg*S}u;
  let w0 = i32(seg * {TM}u);
  let co0 = wg.y * {BN}u;
  {decl}
  {okw}
  for (var kd = 0u; kd < 3u; kd++) {{
    let sd = i32(d) - 1 + i32(kd);
    for (var kh = 0u; kh < 3u; kh++) {{
      let sh = i32(h) - 1 + i32(kh);
      let ok = live && sd >= 0 && sd < {S} && sh >= 0 && sh < {S};
      let wbase = ((wg.y * 3u + kd) * 3u + kh) * CI * {nw}u;
      let base = (sd * {S} + sh) * {S} + w0 - 1;
      for (var ci = 0u; ci < CI; ci++) {{
        let p = base + i32(ci * SV);
        {chr(10).join(body)}
      }}
    }}
  }}
  if live {{ {chr(10).join(store)} }}
}}
""", ((S*S*nseg+WG-1)//WG, (CO+BN-1)//BN, 1)
def pack(w,BN):  # -> [ctile][kd][kh][ci][kw][BN]
    CO,C=w.shape[:2]; T=(CO+BN-1)//BN
    p=np.zeros((T,3,3,C,3,BN),np.float32)
    for t in range(T):
        for j in range(BN):
            co=t*BN+j
            if co<CO: p[t,:,:,:,:,j]=w[co].transpose(1,2,0,3)
    return p
if __name__=="__main__":
    C,CO,S=[int(a) for a in sys.argv[1:4]]; TM,BN=int(sys.argv[4]),int(sys.argv[5])
    rng=np.random.default_rng(0)
    x=rng.standard_normal((C,S,S,S)).astype(np.float32); w=rng.standard_normal((CO,C,3,3,3)).astype(np.float32)
    src,grid=gen(C,CO,S,TM,BN)
    bx,bw,by=buf(x.ravel()),buf(np.concatenate([pack(w,BN).ravel(),np.zeros(64)])),buf(np.zeros(CO*S**3))
    t,tc=run(src,[bx,bw,by],grid)
    y=np.frombuffer(dev.queue.read_buffer(by),np.float32).reshape(CO,S,S,S)
    err=np.abs(y-reference(x,w)).max()
    fl=2*S**3*C*CO*27
    print(f"v4 C{C}->{CO}@{S} TM{TM} BN{BN}: {t*1e3:.1f} ms {fl/t/1e9:.1f} GFLOP/s compile {tc:.1f}s err {err:.1e}")
