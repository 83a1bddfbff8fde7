// A device cache flush that fails (as an fsync of the host's image file can) must reach the caller: fsync
// and sync answer EIO, never success, and a sync after the fault has passed leaves an image its checker
// finds clean, holding what was written. Every writable device-backed component.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryDevice } from '../../src/dev/blockdev.js';
import { FaultDevice } from '../../src/dev/fault.js';
import { Kernel } from '../../src/kern/kernel.js';
import { MemoryHypercalls } from '../../src/rumpuser/memory.js';
import { allProfiles } from '../../src/fs/profiles.js';
import { O_CREAT, O_RDONLY, O_WRONLY } from '../../src/vfs/fcntl.js';

test('FaultDevice fails flushes only when asked to', async () => {
  const quiet = new FaultDevice(MemoryDevice.zeroed(4096), { every: 1 });
  await quiet.flush();
  const failing = new FaultDevice(MemoryDevice.zeroed(4096), { every: 1, ops: 'flush' });
  await assert.rejects(failing.flush(), { code: 'EIO' });
  await failing.write(new Uint8Array(512), 0);
  assert.equal(failing.failures, 1);
});

const writable = allProfiles.filter((p) => p.makeImage !== undefined && p.capabilities.readonly !== true);

for (const profile of writable) {
  test(`${profile.name}: a failed device flush is EIO from fsync, sync and unmount; the next sync makes the image whole`, async () => {
    const image = await profile.makeImage!(16 * 1024 * 1024);
    const data = new Uint8Array(70_000).map((_, i) => (i * 7 + 3) & 0xff);
    const mem = new MemoryDevice(image);
    const dev = new FaultDevice(mem, { every: 1, ops: 'flush' });
    dev.enabled = false;
    const kernel = await Kernel.boot({ components: [profile.component, ...(profile.extraComponents ?? [])], host: new MemoryHypercalls() });
    try {
      await kernel.etfs.register('/dev/img0', dev);
      const p = kernel.newProc();
      await p.mount(profile.component.name, '/mnt', { source: '/dev/img0', ...(profile.mountOptions ? { options: profile.mountOptions } : {}) });
      const fd = await p.open('/mnt/kept.bin', O_CREAT | O_WRONLY, 0o644);
      assert.equal(await p.write(fd, data), data.length);
      dev.enabled = true;
      await assert.rejects(p.fsync(fd), { code: 'EIO' });
      await assert.rejects(p.sync(), { code: 'EIO' });
      assert.ok(dev.failures >= 2, `${dev.failures} flushes failed`);
      await p.close(fd);
      // An unmount whose last flush fails says so, and leaves the file system mounted to try again.
      await assert.rejects(p.unmount('/mnt'), { code: 'EIO' });
      assert.equal((await p.stat('/mnt/kept.bin')).size, data.length);
      dev.enabled = false;
      await p.sync();
      await p.unmount('/mnt');
    } finally {
      await kernel.halt();
    }
    await profile.check!(mem.bytes);
    // What was written is there, read by a fresh kernel.
    const k2 = await Kernel.boot({ components: [profile.component, ...(profile.extraComponents ?? [])], host: new MemoryHypercalls() });
    try {
      await k2.etfs.register('/dev/img0', mem.bytes, { readonly: true });
      const p = k2.newProc();
      await p.mount(profile.component.name, '/mnt', { source: '/dev/img0', readonly: true });
      const fd = await p.open('/mnt/kept.bin', O_RDONLY);
      const back = new Uint8Array(data.length + 1);
      assert.equal(await p.read(fd, back), data.length);
      assert.deepEqual(back.subarray(0, data.length), data);
      await p.close(fd);
    } finally {
      await k2.halt();
    }
  });
}

test('sync(2) syncs every mount even when one fails, then reports the failure', async () => {
  const fat = allProfiles.find((p) => p.name === 'fat16')!;
  class CountingDevice extends MemoryDevice {
    flushes = 0;
    override async flush(): Promise<void> {
      this.flushes++;
    }
  }
  const failing = new FaultDevice(new MemoryDevice(await fat.makeImage!(8 * 1024 * 1024)), { every: 1, ops: 'flush' });
  failing.enabled = false;
  const counting = new CountingDevice(await fat.makeImage!(8 * 1024 * 1024));
  const kernel = await Kernel.boot({ components: [fat.component], host: new MemoryHypercalls() });
  try {
    await kernel.etfs.register('/dev/a', failing);
    await kernel.etfs.register('/dev/b', counting);
    const p = kernel.newProc();
    await p.mkdir('/a', 0o755);
    await p.mkdir('/b', 0o755);
    await p.mount(fat.component.name, '/a', { source: '/dev/a' });
    await p.mount(fat.component.name, '/b', { source: '/dev/b' });
    for (const m of ['/a', '/b']) await p.close(await p.open(`${m}/new.txt`, O_CREAT | O_WRONLY, 0o644));
    failing.enabled = true;
    const before = counting.flushes;
    await assert.rejects(p.sync(), { code: 'EIO' });
    assert.ok(counting.flushes > before, 'the mount after the failing one was synced too');
    failing.enabled = false;
  } finally {
    await kernel.halt();
  }
});
