// Stage 1: what this machine is (GPU, driver, torch, CUDA, NCCL wheels, Node)
// and the environment later stages run with.
import { dirname } from 'node:path';
import { findFile, lastJson, nvidiaWheels, run, torchPython, ROOT } from './lib.mjs';

const TORCH_INFO = `
import json, torch
info = {"torch": torch.__version__, "cuda": torch.version.cuda, "available": torch.cuda.is_available()}
if info["available"]:
    info["device"] = torch.cuda.get_device_name(0)
    try:
        info["nccl"] = ".".join(map(str, torch.cuda.nccl.version()))
    except Exception as e:
        info["nccl"] = None
try:
    import transformers
    info["transformers"] = transformers.__version__
except Exception:
    info["transformers"] = None
print(json.dumps(info))
`;

export const envStage = {
  name: 'env',
  timeoutS: 60,
  async run(ctx) {
    const out = { status: 'ok', node: process.version };
    if (!ctx.dryRun) {
      const smi = await run('nvidia-smi', ['--query-gpu=name,memory.total,driver_version,pci.bus_id', '--format=csv,noheader'], { timeoutMs: 20_000 });
      out.gpus = smi.stdout.trim().split('\n').filter(Boolean);
    }
    const py = torchPython();
    if (!py) return { status: 'failed', error: 'no Python with torch (set GRADPOOL_TORCH_PYTHON)' };
    out.python = py;
    const info = lastJson((await run(py, ['-c', TORCH_INFO], { timeoutMs: 40_000, log: ctx.log })).stdout);
    out.torch = info;
    ctx.env.GRADPOOL_TORCH_PYTHON = py;
    ctx.env.OMP_WAIT_POLICY = 'PASSIVE';
    if (ctx.dryRun) {
      const b = await run(process.execPath, ['native/standin/build.mjs'], { timeoutMs: 120_000, log: ctx.log });
      if (b.code !== 0) return { ...out, status: 'failed', error: 'building the stand-ins failed' };
      ctx.env.GRADPOOL_CUDART_LIB = `${ROOT}native/standin/build/libcudart.so.13`;
      ctx.env.GRADPOOL_NCCL_LIB = `${ROOT}native/standin/build/libnccl.so.2`;
      return out;
    }
    if (!info?.available) return { ...out, status: 'failed', error: `torch ${info?.torch} sees no CUDA device (torch.cuda.is_available() is False)` };
    // NCCL and the CUDA runtime from the NVIDIA wheels torch depends on.
    const wheels = nvidiaWheels(py);
    const nccl = findFile(wheels, 'libnccl.so.2');
    const cudart = findFile(wheels, 'libcudart.so.13') ?? findFile(wheels, 'libcudart.so.12');
    const ncclHeader = findFile(wheels, 'nccl.h');
    const cudaHeader = findFile(wheels, 'cuda_runtime_api.h');
    if (nccl) ctx.env.GRADPOOL_NCCL_LIB = nccl;
    if (cudart) ctx.env.GRADPOOL_CUDART_LIB = cudart;
    if (ncclHeader) ctx.env.NCCL_INCLUDE_DIR = dirname(ncclHeader);
    if (cudaHeader) ctx.cudaHome = dirname(dirname(cudaHeader));
    out.libraries = { nccl: nccl ?? null, cudart: cudart ?? null, ncclHeader: ncclHeader ?? null, cudaHeader: cudaHeader ?? null };
    if (!nccl) return { ...out, status: 'failed', error: `no libnccl.so.2 under ${wheels ?? 'site-packages/nvidia'} (pip install nvidia-nccl-cu13)` };
    return out;
  },
};
