// msdosfs under single I/O faults: whichever I/O of a call fails, the tree the mount shows keeps its names
// and link counts in step (a directory whose first read failed went on reporting 2 links, its
// subdirectories left out, after it could be read). See test/fs/fault-sweep.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryDevice } from '../../../src/dev/blockdev.js';
import { msdosfs } from '../../../src/fs/msdosfs/index.js';
import { newfsMsdos } from '../../../src/fs/msdosfs/newfs.js';
import { hostServices } from '../../../src/testing/services.js';
import { parseOptions } from '../../../src/vfs/types.js';
import { NAME_CALLS, sweep } from '../fault-sweep.js';

async function image(): Promise<Uint8Array> {
  const dev = MemoryDevice.zeroed(4 * 1024 * 1024);
  await newfsMsdos(dev, { options: parseOptions({ fat: 16 }) }, hostServices);
  return dev.bytes;
}

test('msdosfs: a directory whose index fails to read when its vnode is made counts its subdirectories once it can be read', async () => {
  const steps = await sweep(msdosfs, await image(), async (p) => {
    for (const d of ['/mnt/d', '/mnt/d/s1', '/mnt/d/s2']) await p.mkdir(d);
  }, (p) => p.stat('/mnt/d'));
  assert.ok(steps.length > 0, 'the stat made no I/O');
  assert.deepEqual(steps.filter((s) => s.problems.length > 0), []);
});

for (const c of NAME_CALLS.filter((x) => !x.hardlinks)) {
  test(`msdosfs: ${c.name} with any one of its I/Os failing leaves names and link counts in step`, async () => {
    const steps = await sweep(msdosfs, await image(), c.setup, c.call);
    // The FAT is in memory and writes wait for sync: a failed read is often read again later, and the call succeeds.
    assert.ok(steps.length > 0, 'the call made no I/O');
    assert.deepEqual(steps.filter((s) => s.problems.length > 0), []);
  });
}
