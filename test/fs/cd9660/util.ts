/**
 * Helpers for the cd9660 tests: a source tree on the host with the features
 * Rock Ridge carries (modes, owners, times, symlinks, special files, long and
 * odd names), walks of that tree and of a mounted kernel tree into comparable
 * maps, and a kernel booted with cd9660 over an image.
 */

import { createHash } from 'node:crypto';
import { chmodSync, chownSync, lchownSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, symlinkSync, utimesSync, lutimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Kernel } from '../../../src/kern/kernel.js';
import { NodeHypercalls } from '../../../src/rumpuser/node.js';
import { cd9660 } from '../../../src/fs/cd9660/index.js';
import { makeIso, type IsoSourceStat, type IsoSourceTree, type MakeIsoOptions } from '../../../src/fs/cd9660/mkiso.js';
import type { SyscallApi } from '../../../src/vfs/syscalls.js';
import { O_RDONLY } from '../../../src/vfs/fcntl.js';
import { run } from '../../../src/testing/tools.js';
import type { VType } from '../../../src/vfs/types.js';

export interface Info {
  type: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  target?: string;
  sha?: string;
  rdev?: number;
}

const T0 = 1_600_000_000;

/** Fills `dir` with the test tree; returns nothing, the tree itself is the oracle. */
export function makeSourceTree(dir: string, opts: { deep?: number; noLongLink?: boolean } = {}): void {
  const f = (p: string, data: string | Uint8Array, mode = 0o644, uid = 0, gid = 0, mtime = T0): void => {
    writeFileSync(join(dir, p), data);
    chownSync(join(dir, p), uid, gid); // before chmod: chown clears setuid
    chmodSync(join(dir, p), mode);
    utimesSync(join(dir, p), mtime, mtime);
  };
  mkdirSync(join(dir, 'docs/sub'), { recursive: true });
  mkdirSync(join(dir, 'private'), { recursive: true });
  mkdirSync(join(dir, 'empty'), { recursive: true });
  f('hello.txt', 'hello, world\n', 0o644, 0, 0, T0 + 1);
  f('docs/readme.md', '# readme\n'.repeat(100), 0o640, 1000, 1000, T0 + 2);
  const big = new Uint8Array(300_000);
  for (let i = 0; i < big.length; i++) big[i] = (i * 7 + (i >>> 9)) & 0xff;
  f('docs/sub/data.bin', big, 0o600, 1001, 100, T0 + 3);
  f('empty.dat', '', 0o444);
  f('run.sh', '#!/bin/sh\necho hi\n', 0o4755, 0, 0, T0 + 4);
  f('A Long File Name With Spaces and MixedCase.text', 'x', 0o644);
  f('n'.repeat(180) + '.txt', 'long name', 0o644);
  f('ünïcødé-名前.txt', 'unicode', 0o644);
  f('__proto__', 'proto', 0o644);
  f('private/secret', 'shh', 0o600, 1000, 1000);
  chmodSync(join(dir, 'private'), 0o700);
  chownSync(join(dir, 'private'), 1000, 1000);
  symlinkSync('hello.txt', join(dir, 'link-rel'));
  symlinkSync('/etc/passwd', join(dir, 'link-abs'));
  symlinkSync('../hello.txt', join(dir, 'docs/link-up'));
  symlinkSync('./sub/../readme.md', join(dir, 'docs/link-dots'));
  // genisoimage writes targets longer than one SL entry's room as a torn entry (xorriso cannot read them either).
  if (!opts.noLongLink) symlinkSync('a'.repeat(200) + '/' + 'b'.repeat(250) + '/c', join(dir, 'link-long'));
  lchownSync(join(dir, 'link-rel'), 1000, 1000);
  if (opts.deep) {
    let p = dir;
    for (let i = 0; i < opts.deep; i++) {
      p = join(p, `level${i}`);
      mkdirSync(p);
    }
    writeFileSync(join(p, 'bottom.txt'), 'deep');
  }
  for (const d of ['docs/sub', 'docs', 'private', 'empty']) utimesSync(join(dir, d), T0 + 10, T0 + 10);
  for (const l of ['link-rel', 'link-abs', 'docs/link-up', 'docs/link-dots', ...(opts.noLongLink ? [] : ['link-long'])]) lutimesSync(join(dir, l), T0 + 5, T0 + 5);
}

const S_IFMT = 0o170000;
function typeOf(mode: number): string {
  switch (mode & S_IFMT) {
    case 0o040000: return 'dir';
    case 0o100000: return 'reg';
    case 0o120000: return 'lnk';
    case 0o020000: return 'chr';
    case 0o060000: return 'blk';
    case 0o010000: return 'fifo';
    case 0o140000: return 'sock';
    default: return '?';
  }
}

function sha(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}

/** The host tree as a map of relative path → Info (directories' sizes left out: they differ by format). */
export function walkHost(root: string): Map<string, Info> {
  const out = new Map<string, Info>();
  const stack = [''];
  while (stack.length > 0) {
    const rel = stack.pop()!;
    for (const name of readdirSync(join(root, rel))) {
      const p = rel ? `${rel}/${name}` : name;
      const st = lstatSync(join(root, p));
      const info: Info = { type: typeOf(st.mode), mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, size: st.size, mtime: Math.floor(st.mtimeMs / 1000) };
      if (info.type === 'dir') { info.size = 0; stack.push(p); }
      if (info.type === 'reg') info.sha = sha(readFileSync(join(root, p)));
      if (info.type === 'lnk') info.target = readlinkSync(join(root, p));
      if (info.type === 'chr' || info.type === 'blk') info.rdev = st.rdev;
      out.set(p, info);
    }
  }
  return out;
}

/** The tree under `mnt` seen through system calls. */
export async function walkKernel(proc: SyscallApi, mnt: string): Promise<Map<string, Info>> {
  const out = new Map<string, Info>();
  const stack = [''];
  while (stack.length > 0) {
    const rel = stack.pop()!;
    for (const d of await proc.readdir(rel ? `${mnt}/${rel}` : mnt)) {
      const p = rel ? `${rel}/${d.name}` : d.name;
      const full = `${mnt}/${p}`;
      const st = await proc.lstat(full);
      const info: Info = { type: typeOf(st.mode), mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, size: st.size, mtime: st.mtime.sec };
      if (info.type !== d.type) throw new Error(`${p}: readdir says ${d.type}, lstat says ${info.type}`);
      if (info.type === 'dir') { info.size = 0; stack.push(p); }
      if (info.type === 'reg') info.sha = sha(await readAll(proc, full, st.size));
      if (info.type === 'lnk') info.target = await proc.readlink(full);
      if (info.type === 'chr' || info.type === 'blk') info.rdev = st.rdev;
      out.set(p, info);
    }
  }
  return out;
}

export async function readAll(proc: SyscallApi, path: string, size: number): Promise<Uint8Array> {
  const fd = await proc.open(path, O_RDONLY);
  try {
    const buf = new Uint8Array(size);
    let off = 0;
    while (off < size) {
      const n = await proc.pread(fd, buf.subarray(off, Math.min(size, off + 65536 * 3 + 17)), off);
      if (n === 0) break;
      off += n;
    }
    if (off !== size) throw new Error(`${path}: read ${off} of ${size} bytes`);
    const extra = await proc.pread(fd, new Uint8Array(10), size);
    if (extra !== 0) throw new Error(`${path}: read past end returned ${extra}`);
    return buf;
  } finally {
    await proc.close(fd);
  }
}

/** Only some fields of each Info, for namespaces that lack the others. */
export function project(m: Map<string, Info>, keys: readonly (keyof Info)[]): Map<string, Partial<Info>> {
  const out = new Map<string, Partial<Info>>();
  for (const [p, i] of [...m].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))) {
    const o: Partial<Info> = {};
    for (const k of keys) if (i[k] !== undefined) (o as Record<string, unknown>)[k] = i[k];
    out.set(p, o);
  }
  return out;
}

/** A kernel with cd9660 and the image at /dev/img0 mounted on /mnt. */
export async function mountIso(image: string | Uint8Array, options?: string): Promise<{ kernel: Kernel; proc: SyscallApi }> {
  const kernel = await Kernel.boot({ components: [cd9660], host: new NodeHypercalls() });
  await kernel.etfs.register('/dev/img0', image, { readonly: true });
  const proc = kernel.newProc();
  await proc.mount('cd9660', '/mnt', { source: '/dev/img0', readonly: true, ...(options ? { options } : {}) });
  return { kernel, proc };
}

/** An IsoSourceTree over a host directory (what the CLI does), for mkiso tests. */
export function hostTree(root: string): IsoSourceTree {
  const full = (p: string): string => (p ? join(root, p) : root);
  return {
    async list(p) { return readdirSync(full(p)); },
    async stat(p): Promise<IsoSourceStat> {
      const st = lstatSync(full(p));
      const type = typeOf(st.mode) as VType;
      return {
        type, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, size: type === 'reg' ? st.size : 0,
        mtime: { sec: Math.floor(st.mtimeMs / 1000), nsec: 0 }, atime: { sec: Math.floor(st.atimeMs / 1000), nsec: 0 },
        ctime: { sec: Math.floor(st.ctimeMs / 1000), nsec: 0 }, rdev: st.rdev,
        ...(st.nlink > 1 && type === 'reg' ? { linkId: `${st.dev}:${st.ino}` } : {}),
      };
    },
    async readlink(p) { return readlinkSync(full(p)); },
    async read(p, buf, offset) {
      const { openSync, readSync, closeSync } = await import('node:fs');
      const fd = openSync(full(p), 'r');
      try {
        return readSync(fd, buf, 0, buf.length, offset);
      } finally {
        closeSync(fd);
      }
    },
  };
}

/** Writes an image with mkiso to a host file (what `rump mkfs -t cd9660 --from DIR` does). */
export async function makeIsoFile(src: IsoSourceTree, out: string, opts: MakeIsoOptions = {}): Promise<number> {
  const { openSync, writeSync, closeSync } = await import('node:fs');
  const fd = openSync(out, 'w');
  try {
    const { size } = await makeIso(src, { write: async (b, off) => { writeSync(fd, b, 0, b.length, off); } }, opts);
    return size;
  } finally {
    closeSync(fd);
  }
}

export { run };
