// Tracing in the HTTP benchmark: /classify on three servers, tracing off (the default), on with sampling 0 and on with sampling 1 exporting to a local OTLP/HTTP receiver, interleaved in each round.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Request } from 'autocannon';
import { med } from './common.js';
import { cpuOf, type LoadResult, load, withServer } from './http-harness.js';

export type TracingMode = 'off' | 'sampled0' | 'sampled1';

export interface TracingRow {
  mode: TracingMode;
  rate: number;
  p50: number;
  p99: number;
  errors: number;
  /** The server process's CPU milliseconds per request (user + system, all its threads). */
  cpuMs: number;
  /** Median over the rounds of this mode's req/s over tracing off's in the same round. */
  vsOff: number;
}

export interface TracingFigures {
  rows: TracingRow[];
  /** What the receiver got from the sampling-1 server: export requests and their bytes. */
  exports: number;
  bytes: number;
  rounds: number;
  seconds: number;
}

/** A local OTLP/HTTP receiver that only reads and counts what it is sent (no parsing: it shares the machine). */
async function countingReceiver() {
  const got = { exports: 0, bytes: 0 };
  const server = http.createServer((req, res) => {
    req.on('data', (c: Buffer) => {
      got.bytes += c.length;
    });
    req.on('end', () => {
      got.exports++;
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url, got, close: () => new Promise<void>((r) => server.close(() => r())) };
}

/**
 * The three servers run side by side with the same model and layout (`serveArgs`: [CLI, 'serve', …]); each round
 * loads off, sampling 0 and sampling 1 in turn. Sampling 0 is OTEL_TRACES_SAMPLER=always_off (trace_rate 0: the
 * hooks run, no span is made); sampling 1 is always_on, every request traced and exported in batches.
 */
export async function tracingWorkload(
  serveArgs: string[],
  request: Request,
  o: { connections: number; seconds: number; rounds: number },
): Promise<TracingFigures> {
  const receiver = await countingReceiver();
  const otel = (sampler: string): NodeJS.ProcessEnv => ({
    OTEL_TRACES_EXPORTER: 'otlp',
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
    OTEL_TRACES_SAMPLER: sampler,
  });
  const modes: TracingMode[] = ['off', 'sampled0', 'sampled1'];
  const runs: Record<TracingMode, (LoadResult & { cpuMs: number })[]> = { off: [], sampled0: [], sampled1: [] };
  try {
    await withServer(
      serveArgs,
      'tracing off',
      (offUrl, offPid) =>
        withServer(
          serveArgs,
          'tracing sampling 0',
          (s0Url, s0Pid) =>
            withServer(
              serveArgs,
              'tracing sampling 1',
              async (s1Url, s1Pid) => {
                const urls: Record<TracingMode, string> = { off: offUrl, sampled0: s0Url, sampled1: s1Url };
                const pids: Record<TracingMode, number> = { off: offPid, sampled0: s0Pid, sampled1: s1Pid };
                for (const m of modes) await load(urls[m], request, o.connections, 1); // warm up
                for (let r = 0; r < o.rounds; r++)
                  for (const m of modes)
                    runs[m].push(await cpuOf(pids[m], () => load(urls[m], request, o.connections, o.seconds)));
              },
              otel('always_on'),
            ),
          otel('always_off'),
        ),
      { TRACING: 'off' },
    );
  } finally {
    await receiver.close();
  }
  const rows = modes.map((mode) => ({
    mode,
    rate: med(runs[mode].map((x) => x.rate)),
    p50: med(runs[mode].map((x) => x.p50)),
    p99: med(runs[mode].map((x) => x.p99)),
    errors: runs[mode].reduce((a, x) => a + x.errors, 0),
    cpuMs: med(runs[mode].map((x) => x.cpuMs)),
    vsOff: med(runs[mode].map((x, i) => x.rate / (runs.off[i]?.rate ?? NaN))),
  }));
  return { rows, ...receiver.got, rounds: o.rounds, seconds: o.seconds };
}
