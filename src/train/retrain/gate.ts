// The retrain gate: a candidate replaces nothing unless it beats the current version on the held-out feedback and keeps its original validation accuracy within a margin.

/** Accuracies (0-1) of one version on the two sets. */
export interface GateScores {
  heldOut: number;
  originalVal: number;
}

export interface GateDecision {
  pass: boolean;
  /** One sentence per condition, with the figures. */
  reasons: string[];
}

const pct = (x: number): string => `${(100 * x).toFixed(2)}%`;

/**
 * Passes when the candidate is strictly better on the held-out feedback and loses at most `marginPoints` percentage
 * points on the original validation set (an empty validation set cannot be checked and fails the gate).
 */
export function gate(current: GateScores, candidate: GateScores, marginPoints: number, valCount: number): GateDecision {
  const better = candidate.heldOut > current.heldOut;
  const loss = 100 * (current.originalVal - candidate.originalVal);
  const kept = valCount > 0 && loss <= marginPoints + 1e-9;
  return {
    pass: better && kept,
    reasons: [
      `held-out feedback: ${pct(current.heldOut)} → ${pct(candidate.heldOut)} (${better ? 'better' : 'not better'})`,
      valCount === 0
        ? 'original validation: no images to check it on'
        : `original validation: ${pct(current.originalVal)} → ${pct(candidate.originalVal)} (${loss > 0 ? `${loss.toFixed(2)} points lost` : 'nothing lost'}; margin ${marginPoints} points: ${kept ? 'kept' : 'exceeded'})`,
    ],
  };
}
