// Turns a row of class probabilities into the top-k predictions of the JSON responses.

export interface Prediction {
  label: string;
  index: number;
  probability: number;
}

/** The k most probable classes, by descending probability (ties: lower index first). */
export function topK(probs: Float32Array, labels: readonly string[], k: number): Prediction[] {
  const idx = Array.from({ length: probs.length }, (_, i) => i);
  idx.sort((a, b) => probs[b]! - probs[a]! || a - b);
  return idx
    .slice(0, Math.min(k, probs.length))
    .map((i) => ({ label: labels[i] ?? String(i), index: i, probability: probs[i]! }));
}
