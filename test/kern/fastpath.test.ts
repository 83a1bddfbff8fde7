// System calls that answer without waiting (namei's walk, lookupNow, vgetNow, readNow) keep the rules of
// the ones that wait: they take the mount's lock only when it is free at once, so they never pass a writer
// holding it or queued for it; a walk that fails part-way holds nothing afterwards; a read of data still
// staged in memory sees it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Kernel } from '../../src/kern/kernel.js';
import { MemoryDevice } from '../../src/dev/blockdev.js';
import { MemoryHypercalls } from '../../src/rumpuser/memory.js';
import { msdosfs } from '../../src/fs/msdosfs/index.js';
import { newfsMsdos } from '../../src/fs/msdosfs/newfs.js';
import { tmpfs } from '../../src/fs/tmpfs/index.js';
import { parseOptions } from '../../src/vfs/types.js';
import { O_CREAT, O_RDONLY, O_RDWR, O_TRUNC, O_WRONLY } from '../../src/vfs/fcntl.js';
import type { Mount } from '../../src/vfs/mount.js';

const services = { now: () => ({ sec: 1700000000, nsec: 0 }), log: () => undefined, random: (b: Uint8Array) => b.fill(1), monotonic: () => 0n };

async function fatKernel() {
  const dev = MemoryDevice.zeroed(16 * 1024 * 1024);
  await newfsMsdos(dev, { options: parseOptions({ fat: 16 }) }, services);
  const host = new MemoryHypercalls();
  host.addFile('image', dev.bytes);
  const k = await Kernel.boot({ components: [msdosfs], host });
  await k.etfs.register('/dev/img0', 'image');
  const p = k.newProc();
  await p.mount('msdosfs', '/mnt', { source: '/dev/img0' });
  const mp = k.mounts.find((m) => m.path === '/mnt')!;
  return { k, p, mp };
}

/** Whether `promise` settles within a few turns of the event loop. */
async function settles(promise: Promise<unknown>): Promise<boolean> {
  let done = false;
  promise.then(
    () => (done = true),
    () => (done = true),
  );
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
  return done;
}

test('lookups and reads answered from memory still wait for a writer holding the mount lock', async () => {
  const { k, p, mp } = await fatKernel();
  const fd = await p.open('/mnt/a.txt', O_CREAT | O_RDWR, 0o644);
  await p.write(fd, new TextEncoder().encode('hello'));
  await p.sync();
  // Everything below is in memory now: without a writer, each call answers at once.
  assert.equal((await p.stat('/mnt/a.txt')).size, 5);
  assert.equal(await p.pread(fd, new Uint8Array(5), 0), 5);
  await mp.lock.enterWrite();
  const stat = p.stat('/mnt/a.txt');
  const read = p.pread(fd, new Uint8Array(5), 0);
  assert.equal(await settles(stat), false, 'stat passed a writer');
  assert.equal(await settles(read), false, 'read passed a writer');
  mp.lock.exitWrite();
  assert.equal((await stat).size, 5);
  assert.equal(await read, 5);
  await p.close(fd);
  await k.halt();
});

test('lookups answered from memory queue behind a writer waiting for the lock (no writer starves)', async () => {
  const { k, p, mp } = await fatKernel();
  await p.close(await p.open('/mnt/b.txt', O_CREAT | O_WRONLY, 0o644));
  await p.stat('/mnt/b.txt');
  await mp.lock.enterRead();
  const order: string[] = [];
  const writer = mp.lock.enterWrite().then(() => {
    order.push('writer');
    mp.lock.exitWrite();
  });
  const stat = p.stat('/mnt/b.txt').then(() => order.push('stat'));
  assert.equal(await settles(stat), false, 'a lookup went ahead of the queued writer');
  mp.lock.exitRead();
  await Promise.all([writer, stat]);
  assert.deepEqual(order, ['writer', 'stat']);
  await k.halt();
});

test('a read on FAT sees data written but not yet on the device (staged), then the same after sync', async () => {
  const { k, p } = await fatKernel();
  const data = new Uint8Array(20000).map((_, i) => (i * 7) & 0xff);
  const fd = await p.open('/mnt/staged.bin', O_CREAT | O_RDWR, 0o644);
  await p.write(fd, data);
  const back = new Uint8Array(data.length);
  assert.equal(await p.pread(fd, back, 0), data.length);
  assert.deepEqual(back, data);
  await p.sync();
  back.fill(0);
  const fd2 = await p.open('/mnt/staged.bin', O_RDONLY);
  assert.equal(await p.read(fd2, back), data.length);
  assert.deepEqual(back, data);
  await p.close(fd2);
  await p.close(fd);
  await k.halt();
});

function held(mp: Mount): number {
  let n = 0;
  for (const vp of mp.vcache.values()) n += vp.usecount;
  return n;
}

test('walks that fail part-way (ENOENT, ENOTDIR, ELOOP, EACCES) leave every vnode as it was', async () => {
  const k = await Kernel.boot({ components: [tmpfs] });
  const p = k.newProc();
  await p.mount('tmpfs', '/mnt');
  const mp = k.mounts.find((m) => m.path === '/mnt')!;
  await p.mkdir('/mnt/d');
  await p.mkdir('/mnt/d/e');
  await p.close(await p.open('/mnt/d/f', O_CREAT | O_WRONLY));
  await p.symlink('loop2', '/mnt/loop1');
  await p.symlink('loop1', '/mnt/loop2');
  await p.symlink('/mnt/d/e', '/mnt/toE');
  await p.mkdir('/mnt/closed', 0o700);
  await p.mkdir('/mnt/closed/in');
  const before = held(mp);
  const user = k.newProc({ uid: 1000, gid: 1000 });
  await assert.rejects(user.stat('/mnt/closed/in'), { code: 'EACCES' });
  await user.exit();
  const fails: [string, string][] = [
    ['/mnt/d/nothere/x', 'ENOENT'],
    ['/mnt/d/f/x', 'ENOTDIR'],
    ['/mnt/loop1/x', 'ELOOP'],
    ['/mnt/toE/../nothere', 'ENOENT'],
  ];
  for (const [path, code] of fails) await assert.rejects(p.stat(path), { code }, path);
  // Through a symlink and '..' out of the mount and back: the walk ends where it should.
  assert.equal((await p.stat('/mnt/toE/../f')).ino, (await p.stat('/mnt/d/f')).ino);
  assert.equal((await p.stat('/mnt/d/e/../../d/./e/..')).ino, (await p.stat('/mnt/d')).ino);
  assert.equal(held(mp), before, 'a vnode stayed held');
  await p.unmount('/mnt');
  await k.halt();
});

test('an open that fails after truncating (no descriptor left: EMFILE) holds nothing', async () => {
  const k = await Kernel.boot({ components: [tmpfs] });
  const p = k.newProc();
  await p.mount('tmpfs', '/mnt');
  const mp = k.mounts.find((m) => m.path === '/mnt')!;
  const fd = await p.open('/mnt/t', O_CREAT | O_WRONLY);
  await p.write(fd, new Uint8Array(100));
  const before = held(mp);
  const fds: number[] = [];
  for (;;) {
    try {
      fds.push(await p.dup(fd));
    } catch (e) {
      assert.equal((e as { code?: string }).code, 'EMFILE');
      break;
    }
  }
  for (const [flags, what] of [[O_WRONLY | O_TRUNC, 'truncating'], [O_RDONLY, 'plain']] as const) {
    await assert.rejects(p.open('/mnt/t', flags), { code: 'EMFILE' }, what);
    assert.equal(held(mp), before, `a ${what} open that failed kept its vnode`);
  }
  assert.equal((await p.stat('/mnt/t')).size, 0);
  for (const d of fds) await p.close(d);
  await p.close(fd);
  await p.unmount('/mnt');
  await k.halt();
});
