"""Target-val check of BENCHMARKS.md: the base model as teacher at half / quarter resolution (output or residual
upsampled). Ran at commit 0ddb32a (debian pool, cpu scale):
    python results/foundation/diagnostics/scale_view.py 0
Ad-hoc analysis script, not part of the package or its tests.
"""
import sys, numpy as np, torch, cv2
from qtbench.config.compose import compose_run
from qtbench import registry
from qtbench.engine.base_stage import get_base_model
from qtbench.engine.build import build_backbone
torch.set_num_threads(1)
seed=int(sys.argv[1])
cfg=compose_run("mt","dehaze",seed,"cpu",["task.data.pool=debian","runtime.progress=false"])
data=registry.tasks.get("dehaze").obj(cfg.task).build(seed, progress=False)
st,_=get_base_model(cfg,data.train,torch.device("cpu"),False)
m=build_backbone(cfg.backbone); m.load_state_dict(st); m.eval()
val=data.evaluation.val
def run(x):
    with torch.no_grad():
        t=torch.from_numpy(x).permute(2,0,1)[None].float()
        h,w=t.shape[-2:]; ph=(-h)%8; pw=(-w)%8
        t=torch.nn.functional.pad(t,(0,pw,0,ph),mode="reflect")
        return m(t).clamp(0,1)[0,:,:h,:w].permute(1,2,0).numpy()
def psnr(a,b): return 10*np.log10(1/np.mean((a-b)**2))
r={}
for i in range(len(val)):
    gt=val.target(i).astype(np.float32)/255; x=val.inputs[i].astype(np.float32)/255
    H,W=x.shape[:2]
    r.setdefault("base",[]).append(psnr(run(x),gt))
    for s in (0.5,0.25):
        xs=cv2.resize(x,(int(W*s),int(H*s)),interpolation=cv2.INTER_AREA)
        o=run(xs); up=cv2.resize(o,(W,H),interpolation=cv2.INTER_CUBIC)
        res=cv2.resize(o-xs,(W,H),interpolation=cv2.INTER_CUBIC)
        r.setdefault(f"s{s}",[]).append(psnr(np.clip(up,0,1),gt))
        r.setdefault(f"s{s}res",[]).append(psnr(np.clip(x+res,0,1),gt))
for k,v in r.items(): print(k, round(float(np.mean(v)),3))
