// Turns a row of class probabilities into the labelled top-k predictions of the service's and the CLI's answers.
import { topKIndices } from '../util/rank.js';

export interface Prediction {
  label: string;
  index: number;
  probability: number;
}

/** The k most probable classes, by descending probability (ties: lower index first). */
export function topK(probs: ArrayLike<number>, labels: readonly string[], k: number): Prediction[] {
  return topKIndices(probs, k).map((i) => ({ label: labels[i] ?? String(i), index: i, probability: probs[i]! }));
}
