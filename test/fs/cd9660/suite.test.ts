/**
 * The cross-file-system suite's read-only bodies on cd9660: every case that
 * only reads runs on an image mkiso made from READONLY_FIXTURE, and on one
 * xorriso made from the same tree. Also keeps
 * READONLY_FIXTURE equal to the suite's FIXTURE, so both describe one tree.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { registerProfiles } from '../../../src/testing/fsapply.js';
import { profiles, READONLY_FIXTURE, fixturePattern } from '../../../src/fs/cd9660/profile.js';
import { registerCases } from '../../vfs/suite/register.js';
import { fixtureFor, writeFixtureToHost, cases as fixtureCases } from '../../vfs/suite/fixture.js';
import type { FsTestProfile } from '../../../src/testing/profile.js';
import { readImage, run, tempDir } from '../../../src/testing/tools.js';
import { mkdir, readFile } from '../../../src/testing/hostfs.js';
import { join } from 'node:path';
import { cases as readonlyCases } from '../../vfs/suite/readonly.js';
import { pattern } from '../../vfs/suite/util.js';

/** The same tree as an image xorriso made: the suite then checks the reader against a real tool's output too. */
const xorrisoProfile: FsTestProfile & { fixture: boolean } = {
  ...profiles[0]!,
  name: 'cd9660-xorriso',
  fixture: true,
  async makeImage(): Promise<Uint8Array> {
    const t = await tempDir('cd9660-suite-');
    try {
      const src = join(t.path, 'src');
      await mkdir(src);
      await writeFixtureToHost(src, profiles[0]!.capabilities);
      const iso = join(t.path, 'f.iso');
      await run('xorriso', ['-as', 'mkisofs', '-R', '-J', '-o', iso, src]);
      return await readImage(iso);
    } finally {
      await t.cleanup();
    }
  },
};

registerProfiles([...profiles, xorrisoProfile]);
registerCases([...fixtureCases, ...readonlyCases].filter((c) => c.opts?.readsOnly === true));

test('READONLY_FIXTURE is the suite fixture for cd9660, with the same contents', () => {
  assert.deepEqual(READONLY_FIXTURE, fixtureFor(profiles[0]!.capabilities));
  for (const [n, s] of [[0, 1], [57, 1], [5000, 6], [309, 399]] as const) assert.deepEqual(fixturePattern(n, s), pattern(n, s));
});
