/**
 * The cross-file-system suite's read-only bodies on cd9660: every case that
 * only reads runs on an image mkiso made from READONLY_FIXTURE. Also keeps
 * READONLY_FIXTURE equal to the suite's FIXTURE, so both describe one tree.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { registerProfiles } from '../../../src/testing/fsapply.js';
import { profiles, READONLY_FIXTURE, fixturePattern } from '../../../src/fs/cd9660/profile.js';
import { registerCases } from '../../vfs/suite/register.js';
import { fixtureFor, cases as fixtureCases } from '../../vfs/suite/fixture.js';
import { cases as readonlyCases } from '../../vfs/suite/readonly.js';
import { pattern } from '../../vfs/suite/util.js';

registerProfiles(profiles);
registerCases([...fixtureCases, ...readonlyCases].filter((c) => c.opts?.readsOnly === true));

test('READONLY_FIXTURE is the suite fixture for cd9660, with the same contents', () => {
  assert.deepEqual(READONLY_FIXTURE, fixtureFor(profiles[0]!.capabilities));
  for (const [n, s] of [[0, 1], [57, 1], [5000, 6], [309, 399]] as const) assert.deepEqual(fixturePattern(n, s), pattern(n, s));
});
