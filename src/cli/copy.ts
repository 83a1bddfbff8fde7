/**
 * Copying trees between the host and images (and between images), for `rump
 * cp`, `rump mkfs --from` and the shell's get/put: one algorithm over two
 * small file-system facades (host node:fs, an image Volume). Iterative and
 * loop-checked, because the source may be a hostile image; `preserve` keeps
 * modes, owners, times and hard links, as cp -p / mke2fs -d do.
 */

import * as fs from 'node:fs';
import { posix } from 'node:path';
import { KernelError, isKernelError } from '../kern/error.js';
import type { Timespec, VType } from '../vfs/types.js';
import { VTYPE_TO_IFMT } from '../vfs/types.js';
import { CliError } from './context.js';
import { IO_CHUNK, WALK_MAX_DEPTH, modeType, type Volume } from '../ukfs/index.js';
import { PUT_FILE_MAX, PUT_FILES_MAX, PUT_FILES_TOTAL, type PutAttrs } from '../sysproxy/compound.js';

export interface FStat {
  type: VType;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  nlink: number;
  dev: number;
  ino: number;
  rdev: number;
  atime: Timespec;
  mtime: Timespec;
}

/** The few calls a copy needs, on either side. */
export interface CopyFs {
  /** For messages: 'disk.img:' or ''. */
  readonly prefix: string;
  /** Whether chown is worth trying (the host only as root). */
  readonly canChown: boolean;
  lstat(p: string): Promise<FStat>;
  stat(p: string): Promise<FStat>;
  readdir(p: string): Promise<string[]>;
  read(p: string): AsyncIterable<Uint8Array>;
  /** Creates or truncates `p` with `mode` (umask applies) and writes `data`. */
  write(p: string, data: AsyncIterable<Uint8Array>, mode: number): Promise<void>;
  /**
   * Optional: write() of whole small files (see PUT_FILES_MAX and friends) with the owner, mode and times
   * each one's `attrs` give, in order and at once (one round trip to a kernel server); each file's error
   * (as the separate calls' would be) in its place.
   */
  putFiles?(items: readonly { path: string; data: Uint8Array; mode: number; attrs: PutAttrs }[]): Promise<(unknown | null)[]>;
  mkdir(p: string, mode: number): Promise<void>;
  symlink(target: string, p: string): Promise<void>;
  readlink(p: string): Promise<string>;
  link(existing: string, p: string): Promise<void>;
  mknod(p: string, mode: number, rdev: number): Promise<void>;
  chmod(p: string, mode: number): Promise<void>;
  lchown(p: string, uid: number, gid: number): Promise<void>;
  lutimes(p: string, atime: Timespec, mtime: Timespec): Promise<void>;
  unlink(p: string): Promise<void>;
}

const msToTs = (ms: number): Timespec => {
  const sec = Math.floor(ms / 1000);
  return { sec, nsec: Math.round((ms - sec * 1000) * 1e6) };
};

function nodeType(st: import('node:fs').Stats): VType {
  if (st.isDirectory()) return 'dir';
  if (st.isSymbolicLink()) return 'lnk';
  if (st.isBlockDevice()) return 'blk';
  if (st.isCharacterDevice()) return 'chr';
  if (st.isFIFO()) return 'fifo';
  if (st.isSocket()) return 'sock';
  return 'reg';
}

function fromNodeStat(st: import('node:fs').BigIntStats): FStat {
  const ts = (ns: bigint): Timespec => ({ sec: Number(ns / 1_000_000_000n), nsec: Number(ns % 1_000_000_000n) });
  return {
    type: nodeType(st as unknown as import('node:fs').Stats),
    mode: Number(st.mode) & 0o7777,
    uid: Number(st.uid),
    gid: Number(st.gid),
    size: Number(st.size),
    nlink: Number(st.nlink),
    dev: Number(st.dev),
    ino: Number(st.ino),
    rdev: Number(st.rdev),
    atime: ts(st.atimeNs),
    mtime: ts(st.mtimeNs),
  };
}

/**
 * The host's file system, through synchronous calls: on local files each is a few microseconds, while the
 * promise API costs a thread-pool round trip per call (for a tree of small files, ten times the CPU time).
 */
export class HostFs implements CopyFs {
  readonly prefix = '';
  readonly canChown = typeof process.getuid === 'function' && process.getuid() === 0;
  async lstat(p: string): Promise<FStat> { return fromNodeStat(fs.lstatSync(p, { bigint: true })); }
  async stat(p: string): Promise<FStat> { return fromNodeStat(fs.statSync(p, { bigint: true })); }
  async readdir(p: string): Promise<string[]> { return fs.readdirSync(p).sort(); }
  async *read(p: string): AsyncIterable<Uint8Array> {
    const fd = fs.openSync(p, 'r');
    try {
      const size = fs.fstatSync(fd).size;
      let got = 0;
      for (;;) {
        // Buffers of the file's size up to IO_CHUNK; a short read at or past that size is its end.
        const want = Math.max(1, Math.min(IO_CHUNK, size - got));
        const b = Buffer.allocUnsafe(want);
        const n = fs.readSync(fd, b, 0, want, null);
        if (n === 0) return;
        got += n;
        yield n === want ? b : b.subarray(0, n);
        if (n < want && got >= size) return;
      }
    } finally {
      fs.closeSync(fd);
    }
  }
  async write(p: string, data: AsyncIterable<Uint8Array>, mode: number): Promise<void> {
    const fd = fs.openSync(p, 'w', mode);
    try {
      for await (const b of data) {
        let done = 0;
        while (done < b.length) done += fs.writeSync(fd, b, done, b.length - done);
      }
    } finally {
      fs.closeSync(fd);
    }
  }
  async mkdir(p: string, mode: number): Promise<void> { fs.mkdirSync(p, { mode }); }
  async symlink(target: string, p: string): Promise<void> { fs.symlinkSync(target, p); }
  async readlink(p: string): Promise<string> { return fs.readlinkSync(p); }
  async link(existing: string, p: string): Promise<void> { fs.linkSync(existing, p); }
  async mknod(p: string, mode: number): Promise<void> {
    const what = (mode & 0o170000) === 0o010000 ? 'fifo' : (mode & 0o170000) === 0o140000 ? 'socket' : 'device node';
    throw new CliError(`${what} not copied to ${p}: the host side cannot create special files`);
  }
  async chmod(p: string, mode: number): Promise<void> { fs.chmodSync(p, mode); }
  async lchown(p: string, uid: number, gid: number): Promise<void> { fs.lchownSync(p, uid, gid); }
  async lutimes(p: string, atime: Timespec, mtime: Timespec): Promise<void> {
    fs.lutimesSync(p, atime.sec + atime.nsec / 1e9, mtime.sec + mtime.nsec / 1e9);
  }
  async unlink(p: string): Promise<void> { fs.unlinkSync(p); }
}

/** An image Volume. */
export class VolumeFs implements CopyFs {
  readonly canChown = true;
  constructor(readonly vol: Volume, readonly prefix: string) {}
  private conv(st: Awaited<ReturnType<Volume['lstat']>>): FStat {
    return {
      type: modeType(st.mode), mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, size: st.size, nlink: st.nlink,
      dev: st.dev, ino: st.ino, rdev: st.rdev, atime: st.atimespec, mtime: st.mtimespec,
    };
  }
  async lstat(p: string): Promise<FStat> { return this.conv(await this.vol.lstat(p)); }
  async stat(p: string): Promise<FStat> { return this.conv(await this.vol.stat(p)); }
  async readdir(p: string): Promise<string[]> { return (await this.vol.readdir(p)).sort(); }
  read(p: string): AsyncIterable<Uint8Array> { return this.vol.readChunks(p); }
  write(p: string, data: AsyncIterable<Uint8Array>, mode: number): Promise<void> { return this.vol.writeFile(p, data, { mode }); }
  putFiles(items: readonly { path: string; data: Uint8Array; mode: number; attrs: PutAttrs }[]): Promise<(unknown | null)[]> { return this.vol.putFiles(items); }
  async mkdir(p: string, mode: number): Promise<void> { await this.vol.mkdir(p, { mode }); }
  symlink(target: string, p: string): Promise<void> { return this.vol.symlink(target, p); }
  readlink(p: string): Promise<string> { return this.vol.readlink(p); }
  link(existing: string, p: string): Promise<void> { return this.vol.link(existing, p); }
  mknod(p: string, mode: number, rdev: number): Promise<void> { return this.vol.mknod(p, mode, rdev); }
  chmod(p: string, mode: number): Promise<void> { return this.vol.chmod(p, mode); }
  lchown(p: string, uid: number, gid: number): Promise<void> { return this.vol.lchown(p, uid, gid); }
  lutimes(p: string, atime: Timespec, mtime: Timespec): Promise<void> { return this.vol.lutimes(p, atime, mtime); }
  unlink(p: string): Promise<void> { return this.vol.unlink(p); }
}

export interface CopyOptions {
  recursive: boolean;
  preserve: boolean;
  /** Keep hard links between files of the copied tree (mkfs --from, cp -p). */
  hardlinks?: boolean;
  /** Bytes copied so far, for a progress bar. */
  onBytes?: (n: number) => void;
  /** A problem with one entry: reported, and the copy goes on. */
  onError: (path: string, e: unknown) => void | Promise<void>;
  /** The umask for modes without `preserve`. */
  umask?: number;
}

/** Counts what a copy will move (for the progress bar's total). */
export async function measure(src: CopyFs, path: string, follow: boolean): Promise<number> {
  let total = 0;
  const stack: { p: string; depth: number }[] = [{ p: path, depth: 0 }];
  const seen = new Set<string>();
  let first = true;
  while (stack.length) {
    const { p, depth } = stack.pop()!;
    let st: FStat;
    try {
      st = first && follow ? await src.stat(p) : await src.lstat(p);
    } catch {
      continue;
    }
    first = false;
    if (st.type === 'reg') total += st.size;
    if (st.type !== 'dir' || depth >= WALK_MAX_DEPTH) continue;
    const id = `${st.dev}:${st.ino}`;
    if (seen.has(id)) continue;
    seen.add(id);
    try {
      for (const n of await src.readdir(p)) stack.push({ p: posix.join(p, n), depth: depth + 1 });
    } catch {
      // reported by the copy itself
    }
  }
  return total;
}

/**
 * Copies `srcPath` of `src` to exactly `dstPath` of `dst` (the caller has applied cp's "into an
 * existing directory" rule). A directory needs `recursive`. `mergeRoot` lets the top directory
 * exist already (copying an image's root into an existing directory, or mkfs --from).
 */
export async function copyTree(
  src: CopyFs, srcPath: string, dst: CopyFs, dstPath: string, opts: CopyOptions, mergeRoot = false,
): Promise<void> {
  const umask = opts.umask ?? 0o022;
  const links = new Map<string, string>();
  const seenDirs = new Set<string>();
  // Directories get their final mode and times after their contents are written (post-order).
  const fixups: { path: string; st: FStat }[] = [];
  const stack: { s: string; d: string; depth: number; top: boolean }[] = [{ s: srcPath, d: dstPath, depth: 0, top: true }];
  // The permission bits a copy gets: the source's with -p, else its rwx bits less the umask.
  const perm = (st: FStat) => (opts.preserve ? st.mode : st.mode & 0o777 & ~umask);
  const attrs = async (d: string, st: FStat, isLink: boolean) => {
    if (opts.preserve && dst.canChown) await dst.lchown(d, st.uid, st.gid).catch((e) => (dst instanceof HostFs ? undefined : Promise.reject(e)));
    if (!isLink) await dst.chmod(d, perm(st));
    if (opts.preserve) await dst.lutimes(d, st.atime, st.mtime).catch((e) => (isLink && dst instanceof HostFs ? undefined : Promise.reject(e)));
  };
  // Small files go to dst.putFiles in batches, in the order met; anything else sends the batch first, so that
  // what the destination sees happens in that order too (a hard link after its file, a directory's entries
  // after it).
  const batch: { s: string; path: string; data: Uint8Array; mode: number; attrs: PutAttrs }[] = [];
  let batchBytes = 0;
  const flush = async () => {
    if (batch.length === 0) return;
    const items = batch.splice(0);
    batchBytes = 0;
    let errs: (unknown | null)[];
    try {
      errs = await dst.putFiles!(items);
    } catch (e) {
      errs = items.map(() => e);
    }
    for (let i = 0; i < items.length; i++) {
      if (errs[i]) await opts.onError(items[i]!.s, errs[i]);
      else opts.onBytes?.(items[i]!.data.length);
    }
  };
  while (stack.length) {
    const { s, d, depth, top } = stack.pop()!;
    try {
      // A top-level symbolic link is followed (cp without -P); inside a tree links are copied as links.
      const st = top && !opts.recursive ? await src.stat(s) : await src.lstat(s);
      if (st.type === 'dir') {
        if (!opts.recursive) throw new KernelError('EISDIR', `-r not specified; omitting directory`);
        const id = `${st.dev}:${st.ino}`;
        if (seenDirs.has(id)) throw new KernelError('ELOOP', 'directory cycle: copied once already');
        if (depth >= WALK_MAX_DEPTH) throw new KernelError('ELOOP', 'tree too deep');
        seenDirs.add(id);
        await flush();
        try {
          await dst.mkdir(d, 0o700);
        } catch (e) {
          const exists = (e as { code?: string }).code === 'EEXIST';
          if (!exists || !(top && mergeRoot) || (await dst.stat(d)).type !== 'dir') throw e;
        }
        fixups.push({ path: d, st });
        const names = await src.readdir(s);
        for (let i = names.length - 1; i >= 0; i--) stack.push({ s: posix.join(s, names[i]!), d: posix.join(d, names[i]!), depth: depth + 1, top: false });
        continue;
      }
      const id = `${st.dev}:${st.ino}`;
      if (opts.hardlinks && st.nlink > 1 && st.type !== 'lnk') {
        const first = links.get(id);
        if (first !== undefined) {
          await flush();
          await dst.link(first, d);
          continue;
        }
        links.set(id, d);
      }
      switch (st.type) {
        case 'reg': {
          if (dst.putFiles !== undefined && st.size <= PUT_FILE_MAX) {
            // A small file joins the batch with its attributes (what attrs() below sets); one that grew
            // past the limit since its lstat goes the long way.
            const data = await readSmall(src.read(s), PUT_FILE_MAX);
            if (data !== null) {
              if (batch.length === PUT_FILES_MAX || batchBytes + data.length > PUT_FILES_TOTAL) await flush();
              batch.push({ s, path: d, data, mode: st.mode & 0o777, attrs: {
                ...(opts.preserve && dst.canChown ? { uid: st.uid, gid: st.gid } : {}),
                perm: perm(st),
                ...(opts.preserve ? { atime: st.atime, mtime: st.mtime } : {}),
              } });
              batchBytes += data.length;
              continue;
            }
          }
          await flush();
          const counted = opts.onBytes ? countBytes(src.read(s), opts.onBytes) : src.read(s);
          await dst.write(d, counted, st.mode & 0o777);
          break;
        }
        case 'lnk':
          await flush();
          await dst.symlink(await src.readlink(s), d);
          break;
        default:
          await flush();
          await dst.mknod(d, VTYPE_TO_IFMT[st.type] | (st.mode & 0o7777), st.rdev);
      }
      await attrs(d, st, st.type === 'lnk');
    } catch (e) {
      await opts.onError(s, e);
    }
  }
  await flush();
  // Each directory's attributes are independent of every other's (all their contents are written): several
  // directories' calls in flight, so that a kernel server's round trips overlap. Deepest first, as before.
  let next = fixups.length - 1;
  const fixer = async () => {
    while (next >= 0) {
      const f = fixups[next--]!;
      try {
        await attrs(f.path, f.st, false);
      } catch (e) {
        await opts.onError(f.path, e);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(FIXUPS_IN_FLIGHT, fixups.length) }, fixer));
}

/** Directories whose attributes are being set at once at the end of a copy. */
const FIXUPS_IN_FLIGHT = 16;

/** All of a file's bytes when there are at most `max` of them, else null. */
async function readSmall(it: AsyncIterable<Uint8Array>, max: number): Promise<Uint8Array | null> {
  const parts: Uint8Array[] = [];
  let n = 0;
  for await (const b of it) {
    n += b.length;
    if (n > max) return null;
    parts.push(b);
  }
  if (parts.length === 1) return parts[0]!;
  const out = new Uint8Array(n);
  let o = 0;
  for (const b of parts) {
    out.set(b, o);
    o += b.length;
  }
  return out;
}

async function* countBytes(it: AsyncIterable<Uint8Array>, on: (n: number) => void): AsyncGenerator<Uint8Array> {
  for await (const b of it) {
    on(b.length);
    yield b;
  }
}

/** Whether an error means "no such file" on either side. */
export function isENOENT(e: unknown): boolean {
  return (isKernelError(e) && e.code === 'ENOENT') || (e as { code?: string }).code === 'ENOENT';
}
