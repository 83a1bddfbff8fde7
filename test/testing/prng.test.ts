// Test data helpers: patternBytes is deterministic, exact in length, and differs between seeds.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { patternBytes } from '../../src/testing/prng.js';

test('patternBytes: same seed same bytes, any length, seeds differ, bytes spread', () => {
  for (let n = 0; n < 10; n++) {
    const a = patternBytes(n, 7);
    assert.equal(a.length, n);
    assert.equal(a.buffer.byteLength, n, 'no hidden tail past the length');
    assert.deepEqual(a, patternBytes(n, 7));
  }
  const a = patternBytes(4096, 1);
  const b = patternBytes(4096, 2);
  assert.notDeepEqual(a, b);
  assert.notDeepEqual(patternBytes(4096, 0), patternBytes(4096, -1));
  assert.ok(new Set(a).size > 200, 'not a short cycle');
  assert.deepEqual(patternBytes(4095, 1), a.subarray(0, 4095));
});
