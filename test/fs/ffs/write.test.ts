/**
 * Writing: a generated tree copied into a file system made by our newfs (and
 * into makefs images), checked by our checker, by sleuthkit (fls -r lists the
 * same names and inodes, icat reads the same bytes), and read back through a
 * fresh mount against the host tree, nanoseconds included.
 */

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readFile } from '../../../src/testing/hostfs.js';
import { tempDir } from '../../../src/testing/tools.js';
import { MemoryDevice } from '../../../src/dev/blockdev.js';
import { parseOptions } from '../../../src/vfs/types.js';
import { ffs } from '../../../src/fs/ffs/index.js';
import { fsckFfs } from '../../../src/fs/ffs/fsck.js';
import { SUPERBLOCK, FS_ISCLEAN } from '../../../src/fs/ffs/layout.js';
import { makeTree, makefsImage, mountBytes, compareTree, flsListing, ourListing, copyIn, icat, services, readAll } from './helpers.js';

let tmp: { path: string; cleanup: () => Promise<void> };
let tree: string;
/** For the other geometries and byte orders: the same kinds of files, fewer of them. */
let smallTree: string;

before(async () => {
  tmp = await tempDir('ffs-write-');
  tree = join(tmp.path, 'tree');
  await makeTree(tree, 300);
  smallTree = join(tmp.path, 'small');
  await makeTree(smallTree, 100);
});
after(() => tmp.cleanup());

async function fresh(size: number, opts: string): Promise<Uint8Array> {
  const dev = MemoryDevice.zeroed(size);
  await ffs.newfs!(dev, { options: parseOptions(opts) }, services);
  return dev.bytes;
}

for (const opts of ['version=1', 'version=2', 'version=2,endian=be', 'version=1,endian=be,bsize=16384,fsize=2048', 'version=2,bsize=4096,fsize=512']) {
  test(`newfs ${opts}: copy a tree in, check it, read it back`, async () => {
    const full = opts === 'version=1' || opts === 'version=2';
    const src = full ? tree : smallTree;
    const img = await fresh(48 << 20, opts);
    assert.deepEqual(await fsckFfs(img), [], 'fresh file system');
    const m = await mountBytes(img, false);
    await copyIn(m, src);
    await m.sync();
    await m.unmount();
    assert.deepEqual(await fsckFfs(img), []);
    const fstype = opts.includes('version=1') ? 'ufs1' : 'ufs2';
    const fls = await flsListing(img, fstype);
    const m2 = await mountBytes(img, true);
    const ours = await ourListing(m2);
    assert.deepEqual([...ours.entries()].sort(), [...fls.entries()].sort(), 'fls -r');
    const n = await compareTree(m2, src, { ns: true, owners: true });
    assert.ok(n > (full ? 300 : 100));
    // icat reads what we wrote: the large, the sparse and a few small files.
    const picks = ['large', 'sparse', 'hard-a', 'long-link', ...[...ours.keys()].filter((p) => /\/f\d+$/.test(p)).slice(0, 2)];
    const inos = picks.map((p) => ours.get(p)!);
    const got = await icat(img, fstype, inos);
    for (const [i, p] of picks.entries()) {
      const want = p === 'long-link' ? Buffer.from('x/'.repeat(100) + 'target') : await readFile(join(src, p));
      assert.ok(got.get(inos[i]!)!.equals(want), `icat ${p}`);
    }
  });
}

test('a makefs image takes writes and stays consistent', async () => {
  for (const version of [1, 2] as const) {
    const img = await makefsImage(join(tree, 'dir0'), version, version === 2, 48, ['-f', '2000']);
    const m = await mountBytes(img, false);
    await copyIn(m, join(tree, 'dir1'));
    await m.unmount();
    assert.deepEqual(await fsckFfs(img), [], `UFS${version}`);
  }
});

test('overwrite, truncate, extend, remove and rename keep the maps right', async () => {
  const img = await fresh(16 << 20, 'version=2');
  const cleanFlag = () => SUPERBLOCK.decode(img, 65536, true).clean;
  assert.equal(cleanFlag(), FS_ISCLEAN, 'newfs leaves it clean');
  const m = await mountBytes(img, false);
  assert.equal(cleanFlag(), 0, 'not clean while mounted read-write');
  assert.ok((await fsckFfs(img)).some((p) => /clean flag/.test(p)));
  const root = await m.vget(m.rootKey);
  const t = services.now();
  const node = (type: 'reg' | 'dir') => ({ type, mode: 0o644, uid: 0, gid: 0, time: t });
  const a = await m.vget(await root.create('a', node('reg')));
  const d = await m.vget(await root.mkdir('d', node('dir')));
  // Fragment growth, promotion to a full block, a block past the direct ones.
  const bytes = new Uint8Array(200_000).map((_, i) => (i * 7) & 0xff);
  await a.write(bytes.subarray(0, 100), 0, t);
  await a.write(bytes.subarray(100, 3000), 100, t);
  await a.write(bytes.subarray(3000, 9000), 3000, t);
  await a.write(bytes.subarray(9000), 9000, t);
  assert.deepEqual(await readAll(a), bytes);
  await a.setattr({ size: 5000 });
  await a.setattr({ size: 150_000 });
  const back = await readAll(a);
  assert.deepEqual(back.subarray(0, 5000), bytes.subarray(0, 5000));
  assert.ok(back.subarray(5000).every((x) => x === 0));
  // The same past the direct blocks: the kept block's tail must read as zeros after extending.
  await a.write(bytes, 0, t);
  await a.setattr({ size: 150_001 });
  await a.setattr({ size: 200_000 });
  const back2 = await readAll(a);
  assert.deepEqual(back2.subarray(0, 150_001), bytes.subarray(0, 150_001));
  assert.ok(back2.subarray(150_001).every((x) => x === 0), 'zeros after the old end');
  await a.setattr({ size: 0 });
  assert.equal(a.getattr().blocks, 0);
  // Many names in one directory, then half of them removed and the rest renamed across.
  for (let i = 0; i < 300; i++) await d.create(`n${i}-${'x'.repeat(i % 40)}`, node('reg'));
  for (let i = 0; i < 300; i += 2) {
    const name = `n${i}-${'x'.repeat(i % 40)}`;
    const v = await m.vget((await d.lookup(name))!);
    await d.remove(name, v, t);
    await v.inactive!();
  }
  for (let i = 1; i < 300; i += 2) {
    const name = `n${i}-${'x'.repeat(i % 40)}`;
    const v = await m.vget((await d.lookup(name))!);
    await d.rename(name, v, root, `moved${i}`, null, t);
  }
  const sub = await m.vget(await d.mkdir('sub', node('dir')));
  await d.rename('sub', sub, root, 'sub2', null, t);
  assert.equal(await sub.lookup('..'), m.rootKey);
  await m.unmount();
  assert.equal(cleanFlag(), FS_ISCLEAN, 'clean again after unmount');
  assert.deepEqual(await fsckFfs(img), []);
});

test('a large file spreads over the cylinder groups; a directory goes to a lightly used group', async () => {
  // Small blocks make small groups (their maps fit one block), so a few MiB cross several.
  const img = await fresh(64 << 20, 'version=2,bsize=4096,fsize=512');
  const m = await mountBytes(img, false);
  const root = await m.vget(m.rootKey);
  const t = services.now();
  const k = await root.create('big', { type: 'reg', mode: 0o644, uid: 0, gid: 0, time: t });
  const v = (await m.vget(k)) as unknown as { bmap(l: number): Promise<number>; m: { g: { dtog(a: number): number; ncg: number } } };
  const data = new Uint8Array(1 << 20).fill(7);
  for (let i = 0; i < 12; i++) await (await m.vget(k)).write(data, i << 20, t);
  const groups = new Set<number>();
  for (let lbn = 0; lbn < (12 << 20) / 4096; lbn += 64) groups.add(v.m.g.dtog(await v.bmap(lbn)));
  assert.ok(v.m.g.ncg > 3 && groups.size >= 3, `blocks in groups ${[...groups].join(',')} of ${v.m.g.ncg}`);
  const d1 = await root.mkdir('d1', { type: 'dir', mode: 0o755, uid: 0, gid: 0, time: t });
  const g = v.m.g as unknown as { inoToCg(i: number): number };
  assert.notEqual(g.inoToCg(d1), g.inoToCg(m.rootKey), 'the new directory avoids the full group');
  await m.unmount();
  assert.deepEqual(await fsckFfs(img), []);
});

test('readdir resumes correctly after the entry at its cookie was removed', async () => {
  const img = await fresh(8 << 20, 'version=1');
  const m = await mountBytes(img, false);
  const root = await m.vget(m.rootKey);
  const t = services.now();
  const node = { type: 'reg' as const, mode: 0o644, uid: 0, gid: 0, time: t };
  for (let i = 0; i < 20; i++) await root.create(`e${i}`, node);
  const first = await root.readdir(0, 7); // '.', '..', e0..e4
  const cookie = first[first.length - 1]!.next; // points at e5
  const e5 = await m.vget((await root.lookup('e5'))!);
  await root.remove('e5', e5, t); // e5 merges into e4's record
  const rest: string[] = [];
  for (let c = cookie; ; ) {
    const ents = await root.readdir(c, 5);
    if (!ents.length) break;
    rest.push(...ents.map((e) => e.name));
    c = ents[ents.length - 1]!.next;
  }
  assert.deepEqual(rest, Array.from({ length: 14 }, (_, i) => `e${i + 6}`));
  await e5.inactive!();
  await m.unmount();
  assert.deepEqual(await fsckFfs(img), []);
});
