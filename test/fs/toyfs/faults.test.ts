// toyfs under single I/O faults: whichever I/O of a name-changing call fails, the tree the mount shows keeps
// its names and link counts in step (a failed mkdir gave back a parent link it had not taken; a rename
// failing part-way left a directory a link short). See test/fs/fault-sweep.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryDevice } from '../../../src/dev/blockdev.js';
import { newfs, toyfs } from '../../../src/fs/toyfs/index.js';
import { NAME_CALLS, sweep } from '../fault-sweep.js';

for (const c of NAME_CALLS) {
  test(`toyfs: ${c.name} with any one of its I/Os failing leaves names and link counts in step`, async () => {
    const dev = MemoryDevice.zeroed(1024 * 1024);
    await newfs(dev);
    const steps = await sweep(toyfs, dev.bytes, c.setup, c.call);
    assert.ok(steps.some((s) => s.error !== null), 'no I/O of the call failed it');
    assert.deepEqual(steps.filter((s) => s.problems.length > 0), []);
  });
}
