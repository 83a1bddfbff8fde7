// The harness itself: bodies run per profile on a fresh kernel, requirements skip with a reason, remount keeps data.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fsApply, missingRequirements, runBody } from '../../src/testing/fsapply.js';
import { profiles as tmpfsProfiles } from '../../src/fs/tmpfs/profile.js';

fsApply('a fresh file system is empty and mounted at /mnt', async ({ proc }) => {
  assert.equal(await proc.getcwd(), '/mnt');
  const names = (await proc.readdir('.')).map((d) => d.name).filter((n) => n !== 'lost+found');
  assert.deepEqual(names, []);
});

test('requirements a profile lacks are named', () => {
  const ro = { ...tmpfsProfiles[0]!, name: 'ro', capabilities: { readonly: true, symlinks: false } };
  assert.deepEqual(missingRequirements(ro, ['write', 'symlinks', 'hardlinks']), ['write', 'symlinks']);
});

test('a body that throws fails, and the kernel is halted', async () => {
  let k: { isHalted: boolean } | undefined;
  await assert.rejects(
    runBody(tmpfsProfiles[0]!, async (ctx) => {
      k = ctx.kernel;
      throw new Error('boom');
    }),
    /boom/,
  );
  assert.equal(k!.isHalted, true);
});
