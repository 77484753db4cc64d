# x pre-padded (zero halo, W padded to multiple of 4), vec4 loads of x along W and of weights along co.
import sys; from v1 import reference, pack; from harness import *
import numpy as np
def gen(C,CO,S,TV,BN,CU,WG=64):
    TM=4*TV; P=1
    Dp=S+2; Wp=((S+2+3)//4)*4 + 4  # extra vec4 so window reads stay in row
    Wv=Wp//4
    decl="\n".join(f"var a{i}_{j}: f32 = 0.0;" for i in range(TM) for j in range(BN))
    body=[]
    for c in range(CU):
        for e in range(TV+1):
            body.append(f"let x{c}_{e} = src[p + {e}u + {c*Dp*Dp*Wv}u];")
        for kw in range(3):
            for q in range((BN+3)//4):
                body.append(f"let w{c}_{kw}q{q} = wt[(((tap + {kw}u) * CI + ci + {c}u) * COP + co0) / 4u + {q}u];")
    for i in range(TM):
        for j in range(BN):
            terms=[]
            for c in range(CU):
                for kw in range(3):
                    e=i+kw
                    terms.append(f"x{c}_{e//4}.{'xyzw'[e%4]} * w{c}_{kw}q{j//4}.{'xyzw'[j%4]}")
            body.append(f"a{i}_{j} = a{i}_{j} + ({' + '.join(terms)});")
    store=[]
    for i in range(TM):
        for j in range(BN):
            store.append(f"if w0 + {i}u < {S}u && co0 + {j}u < CO {{ dst[((co0+{j}u)*{S}u + d)*{S*S}u + h*{S}u + w0 + {i}u] = a{i}_{j}; }}")
    nseg=(S+TM-1)//TM
    return f"""
@group(0) @binding(0) var<storage, read_write> src: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> wt: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;
const CI: u32 = {C}u; const CO: u32 = {CO}u; const COP: u32 = {(CO+3)//4*4}u;
@compute @workgroup_size({WG},1,1)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {{
  let row = wg.x * {WG}u + lid;
  let live = row < {S*S*nseg}u;
  let rr = select(0u, row, live);
  let seg = rr % {nseg}u; let h = (rr / {nseg}u) % {S}u; let d = rr / {nseg*S}u;
  let w0 = seg * {TM}u;
  let co0 = wg.y * {BN}u;
  {decl}
  for (var kd = 0u; kd < 3u; kd++) {{
    for (var kh = 0u; kh < 3u; kh++) {{
      let tap = (kd*3u+kh)*3u;
      let base = ((d + kd) * {Dp}u + h + kh) * {Wv}u + seg * {TV}u;
      for (var ci = 0u; ci < CI; ci += {CU}u) {{
        let p = base + ci * {Dp*Dp*Wv}u;
        {chr(10).join(body)}
      }}
    }}
  }}
  if live {{ {chr(10).join(store)} }}
}}
""", ((S*S*nseg+WG-1)//WG, (CO+BN-1)//BN, 1), (Dp,Wp)
if __name__=="__main__":
    C,CO,S,TV,BN,CU=[int(a) for a in sys.argv[1:7]]; WG=int(sys.argv[7]) if len(sys.argv)>7 else 64
    rng=np.random.default_rng(0)
    x=rng.standard_normal((C,S,S,S)).astype(np.float32); w=rng.standard_normal((CO,C,3,3,3)).astype(np.float32)
    src,grid,(Dp,Wp)=gen(C,CO,S,TV,BN,CU,WG)
    xp=np.zeros((C,Dp,Dp,Wp),np.float32); xp[:,1:S+1,1:S+1,1:S+1]=x
    bx,bw,by=buf(xp.ravel()),buf(pack(w).ravel()),buf(np.zeros(CO*S**3))
    t,tc=run(src,[bx,bw,by],grid)
    y=np.frombuffer(dev.queue.read_buffer(by),np.float32).reshape(CO,S,S,S)
    err=np.abs(y-reference(x,w)).max()
    fl=2*S**3*C*CO*27
    print(f"v3 C{C}->{CO}@{S} TM{4*TV} BN{BN} CU{CU} WG{WG}: {t*1e3:.1f} ms {fl/t/1e9:.1f} GFLOP/s compile {tc:.1f}s err {err:.1e}")
