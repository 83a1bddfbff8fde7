/**
 * The answers ext2fs gives without waiting (lookupNow, vgetNow, readNow: walks run by Ext2Fs.runNow) are
 * the ones it gives by waiting (Ext2Fs.run). Every name, inode, byte and error of images made by mke2fs -d
 * (hashed and linear directories, extents and block maps, inline data, holes, files larger than a device
 * reads at once) is compared between a mount that answers at once and one that can only wait (a buffer
 * cache that never hands a block out at once, a device without readNow); on a read-write mount, data
 * written and not yet on the device reads back at once as it was written.
 */

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { DeviceWrapper, HostDevice } from '../../../src/dev/blockdev.js';
import { ext2fs } from '../../../src/fs/ext2fs/index.js';
import type { Ext2Fs } from '../../../src/fs/ext2fs/fs.js';
import { IFLAG } from '../../../src/fs/ext2fs/layout.js';
import type { Ext2Vnode } from '../../../src/fs/ext2fs/vnode.js';
import { WriteBehind } from '../../../src/fs/ext2fs/wback.js';
import { MemoryHypercalls } from '../../../src/rumpuser/memory.js';
import { NodeHypercalls } from '../../../src/rumpuser/node.js';
import { copyFile, mkdir, readFile, writeFile } from '../../../src/testing/hostfs.js';
import { Prng, patternBytes } from '../../../src/testing/prng.js';
import { run, tempDir } from '../../../src/testing/tools.js';
import { parseOptions, type FsMount, type VnodeImpl } from '../../../src/vfs/types.js';
import { fsck, indexDirs, listDir, makeTree, mke2fs, services } from './helpers.js';

const work = await tempDir('ext2fs-fastpath-');
after(() => work.cleanup());

const tree = join(work.path, 'tree');
await mkdir(tree);
// 300 files (some of 300,000 bytes: more than a host file reads at once), a 2,000-entry directory, odd
// names, symlinks short and long, hard links, and a 50 MiB file with three blocks of data.
await makeTree(tree, { files: 300, bigDir: 2000, hugeSparse: false });
// For inline data, sizes mke2fs copies right: 1.47.0 -d -O inline_data stored a 4,097-byte file of the tree above as 4,096 bytes.
const smallTree = join(work.path, 'small');
await mkdir(smallTree);
await makeTree(smallTree, { files: 300, bigDir: 2000, hugeSparse: false, sizes: [0, 1, 30, 59, 60, 100, 150, 3000, 20000] });

interface Side {
  m: FsMount;
  fs: Ext2Fs;
  host: HostDevice;
}

/** Mounts the image file directly on a host-file device: `fast`, or only able to wait. */
async function mountFile(img: string, readonly: boolean, fast: boolean): Promise<Side> {
  const host = await HostDevice.open(await new NodeHypercalls().open(img, { readonly }));
  // A DeviceWrapper passes reads on but has no readNow.
  const m = await ext2fs.mount(fast ? host : new DeviceWrapper(host), { readonly, options: parseOptions('') }, services());
  const fs = (m as unknown as { fs: Ext2Fs }).fs;
  if (!fast) onlyWait(fs);
  return { m, fs, host };
}

async function unmount(s: Side): Promise<void> {
  await s.m.unmount();
  await s.host.close();
}

/** From now on the mount's walks find no block in the cache at once and read no file data at once. */
function onlyWait(fs: Ext2Fs): void {
  Object.defineProperty(fs.bio, 'peek', { value: () => undefined, configurable: true });
  Object.defineProperty(fs.dev, 'readNow', { value: undefined, configurable: true });
}

function mayAnswerNow(fs: Ext2Fs): void {
  delete (fs.bio as { peek?: unknown }).peek;
  delete (fs.dev as { readNow?: unknown }).readNow;
}

interface Outcome<T> {
  v?: T;
  e?: string;
}

async function outcome<T>(f: () => T | Promise<T>): Promise<Outcome<T>> {
  try {
    return { v: await f() };
  } catch (e) {
    const k = e as { code?: string; detail?: string };
    assert.ok(k.code, `not a KernelError: ${String(e)}`);
    return { e: `${k.code} ${k.detail}` };
  }
}

/** [answered at once, asked]. */
type Tally = [number, number];

/** The answer at once when there is one (an error counts as one), else the waiting call's. */
async function nowOr<T>(tally: Tally, now: () => T | undefined, wait: () => Promise<T>): Promise<Outcome<T>> {
  tally[1]++;
  const o = await outcome(now);
  if (o.e === undefined && o.v === undefined) return outcome(wait);
  tally[0]++;
  return o as Outcome<T>;
}

const attrs = (o: Outcome<VnodeImpl>): Outcome<unknown> => (o.v ? { v: o.v.getattr() } : o);

/** Reads as a walk does (1 MiB at a time), then pieces at awkward offsets, around and past the end. */
function pieces(size: number, bs: number): [number, number][] {
  const out: [number, number][] = [];
  for (let off = 0; off < size; off += 1024 * 1024) out.push([off, 1024 * 1024]);
  out.push([1, 5000], [bs - 3, 10], [Math.max(0, size - 7), 100], [size, 10], [size + 3 * bs, 10]);
  return out;
}

interface Tallies {
  /** Lookups in a directory none of whose blocks a readdir read first, then the same again. */
  lookup: Tally;
  lookupAgain: Tally;
  vget: Tally;
  read: Tally;
  /** Files with inline data, hashed directories: that the image has what it should. */
  inline: number;
  indexed: number;
}

async function compareRead(t: Tallies, a: VnodeImpl, b: VnodeImpl, off: number, len: number, where: string): Promise<void> {
  // Different filler on each side: bytes a path forgets to write (a hole not zeroed) differ.
  const ba = new Uint8Array(len).fill(0xa5);
  const bb = new Uint8Array(len).fill(0x5a);
  const na = await nowOr(t.read, () => a.readNow!(ba, off), () => a.read(ba, off));
  const nb = await outcome(() => b.read(bb, off));
  assert.deepEqual(na, nb, `read of ${len} at ${off} of ${where}`);
  if (na.v) assert.ok(Buffer.from(ba.subarray(0, na.v)).equals(bb.subarray(0, na.v)), `bytes of ${len} at ${off} of ${where}`);
}

/**
 * Walks both mounts of one image in step, comparing every lookup, vget, read and readlink, and each file's
 * content read at once with the host tree's (what both ways share, the checks before a walk, is checked too).
 */
async function compareMounts(a: Side, b: Side, host: string): Promise<Tallies> {
  const t: Tallies = { lookup: [0, 0], lookupAgain: [0, 0], vget: [0, 0], read: [0, 0], inline: 0, indexed: 0 };
  const stack: [string, VnodeImpl, VnodeImpl][] = [['/', await a.m.vget(a.m.rootKey), await b.m.vget(b.m.rootKey)]];
  while (stack.length) {
    const [path, da, db] = stack.pop()!;
    const names = await listDir(db);
    names.delete('.');
    const all = [...names.keys(), 'not-there', 'entry-with-a-longish-name-2000'];
    const keys = new Map<string, Outcome<number | null>>();
    for (const name of all) {
      const ka = await nowOr(t.lookup, () => da.lookupNow!(name), () => da.lookup(name));
      assert.deepEqual(ka, await outcome(() => db.lookup(name)), `lookup of ${path}${name}`);
      keys.set(name, ka);
    }
    assert.deepEqual(await listDir(da), new Map([['.', da.key], ...names]), `entries of ${path}`);
    for (const name of all) {
      const again = await nowOr(t.lookupAgain, () => da.lookupNow!(name), () => da.lookup(name));
      assert.deepEqual(again, keys.get(name), `lookup again of ${path}${name}`);
    }
    for (const name of names.keys()) {
      const where = `${path}${name}`;
      const key = keys.get(name)!.v!;
      if (name === '..') continue;
      const va = await nowOr(t.vget, () => a.m.vgetNow!(key), () => a.m.vget(key));
      const vb = await outcome(() => b.m.vget(key));
      assert.deepEqual(attrs(va), attrs(vb), `vget of ${where}`);
      const fa = va.v!, fb = vb.v!;
      const type = fa.getattr().type;
      const flags = (fa as Ext2Vnode).ip.flags;
      if (flags & IFLAG.INLINE_DATA) t.inline++;
      if (flags & IFLAG.INDEX) t.indexed++;
      if (type === 'dir') stack.push([`${where}/`, fa, fb]);
      else if (type === 'lnk') assert.equal(await fa.readlink(), await fb.readlink(), `target of ${where}`);
      else if (type === 'reg') {
        const size = fa.getattr().size;
        for (const [off, len] of pieces(size, a.fs.bs)) await compareRead(t, fa, fb, off, len, where);
        const whole = new Uint8Array(size + 1);
        assert.deepEqual(await nowOr(t.read, () => fa.readNow!(whole, 0), () => fa.read(whole, 0)), { v: size }, `size of ${where}`);
        assert.ok(Buffer.from(whole.subarray(0, size)).equals(await readFile(join(host, where))), `content of ${where}`);
        assert.deepEqual(await outcome(() => fa.lookupNow!('x')), await outcome(() => fb.lookup('x')), `lookup in the file ${where}`);
      }
    }
    assert.deepEqual(await outcome(() => da.readNow!(new Uint8Array(10), 0)), await outcome(() => db.read(new Uint8Array(10), 0)), `read of the directory ${path}`);
  }
  // Keys that name no file in use: out of range, reserved, free (its table block cached by the first try).
  const inodes = a.fs.sb.inodesCount;
  for (const key of [0, 3, inodes + 1, inodes, inodes - 1]) {
    await outcome(() => a.m.vget(key));
    assert.deepEqual(attrs(await outcome(() => a.m.vgetNow!(key) ?? a.m.vget(key))), attrs(await outcome(() => b.m.vget(key))), `vget of ${key}`);
  }
  return t;
}

function assertMostlyNow(t: Tallies, what: string, large: boolean): void {
  // Lookups wait for directory blocks not yet read, and no more once all were (by readdir); an inode table
  // block is read once for the inodes it holds (4 here); only reads larger than the device reads at once
  // (256 KiB) wait.
  assert.ok(t.lookup[0] > 0 && t.lookup[0] < t.lookup[1], `${what}: first lookups answered at once ${t.lookup}`);
  assert.equal(t.lookupAgain[0], t.lookupAgain[1], `${what}: lookups answered at once ${t.lookupAgain}`);
  assert.ok(t.vget[0] > 0.6 * t.vget[1], `${what}: vgets answered at once ${t.vget}`);
  assert.ok(t.read[0] > 0.9 * t.read[1] && (t.read[0] < t.read[1]) === large, `${what}: reads answered at once ${t.read}`);
}

for (const [name, type, extra, index, inline, host] of [
  ['ext4 with hashed directories', 'ext4', [], true, false, tree],
  ['ext4 with inline data', 'ext4', ['-O', 'inline_data'], false, true, smallTree],
  ['ext2 (block maps, linear directories)', 'ext2', [], false, false, tree],
] as const) {
  test(`${name}: answers at once are the waiting answers`, async (ctx) => {
    const img = join(work.path, `${type}${extra.length ? '-inline' : ''}.img`);
    await mke2fs(img, type, '96M', [...extra], host);
    if (index) await indexDirs(img);
    const a = await mountFile(img, true, true);
    const b = await mountFile(img, true, false);
    const t = await compareMounts(a, b, host);
    ctx.diagnostic(`answered at once: ${JSON.stringify(t)}`);
    assertMostlyNow(t, name, host === tree);
    assert.equal(t.indexed > 0, index, `hashed directories: ${t.indexed}`);
    assert.equal(t.inline > 100, inline, `files with inline data: ${t.inline}`);
    await unmount(a);
    await unmount(b);
  });
}

test('read-write: data and names not yet on the device are answered at once as written, and as the waiting calls answer', async (ctx) => {
  const img = join(work.path, 'rw.img');
  await mke2fs(img, 'ext4', '96M', [], tree);
  await indexDirs(img);
  const a = await mountFile(img, false, true);
  const fs = a.fs;
  const root = await a.m.vget(a.m.rootKey);
  const time = { sec: 1700000000, nsec: 0 };
  const node = { type: 'reg' as const, mode: 0o644, uid: 0, gid: 0, time };
  const rng = new Prng(11);
  const model = new Map<string, Uint8Array>();
  const made = await a.m.vget(await root.mkdir('new', { ...node, type: 'dir', mode: 0o755 }));
  for (const [i, size] of [1, 100, 4095, 4096, 5000, 70000, 300000, 2 * 1024 * 1024].entries()) {
    const vp = await a.m.vget(await made.create(`f${i}`, node));
    const want = new Uint8Array(size);
    // Pieces of random length, some skipped (holes), then a stretch in the middle written again.
    for (let off = 0; off < size; ) {
      const len = Math.min(size - off, 1 + rng.int(20000));
      if (rng.int(4) !== 0) {
        const data = patternBytes(len, i * 1000 + off);
        await vp.write(data, off, time);
        want.set(data, off);
      }
      off += len;
    }
    const mid = patternBytes(Math.min(size, 3000), i);
    const at = Math.floor((size - mid.length) / 2);
    await vp.write(mid, at, time);
    want.set(mid, at);
    if (vp.getattr().size < size) await vp.setattr({ size, ctime: time });
    model.set(`f${i}`, want);
  }
  {
    // Every other block: one extent each, 800 of them, a tree of depth 2 once written (84 per 1 KiB block).
    const vp = await a.m.vget(await made.create('frag', node));
    const want = new Uint8Array(1600 * fs.bs);
    for (let i = 0; i < 1600; i += 2) {
      const data = patternBytes(fs.bs, i);
      await vp.write(data, i * fs.bs, time);
      want.set(data, i * fs.bs);
    }
    await vp.setattr({ size: want.length, ctime: time });
    model.set('frag', want);
  }
  // Names added to a linear directory and to the hashed one (leaves split).
  const wide = await a.m.vget((await root.lookup('wide'))!);
  const keys = new Map<string, number>();
  for (let i = 0; i < 400; i++) {
    keys.set(`new/n${i}`, await made.create(`n${i}`, node));
    keys.set(`wide/added-${i}`, await wide.create(`added-${i}`, node));
  }
  const pending = (fs.dev as WriteBehind).pending;
  assert.ok(pending > 1024 * 1024, `data held back: ${pending} bytes`);

  const t = { lookup: [0, 0] as Tally, vget: [0, 0] as Tally, read: [0, 0] as Tally };
  for (const [name, want] of model) {
    const vp = await a.m.vget((await made.lookup(name))!);
    for (const [off, len] of pieces(want.length, fs.bs)) {
      const got = new Uint8Array(len).fill(0xa5);
      const n = await nowOr(t.read, () => vp.readNow!(got, off), () => vp.read(got, off));
      const end = Math.min(want.length, off + len);
      assert.deepEqual(n, { v: Math.max(0, end - off) }, `read of ${len} at ${off} of ${name}`);
      assert.ok(Buffer.from(got.subarray(0, n.v)).equals(want.subarray(off, end)), `bytes of ${len} at ${off} of ${name}`);
      const slow = new Uint8Array(len);
      onlyWait(fs);
      try {
        assert.equal(await vp.read(slow, off), n.v);
      } finally {
        mayAnswerNow(fs);
      }
      assert.ok(Buffer.from(slow.subarray(0, n.v)).equals(want.subarray(off, end)), `bytes read by waiting, ${len} at ${off} of ${name}`);
    }
  }
  for (const [path, key] of keys) {
    const [dir, name] = path.split('/') as [string, string];
    const dvp = dir === 'new' ? made : wide;
    assert.deepEqual(await nowOr(t.lookup, () => dvp.lookupNow!(name), () => dvp.lookup(name)), { v: key }, `lookup of ${path}`);
    onlyWait(fs);
    try {
      assert.equal(await dvp.lookup(name), key, `waiting lookup of ${path}`);
    } finally {
      mayAnswerNow(fs);
    }
  }
  // An inode whose vnode went away is in its table block, changed in the cache and not yet written.
  for (const [path, key] of [...keys].slice(0, 50)) {
    const vp = await a.m.vget(key);
    await vp.reclaim!();
    onlyWait(fs);
    let slow: unknown;
    try {
      slow = (await a.m.vget(key)).getattr();
    } finally {
      mayAnswerNow(fs);
    }
    await (await a.m.vget(key)).reclaim!();
    const now = await nowOr(t.vget, () => a.m.vgetNow!(key), () => a.m.vget(key));
    assert.deepEqual(attrs(now), { v: slow }, `vget of ${path}`);
  }
  assert.ok((fs.dev as WriteBehind).pending > 0, 'still held back at the end');
  ctx.diagnostic(`answered at once: ${JSON.stringify(t)}`);
  assert.equal(t.lookup[0], t.lookup[1], `lookups answered at once ${t.lookup}`);
  assert.equal(t.vget[0], t.vget[1], `vgets answered at once ${t.vget}`);
  assert.ok(t.read[0] > 0.8 * t.read[1], `reads answered at once ${t.read}`);
  await unmount(a);
  await fsck(img);
  // Written out: read again from the image, the deep extent tree walked block by block.
  const c = await mountFile(img, true, true);
  const d = await mountFile(img, true, false);
  const mc = await c.m.vget((await (await c.m.vget(c.m.rootKey)).lookup('new'))!);
  const md = await d.m.vget((await (await d.m.vget(d.m.rootKey)).lookup('new'))!);
  const t2: Tallies = { lookup: [0, 0], lookupAgain: [0, 0], vget: [0, 0], read: [0, 0], inline: 0, indexed: 0 };
  for (const [name, want] of model) {
    const fc = await c.m.vget((await mc.lookup(name))!);
    const fd = await d.m.vget((await md.lookup(name))!);
    for (const [off, len] of [...pieces(want.length, fs.bs), [0, 7 * fs.bs], [3 * fs.bs + 5, 64 * fs.bs]]) {
      for (let at = off; at < Math.min(off + len, want.length); at += 4 * fs.bs) await compareRead(t2, fc, fd, at, Math.min(len, 4 * fs.bs), name);
    }
  }
  ctx.diagnostic(`after the remount: ${JSON.stringify(t2)}`);
  for (const s of [c, d]) {
    const held = [...(s.fs.bio as unknown as { bufs: Map<number, { refs: number }> }).bufs.values()].filter((bp) => bp.refs !== 0);
    assert.equal(held.length, 0, 'buffers left held');
    await unmount(s);
  }
});

test('write-behind: a read at once is served from a run holding all of it, the device when none holds any, and refused otherwise', async (ctx) => {
  const host = new MemoryHypercalls();
  const size = 8 * 1024 * 1024;
  const model = patternBytes(size, 5);
  host.addFile('img', model.slice());
  const wb = new WriteBehind(await HostDevice.open(await host.open('img', { readonly: false })));
  const rng = new Prng(3);
  let answered = 0, refused = 0;
  for (let step = 0; step < 3000; step++) {
    const off = 512 * rng.int(size / 512 - 64);
    const len = 512 * (1 + rng.int(64));
    if (rng.int(2) === 0) {
      const data = patternBytes(len, step);
      await wb.write(data, off);
      model.set(data, off);
      continue;
    }
    const got = new Uint8Array(len);
    if (wb.readNow(got, off)) {
      answered++;
      assert.deepEqual(got, model.subarray(off, off + len), `read at once of ${len} at ${off}, step ${step}`);
    } else refused++;
    if (step % 700 === 699) await wb.flush();
  }
  ctx.diagnostic(`answered ${answered}, refused ${refused}`);
  assert.ok(answered > 100 && refused > 10, `answered ${answered}, refused ${refused}`);
});

test('hostile: a corrupt inode and a corrupt directory block answer at once with the waiting calls\' errors', async () => {
  const dir = join(work.path, 'one');
  await mkdir(dir);
  await copyFile(join(tree, 'odd', 'hard1'), join(dir, 'f'));
  const img = join(work.path, 'hostile.img');
  await mke2fs(img, 'ext4', '16M', ['-b', '4096'], dir);
  const loc = (await run('debugfs', ['-R', 'imap /f', img])).stdout.toString();
  const iblk = Number(/located at block (\d+)/.exec(loc)![1]);
  const ioff = parseInt(/offset 0x([0-9a-f]+)/.exec(loc)![1]!, 16);
  const rblk = Number((await run('debugfs', ['-R', 'bmap / 0', img])).stdout.toString().trim());
  const bytes = new Uint8Array(await readFile(img));
  bytes[iblk * 4096 + ioff + 8]! ^= 0xff; // i_atime of /f: its checksum no longer matches
  await writeFile(img, bytes);
  const a = await mountFile(img, true, true);
  const b = await mountFile(img, true, false);
  const key = (await (await b.m.vget(b.m.rootKey)).lookup('f'))!;
  // The waiting call fails after the block is cached; the answer at once then fails alike.
  const slow = await outcome(() => b.m.vget(key));
  assert.match(slow.e ?? '', /^EIO ext2fs: inode \d+: checksum/);
  assert.deepEqual(await outcome(() => a.m.vget(key)), slow);
  assert.deepEqual(await outcome(() => a.m.vgetNow!(key)), slow);
  await unmount(a);
  await unmount(b);
  bytes[iblk * 4096 + ioff + 8]! ^= 0xff;
  bytes[rblk * 4096 + 30]! ^= 0xff; // in the root's first leaf
  await writeFile(img, bytes);
  const c = await mountFile(img, true, true);
  const d = await mountFile(img, true, false);
  const rc = await c.m.vget(c.m.rootKey), rd = await d.m.vget(d.m.rootKey);
  const slow2 = await outcome(() => rd.lookup('f'));
  assert.match(slow2.e ?? '', /^EIO ext2fs: directory inode 2 block 0: checksum/);
  assert.deepEqual(await outcome(() => rc.lookup('f')), slow2);
  assert.deepEqual(await outcome(() => rc.lookupNow!('f')), slow2);
  await unmount(c);
  await unmount(d);
});
