/**
 * Registers suite cases with node:test through fsApply. Cases that need data
 * to survive a remount are reported not applicable on components without a
 * device, the way fsApply reports a missing capability.
 */

import { test } from 'node:test';
import { fsApply, registeredProfiles, runBody } from '../../../src/testing/fsapply.js';
import type { Case } from './util.js';

export function registerCases(cases: readonly Case[]): void {
  for (const c of cases) {
    const { persistent, ...opts } = c.opts ?? {};
    if (!persistent) {
      fsApply(c.name, c.body, opts);
      continue;
    }
    for (const profile of registeredProfiles()) {
      const title = `${c.name} [${profile.name}]`;
      if (!profile.component.needsDevice) {
        test(title, { skip: `not applicable: ${profile.name} lacks persistence (no device)` }, () => undefined);
      } else if (profile.capabilities.readonly === true) {
        test(title, { skip: `not applicable: ${profile.name} lacks write` }, () => undefined);
      } else {
        test(title, () => runBody(profile, c.body, opts));
      }
    }
  }
}
