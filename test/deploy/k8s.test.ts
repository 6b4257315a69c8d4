// Parses every Kubernetes manifest under deploy/k8s and cross-checks probes, ports, images and users with the Dockerfile and service.
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { modelNameFor, SETTINGS } from '../../src/server/config.js';
import { testApp, writeModel } from '../fixtures/server.js';
import {
  filesUnder,
  imageRef,
  interpolateDefaults,
  type Obj,
  obj,
  pkg,
  quantity,
  ROOT,
  runtimeEnv,
  runtimeStage,
  yamlDocs,
} from './fixtures/deploy-files.js';

const runtime = runtimeStage;
const imageUid = Number(
  runtime
    .filter((i) => i.cmd === 'USER')
    .at(-1)!
    .args.split(':')[0],
);
const exposed = Number(runtime.find((i) => i.cmd === 'EXPOSE')!.args);
// The service's settings, plus ONNX Runtime's own telemetry switch.
const knownEnv = new Set([...SETTINGS.map((s) => s.env), 'ORT_DISABLE_TELEMETRY']);
const dflt = (env: string) => SETTINGS.find((s) => s.env === env)!.dflt;

const files = filesUnder('deploy/k8s').filter((f) => /\.ya?ml$/.test(f));
const all = new Map<string, Obj[]>(files.map((f) => [f, yamlDocs(f)]));
const find = (kind: string, file?: string): Obj => {
  for (const [f, docs] of all) for (const d of docs) if (d['kind'] === kind && (!file || f === file)) return d;
  throw new Error(`no ${kind}${file ? ` in ${file}` : ''}`);
};
const at = (o: unknown, path: string): unknown =>
  path.split('.').reduce<unknown>((v, k) => (v as Obj | undefined)?.[k], o);

const deployment = find('Deployment', 'deploy/k8s/deployment.yaml');
const podSpec = obj(at(deployment, 'spec.template.spec'), 'pod spec');
const container = (podSpec['containers'] as Obj[])[0]!;
const podLabels = obj(at(deployment, 'spec.template.metadata.labels'), 'pod labels');
const envOf = (c: Obj) =>
  Object.fromEntries(((c['env'] as Obj[]) ?? []).map((e) => [e['name'], e['value']])) as Record<string, string>;
const matches = (selector: unknown, labels: Obj) =>
  Object.entries(obj(selector, 'selector')).every(([k, v]) => labels[k] === v);
const compose = obj(yamlDocs('docker-compose.yml')[0], 'compose');
const composeImage = interpolateDefaults(at(compose, 'services.mixer.image'));

t.test('every manifest parses, says what it is for, and names its kind', async (t) => {
  t.ok(files.length >= 7, `${files.length} YAML files`);
  for (const [f, docs] of all) {
    t.match(readFileSync(join(ROOT, f), 'utf8'), /^# \S/, `${f} opens with a comment`);
    t.ok(docs.length >= 1, `${f} has a document`);
    for (const d of docs) {
      t.match(String(d['apiVersion']), /\S/, `${f}: apiVersion`);
      t.match(String(d['kind']), /^[A-Z]\w+$/, `${f}: kind`);
      if (d['kind'] !== 'Kustomization') t.match(String(at(d, 'metadata.name')), /^[a-z0-9-]+$/, `${f}: metadata.name`);
    }
  }
});

t.test('Deployment: image, port, probes, user and resources agree with the image and the service', async (t) => {
  t.equal(deployment['apiVersion'], 'apps/v1');
  t.ok(matches(at(deployment, 'spec.selector.matchLabels'), podLabels), 'selector matches the pod labels');
  t.ok(Number(at(deployment, 'spec.replicas')) >= 2, 'at least 2 replicas');

  t.equal(container['image'], composeImage, 'same image as docker-compose');
  t.same(imageRef(String(container['image'])), { repo: pkg.name, tag: pkg.version });
  t.same(container['args'], ['serve'], 'runs the image entry point with serve');

  const ports = container['ports'] as Obj[];
  const env = envOf(container);
  t.same(
    ports.map((p) => [p['name'], p['containerPort']]),
    [
      ['http', exposed],
      ['grpc', Number(env['GRPC_PORT'])],
    ],
    'named port http = Dockerfile EXPOSE, grpc = GRPC_PORT',
  );
  t.equal(Number(env['PORT']), exposed, 'PORT env = container port');
  t.equal(Number(dflt('PORT')), exposed, 'and the service default port');
  for (const k of Object.keys(env)) t.ok(knownEnv.has(k), `${k} is a setting the service reads`);
  t.equal(env['MODEL_PATH'], runtimeEnv['MODEL_PATH'], 'serves the baked model');
  t.equal(env['DEVICE'], 'cpu');

  const probe = (name: string) => obj(container[name], name);
  t.same(at(probe('readinessProbe'), 'httpGet'), { path: '/readyz', port: 'http' }, 'readiness on /readyz');
  t.same(at(probe('livenessProbe'), 'httpGet'), { path: '/healthz', port: 'http' }, 'liveness on /healthz');
  t.same(at(probe('startupProbe'), 'httpGet'), { path: '/readyz', port: 'http' }, 'startup on /readyz');

  t.equal(at(podSpec, 'securityContext.runAsNonRoot'), true);
  t.equal(at(podSpec, 'securityContext.runAsUser'), imageUid, 'runAsUser = Dockerfile USER');
  t.equal(at(container, 'securityContext.readOnlyRootFilesystem'), true, 'read-only root');
  t.same(at(container, 'securityContext.capabilities.drop'), ['ALL']);
  t.ok(
    ((podSpec['volumes'] as Obj[]) ?? []).some((v) => v['name'] === 'tmp'),
    'writable /tmp',
  );

  for (const r of ['cpu', 'memory']) {
    const req = quantity(at(container, `resources.requests.${r}`));
    const lim = quantity(at(container, `resources.limits.${r}`));
    t.ok(req > 0 && req <= lim, `${r}: 0 < request ${req} <= limit ${lim}`);
  }
  t.equal(
    Number(env['THREADS']),
    Math.max(1, Math.floor(quantity(at(container, 'resources.limits.cpu')))),
    'THREADS = CPU limit',
  );

  t.equal(env['ORT_DISABLE_TELEMETRY'], '1', 'ONNX Runtime telemetry off');
});

t.test('Deployment: probes restart a wedged pod, pull an unready one, and wait out a slow start', async (t) => {
  const probe = (name: string) => obj(container[name], name);
  const n = (p: Obj, k: string, d: number) => Number(p[k] ?? d);
  const startup = probe('startupProbe');
  const ready = probe('readinessProbe');
  const live = probe('livenessProbe');
  const startBudget = n(startup, 'periodSeconds', 10) * n(startup, 'failureThreshold', 3);
  t.ok(startBudget >= 60, `startup allows ${startBudget}s for model load and warm-up`);
  for (const [name, p] of [
    ['startup', startup],
    ['readiness', ready],
    ['liveness', live],
  ] as const) {
    t.ok(
      n(p, 'timeoutSeconds', 1) >= 2,
      `${name}: timeout of 2 s or more (1 s is the default and too tight under load)`,
    );
    t.ok(n(p, 'timeoutSeconds', 1) < n(p, 'periodSeconds', 10), `${name}: timeout below the period`);
  }
  const unreadyS = n(ready, 'periodSeconds', 10) * n(ready, 'failureThreshold', 3);
  const deadS = n(live, 'periodSeconds', 10) * n(live, 'failureThreshold', 3);
  t.ok(unreadyS <= 15, `an unready pod leaves the Service within ${unreadyS}s`);
  t.ok(
    deadS >= 20 && deadS <= 60,
    `a pod whose /healthz stops answering is restarted after ${deadS}s, not on one slow answer`,
  );
  t.ok(deadS > unreadyS, 'traffic goes before the restart');
  t.equal(n(ready, 'successThreshold', 1), 1, 'back in the Service at the first good answer');
});

t.test('Deployment: preStop and the grace period match the service drain', async (t) => {
  const pre = at(container, 'lifecycle.preStop.exec.command') as string[];
  t.equal(pre[0], 'sleep', 'preStop pauses (endpoints drop the pod before SIGTERM)');
  const pauseS = Number(pre[1]);
  t.ok(pauseS >= 3 && pauseS <= 15, `preStop pause ${pauseS}s`);
  const env = envOf(container);
  const drainS = Number(env['SHUTDOWN_TIMEOUT_MS'] ?? dflt('SHUTDOWN_TIMEOUT_MS')) / 1000;
  t.equal(
    Number(env['SHUTDOWN_TIMEOUT_MS']),
    Number(dflt('SHUTDOWN_TIMEOUT_MS')),
    'the drain budget is spelled out, equal to the service default',
  );
  const delayS = Number(env['DRAIN_DELAY_MS'] ?? dflt('DRAIN_DELAY_MS')) / 1000;
  const grace = Number(podSpec['terminationGracePeriodSeconds']);
  t.ok(
    grace > pauseS + delayS + drainS,
    `grace period ${grace}s > preStop pause ${pauseS}s + drain delay ${delayS}s + service drain ${drainS}s`,
  );
  t.ok(grace <= pauseS + delayS + drainS + 30, 'and not so long that a stuck pod lingers');
  const rolling = obj(at(deployment, 'spec.strategy.rollingUpdate'), 'rollingUpdate');
  t.equal(Number(rolling['maxUnavailable']), 0, 'rolling updates never go below the replica count');
});

t.test('Service, HPA and PDB select the Deployment', async (t) => {
  const service = find('Service');
  t.ok(matches(at(service, 'spec.selector'), podLabels), 'Service selects the pods');
  const sp = (at(service, 'spec.ports') as Obj[])[0]!;
  const named = (container['ports'] as Obj[]).find((p) => p['name'] === sp['targetPort']);
  t.ok(named, 'targetPort names a container port');

  const hpa = find('HorizontalPodAutoscaler');
  t.equal(hpa['apiVersion'], 'autoscaling/v2');
  t.same(
    at(hpa, 'spec.scaleTargetRef'),
    { apiVersion: 'apps/v1', kind: 'Deployment', name: at(deployment, 'metadata.name') },
    'scales the Deployment',
  );
  const min = Number(at(hpa, 'spec.minReplicas'));
  t.ok(min >= 2 && min <= Number(at(hpa, 'spec.maxReplicas')), 'min <= max, min >= 2');
  const cpu = (at(hpa, 'spec.metrics') as Obj[]).find((m) => at(m, 'resource.name') === 'cpu');
  t.ok(cpu, 'scales on CPU');
  t.ok(at(container, 'resources.requests.cpu'), 'CPU utilisation needs a CPU request');

  const pdb = find('PodDisruptionBudget');
  t.equal(pdb['apiVersion'], 'policy/v1');
  t.ok(matches(at(pdb, 'spec.selector.matchLabels'), podLabels), 'PDB selects the pods');
  t.ok(Number(at(pdb, 'spec.minAvailable')) < min, 'PDB leaves room for a drain at the minimum replica count');
});

t.test('kustomizations list what exists', async (t) => {
  const k = find('Kustomization', 'deploy/k8s/kustomization.yaml');
  const top = readdirSync(join(ROOT, 'deploy/k8s')).filter((f) => /\.ya?ml$/.test(f) && f !== 'kustomization.yaml');
  t.same(
    [...(k['resources'] as string[])].sort(),
    top.sort(),
    'every top-level manifest is a resource (KServe sits apart in kserve/)',
  );
  t.same(
    (k['images'] as Obj[]).map((i) => `${i['name']}:${i['newTag']}`),
    [`${pkg.name}:${pkg.version}`],
  );

  const g = find('Kustomization', 'deploy/k8s/gpu/kustomization.yaml');
  t.same(g['resources'], ['../']);
  for (const p of g['patches'] as Obj[])
    t.ok(statSync(join(ROOT, 'deploy/k8s/gpu', String(p['path']))).isFile(), `patch ${p['path']} exists`);
  t.equal(
    (g['images'] as Obj[])[0]!['newTag'],
    imageRef(interpolateDefaults(at(compose, 'services.mixer-gpu.image'))).tag,
    'GPU tag = compose CUDA image tag',
  );
  const patch = find('Deployment', 'deploy/k8s/gpu/deployment-gpu.yaml');
  t.equal(at(patch, 'metadata.name'), at(deployment, 'metadata.name'), 'patch targets the Deployment');
  const pc = (at(patch, 'spec.template.spec.containers') as Obj[])[0]!;
  t.equal(pc['name'], container['name'], 'patch targets the container');
  t.equal(envOf(pc)['DEVICE'], 'cuda');
  t.equal(obj(at(pc, 'resources.limits'), 'limits')['nvidia.com/gpu'], 1, 'one GPU per pod');
});

t.test('KServe InferenceService: custom v2 predictor on port 8080', async (t) => {
  const isvc = find('InferenceService');
  t.equal(isvc['apiVersion'], 'serving.kserve.io/v1beta1');
  const c = (at(isvc, 'spec.predictor.containers') as Obj[])[0]!;
  t.equal(c['name'], 'kserve-container', 'KServe custom predictors use this container name');
  t.equal(c['image'], container['image'], 'same image as the Deployment');
  const env = envOf(c);
  for (const k of Object.keys(env))
    t.ok(knownEnv.has(k) || k === 'STORAGE_URI', `${k} is a setting the service reads (or KServe's storageUri)`);
  t.same(
    (c['ports'] as Obj[]).map((p) => p['containerPort']),
    [8080],
    'KServe convention: 8080',
  );
  t.equal(env['PORT'], '8080', 'the service listens there');
  t.same(at(c, 'readinessProbe.httpGet'), { path: '/v2/health/ready', port: 8080 }, 'v2 readiness');
  t.same(at(c, 'livenessProbe.httpGet'), { path: '/v2/health/live', port: 8080 }, 'v2 liveness');
  t.equal(env['MODEL_REPOSITORY'], '/mnt/models', "serves KServe's storage mount as a model repository");
  t.notOk(
    'MODEL_PATH' in env,
    'not the model baked into the image (MODEL_PATH and MODEL_REPOSITORY exclude each other)',
  );
  t.match(
    env['STORAGE_URI'],
    /^[a-z0-9]+:\/\/\S+/,
    'the model comes from storageUri (STORAGE_URI, the custom-container form)',
  );
  t.equal(
    at(isvc, 'metadata.name'),
    env['DEFAULT_MODEL'],
    'InferenceService named as its default model, /v2/models/{name}',
  );
  t.equal(
    env['DEFAULT_MODEL'],
    modelNameFor(runtimeEnv['MODEL_PATH']!),
    'the shipped model name, as a repository folder',
  );
  t.equal(env['ORT_DISABLE_TELEMETRY'], '1', 'ONNX Runtime telemetry off');
  t.same(at(c, 'startupProbe.httpGet'), { path: '/v2/health/ready', port: 8080 }, 'a slow start is waited out');
  t.ok(Number(at(c, 'livenessProbe.timeoutSeconds')) >= 2, 'liveness is not cut at the 1 s default');
  t.equal(at(isvc, 'spec.predictor.securityContext.runAsUser'), imageUid);
});

t.test('probe paths are routes of the service', async (t) => {
  // Every httpGet path the manifests probe, checked against the routes of a real app (not the source text).
  const probed = new Set<string>();
  const walk = (o: unknown): void => {
    if (Array.isArray(o)) o.forEach(walk);
    else if (o && typeof o === 'object') {
      const get = (o as Obj)['httpGet'] as Obj | undefined;
      if (get && typeof get['path'] === 'string') probed.add(get['path']);
      Object.values(o).forEach(walk);
    }
  };
  for (const docs of all.values()) walk(docs);
  for (const p of ['/readyz', '/healthz', '/v2/health/ready', '/v2/health/live']) probed.add(p);
  const dir = mkdtempSync(join(tmpdir(), 'mixer-k8s-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const app = await testApp(t, { modelPath: writeModel(dir) });
  for (const p of [...probed, '/metrics'].sort())
    t.ok(app.hasRoute({ method: 'GET', url: p }), `the service serves GET ${p}`);
});
