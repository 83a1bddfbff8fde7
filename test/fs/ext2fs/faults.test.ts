// ext2fs under single I/O faults: whichever I/O of a name-changing call fails, the tree the mount shows keeps
// its names and link counts in step (a directory renamed to another parent whose '..' block failed to read
// left the new parent a link short; a rename over a file whose orphan-list write failed to read the inode
// block left the source named twice with one link). See test/fs/fault-sweep.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryDevice } from '../../../src/dev/blockdev.js';
import { ext2fs } from '../../../src/fs/ext2fs/index.js';
import { hostServices } from '../../../src/testing/services.js';
import { parseOptions } from '../../../src/vfs/types.js';
import { NAME_CALLS, sweep } from '../fault-sweep.js';

for (const type of ['ext2', 'ext4']) {
  for (const c of NAME_CALLS) {
    test(`${type}: ${c.name} with any one of its I/Os failing leaves names and link counts in step`, async () => {
      const dev = MemoryDevice.zeroed(2 * 1024 * 1024);
      await ext2fs.newfs!(dev, { options: parseOptions(`type=${type},blocksize=1024,nolostfound`) }, hostServices);
      const steps = await sweep(ext2fs, dev.bytes, c.setup, c.call);
      assert.ok(steps.some((s) => s.error !== null), 'no I/O of the call failed it');
      assert.deepEqual(steps.filter((s) => s.problems.length > 0), []);
    });
  }
}

for (const type of ['ext2', 'ext4']) {
  test(`${type}: rename over a file made in the same session (its inode block not read yet) with any one of its I/Os failing leaves names and link counts in step`, async () => {
    const dev = MemoryDevice.zeroed(2 * 1024 * 1024);
    await ext2fs.newfs!(dev, { options: parseOptions(`type=${type},blocksize=1024,nolostfound`) }, hostServices);
    const c = NAME_CALLS.find((x) => x.name === 'rename over a file')!;
    const steps = await sweep(ext2fs, dev.bytes, c.setup, c.call, false);
    assert.ok(steps.some((s) => s.error !== null), 'no I/O of the call failed it');
    assert.deepEqual(steps.filter((s) => s.problems.length > 0), []);
  });
}
