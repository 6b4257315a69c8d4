// `mixer serve`: run the HTTP service; flags override environment variables; SIGTERM/SIGINT drain in-flight requests and exit 0.
import { buildApp } from '../../server/app.js';
import { parseSetting, resolveConfig, SETTINGS, type ServerConfig, settingsHelp } from '../../server/config.js';
import { num, oneOf, parse, type Options, str } from '../args.js';

export const help = `mixer serve [--model <model.onnx>] [--port 3000] [--host 0.0.0.0] [--device cpu|cuda|auto] [options]
Every flag has an environment variable (shown after it); a flag wins over its variable.
${settingsHelp()}
Endpoints: POST /classify, GET /healthz /readyz /v1/model /metrics /openapi.json, the Open Inference Protocol under /v2,
and the page for people at / (--ui off removes it).`;

/** Flag values, checked with the shared flag helpers; unset flags are left to the environment and defaults. */
function flags(argv: string[]): Partial<ServerConfig> {
  const options: Options = {};
  for (const s of SETTINGS) options[s.flag] = { type: 'string' };
  const { values: v } = parse(argv, options);
  const given: Record<string, string | number> = {};
  for (const s of SETTINGS) {
    if (v[s.flag] === undefined) continue;
    const bounds = { ...(s.min !== undefined ? { min: s.min } : {}), ...(s.max !== undefined ? { max: s.max } : {}) };
    if (s.kind === 'int') given[s.key] = num(v, s.flag, 0, { int: true, ...bounds });
    else if (s.kind === 'number') given[s.key] = num(v, s.flag, 0, bounds);
    else if (s.kind === 'choice') given[s.key] = oneOf(v, s.flag, s.choices!, s.choices![0]!);
    else if (s.kind === 'bytes') given[s.key] = parseSetting(s, str(v, s.flag), `--${s.flag}`);
    else given[s.key] = str(v, s.flag);
  }
  return given as Partial<ServerConfig>;
}

export async function run(argv: string[]): Promise<number> {
  const config = resolveConfig(flags(argv), process.env);
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
      app.log.info({ signal }, 'shutting down: no new requests, finishing the ones in flight');
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
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
}
