import wgpu, numpy as np, time, sys
adapter = wgpu.gpu.request_adapter_sync(power_preference="high-performance")
dev = adapter.request_device_sync(required_features=["subgroup"], required_limits={k: adapter.limits[k] for k in ["max-storage-buffer-binding-size","max-buffer-size","max-compute-workgroup-storage-size","max-compute-invocations-per-workgroup"]})
def buf(arr):
    return dev.create_buffer_with_data(data=arr.astype(np.float32).tobytes(), usage=wgpu.BufferUsage.STORAGE|wgpu.BufferUsage.COPY_SRC)
def run(src, bufs, grid, reps=5, label=""):
    t0=time.time()
    sm = dev.create_shader_module(code=src)
    pl = dev.create_compute_pipeline(layout="auto", compute={"module": sm, "entry_point": "main"})
    bg = dev.create_bind_group(layout=pl.get_bind_group_layout(0), entries=[{"binding": i, "resource": {"buffer": b}} for i,b in enumerate(bufs)])
    def once():
        enc = dev.create_command_encoder(); p = enc.begin_compute_pass(); p.set_pipeline(pl); p.set_bind_group(0, bg); p.dispatch_workgroups(*grid); p.end(); dev.queue.submit([enc.finish()])
        dev.queue.read_buffer(bufs[-1], 0, 4)
    once(); tc=time.time()-t0
    ts=[]
    for _ in range(reps):
        t=time.time(); once(); ts.append(time.time()-t)
    return np.median(ts), tc
