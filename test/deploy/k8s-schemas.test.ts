// Every manifest under deploy/k8s against a schema: Kubernetes objects (and the overlays' patched results) against the
// API's OpenAPI schemas from kubernetes-models, the KServe InferenceService against the schema in fixtures/, and the
// kustomizations against kustomize's Kustomization fields.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Ajv } from 'ajv';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { Container } from 'kubernetes-models/v1/Container';
import { PersistentVolumeClaim } from 'kubernetes-models/v1/PersistentVolumeClaim';
import { PodSecurityContext } from 'kubernetes-models/v1/PodSecurityContext';
import { Service } from 'kubernetes-models/v1/Service';
import t from 'tap';
import { parse } from 'yaml';
import { filesUnder, type Obj, ROOT, yamlDocs } from './fixtures/deploy-files.js';

/** apiVersion/kind → a validator that throws with the failing path (kubernetes-models' generated JSON schemas). */
const K8S: Record<string, (o: Obj) => void> = {
  'apps/v1/Deployment': (o) => new Deployment(o as never).validate(),
  'v1/Service': (o) => new Service(o as never).validate(),
  'v1/PersistentVolumeClaim': (o) => new PersistentVolumeClaim(o as never).validate(),
  'autoscaling/v2/HorizontalPodAutoscaler': (o) => new HorizontalPodAutoscaler(o as never).validate(),
  'policy/v1/PodDisruptionBudget': (o) => new PodDisruptionBudget(o as never).validate(),
};

const kserveSchema = JSON.parse(
  readFileSync(join(ROOT, 'test/deploy/fixtures/kserve-inferenceservice.schema.json'), 'utf8'),
) as object;
const kserveAjv = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true });
const kserveValid = kserveAjv.compile(kserveSchema);

/** The InferenceService: KServe's fields, then its containers and pod security context as core/v1 objects. */
function validateInferenceService(o: Obj): void {
  if (!kserveValid(o)) throw new Error(kserveAjv.errorsText(kserveValid.errors));
  const predictor = (o['spec'] as Obj)['predictor'] as Obj;
  for (const c of predictor['containers'] as Obj[]) new Container(c as never).validate();
  if (predictor['securityContext']) new PodSecurityContext(predictor['securityContext'] as never).validate();
}

/** Kustomize's Kustomization (kustomize.config.k8s.io/v1beta1) top-level fields and the entries the files use. */
const KUSTOMIZATION_FIELDS = new Set([
  'apiVersion',
  'kind',
  'metadata',
  'resources',
  'components',
  'crds',
  'namespace',
  'namePrefix',
  'nameSuffix',
  'labels',
  'commonLabels',
  'commonAnnotations',
  'images',
  'replicas',
  'patches',
  'patchesStrategicMerge',
  'patchesJson6902',
  'replacements',
  'vars',
  'configMapGenerator',
  'secretGenerator',
  'generatorOptions',
  'generators',
  'transformers',
  'validators',
  'configurations',
  'openapi',
  'helmCharts',
  'helmGlobals',
  'buildMetadata',
  'sortOptions',
]);
const IMAGE_FIELDS = new Set(['name', 'newName', 'newTag', 'digest']);
const PATCH_FIELDS = new Set(['path', 'patch', 'target', 'options']);
const TARGET_FIELDS = new Set(['group', 'version', 'kind', 'name', 'namespace', 'labelSelector', 'annotationSelector']);

function validateKustomization(o: Obj, file: string): string[] {
  const errors: string[] = [];
  const unknown = (what: string, v: unknown, known: Set<string>) => {
    for (const k of Object.keys(v as Obj)) if (!known.has(k)) errors.push(`${what}: unknown field ${k}`);
  };
  unknown('Kustomization', o, KUSTOMIZATION_FIELDS);
  if (o['apiVersion'] !== 'kustomize.config.k8s.io/v1beta1') errors.push(`apiVersion ${String(o['apiVersion'])}`);
  for (const r of (o['resources'] as string[] | undefined) ?? []) {
    if (typeof r !== 'string') errors.push('resources: not a string');
    else if (!existsSync(join(ROOT, dirname(file), r))) errors.push(`resources: ${r} does not exist`);
  }
  for (const i of (o['images'] as Obj[] | undefined) ?? []) unknown('images[]', i, IMAGE_FIELDS);
  for (const p of (o['patches'] as Obj[] | undefined) ?? []) {
    unknown('patches[]', p, PATCH_FIELDS);
    if ('path' in p === 'patch' in p) errors.push('patches[]: exactly one of path and patch');
    if (p['target']) unknown('patches[].target', p['target'], TARGET_FIELDS);
  }
  return errors;
}

/** A strategic-merge patch as kustomize applies these files: maps merge, lists of named items merge by name. */
function strategicMerge(base: unknown, patch: unknown): unknown {
  if (Array.isArray(base) && Array.isArray(patch)) {
    const named = (l: unknown[]) => l.every((x) => x !== null && typeof x === 'object' && 'name' in (x as Obj));
    if (!named(base) || !named(patch)) return patch;
    const out = base.map((b) => {
      const p = patch.find((x) => (x as Obj)['name'] === (b as Obj)['name']);
      return p === undefined ? b : strategicMerge(b, p);
    });
    for (const p of patch) if (!base.some((b) => (b as Obj)['name'] === (p as Obj)['name'])) out.push(p);
    return out;
  }
  if (base && patch && typeof base === 'object' && typeof patch === 'object' && !Array.isArray(patch)) {
    const out: Obj = { ...(base as Obj) };
    for (const [k, v] of Object.entries(patch as Obj)) out[k] = k in out ? strategicMerge(out[k], v) : v;
    return out;
  }
  return patch;
}

/** The JSON 6902 ops these overlays use (add, with `-` for appending, and replace). */
function jsonPatch(doc: Obj, ops: { op: string; path: string; value: unknown }[]): Obj {
  const out = structuredClone(doc);
  for (const { op, path, value } of ops) {
    const keys = path.split('/').slice(1);
    const last = keys.pop()!;
    let at: unknown = out;
    for (const k of keys) {
      at = (at as Obj)[k];
      if (at === undefined) throw new Error(`${path}: ${k} does not exist`);
    }
    if (Array.isArray(at)) {
      if (op === 'add' && last === '-') at.push(value);
      else if (op === 'replace' && Number(last) < at.length) at[Number(last)] = value;
      else throw new Error(`${op} ${path}: no such index`);
    } else if (op === 'add' || (op === 'replace' && last in (at as Obj))) (at as Obj)[last] = value;
    else throw new Error(`${op} ${path}: no such field`);
  }
  return out;
}

function validate(o: Obj): void {
  const key = `${String(o['apiVersion'])}/${String(o['kind'])}`;
  if (key === 'serving.kserve.io/v1beta1/InferenceService') return validateInferenceService(o);
  const v = K8S[key];
  if (!v) throw new Error(`no schema for ${key}`);
  v(o);
}

const manifests = filesUnder('deploy/k8s').filter((f) => /\.ya?ml$/.test(f));
const isKustomization = (f: string) => /(^|\/)kustomization\.ya?ml$/.test(f);
// The GPU overlay's file is a strategic-merge patch, not a whole object: it is validated merged onto its base.
const patchFiles = new Set(
  manifests
    .filter(isKustomization)
    .flatMap((k) =>
      ((yamlDocs(k)[0]!['patches'] as Obj[] | undefined) ?? [])
        .filter((p) => typeof p['path'] === 'string')
        .map((p) => join(dirname(k), p['path'] as string)),
    ),
);

t.test('every Kubernetes object validates against the API schema of its apiVersion and kind', async (t) => {
  let n = 0;
  for (const f of manifests.filter((f) => !isKustomization(f) && !patchFiles.has(f))) {
    for (const d of yamlDocs(f)) {
      t.doesNotThrow(() => validate(d), `${f}: ${String(d['apiVersion'])} ${String(d['kind'])}`);
      n++;
    }
  }
  t.ok(n >= 6, `${n} objects checked`);
});

/** The objects a kustomization renders (resources, recursively; then its patches), as `kubectl apply -k` would. */
function render(dir: string): Obj[] {
  const k = yamlDocs(join(dir, 'kustomization.yaml'))[0]!;
  let objs: Obj[] = ((k['resources'] as string[] | undefined) ?? []).flatMap((r) => {
    const p = join(dir, r);
    return statSync(join(ROOT, p)).isDirectory() ? render(p) : yamlDocs(p);
  });
  for (const p of (k['patches'] as Obj[] | undefined) ?? []) {
    if (typeof p['path'] === 'string') {
      const patch = yamlDocs(join(dir, p['path']))[0]!;
      const metaName = (o: Obj) => (o['metadata'] as Obj)['name'];
      objs = objs.map((o) =>
        o['kind'] === patch['kind'] && metaName(o) === metaName(patch) ? (strategicMerge(o, patch) as Obj) : o,
      );
    } else {
      const target = p['target'] as Obj;
      const ops = parse(String(p['patch'])) as { op: string; path: string; value: unknown }[];
      objs = objs.map((o) =>
        o['kind'] === target['kind'] && (o['metadata'] as Obj)['name'] === target['name'] ? jsonPatch(o, ops) : o,
      );
    }
  }
  return objs;
}

t.test('every overlay renders objects that still validate (patches applied as kustomize does)', async (t) => {
  const dirs = manifests.filter(isKustomization).map((f) => dirname(f));
  t.ok(dirs.length >= 5, `${dirs.length} kustomizations`);
  for (const dir of dirs) {
    const objs = render(dir);
    t.ok(objs.length >= 1, `${dir} renders objects`);
    for (const o of objs) t.doesNotThrow(() => validate(o), `${dir}: ${String(o['kind'])} validates`);
  }
});

t.test("kustomization.yaml files use only kustomize's Kustomization fields", async (t) => {
  for (const f of manifests.filter(isKustomization)) t.same(validateKustomization(yamlDocs(f)[0]!, f), [], f);
});

t.test('the validators catch what they should (each check can fail)', async (t) => {
  const deployment = yamlDocs('deploy/k8s/deployment.yaml')[0]!;
  const bad = structuredClone(deployment);
  (bad['spec'] as Obj)['replicas'] = '2';
  t.throws(() => validate(bad), /replicas must be integer/, 'a string where the API wants an integer');
  const isvc = yamlDocs('deploy/k8s/kserve/inferenceservice.yaml')[0]!;
  const typo = structuredClone(isvc);
  ((typo['spec'] as Obj)['predictor'] as Obj)['minReplica'] = 1;
  t.throws(() => validate(typo), /additional properties/, 'an unknown InferenceService field');
  const metric = structuredClone(isvc);
  ((metric['spec'] as Obj)['predictor'] as Obj)['scaleMetric'] = 'gpu';
  t.throws(() => validate(metric), /allowed values/, 'a scale metric KServe does not have');
  const port = structuredClone(isvc);
  (((port['spec'] as Obj)['predictor'] as Obj)['containers'] as Obj[])[0]!['ports'] = [{ containerPort: 'http' }];
  t.throws(() => validate(port), /containerPort must be integer/, 'a container field checked against core/v1');
  t.same(
    validateKustomization(
      { apiVersion: 'kustomize.config.k8s.io/v1beta1', kind: 'Kustomization', patchesJson: [] },
      'deploy/k8s/kustomization.yaml',
    ),
    ['Kustomization: unknown field patchesJson'],
  );
  t.throws(() => jsonPatch(deployment, [{ op: 'add', path: '/spec/nope/x/-', value: 1 }]), /does not exist/);
});
