import assert from 'node:assert/strict';
import { readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';
import { gpuWorkerErrors, podContainers } from './gpu-rules.ts';
import { loadYamlFile, render, renderWithComponent, schemaErrors, unknownFieldErrors, type Located } from './k8s-validate.ts';

// Every manifest under k8s/, and every overlay as kubectl renders it, checked
// against the Kubernetes API schema (test/deploy/k8s-validate.ts) and the GPU
// rules the schema cannot express (test/deploy/gpu-rules.ts).
const root = new URL('../../', import.meta.url).pathname;
const k8s = join(root, 'k8s');
const overlays = readdirSync(join(k8s, 'overlays')).map((o) => join(k8s, 'overlays', o));
const components = readdirSync(join(k8s, 'components')).map((c) => join(k8s, 'components', c));

function yamlFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? yamlFiles(p) : n.endsWith('.yaml') ? [p] : [];
  });
}

/** What the kustomizations name: their resources (whole objects) and their patch files (partial ones). */
function kustomizationFiles() {
  const resources = new Set<string>();
  const patches = new Set<string>();
  const kustomizations = yamlFiles(k8s).filter((f) => f.endsWith('/kustomization.yaml'));
  for (const f of kustomizations) {
    const k = loadYamlFile(f)[0]!.obj as { resources?: string[]; patches?: { path?: string }[] };
    for (const r of k.resources ?? []) if (r.endsWith('.yaml')) resources.add(resolve(dirname(f), r));
    for (const p of k.patches ?? []) if (p.path) patches.add(resolve(dirname(f), p.path));
  }
  return { kustomizations, resources, patches };
}

/** All three checks; the TypeScript one compiles once for every object given (seconds), so callers batch. */
async function allErrors(objects: Located[]): Promise<string[]> {
  return [...(await schemaErrors(objects)), ...unknownFieldErrors(objects), ...gpuWorkerErrors(objects)];
}

const kindsOf = (objects: Located[]) => objects.map((l) => `${l.obj.kind}/${l.obj.metadata?.name}`).sort();

test('every YAML file under k8s/ is a kustomization, or a resource or patch one of them names (so none escapes the checks)', () => {
  const { kustomizations, resources, patches } = kustomizationFiles();
  const named = new Set([...kustomizations, ...resources, ...patches]);
  const orphans = yamlFiles(k8s).filter((f) => !named.has(f)).map((f) => relative(root, f));
  assert.deepEqual(orphans, []);
  for (const f of [...resources, ...patches]) assert.ok(statSync(f).isFile(), `${relative(root, f)} is named but missing`);
});

test('every manifest file conforms to the Kubernetes API schema, with no field the API does not know', async () => {
  const objects = [...kustomizationFiles().resources].flatMap(loadYamlFile);
  assert.ok(objects.length >= 10, `only ${objects.length} objects found`);
  assert.deepEqual(await allErrors(objects), []);
});

test('the base and every overlay render and conform; each with every component turned on too', async () => {
  assert.deepEqual(overlays.map((o) => relative(k8s, o)).sort(), ['overlays/cpu', 'overlays/gpu-per-node', 'overlays/gpu-per-pod']);
  const rendered = [join(k8s, 'base'), ...overlays].flatMap((dir) => [render(dir), ...components.map((c) => renderWithComponent(dir, c))]);
  for (const objects of rendered) assert.ok(objects.length >= 9, objects[0]?.where);
  assert.deepEqual(await allErrors(rendered.flat()), []);
});

test('overlays: the workers each layout promises, images pointed at the registry, storage class set', () => {
  const workers = (dir: string) => {
    const objects = render(join(k8s, 'overlays', dir));
    for (const { obj, where } of objects) {
      if (obj.kind === 'PersistentVolumeClaim') assert.equal((obj.spec as { storageClassName?: string }).storageClassName, 'nfs-client', where);
    }
    for (const { c, where } of podContainers(objects).filter(({ c }) => c.name !== 'redis')) assert.match(c.image ?? '', /^registry\.example\.com\/gradpool(-cuda)?:0\.1\.0$/, where);
    return { objects, containers: podContainers(objects).filter(({ c }) => c.name.startsWith('worker')) };
  };
  const perPod = workers('gpu-per-pod');
  assert.equal(perPod.containers.length, 1);
  assert.equal(perPod.containers[0]!.c.resources?.limits?.['nvidia.com/gpu'], 1);
  const perNode = workers('gpu-per-node');
  assert.ok(kindsOf(perNode.objects).includes('StatefulSet/gradpool-node-worker'));
  assert.ok(!kindsOf(perNode.objects).includes('StatefulSet/gradpool-worker'), 'the pod-per-GPU workers are replaced, not added to');
  assert.equal(perNode.containers[0]!.c.resources?.limits?.['nvidia.com/gpu'], 8);
  const cpu = workers('cpu');
  assert.equal(cpu.containers[0]!.c.resources?.limits?.['nvidia.com/gpu'], undefined);
  assert.equal(cpu.containers[0]!.c.image, 'registry.example.com/gradpool:0.1.0');
  assert.ok(!(cpu.containers[0]!.c.env ?? []).some((e) => e.name === 'GRADPOOL_GPU'));
});

test('every overlay probes the coordinator on /healthz at the metrics port, and every worker serves /metrics on its own port, from outside the pod', () => {
  for (const overlay of overlays) {
    const coordinator = podContainers(render(overlay)).find(({ c }) => c.name === 'coordinator')!;
    const c = coordinator.c as typeof coordinator.c & Record<string, any>;
    const env = Object.fromEntries((c.env ?? []).map((e) => [e.name, e.value]));
    assert.equal(env.GRADPOOL_METRICS_HOST, '0.0.0.0', coordinator.where);
    const port = c.ports?.find((p: { name?: string }) => p.name === 'metrics')?.containerPort;
    assert.equal(String(port), env.GRADPOOL_METRICS_PORT, coordinator.where);
    for (const probe of [c.readinessProbe, c.livenessProbe]) assert.deepEqual(probe?.httpGet, { path: '/healthz', port: 'metrics' }, coordinator.where);
    // Workers: worker i of a pod serves on 9465 + i, on the pod network, one declared port each.
    for (const { c: w, where } of podContainers(render(overlay)).filter(({ c }) => c.name.startsWith('worker'))) {
      const wenv = Object.fromEntries((w.env ?? []).map((e) => [e.name, e.value]));
      assert.equal(wenv.GRADPOOL_METRICS_HOST, '0.0.0.0', where);
      const perPod = Number(wenv.GRADPOOL_WORKERS ?? 1);
      const ports = ((w as Record<string, any>).ports ?? []).map((p: { containerPort: number }) => p.containerPort).sort((a: number, b: number) => a - b);
      assert.deepEqual(ports, Array.from({ length: perPod }, (_, i) => 9465 + i), where);
    }
  }
});

test('broken manifests fail, each with the field path named', async () => {
  const good = render(join(k8s, 'overlays', 'gpu-per-pod'));
  const breakOne = (kind: string, mutate: (o: Record<string, any>) => void): Located[] =>
    good.map((l) => {
      if (l.obj.kind !== kind) return l;
      const obj = structuredClone(l.obj) as Record<string, any>;
      mutate(obj);
      return { obj, where: l.where };
    });
  const cases: [string, Located[], RegExp][] = [
    ['replicas as text', breakOne('StatefulSet', (o) => (o.spec.replicas = 'eight')), /spec\/replicas must be integer/],
    ['no containers', breakOne('Deployment', (o) => delete o.spec.template.spec.containers), /spec\/template\/spec must have required property containers/],
    ['misspelt field', breakOne('StatefulSet', (o) => (o.spec.template.spec.containers[0].imagePullPolicyy = 'Always')), /at spec\.template\.spec\.containers\.imagePullPolicyy: .*does not exist in type 'IContainer'/],
    ['unknown kind', breakOne('PodDisruptionBudget', (o) => (o.kind = 'PodDisruptionBudgett')), /unknown kind PodDisruptionBudgett in policy\/v1/],
    ['unknown apiVersion', breakOne('Deployment', (o) => (o.apiVersion = 'apps/v2')), /unknown apiVersion apps\/v2/],
    ['enum', breakOne('Deployment', (o) => (o.spec.strategy.type = 'Sometimes')), /strategy\/type must be equal to one of the allowed values/],
    ['GPU worker without the GPU', breakOne('StatefulSet', (o) => delete o.spec.template.spec.containers[0].resources.limits['nvidia.com/gpu']), /a GPU worker needs resources.limits\["nvidia.com\/gpu"\] >= 1/],
  ];
  const tagged = cases.map(([name, objects]) => objects.map((l) => ({ ...l, where: `[${name}] ${l.where}` })));
  const errors = await allErrors(tagged.flat());
  for (const [name, , expected] of cases) {
    const own = errors.filter((e) => e.startsWith(`[${name}] `));
    assert.ok(own.some((e) => expected.test(e)), `${name}: ${JSON.stringify(own)}`);
  }
});
