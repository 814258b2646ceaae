import type { Located } from './k8s-validate.ts';

interface Container {
  name: string;
  image?: string;
  env?: { name: string; value?: string }[];
  resources?: { limits?: Record<string, unknown>; requests?: Record<string, unknown> };
  livenessProbe?: { exec?: { command?: string[] } };
}

/** The containers of every workload's pod template, with where they are. */
export function podContainers(objects: Located[]): { c: Container; where: string }[] {
  return objects.flatMap(({ obj, where }) => {
    const spec = (obj.spec as { template?: { spec?: { containers?: Container[] } } } | undefined)?.template?.spec;
    return (spec?.containers ?? []).map((c) => ({ c, where: `${where} (${obj.kind} ${obj.metadata?.name}, container ${c.name})` }));
  });
}

/**
 * What the schema cannot say about GPU workers: a container on the GPU image,
 * or one told it owns a GPU (GRADPOOL_GPU, a probe counting GPU workers),
 * has nvidia.com/gpu in its limits as a positive whole number (requests, if
 * given, equal: the API requires it for extended resources); where a pod runs
 * GRADPOOL_WORKERS workers, that is its GPU count and its probe's --expect.
 */
export function gpuWorkerErrors(objects: Located[]): string[] {
  const errors: string[] = [];
  for (const { c, where } of podContainers(objects)) {
    const env = new Map((c.env ?? []).map((e) => [e.name, e.value]));
    const probe = c.livenessProbe?.exec?.command ?? [];
    const wantsGpu = /gradpool-cuda/.test(c.image ?? '') || env.has('GRADPOOL_GPU') || probe.includes('--gpu');
    const limit = c.resources?.limits?.['nvidia.com/gpu'];
    const request = c.resources?.requests?.['nvidia.com/gpu'];
    if (!wantsGpu) {
      if (limit !== undefined) errors.push(`${where}: nvidia.com/gpu in limits, but it neither runs the GPU image nor owns a GPU`);
      continue;
    }
    const gpus = Number(limit);
    if (limit === undefined || !Number.isInteger(gpus) || gpus < 1) {
      errors.push(`${where}: a GPU worker needs resources.limits["nvidia.com/gpu"] >= 1 (got ${JSON.stringify(limit)})`);
      continue;
    }
    if (request !== undefined && Number(request) !== gpus) errors.push(`${where}: nvidia.com/gpu request ${request} differs from the limit ${gpus}`);
    const workers = env.get('GRADPOOL_WORKERS');
    if (workers !== undefined && Number(workers) !== gpus) errors.push(`${where}: GRADPOOL_WORKERS=${workers} but the pod holds ${gpus} GPU(s)`);
    const expectAt = probe.indexOf('--expect');
    if (expectAt >= 0 && Number(probe[expectAt + 1]) !== gpus) errors.push(`${where}: the liveness probe expects ${probe[expectAt + 1]} worker(s) but the pod holds ${gpus} GPU(s)`);
  }
  return errors;
}
