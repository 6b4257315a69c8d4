// The retrain gate: a candidate replaces nothing unless it beats the current version on the held-out feedback (a one-sided sign test on the images where they disagree) and keeps its original validation accuracy within a margin.

/** How one version did: per held-out correction, right or not; accuracy on the original validation split. */
export interface GateScores {
  heldOut: boolean[];
  originalVal: number;
}

export interface GateDecision {
  pass: boolean;
  /** Held-out images only the candidate gets right, and only the current version. */
  wins: number;
  losses: number;
  /** P(at least `wins` of the wins + losses disagreements, were both versions equally good). */
  p: number;
  /** One sentence per condition, with the figures. */
  reasons: string[];
}

/** The significance level of the sign test. */
export const GATE_ALPHA = 0.05;

const pct = (x: number): string => `${(100 * x).toFixed(2)}%`;
export const accuracy = (right: readonly boolean[]): number =>
  right.length === 0 ? 0 : right.filter(Boolean).length / right.length;

/** P(X ≥ k) for X ~ Binomial(n, 1/2). */
export function signTestP(k: number, n: number): number {
  let p = 0;
  let c = 1; // C(n, 0)
  for (let i = 0; i <= n; i++) {
    if (i >= k) p += c;
    c = (c * (n - i)) / (i + 1);
  }
  return Math.min(1, p / 2 ** n);
}

/**
 * Passes when the candidate is better on the held-out feedback beyond chance (more wins than losses, and a one-sided
 * sign test over the disagreements below GATE_ALPHA: a noisy set that happens to move one image does not pass) and
 * loses at most `marginPoints` percentage points on the original validation set (an empty set fails the gate).
 */
export function gate(current: GateScores, candidate: GateScores, marginPoints: number, valCount: number): GateDecision {
  let wins = 0;
  let losses = 0;
  current.heldOut.forEach((was, i) => {
    const now = candidate.heldOut[i]!;
    if (now && !was) wins++;
    if (was && !now) losses++;
  });
  const p = signTestP(wins, wins + losses);
  const better = wins > losses && p < GATE_ALPHA;
  const lost = 100 * (current.originalVal - candidate.originalVal);
  const kept = valCount > 0 && lost <= marginPoints + 1e-9;
  return {
    pass: better && kept,
    wins,
    losses,
    p,
    reasons: [
      `held-out feedback: ${pct(accuracy(current.heldOut))} → ${pct(accuracy(candidate.heldOut))} (${wins} images newly right, ${losses} newly wrong; sign test p = ${p.toPrecision(2)}: ${better ? 'better' : `not better beyond chance (needs p < ${GATE_ALPHA})`})`,
      valCount === 0
        ? 'original validation: no images to check it on'
        : `original validation: ${pct(current.originalVal)} → ${pct(candidate.originalVal)} (${lost > 0 ? `${lost.toFixed(2)} points lost` : 'nothing lost'}; margin ${marginPoints} points: ${kept ? 'kept' : 'exceeded'})`,
    ],
  };
}
