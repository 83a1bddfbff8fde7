/**
 * Volume: a mounted file system seen through calls shaped like node:fs/promises
 * (NetBSD's ukfs(3) over rump system calls). Every call is a system call of one
 * kernel process, local or remote, so a Volume behaves the same whatever the
 * isolation. Paths are relative to the volume's root (the mount point inside
 * the kernel); errors are the kernel's KernelErrors with the caller's path.
 */

import { KernelError, isKernelError } from '../kern/error.js';
import { ERRNO } from '../kern/errno.js';
import {
  AT_SYMLINK_NOFOLLOW, O_APPEND, O_CREAT, O_DIRECTORY, O_EXCL, O_RDONLY, O_RDWR, O_TRUNC, O_WRONLY,
} from '../vfs/fcntl.js';
import type { Stat, SyscallApi, TimeArg } from '../vfs/syscalls.js';
import { openRead, putFiles, type PutAttrs } from '../sysproxy/compound.js';
import { S_IFMT, S_IFDIR, S_IFREG, S_IFLNK, S_IFBLK, S_IFCHR, S_IFIFO, S_IFSOCK, type StatVfs, type Timespec, type VType } from '../vfs/types.js';

/** Largest file readFile() returns in one piece (node's own limit is 2 GiB): a hostile size cannot exhaust the client. */
export const READFILE_MAX = 2 ** 31 - 1;
/** Transfer size for reads and writes: big enough that a remote kernel moves data in few messages. */
export const IO_CHUNK = 1 << 20;
/** Size of readChunks' first read, made together with the open: most files fit. */
const FIRST_READ = 64 * 1024;
/** Deepest directory a walk descends into (a hostile image may nest without end). */
export const WALK_MAX_DEPTH = 512;

const tsMs = (t: Timespec) => t.sec * 1000 + t.nsec / 1e6;

/** stat(2) as node's fs.Stats shows it: the raw fields, milliseconds and Dates, and the is*() tests. */
export class VolumeStats {
  dev: number; ino: number; mode: number; nlink: number; uid: number; gid: number; rdev: number;
  size: number; blksize: number; blocks: number;
  atimeMs: number; mtimeMs: number; ctimeMs: number; birthtimeMs: number;
  atime: Date; mtime: Date; ctime: Date; birthtime: Date;
  /** The kernel's nanosecond times. */
  readonly atimespec: Timespec; readonly mtimespec: Timespec; readonly ctimespec: Timespec; readonly birthtimespec?: Timespec;

  constructor(st: Stat) {
    this.dev = st.dev; this.ino = st.ino; this.mode = st.mode; this.nlink = st.nlink; this.uid = st.uid; this.gid = st.gid;
    this.rdev = st.rdev; this.size = st.size; this.blksize = st.blksize; this.blocks = st.blocks;
    this.atimespec = st.atime; this.mtimespec = st.mtime; this.ctimespec = st.ctime;
    if (st.birthtime) this.birthtimespec = st.birthtime;
    this.atimeMs = tsMs(st.atime); this.mtimeMs = tsMs(st.mtime); this.ctimeMs = tsMs(st.ctime);
    this.birthtimeMs = st.birthtime ? tsMs(st.birthtime) : 0;
    this.atime = new Date(this.atimeMs); this.mtime = new Date(this.mtimeMs); this.ctime = new Date(this.ctimeMs);
    this.birthtime = new Date(this.birthtimeMs);
  }
  get type(): VType { return modeType(this.mode); }
  isFile(): boolean { return (this.mode & S_IFMT) === S_IFREG; }
  isDirectory(): boolean { return (this.mode & S_IFMT) === S_IFDIR; }
  isSymbolicLink(): boolean { return (this.mode & S_IFMT) === S_IFLNK; }
  isBlockDevice(): boolean { return (this.mode & S_IFMT) === S_IFBLK; }
  isCharacterDevice(): boolean { return (this.mode & S_IFMT) === S_IFCHR; }
  isFIFO(): boolean { return (this.mode & S_IFMT) === S_IFIFO; }
  isSocket(): boolean { return (this.mode & S_IFMT) === S_IFSOCK; }
}

export function modeType(mode: number): VType {
  switch (mode & S_IFMT) {
    case S_IFDIR: return 'dir';
    case S_IFLNK: return 'lnk';
    case S_IFBLK: return 'blk';
    case S_IFCHR: return 'chr';
    case S_IFIFO: return 'fifo';
    case S_IFSOCK: return 'sock';
    default: return 'reg';
  }
}

/** A directory entry as node's fs.Dirent shows it. */
export class VolumeDirent {
  constructor(readonly name: string, readonly type: VType, readonly ino: number, readonly parentPath: string) {}
  get path(): string { return this.parentPath; }
  isFile(): boolean { return this.type === 'reg'; }
  isDirectory(): boolean { return this.type === 'dir'; }
  isSymbolicLink(): boolean { return this.type === 'lnk'; }
  isBlockDevice(): boolean { return this.type === 'blk'; }
  isCharacterDevice(): boolean { return this.type === 'chr'; }
  isFIFO(): boolean { return this.type === 'fifo'; }
  isSocket(): boolean { return this.type === 'sock'; }
}

export type OpenFlags = 'r' | 'r+' | 'w' | 'w+' | 'wx' | 'wx+' | 'a' | 'a+' | 'ax' | 'ax+' | number;

function openFlags(f: OpenFlags): number {
  if (typeof f === 'number') return f;
  const table = new Map<string, number>([
    ['r', O_RDONLY], ['r+', O_RDWR],
    ['w', O_WRONLY | O_CREAT | O_TRUNC], ['w+', O_RDWR | O_CREAT | O_TRUNC],
    ['wx', O_WRONLY | O_CREAT | O_TRUNC | O_EXCL], ['wx+', O_RDWR | O_CREAT | O_TRUNC | O_EXCL],
    ['a', O_WRONLY | O_CREAT | O_APPEND], ['a+', O_RDWR | O_CREAT | O_APPEND],
    ['ax', O_WRONLY | O_CREAT | O_APPEND | O_EXCL], ['ax+', O_RDWR | O_CREAT | O_APPEND | O_EXCL],
  ]);
  const v = table.get(f);
  if (v === undefined) throw new KernelError('EINVAL', `open: bad flags '${f}'`);
  return v;
}

/** A time argument as node takes it (Date, seconds as a number, or an ISO string) as the kernel's. */
export function toTimeArg(t: Date | number | string | Timespec | 'now' | 'omit'): TimeArg {
  if (t === 'now' || t === 'omit') return t;
  if (typeof t === 'object' && !(t instanceof Date)) return t;
  const ms = t instanceof Date ? t.getTime() : typeof t === 'string' ? Date.parse(t) : t * 1000;
  if (!Number.isFinite(ms)) throw new KernelError('EINVAL', `bad time ${String(t)}`);
  const sec = Math.floor(ms / 1000);
  return { sec, nsec: Math.round((ms - sec * 1000) * 1e6) };
}

/** An open file of a Volume, shaped like node's FileHandle. */
export class VolumeFileHandle {
  private closed = false;
  constructor(private readonly vol: Volume, readonly fd: number, private readonly path: string) {}

  /** Reads into `buffer` at `offset` up to `length` bytes, from `position` (or the file offset when null). */
  async read(buffer: Uint8Array, offset = 0, length = buffer.length - offset, position: number | null = null): Promise<{ bytesRead: number; buffer: Uint8Array }> {
    const view = buffer.subarray(offset, offset + length);
    const n = await this.vol.call(this.path, (p) => (position === null ? p.read(this.fd, view) : p.pread(this.fd, view, position)));
    return { bytesRead: n, buffer };
  }

  async write(buffer: Uint8Array | string, offset = 0, length?: number, position: number | null = null): Promise<{ bytesWritten: number; buffer: Uint8Array }> {
    const b = typeof buffer === 'string' ? new TextEncoder().encode(buffer) : buffer;
    const view = b.subarray(offset, length === undefined ? b.length : offset + length);
    const n = await this.vol.call(this.path, (p) => (position === null ? p.write(this.fd, view) : p.pwrite(this.fd, view, position)));
    return { bytesWritten: n, buffer: b };
  }

  async stat(): Promise<VolumeStats> {
    return this.vol.checked(await this.vol.call(this.path, (p) => p.fstat(this.fd)), this.path);
  }
  truncate(len = 0): Promise<void> { return this.vol.call(this.path, (p) => p.ftruncate(this.fd, len)); }
  sync(): Promise<void> { return this.vol.call(this.path, (p) => p.fsync(this.fd)); }
  chmod(mode: number): Promise<void> { return this.vol.call(this.path, (p) => p.fchmod(this.fd, mode)); }
  chown(uid: number, gid: number): Promise<void> { return this.vol.call(this.path, (p) => p.fchown(this.fd, uid, gid)); }
  utimes(atime: Date | number | string, mtime: Date | number | string): Promise<void> {
    return this.vol.call(this.path, (p) => p.futimens(this.fd, toTimeArg(atime), toTimeArg(mtime)));
  }
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.vol.call(this.path, (p) => p.close(this.fd));
  }
}

/** One step of a walk over a tree. */
export interface WalkEntry {
  /** Volume path of the entry. */
  path: string;
  /** Path relative to the walk's start ('' for the start itself). */
  rel: string;
  stat: VolumeStats;
  depth: number;
}

/** A problem met during a walk that the walk survived (a cycle, an unreadable directory). */
export interface WalkProblem {
  path: string;
  error: KernelError;
}

/** Joins volume paths lexically, never above the root. */
export function normalize(path: string): string {
  const out: string[] = [];
  for (const part of path.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') out.pop();
    else out.push(part);
  }
  return '/' + out.join('/');
}

export function joinPath(dir: string, name: string): string {
  return dir === '/' ? `/${name}` : `${dir}/${name}`;
}

export class Volume {
  private closing: Promise<void> | undefined;

  constructor(
    /** The kernel process every call goes through. */
    readonly proc: SyscallApi,
    /** Where the file system is mounted inside the kernel ('/mnt'); '' for the kernel's own namespace. */
    readonly root: string,
    private readonly onClose: () => Promise<void> = async () => undefined,
  ) {}

  /** The kernel path of a volume path. */
  kpath(path: string): string {
    const n = normalize(path);
    if (this.root === '') return n;
    return n === '/' ? this.root : this.root + n;
  }

  /** The volume path of a kernel path (for messages). */
  private vpath(kp: string): string {
    if (this.root === '' || !kp.startsWith(this.root)) return kp;
    const rest = kp.slice(this.root.length);
    return rest === '' ? '/' : rest;
  }

  /** Runs one system call, with errors carrying the caller's path. */
  async call<T>(path: string | undefined, f: (p: SyscallApi) => Promise<T>): Promise<T> {
    try {
      return await f(this.proc);
    } catch (e) {
      throw this.fixError(e, path);
    }
  }

  /**
   * Runs a read-side call on the kernel path of `path`; when the kernel answers ENOENT and the path
   * went through a symbolic link, retries with the path resolved inside the volume (see resolve()).
   */
  private async at<T>(path: string, follow: boolean, f: (kp: string) => Promise<T>): Promise<T> {
    try {
      return await f(this.kpath(path));
    } catch (e) {
      if (this.root === '' || !isKernelError(e) || (e.code !== 'ENOENT' && e.code !== 'ENOTDIR')) throw this.fixError(e, path);
      let resolved: string | null;
      try {
        resolved = await this.resolve(path, follow);
      } catch {
        resolved = null;
      }
      if (resolved === null || resolved === normalize(path)) throw this.fixError(e, path);
      try {
        return await f(this.kpath(resolved));
      } catch (e2) {
        throw this.fixError(e2, path);
      }
    }
  }

  /**
   * `path` resolved inside the volume as chroot(2) would: an absolute symbolic-link target starts at
   * the volume's root, not the kernel's (where the kernel would look without a chroot call). Null
   * when no symbolic link was on the way. At most MAXSYMLINKS links, as namei.
   */
  async resolve(path: string, followLast: boolean): Promise<string | null> {
    let todo = path.split('/').filter((x) => x !== '' && x !== '.');
    let cur: string[] = [];
    let links = 0;
    while (todo.length > 0) {
      const name = todo.shift()!;
      if (name === '..') {
        cur.pop();
        continue;
      }
      const p = '/' + [...cur, name].join('/');
      const st = await this.proc.lstat(this.kpath(p));
      if ((st.mode & S_IFMT) === S_IFLNK && (todo.length > 0 || followLast)) {
        if (++links > 32) throw new KernelError('ELOOP');
        const target = await this.proc.readlink(this.kpath(p));
        if (target.startsWith('/')) cur = [];
        todo = [...target.split('/').filter((x) => x !== '' && x !== '.'), ...todo];
        continue;
      }
      cur.push(name);
    }
    return links === 0 ? null : '/' + cur.join('/');
  }

  private fixError(e: unknown, path: string | undefined): unknown {
    if (!isKernelError(e)) return e;
    if (e.path !== undefined) e.path = this.vpath(e.path);
    else if (path !== undefined) e.path = path;
    if (e.dest !== undefined) e.dest = this.vpath(e.dest);
    let msg = `${e.code}: ${ERRNO[e.code][1]}`;
    if (e.syscall !== undefined) msg += `, ${e.syscall}`;
    if (e.path !== undefined) msg += ` '${e.path}'`;
    if (e.dest !== undefined) msg += ` -> '${e.dest}'`;
    e.message = msg;
    return e;
  }

  // --- node:fs/promises-shaped calls -------------------------------------------------------

  /**
   * A stat result as VolumeStats; EOVERFLOW (as stat(2) answers for values that do not fit) when a
   * number is not a safe integer, so a hostile size cannot turn into endless reads or bad arithmetic.
   */
  checked(st: Stat, path: string): VolumeStats {
    for (const k of ['size', 'blocks', 'ino', 'nlink', 'uid', 'gid'] as const) {
      const v = st[k];
      if (!Number.isSafeInteger(v) || v < 0) {
        throw this.fixError(new KernelError('EOVERFLOW', `${k} ${v} out of range`).withContext('stat', path), path);
      }
    }
    return new VolumeStats(st);
  }

  async stat(path: string): Promise<VolumeStats> {
    return this.checked(await this.at(path, true, (kp) => this.proc.stat(kp)), path);
  }

  async lstat(path: string): Promise<VolumeStats> {
    return this.checked(await this.at(path, false, (kp) => this.proc.lstat(kp)), path);
  }

  async exists(path: string): Promise<boolean> {
    try {
      await this.lstat(path);
      return true;
    } catch (e) {
      if (isKernelError(e) && (e.code === 'ENOENT' || e.code === 'ENOTDIR')) return false;
      throw e;
    }
  }

  readdir(path: string): Promise<string[]>;
  readdir(path: string, opts: { withFileTypes: true }): Promise<VolumeDirent[]>;
  readdir(path: string, opts: { withFileTypes?: false }): Promise<string[]>;
  async readdir(path: string, opts: { withFileTypes?: boolean } = {}): Promise<string[] | VolumeDirent[]> {
    const ents = await this.at(path, true, (kp) => this.proc.readdir(kp));
    if (!opts.withFileTypes) return ents.map((e) => e.name);
    const parent = normalize(path);
    return ents.map((e) => new VolumeDirent(e.name, e.type, e.ino, parent));
  }

  /** Reads a whole file (EFBIG past READFILE_MAX); with an encoding, as a string. */
  readFile(path: string): Promise<Uint8Array>;
  readFile(path: string, encoding: 'utf8' | 'utf-8' | { encoding: 'utf8' | 'utf-8' }): Promise<string>;
  async readFile(path: string, encoding?: 'utf8' | 'utf-8' | { encoding: 'utf8' | 'utf-8' }): Promise<Uint8Array | string> {
    const chunks: Uint8Array[] = [];
    let total = 0;
    for await (const c of this.readChunks(path)) {
      total += c.length;
      if (total > READFILE_MAX) throw this.fixError(new KernelError('EFBIG', 'readFile: file larger than 2 GiB'), path);
      chunks.push(c.slice());
    }
    const out = new Uint8Array(total);
    let o = 0;
    for (const c of chunks) {
      out.set(c, o);
      o += c.length;
    }
    return encoding === undefined ? out : new TextDecoder().decode(out);
  }

  /**
   * The file's bytes in chunks of up to IO_CHUNK (the chunk's buffer is reused: copy what you keep).
   * Reads until end of file, not to the size stat reports, so a lying inode cannot make it allocate.
   */
  async *readChunks(path: string, chunk = IO_CHUNK): AsyncGenerator<Uint8Array> {
    // open + fstat + the first read (+ close when that reached the end) as one compound call: a
    // remote kernel reads a small file in one round trip. The first buffer is small (most files
    // are), later ones sized from the status, up to `chunk`.
    const first = new Uint8Array(Math.min(chunk, FIRST_READ));
    const r = await this.at(path, true, (kp) => openRead(this.proc, kp, first));
    const fd = r.fd;
    try {
      const st = this.checked(r.stat, path);
      if (r.n > 0) yield first.subarray(0, r.n);
      if (fd < 0) return;
      // The data may still run past what stat said, so the loop reads until the kernel says end of file.
      const buf = new Uint8Array(Math.min(chunk, Math.max(4096, st.size - r.n + 1)));
      for (;;) {
        const n = await this.call(path, (p) => p.read(fd, buf));
        if (n === 0) break;
        yield buf.subarray(0, n);
        // A short read of a regular file is its end (POSIX read(2)): no call to hear it again.
        if (n < buf.length) break;
      }
    } finally {
      if (fd >= 0) await this.proc.close(fd).catch(() => undefined);
    }
  }

  /** Writes a whole file (created with `mode`, default 0o666 less umask; truncated when present). */
  async writeFile(path: string, data: Uint8Array | string | AsyncIterable<Uint8Array>, opts: { mode?: number; flag?: OpenFlags } = {}): Promise<void> {
    const fd = await this.call(path, (p) => p.open(this.kpath(path), openFlags(opts.flag ?? 'w'), opts.mode ?? 0o666));
    try {
      const write = async (b: Uint8Array) => {
        for (let o = 0; o < b.length; o += IO_CHUNK) {
          const part = b.subarray(o, Math.min(b.length, o + IO_CHUNK));
          let done = 0;
          while (done < part.length) done += await this.call(path, (p) => p.write(fd, part.subarray(done)));
        }
      };
      if (typeof data === 'string') await write(new TextEncoder().encode(data));
      else if (data instanceof Uint8Array) await write(data);
      else for await (const b of data) await write(b);
    } finally {
      await this.call(path, (p) => p.close(fd));
    }
  }

  /**
   * Whole small files (each at most PUT_FILE_MAX bytes, PUT_FILES_MAX of them and PUT_FILES_TOTAL bytes in
   * all), in order: each created or truncated with its `mode` (umask applying), written, then given the owner,
   * permission bits and times its `attrs` give — one round trip to a kernel server (sysproxy's putfilev)
   * instead of six a file. Each file's error in its place; the others are still written.
   */
  async putFiles(items: readonly { path: string; data: Uint8Array; mode: number; attrs?: PutAttrs }[]): Promise<(KernelError | null)[]> {
    const res = await this.call(items[0]?.path, (p) => putFiles(p, items.map((it) => ({ ...it, path: this.kpath(it.path) }))));
    return res.map((e, i) => (e === null ? null : (this.fixError(e, items[i]!.path) as KernelError)));
  }

  /** putFiles() of one file, its error thrown. */
  async putFile(path: string, data: Uint8Array, mode: number, attrs: PutAttrs = {}): Promise<void> {
    const [e] = await this.putFiles([{ path, data, mode, attrs }]);
    if (e) throw e;
  }

  async appendFile(path: string, data: Uint8Array | string): Promise<void> {
    return this.writeFile(path, data, { flag: 'a' });
  }

  /** mkdir, with `recursive` as mkdir -p (existing directories are fine; returns the first directory made). */
  async mkdir(path: string, opts: { recursive?: boolean; mode?: number } | number = {}): Promise<string | undefined> {
    const o = typeof opts === 'number' ? { mode: opts } : opts;
    const mode = o.mode ?? 0o777;
    if (!o.recursive) {
      await this.call(path, (p) => p.mkdir(this.kpath(path), mode));
      return undefined;
    }
    const parts = normalize(path).split('/').filter(Boolean);
    let cur = '';
    let first: string | undefined;
    for (const part of parts) {
      cur += '/' + part;
      const here = cur;
      try {
        await this.call(here, (p) => p.mkdir(this.kpath(here), mode));
        first ??= here;
      } catch (e) {
        if (!isKernelError(e) || e.code !== 'EEXIST') throw e;
        const st = await this.stat(here);
        if (!st.isDirectory()) throw this.fixError(new KernelError('ENOTDIR').withContext('mkdir', here), here);
      }
    }
    return first;
  }

  async rmdir(path: string): Promise<void> {
    return this.call(path, (p) => p.rmdir(this.kpath(path)));
  }

  async unlink(path: string): Promise<void> {
    return this.call(path, (p) => p.unlink(this.kpath(path)));
  }

  /**
   * rm: a file, or with `recursive` a tree (depth-first, iterative, bounded by WALK_MAX_DEPTH and
   * loop-checked: a directory met twice is an ELOOP, not an endless descent). `force` ignores ENOENT.
   */
  async rm(path: string, opts: { recursive?: boolean; force?: boolean } = {}): Promise<void> {
    let st: VolumeStats;
    try {
      st = await this.lstat(path);
    } catch (e) {
      if (opts.force && isKernelError(e) && e.code === 'ENOENT') return;
      throw e;
    }
    if (!st.isDirectory()) return this.unlink(path);
    if (!opts.recursive) throw this.fixError(new KernelError('EISDIR').withContext('rm', path), path);
    // Post-order without recursion: a stack of directories whose children are not yet removed.
    const seen = new Set<string>([`${st.dev}:${st.ino}`]);
    const stack: { path: string; expanded: boolean }[] = [{ path: normalize(path), expanded: false }];
    while (stack.length > 0) {
      const top = stack[stack.length - 1]!;
      if (top.expanded) {
        stack.pop();
        await this.rmdir(top.path);
        continue;
      }
      top.expanded = true;
      if (stack.length > WALK_MAX_DEPTH) throw this.fixError(new KernelError('ELOOP', 'rm: tree too deep').withContext('rm', top.path), top.path);
      for (const e of await this.readdir(top.path, { withFileTypes: true })) {
        const child = joinPath(top.path, e.name);
        const cst = await this.lstat(child);
        if (cst.isDirectory()) {
          const id = `${cst.dev}:${cst.ino}`;
          if (seen.has(id)) throw this.fixError(new KernelError('ELOOP', 'rm: directory cycle').withContext('rm', child), child);
          seen.add(id);
          stack.push({ path: child, expanded: false });
        } else await this.unlink(child);
      }
    }
  }

  async rename(from: string, to: string): Promise<void> {
    return this.call(from, (p) => p.rename(this.kpath(from), this.kpath(to)));
  }

  /** Makes `path` a hard link to `existing`. */
  async link(existing: string, path: string): Promise<void> {
    return this.call(existing, (p) => p.link(this.kpath(existing), this.kpath(path)));
  }

  /** Makes `path` a symbolic link whose content is `target` (taken verbatim). */
  async symlink(target: string, path: string): Promise<void> {
    return this.call(path, (p) => p.symlink(target, this.kpath(path)));
  }

  async readlink(path: string): Promise<string> {
    return this.at(path, false, (kp) => this.proc.readlink(kp));
  }

  async chmod(path: string, mode: number): Promise<void> {
    return this.call(path, (p) => p.chmod(this.kpath(path), mode));
  }

  async chown(path: string, uid: number, gid: number): Promise<void> {
    return this.call(path, (p) => p.chown(this.kpath(path), uid, gid));
  }

  async lchown(path: string, uid: number, gid: number): Promise<void> {
    return this.call(path, (p) => p.lchown(this.kpath(path), uid, gid));
  }

  async utimes(path: string, atime: Date | number | string | TimeArg, mtime: Date | number | string | TimeArg): Promise<void> {
    return this.call(path, (p) => p.utimens(this.kpath(path), toTimeArg(atime), toTimeArg(mtime)));
  }

  async lutimes(path: string, atime: Date | number | string | TimeArg, mtime: Date | number | string | TimeArg): Promise<void> {
    return this.call(path, (p) => p.utimens(this.kpath(path), toTimeArg(atime), toTimeArg(mtime), AT_SYMLINK_NOFOLLOW));
  }

  async truncate(path: string, len = 0): Promise<void> {
    return this.call(path, (p) => p.truncate(this.kpath(path), len));
  }

  async mknod(path: string, mode: number, rdev = 0): Promise<void> {
    return this.call(path, (p) => p.mknod(this.kpath(path), mode, rdev));
  }

  async open(path: string, flags: OpenFlags = 'r', mode = 0o666): Promise<VolumeFileHandle> {
    const f = openFlags(flags);
    // Creating opens keep the kernel's own resolution; reading ones also find absolute links inside the volume.
    const fd = (f & O_CREAT) !== 0 ? await this.call(path, (p) => p.open(this.kpath(path), f, mode)) : await this.at(path, true, (kp) => this.proc.open(kp, f, mode));
    return new VolumeFileHandle(this, fd, path);
  }

  /** Opens a directory (for futimens/fchmod on it). */
  async openDir(path: string): Promise<VolumeFileHandle> {
    return this.open(path, O_RDONLY | O_DIRECTORY);
  }

  async statfs(path = '/'): Promise<StatVfs> {
    return this.at(path, true, (kp) => this.proc.statvfs(kp));
  }

  async sync(): Promise<void> {
    return this.call(undefined, (p) => p.sync());
  }

  /**
   * Walks the tree under `path` in pre-order without following symbolic links, iteratively: a
   * directory met twice (a cycle a hostile image made) and trees deeper than WALK_MAX_DEPTH are
   * reported through `onProblem` and not descended into. `filter` may prune a directory.
   */
  async *walk(path: string, opts: { onProblem?: (p: WalkProblem) => void; sort?: boolean } = {}): AsyncGenerator<WalkEntry> {
    const start = normalize(path);
    const st = await this.lstat(start);
    const seen = new Set<string>();
    const stack: WalkEntry[] = [{ path: start, rel: '', stat: st, depth: 0 }];
    const problem = (p: string, e: unknown) => {
      if (!isKernelError(e)) throw e;
      if (opts.onProblem) opts.onProblem({ path: p, error: e });
      else throw e;
    };
    while (stack.length > 0) {
      const cur = stack.pop()!;
      yield cur;
      if (!cur.stat.isDirectory()) continue;
      const id = `${cur.stat.dev}:${cur.stat.ino}`;
      if (seen.has(id)) {
        problem(cur.path, this.fixError(new KernelError('ELOOP', 'directory cycle').withContext('walk', cur.path), cur.path));
        continue;
      }
      seen.add(id);
      if (cur.depth >= WALK_MAX_DEPTH) {
        problem(cur.path, this.fixError(new KernelError('ELOOP', 'tree too deep').withContext('walk', cur.path), cur.path));
        continue;
      }
      let names: string[];
      try {
        names = await this.readdir(cur.path);
      } catch (e) {
        problem(cur.path, e);
        continue;
      }
      if (opts.sort !== false) names.sort();
      const children: WalkEntry[] = [];
      for (const name of names) {
        const p = joinPath(cur.path, name);
        try {
          children.push({ path: p, rel: cur.rel === '' ? name : `${cur.rel}/${name}`, stat: await this.lstat(p), depth: cur.depth + 1 });
        } catch (e) {
          problem(p, e);
        }
      }
      for (let i = children.length - 1; i >= 0; i--) stack.push(children[i]!);
    }
  }

  /** Unmounts (when this volume owns a mount) and halts the kernel behind it. Idempotent. */
  close(): Promise<void> {
    this.closing ??= this.onClose();
    return this.closing;
  }
}
