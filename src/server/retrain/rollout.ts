// Canary rollouts of retrained versions over the traffic splits: start at a share, promote to all, roll back (the folder kept aside), and the optional automatic rule.
import { rename } from 'node:fs/promises';
import path from 'node:path';
import type { FastifyBaseLogger as Logger } from 'fastify';
import { ServiceError } from '../errors.js';
import type { Repository } from '../repository/repository.js';
import type { InferenceStats } from '../stats.js';
import type { TrafficWeights } from '../traffic/split.js';

export type RolloutState = 'canary' | 'promoted' | 'rolled-back';

/** Requests and failures of a version since the rollout started. */
export interface Tally {
  requests: number;
  failures: number;
}

/** GET on a job, and promote/rollback answers: where a model's newest retrained version stands. */
export interface RolloutView {
  model: string;
  incumbent: number;
  candidate: number;
  state: RolloutState;
  /** The candidate's weight while a canary (percent of requests without a version). */
  share: number;
  /** Since the rollout started. */
  incumbent_stats: Tally;
  candidate_stats: Tally;
  /** api, or auto (the --canary-auto-requests rule); null while a canary. */
  decided_by: 'api' | 'auto' | null;
  reason: string | null;
  /** Where a rolled-back version's folder was kept. */
  kept_as: string | null;
}

interface Rollout extends RolloutView {
  /** The weights before the rollout (restored by a rollback). */
  before: TrafficWeights | null;
  base: { incumbent: Tally; candidate: Tally };
}

export interface RolloutOptions {
  repo: Repository;
  stats: InferenceStats;
  root: string;
  /** Percent of the traffic a new version starts with. */
  share: number;
  /** Decide automatically after this many candidate requests (0: never). */
  autoRequests: number;
  log: Logger;
}

export class Rollouts {
  private readonly byModel = new Map<string, Rollout>();
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly o: RolloutOptions) {
    if (o.autoRequests > 0) {
      this.timer = setInterval(() => void this.autoCheck(), 250);
      this.timer.unref();
    }
  }

  private tally(model: string, version: number): Tally {
    const st = this.o.stats.of(model, version).inference_stats;
    return { requests: st.success.count + st.fail.count, failures: st.fail.count };
  }

  private since(r: Rollout, which: 'incumbent' | 'candidate'): Tally {
    const now = this.tally(r.model, r[which]);
    const b = r.base[which];
    return { requests: now.requests - b.requests, failures: now.failures - b.failures };
  }

  view(model: string): RolloutView | null {
    const r = this.byModel.get(model);
    if (!r) return null;
    const { before: _b, base: _base, ...v } = r;
    return r.state === 'canary'
      ? { ...v, incumbent_stats: this.since(r, 'incumbent'), candidate_stats: this.since(r, 'candidate') }
      : { ...v };
  }

  /** Before a retrain: pins today's split (null → the current latest at 100) so that a new version gets nothing until its canary starts. */
  pin(model: string, incumbent: number): TrafficWeights | null {
    const before = this.o.repo.traffic(model).traffic;
    if (before === null) this.o.repo.setTraffic(model, { [String(incumbent)]: 100 });
    return before;
  }

  /** Puts the pinned weights back (a retrain that wrote nothing). */
  unpin(model: string, before: TrafficWeights | null): void {
    try {
      this.o.repo.setTraffic(model, before);
    } catch (err) {
      this.o.log.warn({ model, err: (err as Error).message }, 'could not restore the traffic weights');
    }
  }

  /** Loads the written `candidate` and gives it the canary share next to `incumbent`. */
  async start(
    model: string,
    incumbent: number,
    candidate: number,
    before: TrafficWeights | null,
  ): Promise<RolloutView> {
    await this.o.repo.refresh(model);
    const ready = (this.o.repo.versions(model) ?? []).filter((v) => v.state === 'READY').map((v) => v.version);
    if (!ready.includes(candidate))
      throw new Error(`version ${candidate} of "${model}" did not load: ${this.reasonOf(model, candidate)}`);
    const share = this.o.share;
    const weights: TrafficWeights = ready.includes(incumbent)
      ? { [String(incumbent)]: 100 - share, [String(candidate)]: share }
      : { [String(candidate)]: 100 }; // the version policy keeps only the newest: nothing to share with
    this.o.repo.setTraffic(model, weights);
    const r: Rollout = {
      model,
      incumbent,
      candidate,
      state: ready.includes(incumbent) ? 'canary' : 'promoted',
      share: ready.includes(incumbent) ? share : 100,
      incumbent_stats: { requests: 0, failures: 0 },
      candidate_stats: { requests: 0, failures: 0 },
      decided_by: ready.includes(incumbent) ? null : 'auto',
      reason: ready.includes(incumbent) ? null : `the version policy unloaded version ${incumbent}`,
      kept_as: null,
      before,
      base: { incumbent: this.tally(model, incumbent), candidate: this.tally(model, candidate) },
    };
    this.byModel.set(model, r);
    this.o.log.info({ model, incumbent, candidate, share: r.share }, 'canary started');
    return this.view(model)!;
  }

  private reasonOf(model: string, version: number): string {
    return (this.o.repo.versions(model) ?? []).find((v) => v.version === version)?.reason || 'not found';
  }

  private canary(model: string): Rollout {
    const r = this.byModel.get(model);
    if (r?.state === 'canary') return r;
    throw new ServiceError(
      'CONFLICT',
      r
        ? `"${model}" has no canary: version ${r.candidate} was ${r.state === 'promoted' ? 'promoted' : 'rolled back'}`
        : `"${model}" has no canary: retrain it first (POST /v2/repository/models/${model}/retrain)`,
    );
  }

  private freeze(r: Rollout, by: 'api' | 'auto', reason: string): void {
    r.incumbent_stats = this.since(r, 'incumbent');
    r.candidate_stats = this.since(r, 'candidate');
    r.decided_by = by;
    r.reason = reason;
  }

  /** The candidate takes every request without a version (the incumbent stays loaded, with weight 0). */
  promote(model: string, by: 'api' | 'auto' = 'api', reason = 'promoted through the API'): RolloutView {
    const r = this.canary(model);
    this.o.repo.setTraffic(model, { [String(r.candidate)]: 100 });
    this.freeze(r, by, reason);
    r.state = 'promoted';
    r.share = 100;
    this.o.log.info({ model, version: r.candidate, by, reason }, 'canary promoted');
    return this.view(model)!;
  }

  /**
   * The incumbent gets the split back (the weights from before the retrain), then the candidate's folder is renamed
   * `rolled-back-<version>` (kept, never served) and the model rescanned, so the version drains and unloads.
   */
  async rollback(
    model: string,
    by: 'api' | 'auto' = 'api',
    reason = 'rolled back through the API',
  ): Promise<RolloutView> {
    const r = this.canary(model);
    // The incumbent alone first; the weights from before only once the candidate is gone (null would mean "the
    // latest", which the candidate still is until it unloads).
    this.o.repo.setTraffic(model, { [String(r.incumbent)]: 100 });
    this.freeze(r, by, reason);
    r.state = 'rolled-back';
    r.share = 0;
    const from = path.join(this.o.root, model, String(r.candidate));
    const to = path.join(this.o.root, model, `rolled-back-${r.candidate}`);
    await rename(from, to);
    r.kept_as = path.basename(to);
    await this.o.repo.refresh(model);
    if (r.before === null || Object.keys(r.before).every((v) => Number(v) !== r.candidate)) this.unpin(model, r.before);
    this.o.log.info({ model, version: r.candidate, by, reason, keptAs: r.kept_as }, 'canary rolled back');
    return this.view(model)!;
  }

  /** The automatic rule: after N candidate requests, promote unless its error rate is above the incumbent's. */
  private async autoCheck(): Promise<void> {
    for (const r of this.byModel.values()) {
      if (r.state !== 'canary') continue;
      const c = this.since(r, 'candidate');
      if (c.requests < this.o.autoRequests) continue;
      const i = this.since(r, 'incumbent');
      const cRate = c.failures / c.requests;
      const iRate = i.requests > 0 ? i.failures / i.requests : 0;
      const figures = `candidate ${c.failures}/${c.requests} failed, incumbent ${i.failures}/${i.requests}`;
      try {
        if (cRate <= iRate)
          this.promote(r.model, 'auto', `no higher error rate after ${c.requests} requests (${figures})`);
        else await this.rollback(r.model, 'auto', `higher error rate after ${c.requests} requests (${figures})`);
      } catch (err) {
        this.o.log.error({ model: r.model, err: (err as Error).message }, 'automatic canary decision failed');
      }
    }
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
  }
}
