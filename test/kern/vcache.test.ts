// The vnode cache: unheld vnodes wait on the mount's free list in LRU order and the oldest are reclaimed
// beyond the cap; held vnodes are never reclaimed; an evicted file is loaded again on its next use.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Kernel } from '../../src/kern/kernel.js';
import { tmpfs } from '../../src/fs/tmpfs/index.js';
import { FreeList } from '../../src/vfs/mount.js';
import { Vnode } from '../../src/vfs/vnode.js';
import { O_CREAT, O_RDONLY, O_WRONLY } from '../../src/vfs/fcntl.js';
import type { Mount } from '../../src/vfs/mount.js';
import type { VnodeImpl } from '../../src/vfs/types.js';

test('the free list keeps LRU order; re-adding keeps a place; removal from anywhere', () => {
  const l = new FreeList();
  const v = Array.from({ length: 5 }, (_, i) => new Vnode(null as unknown as Mount, i, null as unknown as VnodeImpl));
  for (const x of v) l.add(x);
  l.add(v[0]!);
  assert.deepEqual([...l].map((x) => x.key), [0, 1, 2, 3, 4]);
  assert.equal(l.delete(v[2]!), true);
  assert.equal(l.delete(v[2]!), false);
  assert.equal(l.delete(v[0]!), true);
  assert.equal(l.delete(v[4]!), true);
  assert.deepEqual([...l].map((x) => x.key), [1, 3]);
  assert.equal(l.size, 2);
  assert.equal(l.first, v[1]);
  l.add(v[4]!);
  l.add(v[0]!);
  assert.deepEqual([...l].map((x) => x.key), [1, 3, 4, 0]);
  assert.ok(l.has(v[3]!) && !l.has(v[2]!));
  l.clear();
  assert.equal(l.size, 0);
  assert.equal(l.first, null);
  assert.deepEqual([...l], []);
  assert.ok(v.every((x) => !l.has(x)));
});

test('beyond the cap the least recently used unheld vnodes go; held ones stay; evicted files load again', async () => {
  const k = await Kernel.boot({ components: [tmpfs] });
  const p = k.newProc();
  await p.mount('tmpfs', '/mnt');
  const mp = k.mounts.find((m) => m.path === '/mnt')!;
  mp.vcacheLimit = 8;
  const enc = new TextEncoder();
  const ino: number[] = [];
  for (let i = 0; i < 40; i++) {
    const fd = await p.open(`/mnt/f${i}`, O_CREAT | O_WRONLY);
    await p.write(fd, enc.encode(`file ${i}`));
    await p.close(fd);
    ino.push((await p.stat(`/mnt/f${i}`)).ino);
  }
  // Held across the churn below: an open descriptor.
  const held = await p.open('/mnt/f0', O_RDONLY);
  for (let i = 1; i < 40; i++) await p.stat(`/mnt/f${i}`);
  assert.ok(mp.freeList.size <= 8, `free list ${mp.freeList.size}`);
  // The survivors are the eight used last, oldest first.
  assert.deepEqual([...mp.freeList].map((vp) => vp.key), ino.slice(32, 40));
  assert.ok(mp.vcache.has(ino[0]!), 'a held vnode is not reclaimed');
  assert.ok(!mp.vcache.has(ino[5]!), 'an old unheld vnode is reclaimed');
  // Used again, an evicted file is loaded afresh and becomes the newest.
  const buf = new Uint8Array(16);
  const fd = await p.open('/mnt/f5', O_RDONLY);
  assert.equal(new TextDecoder().decode(buf.subarray(0, await p.read(fd, buf))), 'file 5');
  await p.close(fd);
  assert.equal([...mp.freeList].at(-1)!.key, ino[5]);
  await p.close(held);
  assert.ok(mp.freeList.size <= 8);
  for (let i = 0; i < 40; i++) assert.equal((await p.stat(`/mnt/f${i}`)).size, `file ${i}`.length);
  await k.halt();
});
