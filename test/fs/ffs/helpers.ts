/**
 * Helpers for the ffs tests: a generated host tree with the awkward cases
 * (long names, short and long symlinks, hard links, sparse and large files,
 * odd modes and owners, nanosecond times), images made from it by the real
 * makefs, a bare mount of the driver on a memory device, and a walk that
 * compares what the driver shows with the host tree.
 */

import assert from 'node:assert/strict';
import { patternBytes } from '../../../src/testing/prng.js';
import { mkdir, writeFile, symlink, link, chown, chmod, lutimes, utimes, readFile, lstat, readdir, readlink, open } from '../../../src/testing/hostfs.js';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { readImage, run, tempDir } from '../../../src/testing/tools.js';
import { MemoryDevice } from '../../../src/dev/blockdev.js';
import type { FsMount, KernelServices, VnodeImpl } from '../../../src/vfs/types.js';
import { ffs } from '../../../src/fs/ffs/index.js';

export const services: KernelServices = {
  now: () => {
    const ms = Date.now();
    return { sec: Math.floor(ms / 1000), nsec: (ms % 1000) * 1e6 + 123 };
  },
  log: () => {},
  random: (b) => b.set(randomBytes(b.length)),
  monotonic: () => process.hrtime.bigint(),
};

/** Deterministic pseudo-random bytes (content that compresses badly and differs per file). */
export const pattern = patternBytes;

/** Builds the test tree under `root`; `files` regular files spread over directories. */
export async function makeTree(root: string, files: number): Promise<void> {
  await mkdir(root, { recursive: true });
  const dirs: string[] = [root];
  for (let d = 0; d < Math.max(3, Math.floor(files / 200)); d++) {
    const p = join(dirs[Math.floor(d / 3)] ?? root, `dir${d}`);
    await mkdir(p);
    dirs.push(p);
  }
  for (let i = 0; i < files; i++) {
    const dir = dirs[i % dirs.length]!;
    const size = i % 50 === 0 ? 70000 + i : i % 7 === 0 ? 0 : (i * 97) % 3000;
    const p = join(dir, `f${i}`);
    await writeFile(p, pattern(size, i));
    if (i % 11 === 0) await chmod(p, 0o640 | (i % 3 === 0 ? 0o4000 : 0));
    if (i % 13 === 0) await chown(p, 1000 + (i % 5), 100 + (i % 3));
    await utimes(p, 1_000_000_000 + i + 0.25, 1_100_000_000 + i + 0.5);
  }
  const long = 'L'.repeat(200) + 'é'.repeat(27); // 254 bytes of UTF-8
  await writeFile(join(root, long), 'long name\n');
  await writeFile(join(root, '__proto__'), 'proto\n');
  await symlink('f1', join(root, 'short-link'));
  await symlink('x/'.repeat(100) + 'target', join(root, 'long-link'));
  await symlink('y'.repeat(59), join(root, 'link59'));
  await symlink('z'.repeat(60), join(root, 'link60'));
  await symlink('w'.repeat(120), join(root, 'link120'));
  await lutimes(join(root, 'short-link'), 1_200_000_000, 1_200_000_001);
  await writeFile(join(root, 'hard-a'), 'hard\n');
  await link(join(root, 'hard-a'), join(root, 'hard-b'));
  await link(join(root, 'hard-a'), join(dirs[1] ?? root, 'hard-c'));
  // Large: past the direct blocks and into the single indirect range at 8 KiB blocks.
  await writeFile(join(root, 'large'), pattern(3 * 1024 * 1024 + 12345, 7));
  // Sparse: data far apart, holes between.
  const fh = await open(join(root, 'sparse'), 'w');
  await fh.write(pattern(5000, 9), 0, 5000, 0);
  await fh.write(pattern(7000, 10), 0, 7000, 20 * 1024 * 1024);
  await fh.close();
  await mkdir(join(root, 'empty-dir'));
  await chmod(join(root, 'empty-dir'), 0o1777);
}

export async function makefsImage(tree: string, version: 1 | 2, be: boolean, sizeMiB: number, extra: string[] = []): Promise<Uint8Array> {
  const t = await tempDir('ffs-img-');
  try {
    const img = join(t.path, 'img');
    await run('makefs', ['-t', 'ffs', ...(be ? ['-B', 'be'] : []), '-o', `version=${version}`, '-s', `${sizeMiB}m`, ...extra, img, tree]);
    return await readImage(img);
  } finally {
    await t.cleanup();
  }
}

export async function mountBytes(bytes: Uint8Array, readonly: boolean): Promise<FsMount> {
  return ffs.mount(new MemoryDevice(bytes), { readonly, options: new Map() }, services);
}

export async function readAll(v: VnodeImpl): Promise<Uint8Array> {
  const size = v.getattr().size;
  const b = new Uint8Array(size);
  let off = 0;
  while (off < size) {
    const n = await v.read(b.subarray(off, Math.min(size, off + (1 << 20))), off);
    assert.ok(n > 0, 'short read');
    off += n;
  }
  return b;
}

export async function listDir(v: VnodeImpl): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  let cookie = 0;
  for (;;) {
    const ents = await v.readdir(cookie, 100);
    if (ents.length === 0) break;
    for (const e of ents) out.set(e.name, e.key);
    cookie = ents[ents.length - 1]!.next;
  }
  return out;
}

/** Host reads, memoised: several images are compared with the same tree. */
const memo = new Map<string, Promise<unknown>>();
function once<T>(key: string, f: () => Promise<T>): Promise<T> {
  let p = memo.get(key) as Promise<T> | undefined;
  if (!p) memo.set(key, (p = f()));
  return p;
}
const hostReaddir = (p: string) => once(`d:${p}`, () => readdir(p));
const hostLstat = (p: string) => once(`s:${p}`, () => lstat(p, { bigint: true }));
const hostRead = (p: string) => once(`r:${p}`, () => readFile(p));
const hostReadlink = (p: string) => once(`l:${p}`, () => readlink(p));

/**
 * Compares the mounted tree with the host tree: names, types, content, mode,
 * owner, mtime (to the nanosecond when `ns`), symlink targets, link counts.
 * Returns the number of nodes compared.
 */
export async function compareTree(m: FsMount, host: string, opts: { ns: boolean; owners: boolean } = { ns: true, owners: true }): Promise<number> {
  let count = 0;
  const stack: Array<[number, string]> = [[m.rootKey, host]];
  while (stack.length) {
    const [key, hp] = stack.pop()!;
    const dir = await m.vget(key);
    const ents = await listDir(dir);
    const hostNames = new Set(await hostReaddir(hp));
    const ours = new Set([...ents.keys()].filter((n) => n !== '.' && n !== '..'));
    assert.deepEqual([...ours].sort(), [...hostNames].sort(), `names in ${hp}`);
    assert.equal(await dir.lookup('.'), null === null ? ents.get('.') : 0);
    for (const name of ours) {
      const k = ents.get(name)!;
      assert.equal(await dir.lookup(name), k, `lookup ${name}`);
      const v = await m.vget(k);
      const a = v.getattr();
      const p = join(hp, name);
      const st = await hostLstat(p);
      count++;
      assert.equal(a.mode, Number(st.mode) & 0o7777, `mode of ${p}`);
      if (opts.owners) {
        assert.equal(a.uid, Number(st.uid), `uid of ${p}`);
        assert.equal(a.gid, Number(st.gid), `gid of ${p}`);
      }
      const hostNs = st.mtimeNs;
      const ourNs = BigInt(a.mtime.sec) * 1_000_000_000n + BigInt(a.mtime.nsec);
      if (opts.ns) assert.equal(ourNs, hostNs, `mtime of ${p}`);
      else assert.equal(a.mtime.sec, Number(hostNs / 1_000_000_000n), `mtime of ${p}`);
      if (st.isDirectory()) {
        assert.equal(a.type, 'dir');
        assert.equal(a.nlink, Number(st.nlink), `nlink of ${p}`);
        assert.equal(await v.lookup('..'), key, `.. of ${p}`);
        stack.push([k, p]);
      } else if (st.isSymbolicLink()) {
        assert.equal(a.type, 'lnk');
        assert.equal(await v.readlink(), await hostReadlink(p), `target of ${p}`);
      } else {
        assert.equal(a.type, 'reg');
        assert.equal(a.nlink, Number(st.nlink), `nlink of ${p}`);
        assert.equal(a.size, Number(st.size), `size of ${p}`);
        const ours = await readAll(v);
        const theirs = await hostRead(p);
        assert.ok(Buffer.from(ours).equals(theirs), `content of ${p}`);
      }
    }
  }
  return count;
}

/** sleuthkit's view: `fls -r -p` lines "type inode: path" → Map path -> inode. */
export async function flsListing(bytes: Uint8Array, fstype: string): Promise<Map<string, number>> {
  const t = await tempDir('ffs-fls-');
  try {
    const img = join(t.path, 'img');
    await writeFile(img, bytes);
    const r = await run('fls', ['-r', '-p', '-f', fstype, img]);
    const out = new Map<string, number>();
    for (const line of r.stdout.toString('utf8').split('\n')) {
      const m = /^\S+ (\*\s)?(\d+)(?:\(realloc\))?:\t(.*)$/.exec(line);
      if (m && !m[1] && !m[3]!.startsWith('$OrphanFiles')) out.set(m[3]!, Number(m[2]));
    }
    return out;
  } finally {
    await t.cleanup();
  }
}

/** Our view in the same shape as flsListing. */
export async function ourListing(m: FsMount): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  const stack: Array<[number, string]> = [[m.rootKey, '']];
  while (stack.length) {
    const [key, path] = stack.pop()!;
    const ents = await listDir(await m.vget(key));
    for (const [name, k] of ents) {
      if (name === '.' || name === '..') continue;
      const p = path ? `${path}/${name}` : name;
      out.set(p, k);
      if ((await m.vget(k)).getattr().type === 'dir') stack.push([k, p]);
    }
  }
  return out;
}

const ZERO = Buffer.alloc(1 << 20);

/** Copies a host tree into a mounted file system through the driver's own vnode operations. */
export async function copyIn(m: FsMount, host: string, chunk = 65536): Promise<void> {
  const seen = new Map<bigint, number>();
  const ns = (x: bigint) => ({ sec: Number(x / 1_000_000_000n), nsec: Number(x % 1_000_000_000n) });
  // Directory times are set last: adding entries changes them.
  const dirTimes: Array<[number, bigint, bigint]> = [];
  const stack: Array<[number, string]> = [[m.rootKey, host]];
  while (stack.length) {
    const [key, hp] = stack.pop()!;
    const dir = await m.vget(key);
    for (const name of (await readdir(hp)).sort()) {
      const p = join(hp, name);
      const st = await lstat(p, { bigint: true });
      const time = { sec: Number(st.ctimeNs / 1_000_000_000n), nsec: Number(st.ctimeNs % 1_000_000_000n) };
      const node = { mode: Number(st.mode) & 0o7777, uid: Number(st.uid), gid: Number(st.gid), time };
      let k: number;
      const prior = seen.get(st.ino);
      if (prior !== undefined && !st.isDirectory()) {
        await dir.link(name, await m.vget(prior), time);
        continue;
      }
      if (st.isDirectory()) {
        k = await dir.mkdir(name, { ...node, type: 'dir' });
        stack.push([k, p]);
      } else if (st.isSymbolicLink()) {
        k = await dir.symlink(name, await readlink(p), { ...node, type: 'lnk' });
      } else {
        k = await dir.create(name, { ...node, type: 'reg' });
        const v = await m.vget(k);
        const data = await readFile(p);
        for (let off = 0; off < data.length; off += chunk) {
          const piece = data.subarray(off, Math.min(data.length, off + chunk));
          // Holes stay holes: all-zero chunks are skipped, and the size set at the end.
          if (Buffer.from(piece.buffer, piece.byteOffset, piece.length).equals(ZERO.subarray(0, piece.length))) continue;
          await v.write(piece, off, time);
        }
        if (v.getattr().size !== data.length) await v.setattr({ size: data.length });
      }
      if (st.nlink > 1n) seen.set(st.ino, k);
      const v = await m.vget(k);
      await v.setattr({ mode: node.mode, atime: ns(st.atimeNs), mtime: ns(st.mtimeNs) });
      if (st.isDirectory()) dirTimes.push([k, st.atimeNs, st.mtimeNs]);
    }
  }
  for (const [k, at, mt] of dirTimes) await (await m.vget(k)).setattr({ atime: ns(at), mtime: ns(mt) });
}

/** Writes bytes to a temporary file and runs sleuthkit's icat on inode `ino`. */
export async function icat(bytes: Uint8Array, fstype: string, inos: number[]): Promise<Map<number, Buffer>> {
  const t = await tempDir('ffs-icat-');
  try {
    const img = join(t.path, 'img');
    await writeFile(img, bytes);
    const out = new Map<number, Buffer>();
    for (const ino of inos) out.set(ino, (await run('icat', ['-f', fstype, img, String(ino)])).stdout);
    return out;
  } finally {
    await t.cleanup();
  }
}
