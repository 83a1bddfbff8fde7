/**
 * Registers suite cases with node:test through fsApply. Every case writes
 * unless it says `readsOnly`, so read-only components (ISO 9660) are
 * reported not applicable for it; cases that need data to survive a remount
 * are reported not applicable on components without a device; fixture cases
 * on a read-only component need a profile whose image holds the fixture tree.
 */

import { test } from 'node:test';
import { fsApply, missingRequirements, registeredProfiles, runBody } from '../../../src/testing/fsapply.js';
import type { Requirement } from '../../../src/testing/fsapply.js';
import { hasFixture, type Case } from './util.js';

export function registerCases(cases: readonly Case[]): void {
  for (const c of cases) {
    const { persistent, readsOnly, fixture, ...opts } = c.opts ?? {};
    const requires: Requirement[] = [...(opts.requires ?? [])];
    if (!readsOnly && !requires.includes('write')) requires.push('write');
    if (!persistent && !fixture) {
      fsApply(c.name, c.body, { ...opts, requires });
      continue;
    }
    for (const profile of registeredProfiles()) {
      const title = `${c.name} [${profile.name}]`;
      const missing = missingRequirements(profile, requires);
      if (persistent && !profile.component.needsDevice) missing.push('persistence (no device)');
      if (fixture && profile.capabilities.readonly === true && !hasFixture(profile)) missing.push('the fixture tree');
      if (missing.length > 0) {
        test(title, { skip: `not applicable: ${profile.name} lacks ${missing.join(', ')}` }, () => undefined);
      } else {
        test(title, () => runBody(profile, c.body, { ...opts, requires }));
      }
    }
  }
}
