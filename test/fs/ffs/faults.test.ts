/**
 * ffs under device faults: a failed write must leave the in-memory state consistent, so that later
 * calls that succeed do not damage what the failed one did not touch (found by the fault campaign:
 * `rump faults -t ufs2 --seed 1 --rounds 15 --fraction 0.3`, round 14, lost /mnt/work and the file in it).
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Kernel } from '../../../src/kern/kernel.js';
import { KernelError } from '../../../src/kern/error.js';
import { MemoryHypercalls } from '../../../src/rumpuser/memory.js';
import { DeviceWrapper, MemoryDevice } from '../../../src/dev/blockdev.js';
import { O_CREAT, O_WRONLY } from '../../../src/vfs/fcntl.js';
import { parseOptions } from '../../../src/vfs/types.js';
import { ffs } from '../../../src/fs/ffs/index.js';
import { fsckFfs } from '../../../src/fs/ffs/fsck.js';
import { hostServices } from '../../../src/testing/services.js';

/** Fails the writes whose data holds `name`: the write of the directory chunk that adds or removes that entry. */
class NameFault extends DeviceWrapper {
  entry: Buffer | null = null;
  failed = 0;
  override async write(buf: Uint8Array, offset: number): Promise<void> {
    if (this.entry && Buffer.from(buf.buffer, buf.byteOffset, buf.length).includes(this.entry)) {
      this.failed++;
      throw new KernelError('EIO', `injected write fault at ${offset}`);
    }
    return this.dev.write(buf, offset);
  }
}

for (const version of [1, 2]) {
  test(`ufs${version}: mkdir whose directory entry fails to write keeps the parent's link count; rmdir of it later does not free the parent`, async () => {
    const mem = MemoryDevice.zeroed(4 * 1024 * 1024);
    await ffs.newfs!(mem, { options: parseOptions(`version=${version}`) }, hostServices);
    const dev = new NameFault(mem);
    const k = await Kernel.boot({ components: [ffs], host: new MemoryHypercalls() });
    await k.etfs.register('/dev/img0', dev);
    const p = k.newProc();
    await p.mount('ffs', '/mnt', { source: '/dev/img0' });
    await p.mkdir('/mnt/parent');
    const fd = await p.open('/mnt/parent/keep', O_CREAT | O_WRONLY, 0o644);
    await p.write(fd, new Uint8Array(3000).fill(9));
    await p.close(fd);
    // Twice: each failed mkdir + rmdir took one link of the parent (2 + 0 subdirectories) before the fix.
    for (const name of ['victim-one', 'victim-two']) {
      dev.entry = Buffer.from(name);
      await assert.rejects(p.mkdir(`/mnt/parent/${name}`), { code: 'EIO' });
      dev.entry = null;
      // The entry stayed in the directory (its write failed, not the mkdir's in-memory change): it counts as a link.
      assert.equal((await p.stat('/mnt/parent')).nlink, 3);
      await p.rmdir(`/mnt/parent/${name}`);
      assert.equal((await p.stat('/mnt/parent')).nlink, 2);
    }
    assert.equal(dev.failed, 2);
    await p.unmount('/mnt');
    await p.mount('ffs', '/mnt', { source: '/dev/img0', readonly: true });
    assert.equal((await p.stat('/mnt/parent')).nlink, 2);
    assert.equal((await p.stat('/mnt/parent/keep')).size, 3000);
    await k.halt();
    assert.deepEqual(await fsckFfs(mem.bytes), []);
  });
}
