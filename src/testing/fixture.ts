/**
 * The fixed tree the cross-file-system suite's read-only bodies check: made
 * through the system calls on writable file systems, and built into the
 * image by read-only components (ISO 9660). File contents are
 * fixturePattern(size, seed).
 */

export type FixtureEntry =
  | { path: string; kind: 'dir' }
  | { path: string; kind: 'file'; size: number; seed: number }
  | { path: string; kind: 'symlink'; target: string };

/** Deterministic file contents: a linear congruential sequence's high bytes, distinct per seed. */
export function fixturePattern(len: number, seed = 1): Uint8Array {
  const out = new Uint8Array(len);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < len; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

export const FIXTURE_MANY = 120;
export const FIXTURE_LONG_NAME = 'a-rather-long-file-name-for-checking-rock-ridge-and-long-name-support.data';
export const FIXTURE_BIG = 1024 * 1024 + 17;

/** The full tree, parents before children (for formats without limits). */
export const FIXTURE: readonly FixtureEntry[] = [
  { path: 'README.txt', kind: 'file', size: 57, seed: 1 },
  { path: 'empty', kind: 'file', size: 0, seed: 2 },
  { path: 'one-sector', kind: 'file', size: 2048, seed: 3 },
  { path: 'big.bin', kind: 'file', size: FIXTURE_BIG, seed: 4 },
  { path: FIXTURE_LONG_NAME, kind: 'file', size: 100, seed: 5 },
  { path: 'dir1', kind: 'dir' },
  { path: 'dir1/nested', kind: 'dir' },
  { path: 'dir1/nested/deeper', kind: 'dir' },
  { path: 'dir1/nested/deeper/leaf.txt', kind: 'file', size: 5000, seed: 6 },
  { path: 'dir1/sibling.txt', kind: 'file', size: 10, seed: 7 },
  { path: 'emptydir', kind: 'dir' },
  { path: 'many', kind: 'dir' },
  ...Array.from({ length: FIXTURE_MANY }, (_, i): FixtureEntry => ({ path: `many/entry-${String(i).padStart(3, '0')}`, kind: 'file', size: 10 + i, seed: 100 + i })),
  { path: 'link-to-readme', kind: 'symlink', target: 'README.txt' },
  { path: 'dir1/link-up', kind: 'symlink', target: '../dir1/nested' },
  { path: 'dangling', kind: 'symlink', target: 'no/such/file' },
];
