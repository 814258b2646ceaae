import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import ts from 'typescript';
import { parseAllDocuments } from 'yaml';

/**
 * Checks Kubernetes objects against the API's own schema, from two kept
 * libraries and no field list of ours:
 *  - kubernetes-models (generated from the Kubernetes OpenAPI spec): apiVersion
 *    and kind known, required fields present, types, enums and formats;
 *  - the same package's type declarations through the TypeScript compiler:
 *    fields the API does not know (what `kubectl apply --validate=strict` and
 *    the API server reject; the JSON schema alone lets them through).
 */
export interface K8sObject {
  apiVersion?: string;
  kind?: string;
  metadata?: { name?: string; namespace?: string };
  [field: string]: unknown;
}

/** An object and where it came from ("k8s/base/redis.yaml#1", "kustomize k8s/overlays/cpu#5"). */
export interface Located {
  obj: K8sObject;
  where: string;
}

const root = new URL('../../', import.meta.url).pathname;

/** Scratch folders go under the repository's ignored tmp/, where kubernetes-models and the overlays resolve. */
function scratch(tag: string): string {
  mkdirSync(join(root, 'tmp'), { recursive: true });
  return mkdtempSync(join(root, 'tmp', `${tag}-`));
}

export function loadYamlFile(path: string): Located[] {
  const docs = parseAllDocuments(readFileSync(path, 'utf8'));
  return docs
    .map((d, i) => {
      if (d.errors.length) throw new Error(`${relative(root, path)}#${i}: ${d.errors[0]!.message}`);
      return { obj: d.toJS() as K8sObject, where: `${relative(root, path)}#${i}` };
    })
    .filter((l) => l.obj !== null);
}

/** `kubectl kustomize DIR` (kustomize is built into kubectl; it works offline). */
export function render(dir: string): Located[] {
  const out = execFileSync('kubectl', ['kustomize', dir], { encoding: 'utf8', timeout: 60_000, stdio: ['ignore', 'pipe', 'pipe'] });
  return parseAllDocuments(out).map((d, i) => ({ obj: d.toJS() as K8sObject, where: `kustomize ${relative(root, dir) || dir}#${i}` }));
}

/** Renders an overlay with a component added on top, as an operator turning the component on would. */
export function renderWithComponent(overlay: string, component: string): Located[] {
  const dir = scratch('kustomize');
  try {
    writeFileSync(
      join(dir, 'kustomization.yaml'),
      `apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [${relative(dir, overlay)}]\ncomponents: [${relative(dir, component)}]\n`,
    );
    return render(dir).map((l) => ({ ...l, where: l.where.replace(/kustomize [^#]*/, `kustomize ${relative(root, overlay)} + ${relative(root, component)}`) }));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The module of kubernetes-models that holds an apiVersion's kinds ("apps/v1" → kubernetes-models/apps/v1, "v1" → kubernetes-models/v1). */
function modelModule(apiVersion: string): string {
  return `kubernetes-models/${apiVersion}`;
}

/** Schema errors of each object, "where: message"; empty when all conform. */
export async function schemaErrors(objects: Located[]): Promise<string[]> {
  const errors: string[] = [];
  for (const { obj, where } of objects) {
    if (typeof obj?.apiVersion !== 'string' || typeof obj.kind !== 'string') {
      errors.push(`${where}: apiVersion and kind must be strings (got ${JSON.stringify(obj?.apiVersion)}, ${JSON.stringify(obj?.kind)})`);
      continue;
    }
    let models: Record<string, new (data: unknown) => { validate(): void }>;
    try {
      models = await import(modelModule(obj.apiVersion));
    } catch {
      errors.push(`${where}: unknown apiVersion ${obj.apiVersion}`);
      continue;
    }
    const Model = Object.hasOwn(models, obj.kind) ? models[obj.kind] : undefined;
    if (!Model || (Model as unknown as { kind?: string }).kind !== obj.kind) {
      errors.push(`${where}: unknown kind ${obj.kind} in ${obj.apiVersion}`);
      continue;
    }
    try {
      new Model(obj).validate();
    } catch (e) {
      errors.push(`${where} (${obj.kind} ${obj.metadata?.name ?? '?'}): ${(e as Error).message}`);
    }
  }
  return errors;
}

/**
 * Fields the API does not know, found by TypeScript's excess-property check:
 * each object becomes a literal typed with its kubernetes-models interface
 * (I<Kind>). Objects whose kind is unknown are left to schemaErrors.
 */
export function unknownFieldErrors(objects: Located[]): string[] {
  const typed = objects
    .map((l, i) => ({ ...l, i }))
    .filter(({ obj }) => typeof obj?.apiVersion === 'string' && typeof obj.kind === 'string' && /^[A-Za-z]+$/.test(obj.kind));
  let text = typed.map(({ obj, i }) => `import type { I${obj.kind} as T${i} } from '${modelModule(obj.apiVersion!)}/${obj.kind}';`).join('\n') + '\n';
  const starts: { line: number; where: string }[] = [];
  for (const { obj, i, where } of typed) {
    starts.push({ line: text.split('\n').length - 1, where });
    text += `export const o${i}: T${i} = ${JSON.stringify(obj, null, 1)};\n`;
  }
  const dir = scratch('k8s-fields');
  const file = join(dir, 'objects.ts');
  try {
    writeFileSync(file, text);
    const program = ts.createProgram([file], {
      noEmit: true,
      strict: true,
      skipLibCheck: true,
      types: [],
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.ESNext,
      moduleResolution: ts.ModuleResolutionKind.Bundler,
    });
    return ts.getPreEmitDiagnostics(program).map((d) => {
      const at = d.file && d.start !== undefined ? d.start : -1;
      const line = at >= 0 ? d.file!.getLineAndCharacterOfPosition(at).line : -1;
      const owner = starts.filter((x) => x.line <= line).pop();
      const path = at >= 0 ? jsonPathAt(d.file!.text, at) : '';
      return `${owner?.where ?? 'objects.ts'}${path ? ` at ${path}` : ''}: ${ts.flattenDiagnosticMessageText(d.messageText, ' ')}`;
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The path of keys ("spec.template.spec.containers.image") to the line of a position in a pretty-printed literal. */
function jsonPathAt(text: string, pos: number): string {
  const eol = text.indexOf('\n', pos);
  const before = text.slice(text.lastIndexOf('export const', pos), eol < 0 ? undefined : eol).split('\n');
  const path: { indent: number; key: string }[] = [];
  for (const line of before) {
    const m = /^(\s*)"([^"]+)":/.exec(line);
    if (!m) continue;
    const indent = m[1]!.length;
    while (path.length && path[path.length - 1]!.indent >= indent) path.pop();
    path.push({ indent, key: m[2]! });
  }
  return path.map((p) => p.key).join('.');
}
