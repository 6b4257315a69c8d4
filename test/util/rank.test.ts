// The one ranking rule (highest score first, ties to the lower index) of argmax, top-k and the labelled predictions.
import t from 'tap';
import { topK } from '../../src/model/predictions.js';
import { argmax, topKIndices } from '../../src/util/rank.js';

t.test('topKIndices: descending score, ties broken by the lower index', async (t) => {
  const row = new Float32Array([0.1, 0.3, 0.2, 0.3, 0.1]);
  t.same(topKIndices(row, 5), [1, 3, 2, 0, 4]);
  t.same(topKIndices(row, 2), [1, 3]);
  t.same(topKIndices([0.5, 0.5, 0.5], 3), [0, 1, 2], 'all equal: index order');
  t.same(topKIndices([1, 2], 10), [1, 0], 'k beyond the row: the whole row');
  t.same(topKIndices([1, 2], 0), []);
  t.same(topKIndices([], 3), []);
});

t.test('argmax: the first of equal maxima, the same index top-1 picks', async (t) => {
  t.equal(argmax([0.2, 0.7, 0.7, 0.1]), 1);
  t.equal(argmax(new Float32Array([-3, -1, -2])), 1);
  t.equal(argmax([4]), 0);
  for (const row of [
    [1, 1],
    [0, 2, 2],
    [-1, -1, -5],
    [3, 0, 3, 3],
  ])
    t.equal(argmax(row), topKIndices(row, 1)[0]);
});

t.test('topK: labels and probabilities of the ranked indices, index as label when the list is short', async (t) => {
  const probs = new Float32Array([0.25, 0.5, 0.25]);
  t.same(topK(probs, ['cat', 'dog'], 3), [
    { label: 'dog', index: 1, probability: 0.5 },
    { label: 'cat', index: 0, probability: 0.25 },
    { label: '2', index: 2, probability: 0.25 },
  ]);
});
