// Parts of the hostile-client benchmark: a `mixer serve` process, timed posts, raw sockets and the server's memory.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { CLI, ROOT } from './common.js';

export interface Served {
  port: number;
  pid: number;
  /** Bytes the server has logged so far (stdout and stderr). */
  logBytes: () => number;
  stop: () => Promise<void>;
}

/** Starts `mixer serve` with `model` on a free loopback port; resolves with its port, pid and a stop(). */
export async function serve(model: string, env: Record<string, string> = {}): Promise<Served> {
  const child = spawn(process.execPath, [CLI, 'serve'], {
    cwd: ROOT,
    env: { ...process.env, PORT: '0', HOST: '127.0.0.1', MODEL_PATH: model, LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => {
    out += d;
  });
  child.stderr.on('data', (d: Buffer) => {
    out += d;
  });
  const exited = new Promise((r) => child.once('exit', r));
  for (let i = 0; i < 2400; i++) {
    const m = /"port":(\d+)/.exec(out);
    if (m) {
      return {
        port: Number(m[1]),
        pid: child.pid ?? 0,
        logBytes: () => out.length,
        stop: async () => {
          child.kill('SIGTERM');
          await exited;
        },
      };
    }
    if (child.exitCode !== null) throw new Error(`serve exited:\n${out}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  child.kill('SIGKILL');
  throw new Error(`serve did not start:\n${out}`);
}

/** VmRSS and VmHWM of a process in MB. */
export function rss(pid: number): { rss: number; hwm: number } {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string): number => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(s)?.[1] ?? NaN);
  return { rss: Math.round(kb('VmRSS') / 1024), hwm: Math.round(kb('VmHWM') / 1024) };
}

export async function timed<T extends object>(fn: () => Promise<T>): Promise<T & { ms: number }> {
  const t0 = performance.now();
  const r = await fn();
  return { ...r, ms: Math.round(performance.now() - t0) };
}

export interface Posted {
  status: number;
  bytes: number;
  body: Buffer;
  headers: Headers;
}

export async function post(
  port: number,
  url: string,
  body: string | Buffer,
  headers: Record<string, string>,
): Promise<Posted> {
  const r = await fetch(`http://127.0.0.1:${port}${url}`, { method: 'POST', body, headers });
  const buf = Buffer.from(await r.arrayBuffer());
  return { status: r.status, bytes: buf.length, body: buf, headers: r.headers };
}

/** The `code` field of a JSON error body, or '' when there is none. */
export function codeOf(body: Buffer): string {
  const j = JSON.parse(body.toString()) as { code?: unknown };
  return typeof j.code === 'string' ? j.code : '';
}

/** Opens a raw socket, writes `text`, and resolves with ms until the server closes it and what it answered. */
export function rawUntilClose(
  port: number,
  text: string,
  limitMs: number,
): Promise<{ ms: number; closed: boolean; got: string }> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const s = net.connect(port, '127.0.0.1');
    let got = '';
    const timer = setTimeout(() => {
      s.destroy();
      resolve({ ms: Math.round(performance.now() - t0), closed: false, got });
    }, limitMs);
    s.on('data', (d) => {
      got += d;
    });
    s.on('error', () => {});
    s.on('close', () => {
      clearTimeout(timer);
      resolve({ ms: Math.round(performance.now() - t0), closed: true, got });
    });
    s.write(text);
  });
}

export const firstLine = (s: string): string => s.split('\r\n')[0] ?? '';
export const bodyOf = (s: string): string => s.split('\r\n\r\n').slice(1).join('\r\n\r\n').slice(0, 160);

/** The hostile-client benches' findings: each case's figures logged as it ends (stderr), then one table (stdout). */
export function caseTable(tag: string): { row: (name: string, figures: string) => void; print: () => void } {
  const rows: { name: string; figures: string }[] = [];
  return {
    row: (name, figures) => {
      rows.push({ name, figures });
      console.error(`[${tag}] ${name}: ${figures}`);
    },
    print: () => {
      console.log('| case | figures |\n|---|---|');
      for (const r of rows) console.log(`| ${r.name} | ${r.figures} |`);
    },
  };
}
