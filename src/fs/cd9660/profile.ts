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

import { FIXTURE, fixturePattern, type FixtureEntry } from '../../testing/fixture.js';
import type { FsTestProfile } from '../../testing/profile.js';
import { cd9660 } from './index.js';
import { makeIsoImage, memoryTree, type TreeEntry } from './mkiso.js';

export type { FixtureEntry } from '../../testing/fixture.js';
export { fixturePattern } from '../../testing/fixture.js';

/** The tree the cd9660 profile's image holds: the suite's whole fixture (ISO 9660 with Rock Ridge has no limit it hits). */
export const READONLY_FIXTURE: readonly FixtureEntry[] = FIXTURE;

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
