/**
 * tmpfs driver tests, straight through FsMount/VnodeImpl (no kernel): space
 * and node accounting, sparse files, readdir cookies under concurrent
 * change, '..' and link counts across renames, xattrs, mount options. The
 * data paths are checked against a real file on the host's file system.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { open } from '../../../src/testing/hostfs.js';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { tmpfs, TmpfsMount, TmpNode, parseSize } from '../../../src/fs/tmpfs/index.js';
import { parseOptions, type KernelServices, type NewNode, type Timespec, type VType } from '../../../src/vfs/types.js';
import { tempDir } from '../../../src/testing/tools.js';

let clock = 1_700_000_000;
const services: KernelServices = {
  now: () => ({ sec: clock, nsec: 123_456_789 }),
  log: () => {},
  random: (b) => b.set(randomBytes(b.length)),
  monotonic: () => process.hrtime.bigint(),
};

async function mount(options = ''): Promise<{ fs: TmpfsMount; root: TmpNode }> {
  const fs = (await tmpfs.mount(null, { readonly: false, options: parseOptions(options) }, services)) as TmpfsMount;
  return { fs, root: (await fs.vget(fs.rootKey)) as TmpNode };
}

function nn(type: VType, t: Timespec = services.now(), mode = 0o644): NewNode {
  return { type, mode, uid: 1, gid: 2, time: t };
}

async function mk(fs: TmpfsMount, dir: TmpNode, name: string, type: VType = 'reg'): Promise<TmpNode> {
  const key = type === 'dir' ? await dir.mkdir(name, nn('dir', services.now(), 0o755)) : await dir.create(name, nn(type));
  return (await fs.vget(key)) as TmpNode;
}

async function names(dir: TmpNode, batch = 1000): Promise<string[]> {
  const out: string[] = [];
  let cookie = 0;
  for (;;) {
    const es = await dir.readdir(cookie, batch);
    if (es.length === 0) return out;
    for (const e of es) out.push(e.name);
    cookie = es[es.length - 1]!.next;
  }
}

test('size= parses k/m/g suffixes and rejects nonsense', () => {
  assert.equal(parseSize('64m'), 64 * 1024 * 1024);
  assert.equal(parseSize('1G'), 1024 ** 3);
  assert.equal(parseSize('8192'), 8192);
  assert.equal(parseSize('16k'), 16384);
  for (const bad of ['', 'm', '-1', '1.5m', '12x', '1024', '99999999999999999t']) {
    assert.throws(() => parseSize(bad), { code: 'EINVAL' }, bad);
  }
});

test('mount options: default 256 MiB, size=, nodes=, their Linux names, mode= for the root', async () => {
  const d = await mount();
  assert.equal((await d.fs.statvfs()).blocks * 4096, 256 * 1024 * 1024);
  const { fs, root } = await mount('size=1m,nodes=10,mode=1777,uid=5,gid=6');
  const sv = await fs.statvfs();
  assert.equal(sv.blocks, 256);
  assert.equal(sv.files, 10);
  assert.equal(sv.ffree, 9);
  const a = root.getattr();
  assert.equal(a.mode, 0o1777);
  assert.equal(a.uid, 5);
  assert.equal(a.gid, 6);
  assert.equal(a.type, 'dir');
  assert.equal(a.nlink, 2);
  const linux = await mount('nr_blocks=100,nr_inodes=7');
  const lsv = await linux.fs.statvfs();
  assert.deepEqual([lsv.blocks, lsv.files], [100, 7]);
  await assert.rejects(mount('size=1m,nr_blocks=5'), { code: 'EINVAL' });
  await assert.rejects(mount('nodes=3,nr_inodes=3'), { code: 'EINVAL' });
  await assert.rejects(mount('nodes=0'), { code: 'EINVAL' });
  await assert.rejects(mount('mode=999'), { code: 'EINVAL' });
});

test('statvfs adds up while files grow, shrink and go away', async () => {
  const { fs, root } = await mount('size=1m');
  const f = await mk(fs, root, 'f');
  await f.write(new Uint8Array(10_000), 0, services.now());
  let sv = await fs.statvfs();
  assert.equal(sv.blocks - sv.bfree, 3);
  assert.equal(f.getattr().blocks, 24);
  await f.setattr({ size: 4097 });
  sv = await fs.statvfs();
  assert.equal(sv.blocks - sv.bfree, 2);
  await root.remove('f', f, services.now());
  assert.equal((await fs.statvfs()).bfree, 254, 'an unlinked file keeps its pages until inactive');
  await f.inactive();
  sv = await fs.statvfs();
  assert.equal(sv.bfree, 256);
  assert.equal(sv.ffree, sv.files - 1);
  await assert.rejects(fs.vget(f.key), { code: 'ENOENT' });
});

test('ENOSPC when the size limit is reached, all or nothing, and usable after', async () => {
  const { fs, root } = await mount('size=64k');
  const f = await mk(fs, root, 'big');
  await f.write(new Uint8Array(60 * 1024).fill(7), 0, services.now());
  await assert.rejects(f.write(new Uint8Array(8192).fill(1), 60 * 1024, services.now()), { code: 'ENOSPC' });
  assert.equal(f.getattr().size, 60 * 1024, 'a refused write changes nothing');
  await f.write(new Uint8Array(4096).fill(1), 60 * 1024, services.now());
  await assert.rejects(f.write(new Uint8Array(1), 64 * 1024, services.now()), { code: 'ENOSPC' });
  // Overwriting allocated pages needs no space.
  await f.write(new Uint8Array(64 * 1024).fill(9), 0, services.now());
  await f.setattr({ size: 0 });
  const g = await mk(fs, root, 'g');
  await g.write(new Uint8Array(64 * 1024).fill(3), 0, services.now());
  const back = new Uint8Array(64 * 1024);
  assert.equal(await g.read(back, 0), back.length);
  assert.ok(back.every((b) => b === 3));
});

test('the node limit answers ENOSPC and frees with inactive', async () => {
  const { fs, root } = await mount('nodes=4');
  const a = await mk(fs, root, 'a');
  await mk(fs, root, 'b', 'dir');
  await root.symlink('c', 'a', nn('lnk'));
  await assert.rejects(root.create('d', nn('reg')), { code: 'ENOSPC' });
  await assert.rejects(root.mkdir('d', nn('dir')), { code: 'ENOSPC' });
  assert.equal(await root.lookup('d'), null);
  await root.remove('a', a, services.now());
  await a.inactive();
  await root.create('d', nn('reg'));
});

test('a 1 TiB sparse file costs no pages and reads as zeros', async () => {
  const { fs, root } = await mount('size=1m');
  const f = await mk(fs, root, 'sparse');
  const TiB = 2 ** 40;
  await f.setattr({ size: TiB });
  await f.write(new Uint8Array([1, 2, 3]), TiB - 2, services.now());
  const a = f.getattr();
  assert.equal(a.size, TiB + 1);
  assert.equal(a.blocks, 16, 'two pages: the write crosses a page boundary');
  const buf = new Uint8Array(8).fill(0xff);
  assert.equal(await f.read(buf, TiB - 6), 7);
  assert.deepEqual([...buf], [0, 0, 0, 0, 1, 2, 3, 0xff]);
  // Shrinking a huge sparse file walks its pages, not its length.
  await f.setattr({ size: 5 });
  assert.equal((await fs.statvfs()).bfree, 256);
  await assert.rejects(f.setattr({ size: 2 ** 52 + 4096 }), { code: 'EFBIG' });
  await assert.rejects(f.write(new Uint8Array(2), 2 ** 52 - 1, services.now()), { code: 'EFBIG' });
});

test('random writes, truncates and reads agree with a file on the host', async () => {
  const tmp = await tempDir();
  try {
    const host = await open(join(tmp.path, 'oracle'), 'w+');
    const { fs, root } = await mount('size=16m');
    const f = await mk(fs, root, 'f');
    let seed = 12345;
    const rnd = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const SPAN = 300_000;
    for (let step = 0; step < 400; step++) {
      const op = rnd(10);
      if (op < 6) {
        const off = rnd(SPAN);
        const len = rnd(3) === 0 ? rnd(20_000) : rnd(600);
        const data = new Uint8Array(len).map(() => rnd(256));
        await f.write(data, off, services.now());
        await host.write(data, 0, len, off);
      } else if (op < 8) {
        const size = rnd(SPAN);
        await f.setattr({ size });
        await host.truncate(size);
      } else {
        const off = rnd(SPAN + 1000);
        const len = rnd(30_000);
        const a = new Uint8Array(len);
        const b = new Uint8Array(len);
        const na = await f.read(a, off);
        const { bytesRead: nb } = await host.read(b, 0, len, off);
        assert.equal(na, nb, `read length at step ${step}`);
        assert.deepEqual(a.subarray(0, na), b.subarray(0, nb), `read data at step ${step}`);
      }
      assert.equal(f.getattr().size, (await host.stat()).size, `size at step ${step}`);
    }
    await host.close();
  } finally {
    await tmp.cleanup();
  }
});

test('readdir cookies: entries neither added nor removed are seen exactly once', async () => {
  const { fs, root } = await mount();
  const d = await mk(fs, root, 'd', 'dir');
  const keep = new Set<string>();
  for (let i = 0; i < 500; i++) {
    await d.create(`k${i}`, nn('reg'));
    keep.add(`k${i}`);
    if (i % 2 === 0) await d.create(`t${i}`, nn('reg'));
  }
  const seen = new Map<string, number>();
  let cookie = 0;
  let round = 0;
  for (;;) {
    const es = await d.readdir(cookie, 7);
    if (es.length === 0) break;
    for (const e of es) seen.set(e.name, (seen.get(e.name) ?? 0) + 1);
    cookie = es[es.length - 1]!.next;
    // Churn between batches: remove transient names, add new ones, re-add a removed one.
    round++;
    for (let j = 0; j < 5; j++) {
      const name = `t${(round * 10 + j * 2) % 1000}`;
      const key = await d.lookup(name);
      if (key !== null) await d.remove(name, await fs.vget(key), services.now());
    }
    // New names only for a while: a walker that keeps meeting fresh entries would never finish.
    if (round < 50) await d.create(`n${round}`, nn('reg'));
  }
  for (const k of keep) assert.equal(seen.get(k), 1, k);
  assert.equal(seen.get('.'), 1);
  assert.equal(seen.get('..'), 1);
  for (const [n, c] of seen) assert.equal(c, 1, `${n} seen ${c} times`);
});

test('readdir lists exactly the live names, with types, through compaction', async () => {
  const { fs, root } = await mount();
  for (let i = 0; i < 300; i++) await root.create(`f${i}`, nn('reg'));
  for (let i = 0; i < 300; i += 3) await root.remove(`f${i}`, await fs.vget((await root.lookup(`f${i}`))!), services.now());
  await root.mkdir('sub', nn('dir'));
  await root.symlink('ln', 'f1', nn('lnk'));
  await root.create('p', nn('fifo'));
  const got = await names(root, 13);
  const want = ['.', '..', ...Array.from({ length: 300 }, (_, i) => i).filter((i) => i % 3 !== 0).map((i) => `f${i}`), 'sub', 'ln', 'p'];
  assert.deepEqual(got, want);
  const es = await root.readdir(0, 1000);
  const types = new Map(es.map((e) => [e.name, e.type]));
  assert.equal(types.get('sub'), 'dir');
  assert.equal(types.get('ln'), 'lnk');
  assert.equal(types.get('p'), 'fifo');
  assert.equal(types.get('f1'), 'reg');
});

test("rename moves a directory's '..' and fixes link counts", async () => {
  const { fs, root } = await mount();
  const a = await mk(fs, root, 'a', 'dir');
  const b = await mk(fs, root, 'b', 'dir');
  const c = await mk(fs, a, 'c', 'dir');
  assert.equal(root.getattr().nlink, 4);
  assert.equal(a.getattr().nlink, 3);
  clock += 10;
  await a.rename('c', c, b, 'c2', null, services.now());
  assert.equal(await c.lookup('..'), b.key);
  assert.equal(a.getattr().nlink, 2);
  assert.equal(b.getattr().nlink, 3);
  assert.equal(await a.lookup('c'), null);
  assert.equal(await b.lookup('c2'), c.key);
  for (const n of [a, b, c]) assert.equal(n.getattr().ctime.sec, clock);
  assert.equal(a.getattr().mtime.sec, clock);
  assert.equal(b.getattr().mtime.sec, clock);
  // Over an empty directory: the victim goes, counts stay right.
  const e = await mk(fs, a, 'e', 'dir');
  await b.rename('c2', c, a, 'e', e, services.now());
  assert.equal(e.getattr().nlink, 0);
  assert.equal(a.getattr().nlink, 3);
  assert.equal(b.getattr().nlink, 2);
  assert.equal(await c.lookup('..'), a.key);
  // Over a non-empty directory, and into its own subtree.
  const full = await mk(fs, b, 'full', 'dir');
  await mk(fs, full, 'x');
  await assert.rejects(a.rename('e', c, b, 'full', full, services.now()), { code: 'ENOTEMPTY' });
  await assert.rejects(root.rename('a', a, c, 'inside', null, services.now()), { code: 'EINVAL' });
  // A file over a file: the replaced one loses a link.
  const f = await mk(fs, root, 'f');
  const g = await mk(fs, root, 'g');
  await root.link('g2', g, services.now());
  await root.rename('f', f, root, 'g', g, services.now());
  assert.equal(g.getattr().nlink, 1);
  assert.equal(await root.lookup('g'), f.key);
  // Two names of one file: nothing happens.
  await root.rename('g2', g, root, 'g2', g, services.now());
  assert.equal(await root.lookup('g2'), g.key);
});

test('times: create, write, link, unlink and setattr set the times POSIX names', async () => {
  const { fs, root } = await mount();
  clock += 100;
  const t0 = services.now();
  const f = (await fs.vget(await root.create('f', nn('reg', t0)))) as TmpNode;
  assert.deepEqual([f.atime, f.mtime, f.ctime, f.birthtime], [t0, t0, t0, t0]);
  assert.deepEqual([root.mtime, root.ctime], [t0, t0]);
  const t1 = { sec: t0.sec + 1, nsec: 5 };
  await f.write(new Uint8Array(3), 0, t1);
  assert.deepEqual([f.atime, f.mtime, f.ctime], [t0, t1, t1]);
  const t2 = { sec: t0.sec + 2, nsec: 7 };
  await f.setattr({ atime: t2 });
  assert.deepEqual([f.atime, f.mtime, f.ctime], [t2, t1, t1], 'an atime-only update leaves ctime');
  const t3 = { sec: t0.sec + 3, nsec: 0 };
  await f.setattr({ mode: 0o600, ctime: t3 });
  assert.deepEqual([f.mode, f.ctime, f.mtime], [0o600, t3, t1]);
  const t4 = { sec: t0.sec + 4, nsec: 1 };
  await root.link('h', f, t4);
  assert.deepEqual([f.ctime, root.mtime, root.ctime], [t4, t4, t4]);
  assert.equal(f.nlink, 2);
  const t5 = { sec: t0.sec + 5, nsec: 1 };
  await root.remove('h', f, t5);
  assert.deepEqual([f.ctime, root.mtime, f.mtime], [t5, t5, t1]);
});

test('removed files and directories: open data survives, the directory refuses new entries', async () => {
  const { fs, root } = await mount();
  const f = await mk(fs, root, 'f');
  await f.write(new Uint8Array([1, 2, 3]), 0, services.now());
  await root.remove('f', f, services.now());
  assert.equal(f.getattr().nlink, 0);
  await f.write(new Uint8Array([4]), 3, services.now());
  const buf = new Uint8Array(4);
  assert.equal(await f.read(buf, 0), 4);
  assert.deepEqual([...buf], [1, 2, 3, 4]);
  const d = await mk(fs, root, 'd', 'dir');
  await mk(fs, d, 'x');
  await assert.rejects(root.rmdir('d', d, services.now()), { code: 'ENOTEMPTY' });
  await d.remove('x', (await fs.vget((await d.lookup('x'))!)), services.now());
  await root.rmdir('d', d, services.now());
  assert.equal(root.getattr().nlink, 2);
  await assert.rejects(d.create('y', nn('reg')), { code: 'ENOENT' });
  assert.deepEqual(await d.readdir(0, 100), []);
});

test('symlinks: empty target refused, 1023-byte target kept, 1024 refused', async () => {
  const { fs, root } = await mount();
  await assert.rejects(root.symlink('e', '', nn('lnk')), { code: 'ENOENT' });
  const long = 'x/'.repeat(511) + 'y';
  const l = (await fs.vget(await root.symlink('l', long, nn('lnk')))) as TmpNode;
  assert.equal(await l.readlink(), long);
  assert.equal(l.getattr().size, 1023);
  await assert.rejects(root.symlink('m', long + 'z', nn('lnk')), { code: 'ENAMETOOLONG' });
  const u = (await fs.vget(await root.symlink('u', 'é', nn('lnk')))) as TmpNode;
  assert.equal(u.getattr().size, 2, 'size counts UTF-8 bytes');
  await assert.rejects(u.read(new Uint8Array(1), 0), { code: 'EINVAL' });
});

test('special files and names like __proto__', async () => {
  const { fs, root } = await mount();
  const key = await root.create('__proto__', { ...nn('chr'), rdev: 0x0103 });
  const n = (await fs.vget(key)) as TmpNode;
  assert.equal(n.getattr().type, 'chr');
  assert.equal(n.getattr().rdev, 0x0103);
  assert.equal(await root.lookup('__proto__'), key);
  assert.equal(await root.lookup('constructor'), null);
  await root.create('s', nn('sock'));
  assert.deepEqual((await names(root)).slice(2), ['__proto__', 's']);
  await assert.rejects(root.create('__proto__', nn('reg')), { code: 'EEXIST' });
});

test('xattrs: create/replace flags, limits, and space accounting', async () => {
  const { fs, root } = await mount('size=64k');
  const f = await mk(fs, root, 'f');
  assert.equal(await f.getxattr('user.a'), null);
  await f.setxattr('user.a', new Uint8Array([1, 2]), {});
  assert.deepEqual([...(await f.getxattr('user.a'))!], [1, 2]);
  await assert.rejects(f.setxattr('user.a', new Uint8Array(1), { create: true }), { code: 'EEXIST' });
  await assert.rejects(f.setxattr('user.b', new Uint8Array(1), { replace: true }), { code: 'ENODATA' });
  await f.setxattr('user.a', new Uint8Array([3]), { replace: true });
  assert.deepEqual([...(await f.getxattr('user.a'))!], [3]);
  await assert.rejects(f.setxattr('user.big', new Uint8Array(65537), {}), { code: 'E2BIG' });
  await assert.rejects(f.setxattr('', new Uint8Array(1), {}), { code: 'ERANGE' });
  await f.setxattr('user.c', new Uint8Array(40000), {});
  assert.equal((await fs.statvfs()).bfree, 16 - 10);
  await assert.rejects(f.setxattr('user.d', new Uint8Array(30000), {}), { code: 'ENOSPC' });
  assert.deepEqual(await f.listxattr(), ['user.a', 'user.c']);
  await f.removexattr('user.c');
  await assert.rejects(f.removexattr('user.c'), { code: 'ENODATA' });
  assert.equal((await fs.statvfs()).bfree, 15);
  await root.remove('f', f, services.now());
  await f.inactive();
  assert.equal((await fs.statvfs()).bfree, 16);
});

test('link refuses directories and counts links', async () => {
  const { fs, root } = await mount();
  const d = await mk(fs, root, 'd', 'dir');
  await assert.rejects(root.link('d2', d, services.now()), { code: 'EPERM' });
  const f = await mk(fs, root, 'f');
  for (let i = 0; i < 10; i++) await d.link(`l${i}`, f, services.now());
  assert.equal(f.getattr().nlink, 11);
  await assert.rejects(root.link('f', f, services.now()), { code: 'EEXIST' });
});

test('directory table: a cookie taken before a compaction resumes at the right entry', async () => {
  const { DirTable, FIRST_SEQ } = await import('../../../src/fs/tmpfs/dir.js');
  const t = new DirTable<number>();
  for (let i = 0; i < 100; i++) t.add(`e${i}`, i);
  const first = [...t.from(FIRST_SEQ, 30)];
  assert.deepEqual(first.map((e) => e.node), Array.from({ length: 30 }, (_, i) => i));
  const cookie = first[first.length - 1]!.next;
  // Remove most entries on both sides of the cookie: more dead than live forces a compaction.
  for (let i = 0; i < 100; i++) if (i % 5 !== 0) t.delete(`e${i}`);
  t.add('late', 1000);
  const rest = [...t.from(cookie, 1000)].map((e) => e.node);
  assert.deepEqual(rest, [30, 35, 40, 45, 50, 55, 60, 65, 70, 75, 80, 85, 90, 95, 1000]);
  assert.equal(t.size, 21);
  assert.deepEqual([...t.from(FIRST_SEQ, 5)].map((e) => e.name), ['e0', 'e5', 'e10', 'e15', 'e20']);
  // Re-adding a removed name puts it at the end, with a new cookie.
  t.add('e1', 1);
  const all = [...t.from(FIRST_SEQ, 1000)].map((e) => e.name);
  assert.equal(all[all.length - 1], 'e1');
  assert.equal(new Set(all).size, all.length);
});
