// Static checks of the Dockerfile, .dockerignore, docker-compose.yml and nginx config against each other and the service.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import t from 'tap';
import { modelNameFor, parseSetting, SETTINGS } from '../../src/server/config.js';
import {
  dockerfile,
  dockerIncludes,
  execForm,
  filesUnder,
  imageRef,
  interpolateDefaults,
  nginxDirective,
  nginxSize,
  type Obj,
  obj,
  pkg,
  ROOT,
  read,
  runtimeEnv,
  runtimeStage,
  yamlDocs,
} from './fixtures/deploy-files.js';

const df = dockerfile;
const runtime = runtimeStage;
const setting = (env: string) => {
  const s = SETTINGS.find((x) => x.env === env);
  if (!s) throw new Error(`no service setting ${env}`);
  return s;
};
const servicePort = Number(setting('PORT').dflt);
const exposed = runtime.filter((i) => i.cmd === 'EXPOSE').map((i) => Number(i.args.split('/')[0]));
const compose = obj(yamlDocs('docker-compose.yml')[0], 'docker-compose.yml');
const services = obj(compose['services'], 'services');
const svc = (name: string) => obj(services[name], `services.${name}`);
const nginx = read('deploy/nginx/mixer.conf');
// Besides the service's settings: Node's, the image's own marker, ONNX Runtime's telemetry switch and the health check's.
const knownEnv = new Set([
  ...SETTINGS.map((s) => s.env),
  'NODE_ENV',
  'MIXER_IMAGE_VARIANT',
  'ORT_DISABLE_TELEMETRY',
  'HEALTHCHECK_KILL_AFTER',
]);

t.test('Dockerfile: stages, non-root user, port, health check, entry point', async (t) => {
  t.same(
    df.stages.map((s) => s.name),
    ['deps', 'build', 'runtime'],
    'deps, build, runtime: the final stage uses all of them (the classic builder builds every earlier stage)',
  );
  t.equal(df.globalArgs['NODE_IMAGE'], 'node:22-slim', 'Node 22 slim base');
  t.equal(df.globalArgs['RUNTIME_IMAGE'], 'node:22-slim', 'the CPU image runs on the Node base');
  t.equal(df.stages[2]!.from, '${RUNTIME_IMAGE}', 'the runtime base is a build argument (CUDA variant)');
  t.ok(
    df.stages.slice(0, 2).every((s) => s.from === '${NODE_IMAGE}'),
    'build and deps run on the Node image',
  );

  const user = runtime.filter((i) => i.cmd === 'USER').at(-1)?.args ?? '';
  t.match(user, /^\d+(:\d+)?$/, 'USER is numeric, so runAsNonRoot can check it');
  t.not(Number(user.split(':')[0]), 0, 'USER is not root');

  t.same(exposed, [servicePort], 'EXPOSE is the service default port');
  t.equal(Number(runtimeEnv['PORT']), servicePort, 'ENV PORT agrees');
  t.equal(runtimeEnv['HOST'], '0.0.0.0', 'listens on all interfaces');
  t.equal(runtimeEnv['NODE_ENV'], 'production');
  t.equal(runtimeEnv['ORT_DISABLE_TELEMETRY'], '1', 'ONNX Runtime telemetry off in the image');
  for (const k of Object.keys(runtimeEnv)) t.ok(knownEnv.has(k), `ENV ${k} is a setting the service reads`);

  const hc = runtime.find((i) => i.cmd === 'HEALTHCHECK');
  t.ok(hc, 'HEALTHCHECK present');
  const hcCmd = execForm(hc!.args.slice(hc!.args.indexOf('CMD')));
  t.same(hcCmd.slice(0, 1), ['node'], 'health check runs with node (no curl in slim images)');
  const script = hcCmd[1]!;
  t.ok(
    runtime.some((i) => i.cmd === 'COPY' && i.args.endsWith(script)),
    'the health-check script is copied into the image',
  );
  const hcSrc = read(script);
  t.match(hcSrc, /\/readyz/, 'health check probes /readyz');
  t.match(hcSrc, /process\.env\.PORT/, 'health check follows PORT');
  t.match(hcSrc, /process\.env\.HEALTHCHECK_KILL_AFTER/, 'the self-kill threshold is read from HEALTHCHECK_KILL_AFTER');
  const timeoutS = Number(/--timeout=(\d+)s/.exec(hc!.args)?.[1]);
  const scriptTimeoutS = Number(/HEALTHCHECK_TIMEOUT_MS \|\| '(\d+)'/.exec(hcSrc)?.[1]) / 1000;
  t.ok(
    timeoutS > scriptTimeoutS,
    `Docker's timeout ${timeoutS}s > the script's own ${scriptTimeoutS}s, so a hang is counted, not cut off`,
  );

  const entry = execForm(runtime.find((i) => i.cmd === 'ENTRYPOINT')!.args);
  const cmd = execForm(runtime.find((i) => i.cmd === 'CMD')!.args);
  t.same([...entry, ...cmd], ['node', 'dist/cli/main.js', 'serve'], 'node is PID 1 (no npm, no shell) and serves');
  t.ok(existsSync(join(ROOT, 'src/cli/main.ts')), 'dist/cli/main.js is built from src/cli/main.ts');
  t.match(read('src/cli/registry.ts'), /serve:\s*\{/, 'the CLI has a serve command');
  t.ok(
    runtime.some((i) => i.cmd === 'STOPSIGNAL' && i.args === 'SIGTERM'),
    'SIGTERM stops it (the service drains on it)',
  );
  t.ok(
    runtime.some((i) => i.cmd === 'COPY' && /^package\.json\s/.test(i.args)),
    'package.json ("type": "module") is in the image',
  );
  t.equal(pkg.scripts['start'], 'node dist/cli/main.js serve', 'npm start and the image run the same thing');
});

t.test('Dockerfile: default model and models/ in the image', async (t) => {
  const modelPath = runtimeEnv['MODEL_PATH']!;
  t.equal(modelPath, '/app/models/mixer-cifar10.onnx', 'MODEL_PATH is the shipped model');
  t.equal(setting('MODEL_PATH').dflt, 'models/mixer-cifar10.onnx', 'the same file the service defaults to');
  t.ok(
    runtime.some((i) => i.cmd === 'COPY' && /--from=build \/src\/models \.\/models$/.test(i.args)),
    'models/ is copied',
  );
  t.ok(
    runtime.some((i) => i.cmd === 'WORKDIR' && i.args === '/app'),
    'WORKDIR /app',
  );
  const build = df
    .stage('build')
    .map((i) => i.args)
    .join('\n');
  t.match(
    build,
    /if \[ ! -f models\/mixer-cifar10\.onnx \]/,
    'a missing model fails the build unless ALLOW_UNTRAINED=1',
  );
});

t.test('Dockerfile: CPU skips and CUDA installs the ORT CUDA provider', async (t) => {
  const deps = df
    .stage('deps')
    .map((i) => i.args)
    .join('\n');
  t.match(deps, /cpu\) ort_install=skip/, 'VARIANT=cpu -> ONNXRUNTIME_NODE_INSTALL=skip');
  t.match(deps, /cuda\) ort_install=cuda12/, 'VARIANT=cuda -> ONNXRUNTIME_NODE_INSTALL=cuda12');
  t.match(
    deps,
    /ONNXRUNTIME_NODE_INSTALL="\$ort_install" node node_modules\/onnxruntime-node\/script\/install\.js/,
    'the installer runs with the flag',
  );
  t.match(
    deps,
    /npm ci --omit=dev --ignore-scripts/,
    'production dependencies only, no root prepare (tsc is a dev dependency)',
  );
  t.match(deps, /libonnxruntime_providers_cuda\.so/, 'a CUDA build fails unless the provider library arrived');
  const pkg = JSON.parse(read('package.json')) as { allowScripts?: Record<string, boolean> };
  t.equal(pkg.allowScripts?.['onnxruntime-node'], false, 'npm never runs the installer: local installs stay CPU-only');

  // The installer reads ONNXRUNTIME_NODE_INSTALL before npm's config, so an npm config `skip` cannot mask cuda12.
  // (onnxruntime-node 1.30 returns undefined rather than 'cuda12' for that value, and then installs the platform's
  // default manifests, which on linux/x64 are exactly ['cuda12']; replay that decision here.)
  const req = createRequire(join(ROOT, 'package.json'));
  const utils = req('onnxruntime-node/script/install-utils.js') as { parseInstallFlag(): unknown };
  const meta = req('onnxruntime-node/script/install-metadata.js') as {
    requirements: Record<string, string[]>;
    manifests: Record<string, Record<string, unknown>>;
  };
  const manifestsFor = (flag: unknown): string[] =>
    flag === false ? [] : typeof flag === 'string' ? flag.split(',') : (meta.requirements['linux/x64'] ?? []);
  const keys = [
    'ONNXRUNTIME_NODE_INSTALL',
    'npm_config_onnxruntime_node_install',
    'ONNXRUNTIME_NODE_INSTALL_CUDA',
    'npm_config_onnxruntime_node_install_cuda',
  ];
  const saved = keys.map((k) => process.env[k]);
  try {
    for (const k of keys) delete process.env[k];
    process.env['npm_config_onnxruntime_node_install'] = 'skip';
    process.env['ONNXRUNTIME_NODE_INSTALL'] = 'cuda12';
    t.same(
      manifestsFor(utils.parseInstallFlag()),
      ['cuda12'],
      'env cuda12 wins over an npm config skip: the CUDA manifest installs',
    );
    process.env['ONNXRUNTIME_NODE_INSTALL'] = 'skip';
    t.same(manifestsFor(utils.parseInstallFlag()), [], 'env skip installs nothing (CPU image)');
    delete process.env['ONNXRUNTIME_NODE_INSTALL'];
    t.same(manifestsFor(utils.parseInstallFlag()), [], 'npm config skip alone installs nothing');
    delete process.env['npm_config_onnxruntime_node_install'];
    t.same(
      manifestsFor(utils.parseInstallFlag()),
      ['cuda12'],
      'no flag at all fetches CUDA on linux/x64: why package.json denies the install script',
    );
  } finally {
    keys.forEach((k, i) => {
      if (saved[i] === undefined) delete process.env[k];
      else process.env[k] = saved[i];
    });
  }
  t.ok(
    meta.manifests['linux/x64:cuda12']?.['./libonnxruntime_providers_cuda.so'],
    'cuda12 installs the file the Dockerfile checks for',
  );

  const rt = runtime.map((i) => i.args).join('\n');
  t.match(rt, /libcudnn\.so\.9/, 'a CUDA runtime base without cuDNN 9 fails the build');
  t.match(rt, /--from=deps \/opt\/node-extra\/ \/usr\/local\//, 'Node is added to the CUDA base');
});

t.test('.dockerignore sends what the Dockerfile copies and nothing heavy', async (t) => {
  const ignore = read('.dockerignore');
  const sources: string[] = [];
  for (const i of df.instructions) {
    if (i.cmd !== 'COPY' || i.args.startsWith('--from')) continue;
    const parts = i.args.split(/\s+/);
    sources.push(...parts.slice(0, -1));
  }
  t.ok(sources.length >= 5, 'COPY sources found');
  for (const s of sources) {
    const files = existsSync(join(ROOT, s)) && !s.includes('.') ? filesUnder(s) : [s];
    const sample = files.filter((f) => !f.endsWith('.tmp')).slice(0, 50);
    t.ok(sample.length === 0 || sample.every((f) => dockerIncludes(ignore, f)), `${s} reaches the build context`);
  }
  for (const heavy of [
    'node_modules/sharp/package.json',
    'data/cifar10/train_images.u8',
    'dist/cli/main.js',
    'packages/client/dist/index.js',
    'packages/client/node_modules/x/package.json',
    '.git/HEAD',
    'runs/x/metrics.jsonl',
    'bench/results/a.json',
    'test/deploy/k8s.ts',
  ]) {
    t.notOk(dockerIncludes(ignore, heavy), `${heavy} stays out`);
  }
});

t.test('docker-compose.yml: replicas behind nginx, limits, health, model mount, gpu profile', async (t) => {
  t.notOk('version' in compose, 'no top-level version (obsolete in compose v2)');
  t.same(Object.keys(services).sort(), ['autoheal', 'lb', 'mixer', 'mixer-gpu']);
  const mixer = svc('mixer');
  const lb = svc('lb');
  const gpu = svc('mixer-gpu');

  const { repo, tag } = imageRef(interpolateDefaults(mixer['image']));
  t.equal(repo, pkg.name, 'image is named after the package');
  t.equal(tag, pkg.version, 'image tag is the package version');
  t.equal(interpolateDefaults(gpu['image']), `${pkg.name}:${pkg.version}-cuda`, 'the CUDA image is tagged -cuda');
  t.same(obj(obj(mixer['build'], 'build')['args'], 'args'), { VARIANT: 'cpu' });
  t.equal(obj(mixer['build'], 'build')['context'], '.');

  t.notOk('ports' in mixer, 'replicas publish no host port, so they scale');
  const env = obj(mixer['environment'], 'environment');
  const grpcPort = Number(env['GRPC_PORT']);
  t.ok(grpcPort > 0, 'gRPC is on in the stack');
  t.same(
    (mixer['expose'] as unknown[]).map(Number),
    [...exposed, grpcPort],
    'replicas expose the Dockerfile port and GRPC_PORT',
  );
  t.equal(Number(env['PORT']), servicePort, 'PORT is the service port');
  for (const k of Object.keys(env)) t.ok(knownEnv.has(k), `${k} is a setting the service reads`);
  for (const k of Object.keys(obj(gpu['environment'], 'environment')))
    t.ok(knownEnv.has(k), `gpu: ${k} is a setting the service reads`);
  t.equal(env['DEVICE'], 'cpu');
  t.ok(Number(interpolateDefaults(env['THREADS'])) >= 1, 'THREADS is set per replica');
  t.equal(
    mixer['init'],
    true,
    'an init process forwards SIGTERM and reaps children (and lets the health check kill the service)',
  );
  t.equal(env['ORT_DISABLE_TELEMETRY'], '1', 'ONNX Runtime telemetry off in every replica');
  t.equal(obj(gpu['environment'], 'environment')['ORT_DISABLE_TELEMETRY'], '1', 'and in the GPU replica');
  t.match(
    interpolateDefaults(env['HEALTHCHECK_KILL_AFTER']),
    /^[1-9]\d*$/,
    'a wedged replica is killed by its health check, then restarted',
  );
  // `unless-stopped` and `always` differ only after a daemon restart; `always` is the deliberate choice (docs/deployment.md).
  for (const [name, sv] of [
    ['mixer', mixer],
    ['lb', lb],
    ['mixer-gpu', gpu],
  ] as const)
    t.equal(sv['restart'], 'always', `${name}: restart: always`);
  t.equal(gpu['init'], true, 'the GPU replica has an init too');

  const hc = obj(mixer['healthcheck'], 'healthcheck');
  const imageHc = execForm(runtime.find((i) => i.cmd === 'HEALTHCHECK')!.args.replace(/^.*?CMD\s*/, ''));
  t.same(hc['test'], ['CMD', ...imageHc], 'the compose health check is the image one');
  // A hung service: each check lasts the script's probe timeout, the next starts `interval` after it ends; the kill
  // comes at the end of the KILL_AFTER-th hung check, the first of which starts within one period of the hang.
  const hcSrc = read('deploy/docker/healthcheck.mjs');
  const killAfter = Number(interpolateDefaults(env['HEALTHCHECK_KILL_AFTER']));
  t.equal(String(killAfter), /HEALTHCHECK_KILL_AFTER \?\? '(\d+)'/.exec(hcSrc)?.[1], 'compose and the script agree');
  const probeS = Number(/HEALTHCHECK_TIMEOUT_MS \|\| '(\d+)'/.exec(hcSrc)?.[1]) / 1000;
  const periodS = Number(/^(\d+)s$/.exec(String(hc['interval']))?.[1]) + probeS;
  const [lo, hi] = [(killAfter - 1) * periodS + probeS, killAfter * periodS + probeS];
  t.ok(lo >= 15 && hi <= 35, `a hung replica is killed ${lo}-${hi} s after it hangs (about 30 s)`);
  t.match(read('docs/deployment.md'), `killed ${lo}-${hi} s later`, 'the deployment guide gives that window');
  t.notMatch(read('README.md'), /killed \d+-\d+ s/, 'the README does not repeat it (one source for each figure)');

  const deploy = obj(mixer['deploy'], 'deploy');
  t.ok(Number(interpolateDefaults(deploy['replicas'])) >= 2, 'at least 2 replicas by default');
  for (const [name, s] of [
    ['mixer', mixer],
    ['lb', lb],
    ['mixer-gpu', gpu],
  ] as const) {
    const limits = obj(obj(obj(s['deploy'], `${name}.deploy`)['resources'], 'resources')['limits'], 'limits');
    t.ok(Number(interpolateDefaults(limits['cpus'])) > 0, `${name}: CPU limit`);
    t.match(interpolateDefaults(limits['memory']), /^\d+[mg]$/, `${name}: memory limit`);
  }

  // Custom models: a read-only mount, selected with MODEL_PATH.
  const vols = (mixer['volumes'] as string[]).map(interpolateDefaults);
  t.ok(vols.includes('./models:/models:ro'), 'models folder mounted read-only at /models (MODEL_DIR)');
  t.match(
    String(mixer['environment'] && env['MODEL_PATH']),
    /^\$\{MODEL_PATH:-\/app\/models\/mixer-cifar10\.onnx\}$/,
    'MODEL_PATH defaults to the baked model',
  );
  t.equal(interpolateDefaults(env['MODEL_PATH']), runtimeEnv['MODEL_PATH'], 'same default as the image');

  // Load balancer.
  t.match(String(lb['image']), /^nginx:/, 'nginx load balancer');
  t.same(
    lb['ports'],
    ['${MIXER_PORT:-3000}:80', `\${MIXER_GRPC_PORT:-${grpcPort}}:${grpcPort}`],
    'the stack answers on host port 3000, gRPC on GRPC_PORT',
  );
  t.same(
    obj(obj(lb['depends_on'], 'depends_on')['mixer'], 'mixer'),
    { condition: 'service_healthy' },
    'lb waits for healthy replicas',
  );
  t.ok(
    (lb['volumes'] as string[]).includes('./deploy/nginx/mixer.conf:/etc/nginx/conf.d/default.conf:ro'),
    'nginx config mounted',
  );
  t.same(
    nginxDirective(nginx, 'listen'),
    [['80'], [String(grpcPort), 'http2']],
    'nginx listens where lb publishes; the gRPC listener speaks HTTP/2',
  );
  t.same(nginxDirective(nginx, 'http2'), [], 'no `http2 on` (nginx 1.25.1+ only; Debian stable is older)');
  for (const d of nginxDirective(nginx, 'grpc_next_upstream'))
    t.notOk(d.includes('non_idempotent'), 'gRPC calls a replica received are never re-sent');

  // Opt-in watcher: only with its profile, the same image, the script it runs is in the image.
  const heal = svc('autoheal');
  t.same(heal['profiles'], ['autoheal'], 'the Docker-socket watcher runs only with --profile autoheal');
  t.equal(interpolateDefaults(heal['image']), interpolateDefaults(mixer['image']), 'from the same image');
  const healScript = (heal['entrypoint'] as string[])[1]!;
  t.ok(
    runtime.some((i) => i.cmd === 'COPY' && i.args.endsWith(healScript)),
    `${healScript} is copied into the image`,
  );
  t.match(
    read(healScript),
    new RegExp(`AUTOHEAL_SERVICE \\|\\| '${'mixer'}'`),
    'it watches the mixer service by default',
  );
  t.equal(obj(heal['environment'], 'env')['AUTOHEAL_SERVICE'], 'mixer');
  t.ok(
    (heal['volumes'] as string[]).some((v) => v.startsWith('/var/run/docker.sock:')),
    'it needs the Docker socket',
  );

  // GPU profile.
  t.same(gpu['profiles'], ['gpu'], 'GPU service only with --profile gpu');
  const gargs = obj(obj(gpu['build'], 'build')['args'], 'args');
  t.equal(gargs['VARIANT'], 'cuda');
  t.match(
    interpolateDefaults(gargs['RUNTIME_IMAGE']),
    /^nvidia\/cuda:12\.\d+(\.\d+)?-cudnn-runtime-ubuntu\d+\.\d+$/,
    'CUDA 12 + cuDNN runtime base',
  );
  t.equal(obj(gpu['environment'], 'env')['DEVICE'], 'cuda');
  const devices = obj(obj(obj(gpu['deploy'], 'deploy')['resources'], 'resources')['reservations'], 'reservations')[
    'devices'
  ] as Obj[];
  t.equal(devices[0]?.['driver'], 'nvidia');
  t.same(devices[0]?.['capabilities'], ['gpu']);
  const count = devices[0]?.['count'];
  t.ok(
    count === 'all' || Number.isInteger(count),
    'device count is an integer or "all" (docker-compose 1.29 rejects strings)',
  );
});

t.test('nginx: upstream is the replicas, keep-alive, body limit above the service limit', async (t) => {
  const servers = nginxDirective(nginx, 'server').filter((a) => a[0]!.includes(':'));
  const grpcPort = Number(obj(svc('mixer')['environment'], 'env')['GRPC_PORT']);
  t.same(
    servers.map((a) => a[0]),
    [`mixer:${servicePort}`, `mixer:${grpcPort}`],
    'upstreams = the mixer service on the service port and GRPC_PORT',
  );
  const grpcUpstream = [...nginx.matchAll(/upstream\s+(\S+)\s*\{/g)].map((m) => m[1])[1];
  t.same(nginxDirective(nginx, 'grpc_pass'), [[`grpc://${grpcUpstream}`]], 'gRPC is passed to the gRPC upstream');
  const upstreamName = /upstream\s+(\S+)\s*\{/.exec(nginx)?.[1];
  t.ok(
    nginxDirective(nginx, 'proxy_pass').every((a) => a[0] === `http://${upstreamName}`),
    'everything is proxied to the upstream',
  );
  t.ok(
    nginxDirective(nginx, 'zone').length === 1,
    'one shared zone: one round robin and one failure view for all workers',
  );
  t.ok(nginxDirective(nginx, 'keepalive').length === 2, 'upstream keep-alive');
  t.same(nginxDirective(nginx, 'proxy_http_version'), [['1.1']], 'HTTP/1.1 to the replicas (keep-alive)');
  t.same(
    nginxDirective(nginx, 'proxy_set_header').find((a) => a[0] === 'Connection'),
    ['Connection', '""'],
  );
  t.notOk(
    /X-Upstream/i.test(nginx.replace(/#[^\n]*/g, '')),
    'no X-Upstream header: replica addresses stay in the access log',
  );
  const nginxMax = nginxSize(nginxDirective(nginx, 'client_max_body_size')[0]![0]!);
  const bodyLimit = interpolateDefaults(obj(svc('mixer')['environment'], 'env')['BODY_LIMIT']);
  const serviceMax = Number(parseSetting(setting('BODY_LIMIT'), bodyLimit, 'BODY_LIMIT'));
  t.ok(
    nginxMax > serviceMax,
    `nginx body limit ${nginxMax} > service BODY_LIMIT ${serviceMax}: oversize gets the service's JSON 413`,
  );
  t.ok(
    nginxMax > Number(parseSetting(setting('BODY_LIMIT'), String(setting('BODY_LIMIT').dflt), 'BODY_LIMIT')),
    'also above the service default',
  );
});

/** The body of named location `name` (up to its closing brace at the same depth). */
function block(name: string): string {
  const start = nginx.indexOf(name.startsWith('@') ? `location ${name} {` : `location = ${name} {`);
  if (start < 0) throw new Error(`no location ${name}`);
  let depth = 0;
  for (let i = nginx.indexOf('{', start); i < nginx.length; i++) {
    if (nginx[i] === '{') depth++;
    else if (nginx[i] === '}' && --depth === 0) return nginx.slice(start, i + 1);
  }
  throw new Error(`unclosed location ${name}`);
}

t.test('nginx: a request is re-sent only when the first replica did no work', async (t) => {
  const next = nginxDirective(nginx, 'proxy_next_upstream');
  t.same(
    next,
    [['http_503', 'non_idempotent']],
    'proxy_next_upstream: 503s only (the service sends them before any work), POST included',
  );
  for (const a of next)
    t.notOk(
      a.includes('error') || a.includes('timeout'),
      'never error/timeout next to non_idempotent: that would re-send a POST a replica died on',
    );
  t.same(nginxDirective(nginx, 'proxy_next_upstream_tries'), [['2']], 'at most one retry there');
  t.notOk(
    nginxDirective(nginx, 'proxy_intercept_errors').some((a) => a[0] === 'on'),
    "replica answers are never replaced by nginx's",
  );
  // Server-level error pages come first in the file (the named locations redefine 502/504 for the second attempt).
  const errorPages = new Map<string, string>();
  for (const a of nginxDirective(nginx, 'error_page')) if (!errorPages.has(a[0]!)) errorPages.set(a[0]!, a.at(-1)!);
  for (const code of ['502', '504']) {
    const target = errorPages.get(code)!;
    t.match(target, /^@/, `${code} goes to a named location`);
    const b = block(target);
    t.match(
      b,
      /if \(\$mixer_sent\) \{\s*return 50[24] /,
      `${target}: answers, never re-sends, when the last attempt sent bytes`,
    );
    t.match(b, /proxy_pass http:\/\//, `${target}: re-sends a request that never reached a replica`);
    t.match(b, /error_page 502 = @mixer_502_final;/, `${target}: a second failure is final`);
  }
  t.notMatch(block('@mixer_502_final'), /proxy_pass/, 'no third attempt');
  const sentMap = /map \$upstream_bytes_sent \$mixer_sent \{\s*volatile;\s*"([^"]+)"\s+0;\s*default\s+1;/.exec(nginx);
  t.ok(sentMap, 'mixer_sent comes from $upstream_bytes_sent, re-evaluated after every attempt (volatile)');
  t.match(nginx, /map \$upstream_addr \$mixer_no_replica \{\s*volatile;/, 'mixer_no_replica too');
  const lastSentNothing = new RegExp(sentMap![1]!.replace(/^~/, ''));
  for (const v of ['0', '812, 0', '812 : 0', '0, 0'])
    t.ok(lastSentNothing.test(v), `"${v}": last attempt sent nothing`);
  for (const v of ['812', '0, 812', '0 : 10', '100'])
    t.notOk(lastSentNothing.test(v), `"${v}": last attempt sent the request`);
  const max = /server mixer:\d+ max_fails=(\d+) fail_timeout=(\d+)s;/.exec(nginx);
  t.ok(max && Number(max[1]) >= 1 && Number(max[2]) >= 1, 'a failing replica leaves the rotation for a while');
});

t.test("nginx: a client's gRPC calls never take a replica out of rotation", async (t) => {
  const grpcPort = Number(obj(svc('mixer')['environment'], 'env')['GRPC_PORT']);
  const upstream = /upstream\s+(\S+)\s*\{[^}]*server mixer:(\d+)([^;]*);([^}]*)\}/g;
  const grpcUp = [...nginx.matchAll(upstream)].find((m) => Number(m[2]) === grpcPort);
  t.ok(grpcUp, 'the gRPC upstream');
  // nginx counts error, timeout and invalid_header as failures whatever grpc_next_upstream says; clients can cause all three.
  t.match(grpcUp![3], /\bmax_fails=0\b/, 'max_fails=0 on the gRPC upstream');
  t.same(
    nginxDirective(nginx, 'grpc_next_upstream'),
    [['error', 'timeout']],
    'a call that never reached a replica still goes to the next one',
  );
  const seconds = (v: string) => Number(/^(\d+)s$/.exec(v)?.[1] ?? NaN);
  const env = obj(svc('mixer')['environment'], 'env');
  const requestTimeoutS =
    Number(interpolateDefaults(env['REQUEST_TIMEOUT_MS'] ?? setting('REQUEST_TIMEOUT_MS').dflt)) / 1000;
  const readS = seconds(nginxDirective(nginx, 'grpc_read_timeout')[0]![0]!);
  t.ok(
    readS > requestTimeoutS,
    `grpc_read_timeout ${readS}s > REQUEST_TIMEOUT_MS ${requestTimeoutS}s: the replica answers first`,
  );
  const idleS = Number(interpolateDefaults(env['GRPC_IDLE_TIMEOUT_MS'] ?? setting('GRPC_IDLE_TIMEOUT_MS').dflt)) / 1000;
  const keepS = seconds(/keepalive_timeout\s+(\S+);/.exec(grpcUp![4]!)?.[1] ?? '');
  t.ok(keepS < idleS, `gRPC upstream keepalive_timeout ${keepS}s < GRPC_IDLE_TIMEOUT_MS ${idleS}s`);
});

t.test('nginx: X-Request-Id follows the service rule', async (t) => {
  const m =
    /map \$http_x_request_id \$mixer_request_id \{\s*"~([^"]+)"\s+\$http_x_request_id;\s*default\s+\$request_id;/.exec(
      nginx,
    );
  t.ok(m, "the client's id when valid, else nginx's $request_id");
  const re = new RegExp(m![1]!);
  for (const ok of ['abc', 'A-Z_0.9:x', 'x'.repeat(128), '0123456789abcdef0123456789abcdef'])
    t.ok(re.test(ok), `keeps ${ok.slice(0, 20)}`);
  for (const bad of ['', 'x'.repeat(129), 'a b', 'a;b', 'a/b', 'é', 'a\nb', '<script>'])
    t.notOk(re.test(bad), `replaces ${JSON.stringify(bad.slice(0, 20))}`);
  t.ok(
    nginxDirective(nginx, 'proxy_set_header').some((a) => a[0] === 'X-Request-Id' && a[1] === '$mixer_request_id'),
    'sent to the replica',
  );
  t.ok(
    nginxDirective(nginx, 'add_header').some(
      (a) => a[0] === 'X-Request-Id' && a[1] === '$mixer_request_id' && a[2] === 'always',
    ),
    'on every response, errors included',
  );
  t.match(nginx, /log_format mixer_lb [^;]*id=\$mixer_request_id/, 'and in the access log');
});

t.test("nginx: its own errors are JSON in the service's error shape", async (t) => {
  const returns = [...nginx.replace(/#[^\n]*/g, '').matchAll(/return (\d{3}) '([^']*)';/g)];
  t.ok(returns.length >= 10, `${returns.length} JSON answers`);
  for (const [, code, text] of returns) {
    // nginx turns the trailing \n escape into a newline.
    const b = JSON.parse(text!.replace(/\\n$/, '')) as Record<string, unknown>;
    t.same(Object.keys(b).sort(), ['code', 'error', 'message', 'statusCode'], `${code}: the four fields`);
    t.equal(b['statusCode'], Number(code), `${code}: statusCode matches the status`);
    t.match(String(b['code']), /^[A-Z][A-Z_]+$/, `${code}: code ${b['code']}`);
  }
  const pages = nginxDirective(nginx, 'error_page').map((a) => a[0]);
  for (const code of ['400', '408', '413', '494', '500', '502', '504'])
    t.ok(pages.includes(code), `error_page ${code}`);
  for (const target of new Set(nginxDirective(nginx, 'error_page').map((a) => a.at(-1)!))) {
    t.match(
      block(target),
      /types \{ \}\s*default_type application\/json;/,
      `${target}: served as application/json whatever the URI`,
    );
    if (!target.startsWith('@'))
      t.match(block(target), /\binternal;/, `${target}: internal, clients cannot request it`);
  }
});

t.test('stop grace periods outlast the service drain', async (t) => {
  const env = obj(svc('mixer')['environment'], 'env');
  const delayS = Number(interpolateDefaults(env['DRAIN_DELAY_MS'] ?? setting('DRAIN_DELAY_MS').dflt)) / 1000;
  const drainS = delayS + Number(setting('SHUTDOWN_TIMEOUT_MS').dflt) / 1000;
  for (const name of ['mixer', 'mixer-gpu']) {
    const g = /^(\d+)s$/.exec(String(svc(name)['stop_grace_period']));
    t.ok(g && Number(g[1]) > drainS, `${name}: stop_grace_period > drain delay + drain = ${drainS}s`);
  }
  // The drain delay must end while nginx still has the replica out of rotation (its first 503 counts as a failure).
  const failTimeoutS = Number(/max_fails=1 fail_timeout=(\d+)s/.exec(nginx)?.[1]);
  t.ok(delayS > 0 && delayS < failTimeoutS, `drain delay ${delayS}s > 0 and < nginx fail_timeout ${failTimeoutS}s`);
  t.equal(modelNameFor(runtimeEnv['MODEL_PATH']!), 'mixer-cifar10', 'default model name');
});
