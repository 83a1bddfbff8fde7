/**
 * Test helpers for ext2fs: a generated host tree, images made from it by the
 * real mke2fs, a driver mounted directly on a MemoryDevice (no kernel needed),
 * and a comparison of what the driver reads against the host tree (the oracle).
 */

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import * as fsp from '../../../src/testing/hostfs.js';
import { join } from 'node:path';
import { MemoryDevice } from '../../../src/dev/blockdev.js';
import { ext2fs } from '../../../src/fs/ext2fs/index.js';
import { parseOptions, type FsMount, type KernelServices, type VnodeImpl } from '../../../src/vfs/types.js';
import { readImage, run, tempDir } from '../../../src/testing/tools.js';

export const services = (log: string[] = []): KernelServices => ({
  now: () => {
    const ms = Date.now();
    return { sec: Math.floor(ms / 1000), nsec: (ms % 1000) * 1e6 };
  },
  log: (l) => void log.push(l),
  random: (b) => void b.set(randomBytes(b.length)),
  monotonic: () => process.hrtime.bigint(),
});

export interface TreeOpts {
  files?: number;
  bigDir?: number;
  hugeSparse?: boolean;
  /** File sizes to pick from. */
  sizes?: number[];
  /** Leave out the 50 MiB sparse file. */
  noSparse?: boolean;
}

/** Builds a tree with nested directories, a wide directory, odd names, links, sparse files and varied owners. */
export async function makeTree(root: string, o: TreeOpts = {}): Promise<void> {
  const files = o.files ?? 2000;
  const sizes = o.sizes ?? [0, 1, 59, 60, 100, 1023, 1024, 4095, 4096, 4097, 20000];
  let seed = 12345;
  const rnd = (n: number): number => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed % n;
  };
  for (let d = 0; d < 20; d++) {
    let dir = join(root, `d${d}`);
    await fsp.mkdir(dir, { recursive: true });
    if (d % 5 === 0) {
      dir = join(dir, 'deep', 'er', 'still deeper');
      await fsp.mkdir(dir, { recursive: true });
    }
    for (let i = 0; i < files / 20; i++) {
      const size = i % 97 === 0 && !o.sizes ? 300000 + rnd(5000) : sizes[rnd(sizes.length)]!;
      const p = join(dir, `f${i}.dat`);
      const data = Buffer.alloc(size);
      for (let j = 0; j + 4 <= size; j += 64) data.writeUInt32LE((i * 7919 + j) >>> 0, j);
      await fsp.writeFile(p, data);
      await fsp.chmod(p, [0o644, 0o600, 0o755, 0o4755, 0o444][rnd(5)]!);
      await fsp.lchown(p, rnd(3) * 1000, 70000 + rnd(2));
      await fsp.utimes(p, 1600000000 + i, 1500000000 + rnd(1e6) + 0.123456);
    }
  }
  const wide = join(root, 'wide');
  await fsp.mkdir(wide);
  for (let i = 0; i < (o.bigDir ?? 3000); i++) await fsp.writeFile(join(wide, `entry-with-a-longish-name-${i}`), `${i}\n`);
  const odd = join(root, 'odd');
  await fsp.mkdir(odd);
  await fsp.writeFile(join(odd, 'x'.repeat(255)), 'long name');
  await fsp.writeFile(join(odd, 'Grüße, 日本語 ✓'), 'unicode');
  await fsp.writeFile(join(odd, '__proto__'), 'proto');
  await fsp.symlink('short', join(odd, 'short-link'));
  await fsp.symlink('a/'.repeat(100) + 'long-target', join(odd, 'long-link'));
  await fsp.writeFile(join(odd, 'hard1'), 'hard link content');
  await fsp.link(join(odd, 'hard1'), join(odd, 'hard2'));
  await fsp.link(join(odd, 'hard1'), join(root, 'd1', 'hard3'));
  if (!o.noSparse) {
    const sp = await fsp.open(join(odd, 'sparse'), 'w');
    await sp.write(Buffer.from('start'), 0, 5, 0);
    await sp.write(Buffer.from('middle'), 0, 6, 10 * 1024 * 1024);
    await sp.write(Buffer.from('end'), 0, 3, 50 * 1024 * 1024);
    await sp.close();
  }
  if (o.hugeSparse ?? true) {
    const h = await fsp.open(join(odd, 'huge'), 'w');
    await h.write(Buffer.from('beyond 4 GiB'), 0, 12, 5 * 1024 ** 3);
    await h.close();
  }
  await fsp.writeFile(join(odd, 'empty'), '');
  await fsp.mkdir(join(odd, 'emptydir'));
}

/** Makes an image with the real mke2fs from `tree`. */
export async function mke2fs(img: string, type: string, size: string, extra: string[] = [], tree?: string): Promise<Uint8Array> {
  await run('mke2fs', ['-q', '-F', '-t', type, ...extra, ...(tree ? ['-d', tree] : []), img, size], { env: { E2FSPROGS_FAKE_TIME: '' } });
  return await readImage(img);
}

export async function mountImage(bytes: Uint8Array, opts: { readonly?: boolean; options?: string; log?: string[] } = {}): Promise<FsMount> {
  const dev = new MemoryDevice(bytes, { readonly: opts.readonly ?? true });
  return ext2fs.mount(dev, { readonly: opts.readonly ?? true, options: parseOptions(opts.options) }, services(opts.log));
}

export async function resolve(m: FsMount, path: string): Promise<VnodeImpl> {
  let vp = await m.vget(m.rootKey);
  for (const part of path.split('/').filter(Boolean)) {
    const k = await vp.lookup(part);
    if (k === null) throw Object.assign(new Error(`ENOENT ${path}`), { code: 'ENOENT' });
    vp = await m.vget(k);
  }
  return vp;
}

export async function readAll(vp: VnodeImpl, size: number): Promise<Buffer> {
  const buf = Buffer.alloc(size);
  let off = 0;
  while (off < size) {
    const n = await vp.read(buf.subarray(off, Math.min(size, off + 1024 * 1024)), off);
    if (n === 0) break;
    off += n;
  }
  return buf.subarray(0, off);
}

export async function listDir(vp: VnodeImpl): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  let cookie = 0;
  for (;;) {
    const batch = await vp.readdir(cookie, 500);
    if (!batch.length) break;
    for (const e of batch) out.set(e.name, e.key);
    cookie = batch[batch.length - 1]!.next;
  }
  return out;
}

/** Compares every file of the host tree with what the driver reads: type, mode, owner, size, nlink, mtime (ns), content, targets. */
export async function compareTree(m: FsMount, host: string, opts: { nsec?: boolean } = {}): Promise<number> {
  let count = 0;
  const stack: [string, VnodeImpl][] = [['', await m.vget(m.rootKey)]];
  while (stack.length) {
    const [rel, dvp] = stack.pop()!;
    const names = (await fsp.readdir(join(host, rel))).filter((n) => !(rel === '' && n === 'lost+found'));
    const ours = await listDir(dvp);
    ours.delete('.');
    ours.delete('..');
    ours.delete('lost+found');
    assert.deepEqual([...ours.keys()].sort(), [...names].sort(), `entries of /${rel}`);
    for (const name of names) {
      const p = join(host, rel, name);
      const st = await fsp.lstat(p, { bigint: true });
      const vp = await m.vget(ours.get(name)!);
      const a = vp.getattr();
      const where = `/${rel ? rel + '/' : ''}${name}`;
      assert.equal(a.mode, Number(st.mode) & 0o7777, `mode of ${where}`);
      assert.equal(a.uid, Number(st.uid), `uid of ${where}`);
      assert.equal(a.gid, Number(st.gid), `gid of ${where}`);
      assert.equal(a.nlink, Number(st.nlink), `nlink of ${where}`);
      // mke2fs -d copies whole seconds of file times and stamps directories with the mkfs time.
      if (!st.isDirectory()) assert.equal(a.mtime.sec, Number(st.mtimeNs / 1000000000n), `mtime of ${where}`);
      if (opts.nsec === true) assert.equal(a.mtime.nsec, Number(st.mtimeNs % 1000000000n), `mtime ns of ${where}`);
      count++;
      if (st.isDirectory()) {
        assert.equal(a.type, 'dir', where);
        stack.push([join(rel, name), vp]);
      } else if (st.isSymbolicLink()) {
        assert.equal(a.type, 'lnk', where);
        assert.equal(await vp.readlink(), await fsp.readlink(p), `target of ${where}`);
      } else {
        assert.equal(a.type, 'reg', where);
        assert.equal(a.size, Number(st.size), `size of ${where}`);
        if (a.size > 64 * 1024 * 1024) {
          for (const off of [0, a.size - 4096, a.size - 12, 4 * 1024 ** 3 - 100]) {
            const ours2 = Buffer.alloc(4096);
            const n = await vp.read(ours2, off);
            const fh = await fsp.open(p);
            const theirs = Buffer.alloc(4096);
            const { bytesRead } = await fh.read(theirs, 0, 4096, off);
            await fh.close();
            assert.equal(n, bytesRead, `read length at ${off} of ${where}`);
            assert.ok(ours2.subarray(0, n).equals(theirs.subarray(0, n)), `content at ${off} of ${where}`);
          }
        } else {
          const ours2 = await readAll(vp, a.size);
          assert.ok(ours2.equals(await fsp.readFile(p)), `content of ${where}`);
        }
      }
    }
  }
  return count;
}

let treeCache: Promise<{ path: string; cleanup: () => Promise<void> }> | undefined;
/** One generated tree per test process (the options of the first call win). */
export function sharedTree(o?: TreeOpts): Promise<{ path: string; cleanup: () => Promise<void> }> {
  treeCache ??= (async () => {
    const t = await tempDir('ext2fs-tree-');
    await makeTree(t.path, o);
    return t;
  })();
  return treeCache;
}

/** Rebuilds every directory of an image as a hashed (htree) one with the real e2fsck (-D); exit 1 means "changed". */
export async function indexDirs(img: string): Promise<Uint8Array> {
  await run('e2fsck', ['-fyD', img], { okCodes: [1] });
  return await readImage(img);
}

/** e2fsck -fn on an image file; throws with its report unless clean. */
export async function fsck(img: string): Promise<void> {
  const r = await run('e2fsck', ['-fn', img], { allowFail: true });
  if (r.code !== 0) throw new Error(`e2fsck -fn exited ${r.code}:\n${r.stdout.toString()}${r.stderr}`);
}

export async function debugfs(img: string, cmd: string, write = false): Promise<string> {
  const r = await run('debugfs', [...(write ? ['-w'] : []), '-R', cmd, img]);
  return r.stdout.toString();
}

/**
 * An ext4 image (in `dir`) with /f and /g ('old f', 'old g') whose journal holds a committed new /f and
 * /g ('new f', 'new g'), then a revoke of /g's block: replayed, /f reads 'new f' and /g 'old g'.
 */
export async function uncleanImage(dir: string, v3 = false): Promise<string> {
  const tree = join(dir, 'jtree');
  await fsp.mkdir(tree, { recursive: true });
  const bs = v3 ? 1024 : 4096;
  await fsp.writeFile(join(tree, 'f'), 'old f');
  await fsp.writeFile(join(tree, 'g'), 'old g');
  const img = join(dir, `unclean-${bs}.img`);
  await mke2fs(img, 'ext4', '16M', ['-b', String(bs)], tree);
  const fb = (await debugfs(img, 'bmap /f 0')).trim();
  const gb = (await debugfs(img, 'bmap /g 0')).trim();
  const data = Buffer.alloc(2 * bs);
  data.write('new f', 0);
  data.write('new g', bs);
  await fsp.writeFile(join(dir, 'jdata'), data);
  const cmds = join(dir, 'jcmds');
  // `jo -c` makes a journal with v3 (crc32c) block tags.
  await fsp.writeFile(cmds, `jo${v3 ? ' -c' : ''}\njw -b ${fb},${gb} ${join(dir, 'jdata')}\njc\njo\njw -r ${gb}\njc\n`);
  await run('debugfs', ['-w', '-f', cmds, img]);
  const info = (await run('dumpe2fs', ['-h', img])).stdout.toString();
  assert.match(info, /needs_recovery/);
  if (v3) assert.match(info, /journal_checksum_v3/);
  return img;
}

const now = (): { sec: number; nsec: number } => services().now();

/** Copies a host tree into a mounted file system through the driver's own vnode operations. */
export async function copyIn(m: FsMount, host: string, at = '/'): Promise<number> {
  let n = 0;
  const links = new Map<bigint, VnodeImpl>();
  const buf = Buffer.alloc(1024 * 1024);
  const stack: [string, VnodeImpl][] = [[host, await resolve(m, at)]];
  while (stack.length) {
    const [dir, dvp] = stack.pop()!;
    for (const name of await fsp.readdir(dir)) {
      if (name === 'lost+found') continue;
      const p = join(dir, name);
      const st = await fsp.lstat(p, { bigint: true });
      const node = { mode: Number(st.mode) & 0o7777, uid: Number(st.uid), gid: Number(st.gid), time: now() };
      let key: number;
      if (st.isDirectory()) {
        key = await dvp.mkdir(name, { ...node, type: 'dir' });
        stack.push([p, await m.vget(key)]);
      } else if (st.isSymbolicLink()) {
        key = await dvp.symlink(name, await fsp.readlink(p), { ...node, type: 'lnk' });
      } else if (st.nlink > 1n && links.has(st.ino)) {
        await dvp.link(name, links.get(st.ino)!, now());
        n++;
        continue;
      } else {
        key = await dvp.create(name, { ...node, type: 'reg' });
        const vp = await m.vget(key);
        if (st.nlink > 1n) links.set(st.ino, vp);
        const fh = await fsp.open(p);
        try {
          let off = 0;
          for (;;) {
            const { bytesRead } = await fh.read(buf, 0, buf.length, off);
            if (bytesRead === 0) break;
            if (!buf.subarray(0, bytesRead).every((b) => b === 0)) await vp.write(buf.subarray(0, bytesRead), off, now());
            off += bytesRead;
          }
          if (vp.getattr().size !== off) await vp.setattr({ size: off });
        } finally {
          await fh.close();
        }
      }
      const vp = await m.vget(key);
      const ns = (t: bigint) => ({ sec: Number(t / 1000000000n), nsec: Number(t % 1000000000n) });
      await vp.setattr({ atime: ns(st.atimeNs), mtime: ns(st.mtimeNs) });
      n++;
    }
  }
  return n;
}

/** Extracts an image with the real debugfs (rdump) and compares the tree with the host tree: names, types, content, targets, modes. */
export async function compareWithDebugfs(img: string, host: string): Promise<number> {
  const out = await tempDir('ext2fs-rdump-');
  try {
    await run('debugfs', ['-R', `rdump / ${out.path}`, img]);
    let n = 0;
    const stack = [''];
    while (stack.length) {
      const rel = stack.pop()!;
      const theirs = (await fsp.readdir(join(out.path, rel))).filter((x) => !(rel === '' && x === 'lost+found')).sort();
      const ours = (await fsp.readdir(join(host, rel))).filter((x) => !(rel === '' && x === 'lost+found')).sort();
      assert.deepEqual(theirs, ours, `entries of /${rel}`);
      for (const name of ours) {
        const a = await fsp.lstat(join(host, rel, name));
        const b = await fsp.lstat(join(out.path, rel, name));
        const where = `/${join(rel, name)}`;
        assert.equal(b.mode, a.mode, `mode of ${where}`);
        n++;
        if (a.isDirectory()) stack.push(join(rel, name));
        else if (a.isSymbolicLink()) assert.equal(await fsp.readlink(join(out.path, rel, name)), await fsp.readlink(join(host, rel, name)), `target of ${where}`);
        else {
          assert.equal(b.size, a.size, `size of ${where}`);
          if (a.size < 64 * 1024 * 1024) assert.ok((await fsp.readFile(join(out.path, rel, name))).equals(await fsp.readFile(join(host, rel, name))), `content of ${where}`);
        }
      }
    }
    return n;
  } finally {
    await out.cleanup();
  }
}
