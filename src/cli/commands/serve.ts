// `mixer serve`: run the HTTP service; flags override environment variables; SIGTERM/SIGINT drain in-flight requests and exit 0.
import { buildApp } from '../../server/app.js';
import {
  parseSetting,
  resolveConfig,
  SETTINGS,
  type ServerConfig,
  settingArg,
  settingsHelp,
} from '../../server/config.js';
import { num, type Options, oneOf, parse, str } from '../args.js';
import type { Flag } from '../flags.js';

export const help = `mixer serve [--model <model.onnx>] [--port 3000] [--host 0.0.0.0] [--device cpu|cuda|auto] [options]
Every flag has an environment variable (shown after it); a flag wins over its variable.
${settingsHelp()}
ONNX Runtime telemetry is off; --ort-telemetry (or MIXER_ORT_TELEMETRY=1) turns it on.
Endpoints: POST /classify, GET /healthz /readyz /v1/model /v1/models /metrics /openapi.json, the Open Inference Protocol under /v2
and over gRPC with --grpc-port, and the page for people at / (--ui off removes it).`;

/** The flags, one per setting (the parser below reads them from SETTINGS too). */
export const flags: readonly Flag[] = SETTINGS.map((s) => ({
  flag: s.flag,
  kind: 'string',
  arg: settingArg(s),
  help: s.help,
}));

/** Flag values, checked with the shared flag helpers; unset flags are left to the environment and defaults. */
function flagValues(argv: string[]): Partial<ServerConfig> {
  const options: Options = {};
  for (const s of SETTINGS)
    options[s.flag] = s.kind === 'list' ? { type: 'string', multiple: true } : { type: 'string' };
  const { values: v } = parse(argv, options);
  const given: Record<string, string | number | string[]> = {};
  for (const s of SETTINGS) {
    if (v[s.flag] === undefined) continue;
    if (s.kind === 'list') {
      given[s.key] = (v[s.flag] as unknown as string[]).flatMap((x) => parseSetting(s, x, `--${s.flag}`) as string[]);
      continue;
    }
    const bounds = { ...(s.min !== undefined ? { min: s.min } : {}), ...(s.max !== undefined ? { max: s.max } : {}) };
    if (s.kind === 'int') given[s.key] = num(v, s.flag, 0, { int: true, ...bounds });
    else if (s.kind === 'number') given[s.key] = num(v, s.flag, 0, bounds);
    else if (s.kind === 'choice') given[s.key] = oneOf(v, s.flag, s.choices!, s.choices![0]!);
    else if (s.kind === 'bytes') given[s.key] = parseSetting(s, str(v, s.flag), `--${s.flag}`);
    else given[s.key] = parseSetting(s, str(v, s.flag), `--${s.flag}`);
  }
  return given as Partial<ServerConfig>;
}

export async function run(argv: string[]): Promise<number> {
  const config = resolveConfig(flagValues(argv), process.env);
  const app = await buildApp(config);
  await app.listen({ port: config.port, host: config.host });
  app.log.info({ startupMs: Math.round(process.uptime() * 1000), address: app.server.address() }, 'ready');

  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: NodeJS.Signals): void => {
      if (stopping) {
        app.log.warn({ signal }, 'second signal: exiting without waiting');
        process.exit(1);
      }
      stopping = true;
      // From here on /readyz and every new request answer 503 SHUTTING_DOWN (with Connection: close), and in-flight
      // answers close their connection. With a drain delay the listener and idle keep-alive connections stay open
      // meanwhile, so a load balancer gets that retryable answer (and takes this replica out of rotation) instead of
      // a connection reset on a request it had just sent.
      app.mixer.state.closing = true;
      app.log.info(
        { signal, drainDelayMs: config.drainDelayMs },
        'shutting down: new requests get 503, finishing the ones in flight',
      );
      const close = (): void => {
        const timer = setTimeout(() => {
          app.log.error({ timeoutMs: config.shutdownTimeoutMs }, 'shutdown timed out');
          process.exit(1);
        }, config.shutdownTimeoutMs);
        timer.unref();
        app.close().then(
          () => {
            clearTimeout(timer);
            app.log.info('stopped');
            resolve(0);
          },
          (e: unknown) => {
            app.log.error({ err: e }, 'shutdown failed');
            resolve(1);
          },
        );
      };
      if (config.drainDelayMs > 0) setTimeout(close, config.drainDelayMs);
      else close();
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
}
