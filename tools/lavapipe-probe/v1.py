# lanes = voxel segments along W; weights uniform (workgroup-wide co tile); TM voxels x BN channels per invocation
import numpy as np, sys
from harness import *
def gen(C,CO,D,TM,BN,WG=64, vec=True):
    S=D; K=3
    decl="\n".join(f"var a{i}_{j}: f32 = 0.0;" for i in range(TM) for j in range(BN))
    body=[]
    for e in range(TM+2):
        body.append(f"let v{e} = select(0.0, src[u32(select(0, p + {e}, ok && okw{e}))], ok && okw{e});")
    for kw in range(3):
        body.append(f"let wb{kw} = ((tap + {kw}u) * CI + ci) * COP + co0;")
        for q in range((BN+3)//4):
            body.append(f"let w{kw}q{q} = wt[wb{kw} / 4u + {q}u];")
        for i in range(TM):
            for j in range(BN):
                body.append(f"a{i}_{j} = fma(v{i+kw}, w{kw}q{j//4}.{'xyzw'[j%4]}, a{i}_{j});")
    okw="\n".join(f"let okw{e} = w0 - 1 + {e} >= 0 && w0 - 1 + {e} < {S};" for e in range(TM+2))
    store=[]
    for i in range(TM):
        for j in range(BN):
            store.append(f"if u32(w0) + {i}u < {S}u && co0 + {j}u < CO {{ dst[((co0+{j}u)*{S}u + d)*{S*S}u + h*{S}u + u32(w0) + {i}u] = a{i}_{j}; }}")
    nseg=(S+TM-1)//TM
    return f"""
@group(0) @binding(0) var<storage, read_write> src: array<f32>;
@group(0) @binding(1) var<storage, read_write> wt: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;
const CI: u32 = {C}u; const CO: u32 = {CO}u; const COP: u32 = {(CO+3)//4*4}u;
const SV: u32 = {S**3}u;
@compute @workgroup_size({WG},1,1)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {{
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
      let tap = (kd*3u+kh)*3u;
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

def reference(x,w):  # x [C,S,S,S], w [CO,C,3,3,3]
    C,S=x.shape[0],x.shape[1]
    xp=np.pad(x.astype(np.float64),((0,0),(1,1),(1,1),(1,1)))
    y=np.zeros((w.shape[0],S,S,S))
    for kd in range(3):
        for kh in range(3):
            for kw in range(3):
                y+=np.einsum('oc,cdhw->odhw',w[:,:,kd,kh,kw],xp[:,kd:kd+S,kh:kh+S,kw:kw+S])
    return y
def pack(w):  # -> [tap][ci][COP]
    CO,C=w.shape[:2]; COP=(CO+3)//4*4
    p=np.zeros((27,C,COP),np.float32)
    p[:,:,:CO]=w.reshape(CO,C,27).transpose(2,1,0)
    return p
if __name__=="__main__":
    C,CO,S=[int(a) for a in sys.argv[1:4]]; TM,BN=int(sys.argv[4]),int(sys.argv[5]); WG=int(sys.argv[6]) if len(sys.argv)>6 else 64
    rng=np.random.default_rng(0)
    x=rng.standard_normal((C,S,S,S)).astype(np.float32); w=rng.standard_normal((CO,C,3,3,3)).astype(np.float32)
    src,grid=gen(C,CO,S,TM,BN,WG)
    bx,bw,by=buf(x.ravel()),buf(pack(w).ravel()),buf(np.zeros(CO*S**3))
    t,tc=run(src,[bx,bw,by],grid)
    y=np.frombuffer(dev.queue.read_buffer(by),np.float32).reshape(CO,S,S,S)
    err=np.abs(y-reference(x,w)).max()
    fl=2*S**3*C*CO*27
    print(f"v1 C{C}->{CO}@{S} TM{TM} BN{BN} WG{WG}: {t*1e3:.1f} ms {fl/t/1e9:.1f} GFLOP/s compile {tc:.1f}s err {err:.1e}")
