/**
 * How cd9660 joins the cross-file-system suite: a read-only component whose
 * image is made (by mkiso, with Rock Ridge and Joliet) from a fixed tree,
 * READONLY_FIXTURE, which the suite's read-only bodies check. The profile
 * says so with `fixture: true`.
 *
 * READONLY_FIXTURE is a list of entries, parents before children:
 *   { path, kind: 'dir' }
 *   { path, kind: 'file', size, seed }   contents: fixturePattern(size, seed)
 *   { path, kind: 'symlink', target }
 * Paths are relative, '/'-separated. In the image, files have mode 0644,
 * directories 0755, symlinks 0777, all owned by 0:0. It is the same tree as
 * the suite's FIXTURE (a test in test/fs/cd9660 keeps the two equal).
 */

import type { FsTestProfile } from '../../testing/profile.js';
import { cd9660 } from './index.js';
import { makeIsoImage, memoryTree, type TreeEntry } from './mkiso.js';

export type FixtureEntry =
  | { path: string; kind: 'dir' }
  | { path: string; kind: 'file'; size: number; seed: number }
  | { path: string; kind: 'symlink'; target: string };

/** Deterministic file contents: a linear congruential sequence's high bytes. */
export function fixturePattern(len: number, seed = 1): Uint8Array {
  const out = new Uint8Array(len);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < len; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

const MANY = 120;

export const READONLY_FIXTURE: readonly FixtureEntry[] = [
  { path: 'README.txt', kind: 'file', size: 57, seed: 1 },
  { path: 'empty', kind: 'file', size: 0, seed: 2 },
  { path: 'one-sector', kind: 'file', size: 2048, seed: 3 },
  { path: 'big.bin', kind: 'file', size: 1024 * 1024 + 17, seed: 4 },
  { path: 'a-rather-long-file-name-for-checking-rock-ridge-and-long-name-support.data', kind: 'file', size: 100, seed: 5 },
  { path: 'dir1', kind: 'dir' },
  { path: 'dir1/nested', kind: 'dir' },
  { path: 'dir1/nested/deeper', kind: 'dir' },
  { path: 'dir1/nested/deeper/leaf.txt', kind: 'file', size: 5000, seed: 6 },
  { path: 'dir1/sibling.txt', kind: 'file', size: 10, seed: 7 },
  { path: 'emptydir', kind: 'dir' },
  { path: 'many', kind: 'dir' },
  ...Array.from({ length: MANY }, (_, i): FixtureEntry => ({ path: `many/entry-${String(i).padStart(3, '0')}`, kind: 'file', size: 10 + i, seed: 100 + i })),
  { path: 'link-to-readme', kind: 'symlink', target: 'README.txt' },
  { path: 'dir1/link-up', kind: 'symlink', target: '../dir1/nested' },
  { path: 'dangling', kind: 'symlink', target: 'no/such/file' },
];

/** The fixture as an mkiso source tree. */
export function fixtureTree(entries: readonly FixtureEntry[] = READONLY_FIXTURE): ReturnType<typeof memoryTree> {
  const list: TreeEntry[] = entries.map((e) =>
    e.kind === 'dir' ? { path: e.path, type: 'dir' }
      : e.kind === 'file' ? { path: e.path, type: 'file', content: fixturePattern(e.size, e.seed) }
        : { path: e.path, type: 'symlink', target: e.target });
  return memoryTree(list);
}

let image: Promise<Uint8Array> | undefined;

const profile: FsTestProfile & { fixture: boolean } = {
  name: 'cd9660',
  component: cd9660,
  capabilities: { ...cd9660.capabilities, readonly: true },
  /** The image holds READONLY_FIXTURE whatever size is asked: an ISO is made from a tree, not empty. */
  makeImage(): Promise<Uint8Array> {
    image ??= makeIsoImage(fixtureTree(), { volumeId: 'FIXTURE', time: { sec: 1_700_000_000, nsec: 0 } });
    return image.then((b) => b.slice());
  },
  fixture: true,
};

export const profiles: FsTestProfile[] = [profile];
