// Ranks a row of scores: the index of the largest and the k largest, in the one tie rule every caller shares.

/** Orders indices by descending score; equal scores: lower index first. */
const byScore =
  (row: ArrayLike<number>) =>
  (a: number, b: number): number =>
    row[b]! - row[a]! || a - b;

/** The indices of the `k` highest scores, highest first (ties: lower index first). */
export function topKIndices(row: ArrayLike<number>, k: number): number[] {
  const idx = Array.from({ length: row.length }, (_, i) => i);
  return idx.sort(byScore(row)).slice(0, Math.max(0, Math.min(k, row.length)));
}

/** The index of the highest score (ties: the lower index); 0 for an empty row. */
export function argmax(row: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i]! > row[best]!) best = i;
  return best;
}
