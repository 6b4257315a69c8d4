// The load test's outputs: the report object, its markdown table and its two-panel SVG chart (throughput, latency).
import path from 'node:path';
import type { Hardware } from '#mixer/bench/hardware.js';
import type { Baselines, CannonResult } from './loadtest-cannon.js';

export interface Row extends CannonResult {
  ratioRawModel: number | null;
  ratioBareRoute: number | null;
}

/** What the target's GET /v1/model answered (null when it did not). */
export interface TargetModel {
  name?: string;
  provider?: string;
  executionProvider?: string;
}

export interface Report {
  name: string;
  startedAt: string;
  /** The load generator's machine on one line (see hardwareLine). */
  host: string;
  /** The load generator's machine: CPU model and flags, cores, ORT and Node versions, threads (see hardware.ts). */
  hardware: Hardware;
  target: { url: string; path: string; model: TargetModel | null };
  images: { count: number; source: string; files: string[] };
  durationS: number;
  baselines: Baselines;
  rows: Row[];
}

type Num = number | null | undefined;
export const f0 = (n: Num): string => (n === null || n === undefined ? '–' : Math.round(n).toLocaleString('en-US'));
export const f1 = (n: Num): string => (n === null || n === undefined ? '–' : n.toFixed(1));
const f2 = (n: Num): string => (n === null || n === undefined || !Number.isFinite(n) ? '–' : n.toFixed(2));

export function markdown(report: Report): string {
  const { rows, baselines } = report;
  const lines = [
    '<!-- Load-test results written by bench/loadtest.ts (npm run loadtest). -->',
    `### ${report.name}: ${report.target.url}`,
    '',
    `${report.startedAt}, ${report.images.count} ${report.images.source} images, ${report.durationS} s per level, ` +
      `model \`${report.target.model?.name ?? '?'}\` on ${report.target.model?.provider ?? '?'}. Load generator: ${report.host}.`,
    '',
    '| connections | req/s | p50 ms | p90 ms | p99 ms | errors | × raw model | × bare route |',
    '|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const r of rows) {
    lines.push(
      `| ${r.connections} | ${f0(r.reqPerSec)} | ${f1(r.latencyMs.p50)} | ${f1(r.latencyMs.p90)} | ${f1(r.latencyMs.p99)} | ${r.errors} | ${f2(r.ratioRawModel)} | ${f2(r.ratioBareRoute)} |`,
    );
  }
  lines.push('');
  const b: string[] = [];
  if (baselines.rawModel)
    b.push(
      `raw model ${f0(baselines.rawModel.imagesPerSec)} images/s` +
        (baselines.rawModel.threads
          ? ` (batch ${baselines.rawModel.batch}, ${baselines.rawModel.workers ?? 1} worker(s) × ${baselines.rawModel.threads} ORT thread(s))`
          : ''),
    );
  if (baselines.bareRoute)
    b.push(
      `bare Fastify route ${f0(baselines.bareRoute.reqPerSec)} req/s` +
        (baselines.bareRoute.connections ? ` (${baselines.bareRoute.connections} connections, same bodies)` : ''),
    );
  lines.push(
    b.length
      ? `Baselines${baselines.source ? ` (from ${path.basename(baselines.source)})` : ' (same run)'}: ${b.join('; ')}.`
      : 'No baselines.',
  );
  return `${lines.join('\n')}\n`;
}

interface Series {
  label: string;
  color: string;
  get?: (r: Row) => number;
  /** A horizontal baseline at this value. */
  flat?: number | undefined;
  /** Only a legend entry (the value is off scale). */
  legendOnly?: boolean;
}

const esc = (s: string): string =>
  s.replace(/[<&>]/g, (c) => ({ '<': '&lt;', '&': '&amp;', '>': '&gt;' })[c as '<' | '&' | '>']);

export function svg(report: Report): string {
  const W = 760;
  const H = 300;
  const pad = { l: 64, r: 16, t: 36, b: 44 };
  const gap = 60;
  const pw = (W - pad.l - pad.r - gap) / 2;
  const ph = H - pad.t - pad.b;
  const rows = report.rows;
  const xs = rows.map((_, i) => (rows.length === 1 ? pw / 2 : (i * pw) / (rows.length - 1)));
  // The bare route is usually 10-100x the service: scale to the service and the raw model, and label it when off scale.
  const maxRps = Math.max(1, ...rows.map((r) => r.reqPerSec), report.baselines.rawModel?.imagesPerSec ?? 0) * 1.15;
  const maxLat = Math.max(1, ...rows.map((r) => r.latencyMs.p99)) * 1.1;
  const panel = (x0: number, title: string, max: number, unit: string, series: Series[]): string => {
    const y = (v: number): number => pad.t + ph - (v / max) * ph;
    let s = `<g><text x="${x0 + pw / 2}" y="20" text-anchor="middle" font-weight="bold">${esc(title)}</text>`;
    s += `<line x1="${x0}" y1="${pad.t + ph}" x2="${x0 + pw}" y2="${pad.t + ph}" stroke="#333"/><line x1="${x0}" y1="${pad.t}" x2="${x0}" y2="${pad.t + ph}" stroke="#333"/>`;
    for (let k = 0; k <= 4; k++) {
      const v = (max * k) / 4;
      s += `<line x1="${x0}" y1="${y(v)}" x2="${x0 + pw}" y2="${y(v)}" stroke="#ddd"/><text x="${x0 - 6}" y="${y(v) + 4}" text-anchor="end" font-size="11">${f0(v)}</text>`;
    }
    rows.forEach((r, i) => {
      s += `<text x="${x0 + (xs[i] ?? 0)}" y="${pad.t + ph + 16}" text-anchor="middle" font-size="11">${r.connections}</text>`;
    });
    s += `<text x="${x0 + pw / 2}" y="${H - 8}" text-anchor="middle" font-size="11">connections</text>`;
    s += `<text x="${x0 - 50}" y="${pad.t + ph / 2}" font-size="11" transform="rotate(-90 ${x0 - 50} ${pad.t + ph / 2})" text-anchor="middle">${unit}</text>`;
    series.forEach((se, k) => {
      if (se.legendOnly) {
        // legend entry only
      } else if (se.flat !== undefined) {
        s += `<line x1="${x0}" y1="${y(se.flat)}" x2="${x0 + pw}" y2="${y(se.flat)}" stroke="${se.color}" stroke-dasharray="5 4"/>`;
      } else if (se.get) {
        const get = se.get;
        const pts = rows.map((r, i) => `${x0 + (xs[i] ?? 0)},${y(get(r))}`).join(' ');
        s += `<polyline points="${pts}" fill="none" stroke="${se.color}" stroke-width="2"/>`;
        rows.forEach((r, i) => {
          s += `<circle cx="${x0 + (xs[i] ?? 0)}" cy="${y(get(r))}" r="3" fill="${se.color}"/>`;
        });
      }
      s += `<rect x="${x0 + 8}" y="${pad.t + 6 + k * 16}" width="10" height="10" fill="${se.color}"/><text x="${x0 + 22}" y="${pad.t + 15 + k * 16}" font-size="11">${esc(se.label)}</text>`;
    });
    return `${s}</g>`;
  };
  const rpsSeries: Series[] = [{ label: 'service req/s', color: '#1f77b4', get: (r) => r.reqPerSec }];
  const rawB = report.baselines.rawModel;
  const bareB = report.baselines.bareRoute;
  if (rawB)
    rpsSeries.push({ label: `raw model ${f0(rawB.imagesPerSec)} images/s`, color: '#2ca02c', flat: rawB.imagesPerSec });
  if (bareB) {
    const off = bareB.reqPerSec > maxRps;
    rpsSeries.push({
      label: `bare route ${f0(bareB.reqPerSec)}/s${off ? ' (off scale)' : ''}`,
      color: '#999',
      flat: off ? undefined : bareB.reqPerSec,
      legendOnly: off,
    });
  }
  const latSeries: Series[] = [
    { label: 'p50', color: '#2ca02c', get: (r) => r.latencyMs.p50 },
    { label: 'p90', color: '#ff7f0e', get: (r) => r.latencyMs.p90 },
    { label: 'p99', color: '#d62728', get: (r) => r.latencyMs.p99 },
  ];
  return (
    '<!-- Load-test chart written by bench/loadtest.ts (npm run loadtest). -->\n' +
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">` +
    `<rect width="${W}" height="${H}" fill="white"/>` +
    panel(pad.l, `${report.name}: throughput`, maxRps, 'per second', rpsSeries) +
    panel(pad.l + pw + gap, 'latency', maxLat, 'ms', latSeries) +
    '</svg>\n'
  );
}
