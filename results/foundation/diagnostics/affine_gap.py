"""Target-val gap diagnostic of BENCHMARKS.md ("Why the PLs carry no information beyond the base"): base PSNR,
best per-image per-channel affine colour map, base applied twice. Ran at commit 0ddb32a (debian pool, cpu scale):
    python results/foundation/diagnostics/affine_gap.py 0
Ad-hoc analysis script, not part of the package or its tests.
"""
import sys, numpy as np, torch
from qtbench.config.compose import compose_run
from qtbench import registry
from qtbench.engine.base_stage import get_base_model
from qtbench.engine.build import build_backbone
from qtbench.eval.evaluate import restore
torch.set_num_threads(1)
seed=int(sys.argv[1]); extra=sys.argv[2:]
cfg=compose_run("mt","dehaze",seed,"cpu",["task.data.pool=debian","runtime.progress=false"]+extra)
task=registry.tasks.get("dehaze").obj(cfg.task); data=task.build(seed, progress=False)
st,info=get_base_model(cfg,data.train,torch.device("cpu"),False); print(info["cached"])
m=build_backbone(cfg.backbone); m.load_state_dict(st); m.eval()
val=data.evaluation.val
def psnr(a,b): return 10*np.log10(1/np.mean((a-b)**2))
outs=restore(m,val.inputs,None,torch.device("cpu"))
outs2=restore(m,[ (o*255).round().astype(np.uint8) if o.dtype!=np.uint8 else o for o in outs],None,torch.device("cpu"))
r={"in":[], "base":[], "aff":[], "iter2":[], "mean_err":[]}
for i in range(len(val)):
    gt=val.target(i).astype(np.float32)/255; x=val.inputs[i].astype(np.float32)/255
    o=outs[i].astype(np.float32); o=o/255 if o.max()>1.5 else o
    o2=outs2[i].astype(np.float32); o2=o2/255 if o2.max()>1.5 else o2
    r["in"].append(psnr(x,gt)); r["base"].append(psnr(o,gt)); r["iter2"].append(psnr(o2,gt))
    fit=np.zeros_like(o)
    for c in range(3):
        X=np.stack([o[...,c].ravel(),np.ones(o[...,c].size)],1); w=np.linalg.lstsq(X,gt[...,c].ravel(),rcond=None)[0]; fit[...,c]=(X@w).reshape(o.shape[:2])
    r["aff"].append(psnr(np.clip(fit,0,1),gt)); r["mean_err"].append(float((o-gt).mean()))
for k,v in r.items(): print(k, round(float(np.mean(v)),3))
