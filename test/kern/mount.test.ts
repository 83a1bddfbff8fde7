// Mounts: crossing mount points with '..', EBUSY, read-only mounts, orphans, and a driver bug turning the mount read-only.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Kernel } from '../../src/kern/kernel.js';
import { tmpfs } from '../../src/fs/tmpfs/index.js';
import { O_CREAT, O_RDWR, O_WRONLY } from '../../src/vfs/fcntl.js';
import type { FileSystemType } from '../../src/vfs/types.js';

const enc = new TextEncoder();

test("'..' crosses mount points in both directions, and getcwd sees through them", async () => {
  const k = await Kernel.boot({ components: [tmpfs] });
  const p = k.newProc();
  await p.mount('tmpfs', '/mnt');
  await p.mkdir('/mnt/sub');
  await p.mount('tmpfs', '/mnt/sub');
  await p.mkdir('/mnt/sub/deep');
  await p.chdir('/mnt/sub/deep');
  assert.equal(await p.getcwd(), '/mnt/sub/deep');
  assert.equal((await p.stat('../../..')).ino, (await p.stat('/')).ino);
  assert.equal((await p.stat('../..')).dev, (await p.stat('/mnt')).dev);
  assert.notEqual((await p.stat('..')).dev, (await p.stat('/mnt')).dev);
  await assert.rejects(p.unmount('/mnt'), { code: 'EBUSY' });
  await assert.rejects(p.unmount('/mnt/sub'), { code: 'EBUSY' });
  await p.chdir('/');
  await p.unmount('/mnt/sub');
  await assert.rejects(p.stat('/mnt/sub/deep'), { code: 'ENOENT' });
  await assert.rejects(p.rename('/mnt/sub', '/x'), { code: 'EXDEV' });
  await k.halt();
});

test('a read-only mount answers EROFS to every mutating call', async () => {
  const k = await Kernel.boot({ components: [tmpfs] });
  const p = k.newProc();
  await p.mount('tmpfs', '/mnt', { readonly: true });
  await assert.rejects(p.mkdir('/mnt/d'), { code: 'EROFS' });
  await assert.rejects(p.open('/mnt/f', O_CREAT | O_WRONLY), { code: 'EROFS' });
  await assert.rejects(p.chmod('/mnt', 0o700), { code: 'EROFS' });
  await assert.rejects(p.symlink('x', '/mnt/l'), { code: 'EROFS' });
  await assert.rejects(p.utimens('/mnt', 'now', 'now'), { code: 'EROFS' });
  assert.equal((await p.statvfs('/mnt')).flag! & 1, 1);
  await k.halt();
});

test('unlink while open: data stays readable until the last close, then the space is freed', async () => {
  const k = await Kernel.boot({ components: [tmpfs] });
  const p = k.newProc();
  await p.mount('tmpfs', '/mnt', { options: 'size=1m' });
  const before = (await p.statvfs('/mnt')).bfree;
  const fd = await p.open('/mnt/f', O_CREAT | O_RDWR);
  await p.write(fd, new Uint8Array(256 * 1024).fill(1));
  await p.unlink('/mnt/f');
  assert.ok((await p.statvfs('/mnt')).bfree < before);
  const buf = new Uint8Array(10);
  assert.equal(await p.pread(fd, buf, 1000), 10);
  assert.equal(buf[0], 1);
  await p.close(fd);
  assert.equal((await p.statvfs('/mnt')).bfree, before);
  await k.halt();
});

test('a driver that throws a plain Error: EIO, a panic on the console, the mount goes read-only', async () => {
  const buggy: FileSystemType = {
    ...tmpfs,
    name: 'buggyfs',
    async mount(dev, opts, ks) {
      const fs = await tmpfs.mount(dev, opts, ks);
      const vget = fs.vget.bind(fs);
      fs.vget = async (key) => {
        const impl = await vget(key);
        if (key !== fs.rootKey) {
          impl.write = async () => {
            throw new TypeError('cannot read properties of undefined');
          };
        }
        return impl;
      };
      return fs;
    },
  };
  const k = await Kernel.boot({ components: [buggy] });
  const p = k.newProc();
  await p.mount('buggyfs', '/mnt');
  const fd = await p.open('/mnt/f', O_CREAT | O_WRONLY);
  await assert.rejects(p.write(fd, enc.encode('x')), (e: { code: string; name: string }) => e.code === 'EIO' && e.name === 'KernelError');
  assert.ok(k.consoleLines.some((l) => l.startsWith('panic:')));
  await assert.rejects(p.mkdir('/mnt/d'), { code: 'EROFS' });
  await p.close(fd);
  await k.halt();
});

test('mount checks: unknown type ENODEV, a device-less mount of a disk component, a busy mount point', async () => {
  const diskfs: FileSystemType = { ...tmpfs, name: 'diskfs', needsDevice: true };
  const k = await Kernel.boot({ components: [tmpfs, diskfs] });
  const p = k.newProc();
  await assert.rejects(p.mount('nosuchfs', '/mnt'), { code: 'ENODEV' });
  await assert.rejects(p.mount('diskfs', '/mnt'), { code: 'ENOTBLK' });
  await assert.rejects(p.mount('diskfs', '/mnt', { source: '/dev/none' }), { code: 'ENXIO' });
  await k.etfs.register('/dev/img0', new Uint8Array(4096), { readonly: true });
  await assert.rejects(p.mount('diskfs', '/mnt', { source: '/dev/img0' }), { code: 'EROFS' });
  await p.mount('tmpfs', '/mnt');
  await assert.rejects(p.mount('tmpfs', '/mnt'), { code: 'EBUSY' });
  assert.equal((await p.stat('/dev/img0')).mode & 0o170000, 0o060000);
  await k.halt();
});
