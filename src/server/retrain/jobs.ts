// Retrain jobs: `mixer retrain` in a child process (one thread, lowest priority) per model, its progress and report, then the canary of the version it wrote.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { FastifyBaseLogger as Logger } from 'fastify';
import type { RetrainProgress, RetrainReport } from '../../train/retrain/retrain.js';
import { ServiceError } from '../errors.js';
import { checkModelName } from '../repository/names.js';
import { modelNotFound, type Repository } from '../repository/repository.js';
import type { Rollouts, RolloutView } from './rollout.js';

/** The CLI the child runs: dist/cli/main.js (beside dist/server/; from src/, when run as TypeScript, the built one). */
const CLI = fileURLToPath(
  new URL(import.meta.url.endsWith('.ts') ? '../../../dist/cli/main.js' : '../../cli/main.js', import.meta.url),
);

/** Jobs kept for GET after they end (the oldest finished ones go first). */
const KEEP = 100;

export type JobState = 'running' | 'passed' | 'refused' | 'failed';

export interface JobView {
  job: string;
  model: string;
  state: JobState;
  /** The version retrained (the newest READY one when the job started). */
  from_version: number;
  created: string;
  finished: string | null;
  progress: RetrainProgress | null;
  report: RetrainReport | null;
  error: string | null;
  rollout: RolloutView | null;
}

export interface RetrainJobsOptions {
  repo: Repository;
  rollouts: Rollouts;
  root: string;
  feedbackDir: string | null;
  /** Percentage points of original validation accuracy a candidate may lose (mixer retrain --margin). */
  margin: number;
  log: Logger;
}

export class RetrainJobs {
  private readonly jobs = new Map<string, JobView>();
  private readonly children = new Map<string, ChildProcess>();

  constructor(private readonly o: RetrainJobsOptions) {}

  get(id: string): JobView {
    const j = this.jobs.get(id);
    if (!j) throw new ServiceError('NOT_FOUND', `no retrain job ${JSON.stringify(id.slice(0, 64))}`);
    return { ...j, rollout: j.state === 'passed' ? this.o.rollouts.view(j.model) : null };
  }

  /** Every job kept, newest first (the page's view). */
  list(): JobView[] {
    return [...this.jobs.keys()].reverse().map((id) => this.get(id));
  }

  /** Starts a job for `model` (409 when one runs for it). */
  start(model: string): JobView {
    checkModelName(model);
    if (!this.o.feedbackDir)
      throw new ServiceError(
        'CONFLICT',
        'retraining needs the feedback store: start the server with --feedback-dir DIR',
      );
    if (this.children.has(model))
      throw new ServiceError('CONFLICT', `a retrain of "${model}" is already running; wait for it (GET its job)`);
    const open = this.o.rollouts.view(model);
    if (open?.state === 'canary')
      throw new ServiceError(
        'CONFLICT',
        `version ${open.candidate} of "${model}" is still a canary: promote or roll it back before retraining again`,
      );
    const versions = this.o.repo.versions(model);
    if (!versions) throw modelNotFound(model, this.o.repo.names);
    const ready = versions.filter((v) => v.state === 'READY').map((v) => v.version);
    if (ready.length === 0) throw new ServiceError('MODEL_UNAVAILABLE', `"${model}" has no READY version to retrain`);
    const incumbent = Math.max(...ready);
    const before = this.o.rollouts.pin(model, incumbent);
    const job: JobView = {
      job: randomUUID(),
      model,
      state: 'running',
      from_version: incumbent,
      created: new Date().toISOString(),
      finished: null,
      progress: null,
      report: null,
      error: null,
      rollout: null,
    };
    this.jobs.set(job.job, job);
    this.trim();
    const args = [
      CLI,
      'retrain',
      '--model-repository',
      this.o.root,
      '--model',
      model,
      '--feedback-dir',
      this.o.feedbackDir,
      '--margin',
      String(this.o.margin),
      '--threads',
      '1',
      '--nice',
      '19',
      '--cache-dir',
      path.join(os.tmpdir(), 'mixer-decoded'),
      '--json',
    ];
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.children.set(model, child);
    try {
      if (child.pid) os.setPriority(child.pid, 19); // its main thread, and the threads it starts from now on
    } catch {
      // Lowering a child's priority is always allowed on Linux and macOS; elsewhere it runs at ours (it also lowers itself).
    }
    let tail = '';
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (s: string) => {
      tail = (tail + s).slice(-4000);
    });
    createInterface({ input: child.stdout! }).on('line', (line) => {
      try {
        const m = JSON.parse(line) as { event?: string; report?: RetrainReport } & RetrainProgress;
        if (m.event === 'progress') {
          const { event: _e, ...p } = m;
          job.progress = p;
        } else if (m.event === 'report' && m.report) job.report = m.report;
      } catch {
        // Not a JSON line: ignored.
      }
    });
    child.on('error', (err) => {
      job.error = err.message;
    });
    child.on('close', (code, signal) => void this.finish(job, before, code, signal, tail));
    this.o.log.info({ job: job.job, model, from: incumbent, pid: child.pid }, 'retrain started');
    return { ...job };
  }

  private async finish(
    job: JobView,
    before: Parameters<Rollouts['unpin']>[1],
    code: number | null,
    signal: NodeJS.Signals | null,
    tail: string,
  ): Promise<void> {
    this.children.delete(job.model);
    job.finished = new Date().toISOString();
    if (code === 0 && job.report?.written && job.report.version !== null) {
      try {
        await this.o.rollouts.start(job.model, job.from_version, job.report.version, before);
        job.state = 'passed';
      } catch (err) {
        job.state = 'failed';
        job.error = `the gate passed and version ${job.report.version} was written, but its canary could not start: ${(err as Error).message}`;
        this.o.rollouts.unpin(job.model, before);
      }
    } else {
      this.o.rollouts.unpin(job.model, before);
      if (code === 3 && job.report) job.state = 'refused';
      else {
        job.state = 'failed';
        const last = tail
          .trim()
          .split('\n')
          .filter((l) => l.trim() !== '')
          .at(-1);
        job.error ??= signal
          ? `the retrain process was stopped (${signal})`
          : (last?.replace(/^mixer: /, '') ?? `the retrain process exited with status ${code}`);
      }
    }
    this.o.log.info(
      { job: job.job, model: job.model, state: job.state, version: job.report?.version ?? null, error: job.error },
      'retrain finished',
    );
  }

  private trim(): void {
    for (const [id, j] of this.jobs) {
      if (this.jobs.size <= KEEP) break;
      if (j.state !== 'running') this.jobs.delete(id);
    }
  }

  /** Server shutdown: running children are stopped (a version is written by one rename, so none is half-written). */
  close(): void {
    for (const c of this.children.values()) c.kill('SIGTERM');
  }
}
