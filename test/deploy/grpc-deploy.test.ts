// gRPC in the deployment files: the Service's grpc port, the KServe gRPC overlay applied to the HTTP InferenceService, the image carrying the protos.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { parse, parseAllDocuments } from 'yaml';
import { SETTINGS } from '../../src/server/config.js';
import { ROOT, read } from './fixtures/deploy-files.js';

type Obj = Record<string, unknown>;
const docs = (rel: string): Obj[] => parseAllDocuments(read(rel)).map((d) => d.toJS() as Obj);
const envOf = (c: Obj): Record<string, string> =>
  Object.fromEntries(((c['env'] as Obj[]) ?? []).map((e) => [String(e['name']), String(e['value'])]));

/** The JSON-patch subset kustomize's patches use here: replace and add (with "-" to append). */
function applyPatch(doc: Obj, ops: { op: string; path: string; value: unknown }[]): Obj {
  const out = structuredClone(doc);
  for (const { op, path, value } of ops) {
    const keys = path.split('/').slice(1);
    const last = keys.pop()!;
    let cur: Record<string, unknown> | unknown[] = out;
    for (const k of keys) cur = (Array.isArray(cur) ? cur[Number(k)] : cur[k]) as Record<string, unknown> | unknown[];
    if (op === 'add' && last === '-') (cur as unknown[]).push(value);
    else if (op === 'replace' || op === 'add') {
      if (Array.isArray(cur)) cur[Number(last)] = value;
      else {
        if (op === 'replace' && !(last in cur)) throw new Error(`replace of missing ${path}`);
        cur[last] = value;
      }
    } else throw new Error(`unsupported op ${op}`);
  }
  return out;
}

t.test('GRPC_PORT is a service setting, and the image carries the protos it loads', async (t) => {
  t.ok(SETTINGS.some((s) => s.env === 'GRPC_PORT' && s.flag === 'grpc-port'));
  t.ok(existsSync(join(ROOT, 'proto/grpc_predict_v2.proto')) && existsSync(join(ROOT, 'proto/health.proto')));
  t.match(read('Dockerfile'), /^COPY proto \.\/proto$/m, 'the runtime stage copies proto/');
  t.match(read('.dockerignore'), /^!proto\/$/m, 'proto/ reaches the build context');
});

t.test('Kubernetes Service exposes the pods\u2019 grpc port as h2c', async (t) => {
  const svc = docs('deploy/k8s/service.yaml')[0]!;
  const grpc = ((svc['spec'] as Obj)['ports'] as Obj[]).find((p) => p['name'] === 'grpc')!;
  t.same([grpc['targetPort'], grpc['appProtocol']], ['grpc', 'kubernetes.io/h2c']);
  const dep = docs('deploy/k8s/deployment.yaml')[0]!;
  const c = ((((dep['spec'] as Obj)['template'] as Obj)['spec'] as Obj)['containers'] as Obj[])[0]!;
  t.equal(Number(envOf(c)['GRPC_PORT']), grpc['port'], 'Service port = the pods\u2019 GRPC_PORT');
});

t.test('KServe: the HTTP InferenceService, and the gRPC overlay exposing GRPC_PORT as its one h2c port', async (t) => {
  const base = parse(read('deploy/k8s/kserve/kustomization.yaml')) as Obj;
  t.same(base['resources'], ['inferenceservice.yaml']);
  const overlay = parse(read('deploy/k8s/kserve/grpc/kustomization.yaml')) as Obj;
  t.same(overlay['resources'], ['../']);
  const isvc = docs('deploy/k8s/kserve/inferenceservice.yaml')[0]!;
  const patch = (overlay['patches'] as Obj[])[0]!;
  const target = patch['target'] as Obj;
  t.same(
    [target['kind'], target['name']],
    ['InferenceService', (isvc['metadata'] as Obj)['name']],
    'the patch targets the InferenceService',
  );
  const grpcIsvc = applyPatch(isvc, parse(String(patch['patch'])) as { op: string; path: string; value: unknown }[]);
  const c = (((grpcIsvc['spec'] as Obj)['predictor'] as Obj)['containers'] as Obj[])[0]!;
  const env = envOf(c);
  t.same(
    c['ports'],
    [{ name: 'h2c', containerPort: Number(env['GRPC_PORT']), protocol: 'TCP' }],
    'one port, h2c (KServe\u2019s gRPC convention), = GRPC_PORT',
  );
  t.equal(env['PORT'], '8080', 'HTTP stays on for the probes');
  t.same((c['readinessProbe'] as Obj)['httpGet'], { path: '/v2/health/ready', port: 8080 });
});
