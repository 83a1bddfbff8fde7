/**
 * The raw FUSE layer: owns a /dev/fuse connection, mounts it with mount(8), reads requests with blocking
 * reads on the libuv thread pool (several in flight), decodes each into a typed call on a RawFileSystem and
 * encodes its answer. It knows the wire protocol and nothing of our VFS (go-fuse's `fuse/` package).
 *
 * Deadlocks to know: a blocking read of /dev/fuse occupies one libuv pool thread until a request arrives,
 * so the process must have more pool threads than readers (UV_THREADPOOL_SIZE, set before the pool starts:
 * the daemon is spawned with it); and this process must never wait synchronously on a system call that
 * needs its own mount's answer (spawnSync('umount'), a stat of the mount point).
 */

import { openSync, closeSync, read, writevSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { errnoNumber, isErrno } from '../../kern/errno.js';
import * as P from './proto.js';
import { Op } from './proto.js';

/** Largest WRITE payload we ask for (FUSE_MAX_PAGES with 256 pages of 4 KiB). */
export const MAX_WRITE = 1024 * 1024;
const READ_BUFFER = MAX_WRITE + 64 * 1024;

export interface Attr {
  ino: number;
  size: number;
  blocks: number;
  atime: number; atimensec: number;
  mtime: number; mtimensec: number;
  ctime: number; ctimensec: number;
  /** Type and permission bits, as st_mode. */
  mode: number;
  nlink: number;
  uid: number;
  gid: number;
  rdev: number;
  blksize: number;
}

export interface EntryOut {
  /** 0 for a negative entry (the name is absent; the kernel caches that for `entryValid`). */
  nodeid: number;
  generation?: number;
  /** Seconds the kernel may cache the name and the attributes. */
  entryValid: number;
  attrValid: number;
  attr: Attr;
}

export interface AttrOut { attrValid: number; attr: Attr }
export interface OpenOut { fh: number; keepCache?: boolean; directIo?: boolean; cacheDir?: boolean }
export interface StatfsOut { blocks: number; bfree: number; bavail: number; files: number; ffree: number; bsize: number; namelen: number; frsize: number }
export interface SetattrIn {
  valid: number; fh: number; size: number;
  atime: number; atimensec: number; mtime: number; mtimensec: number;
  mode: number; uid: number; gid: number;
}
/** Who asks: from fuse_in_header. */
export interface Caller { nodeid: number; uid: number; gid: number; pid: number; unique: bigint }

/** Conditions negotiated at INIT, for the file system's information. */
export interface ConnInfo {
  major: number; minor: number;
  /** The flags agreed on (what we asked for and the kernel offered). */
  flags: number;
  /** Everything the kernel offered, including capabilities that need no answer (NO_OPEN_SUPPORT...). */
  kernelFlags: number;
  maxWrite: number; maxReadahead: number;
}

/**
 * What a file system implements (go-fuse's RawFileSystem). A missing method answers ENOSYS. Methods reject with
 * an error carrying an errno `code` (KernelError); anything else answers EIO.
 */
export interface RawFileSystem {
  init?(conn: ConnInfo): void;
  destroy?(): Promise<void>;
  lookup?(c: Caller, name: string): Promise<EntryOut>;
  /** No reply: the kernel dropped `nlookup` references to `nodeid`. */
  forget?(nodeid: number, nlookup: number): void;
  getattr?(c: Caller, fh: number | undefined): Promise<AttrOut>;
  setattr?(c: Caller, s: SetattrIn): Promise<AttrOut>;
  readlink?(c: Caller): Promise<string>;
  symlink?(c: Caller, name: string, target: string): Promise<EntryOut>;
  mknod?(c: Caller, name: string, mode: number, rdev: number, umask: number): Promise<EntryOut>;
  mkdir?(c: Caller, name: string, mode: number, umask: number): Promise<EntryOut>;
  unlink?(c: Caller, name: string): Promise<void>;
  rmdir?(c: Caller, name: string): Promise<void>;
  rename?(c: Caller, name: string, newdir: number, newname: string, flags: number): Promise<void>;
  link?(c: Caller, oldnodeid: number, newname: string): Promise<EntryOut>;
  open?(c: Caller, flags: number): Promise<OpenOut>;
  /** Returns the bytes read (fewer than `size` only at end of file). */
  read?(c: Caller, fh: number, offset: number, size: number): Promise<Uint8Array>;
  /** `data` is a view into the request buffer, valid until the returned promise settles. */
  write?(c: Caller, fh: number, offset: number, data: Uint8Array): Promise<number>;
  statfs?(c: Caller): Promise<StatfsOut>;
  release?(c: Caller, fh: number): Promise<void>;
  flush?(c: Caller, fh: number): Promise<void>;
  fsync?(c: Caller, fh: number, datasync: boolean): Promise<void>;
  setxattr?(c: Caller, name: string, value: Uint8Array, flags: number): Promise<void>;
  getxattr?(c: Caller, name: string): Promise<Uint8Array>;
  listxattr?(c: Caller): Promise<string[]>;
  removexattr?(c: Caller, name: string): Promise<void>;
  opendir?(c: Caller, flags: number): Promise<OpenOut>;
  /** Fills `out` from directory position `offset`; `plus` asks for entries with attributes (READDIRPLUS). */
  readdir?(c: Caller, fh: number, offset: number, out: DirBuffer, plus: boolean): Promise<void>;
  releasedir?(c: Caller, fh: number): Promise<void>;
  fsyncdir?(c: Caller, fh: number, datasync: boolean): Promise<void>;
  access?(c: Caller, mask: number): Promise<void>;
  create?(c: Caller, name: string, flags: number, mode: number, umask: number): Promise<{ entry: EntryOut; open: OpenOut }>;
  syncfs?(c: Caller): Promise<void>;
}

/** Directory types in fuse_dirent.type: the DT_* values, i.e. st_mode's type bits shifted right by 12. */
export function direntType(mode: number): number {
  return (mode >>> 12) & 0o17;
}

/** A READDIR/READDIRPLUS reply being filled: records are added until the kernel's buffer size is reached. */
export class DirBuffer {
  readonly buf: Uint8Array;
  private readonly dv: DataView;
  private readonly enc = new TextEncoder();
  length = 0;
  constructor(readonly size: number, readonly plus: boolean) {
    this.buf = new Uint8Array(size);
    this.dv = new DataView(this.buf.buffer);
  }
  /**
   * Appends one record; returns false (adding nothing) when it does not fit. `off` is the position of the
   * entry after this one. For READDIRPLUS, `entry` is the entry reply (nodeid 0 for '.', '..' and entries
   * whose lookup count must not change).
   */
  add(name: string, ino: number, type: number, off: number, entry?: EntryOut): boolean {
    const nameBytes = this.enc.encode(name);
    const head = (this.plus ? P.ENTRY_OUT_SIZE : 0) + P.direntHead.size;
    const rec = P.recAlign(head + nameBytes.length);
    if (this.length + rec > this.size) return false;
    let p = this.length;
    if (this.plus) {
      encodeEntry(this.dv, p, entry ?? { nodeid: 0, entryValid: 0, attrValid: 0, attr: zeroAttr(ino, type << 12) });
      p += P.ENTRY_OUT_SIZE;
    }
    P.direntHead.encode(this.dv, p, { ino, off, namelen: nameBytes.length, type });
    this.buf.set(nameBytes, p + P.direntHead.size);
    this.buf.fill(0, p + P.direntHead.size + nameBytes.length, this.length + rec);
    this.length += rec;
    return true;
  }
  /** Whether a record with a name of `nameLength` bytes would still fit. */
  fits(nameLength: number): boolean {
    const head = (this.plus ? P.ENTRY_OUT_SIZE : 0) + P.direntHead.size;
    return this.length + P.recAlign(head + nameLength) <= this.size;
  }
}

function zeroAttr(ino: number, mode: number): Attr {
  return { ino, size: 0, blocks: 0, atime: 0, atimensec: 0, mtime: 0, mtimensec: 0, ctime: 0, ctimensec: 0, mode, nlink: 0, uid: 0, gid: 0, rdev: 0, blksize: 0 };
}

function splitValid(sec: number): [number, number] {
  const s = Math.max(0, Math.floor(sec));
  return [s, Math.floor((Math.max(0, sec) - s) * 1e9)];
}

function encodeAttr(dv: DataView, off: number, a: Attr): void {
  P.attr.encode(dv, off, { ...a, flags: 0 });
}

function encodeEntry(dv: DataView, off: number, e: EntryOut): void {
  const [es, ens] = splitValid(e.entryValid);
  const [as, ans] = splitValid(e.attrValid);
  P.entryOutHead.encode(dv, off, { nodeid: e.nodeid, generation: e.generation ?? 0, entry_valid: es, attr_valid: as, entry_valid_nsec: ens, attr_valid_nsec: ans });
  encodeAttr(dv, off + P.entryOutHead.size, e.attr);
}

function entryBytes(e: EntryOut): Uint8Array {
  const b = new Uint8Array(P.ENTRY_OUT_SIZE);
  encodeEntry(new DataView(b.buffer), 0, e);
  return b;
}

function openBytes(o: OpenOut): Uint8Array {
  const b = new Uint8Array(P.openOut.size);
  const flags = (o.keepCache ? P.FOPEN.KEEP_CACHE : 0) | (o.directIo ? P.FOPEN.DIRECT_IO : 0) | (o.cacheDir ? P.FOPEN.CACHE_DIR : 0);
  P.openOut.encode(new DataView(b.buffer), 0, { fh: o.fh, open_flags: flags });
  return b;
}

export interface MountSpec {
  mountpoint: string;
  /** What /proc/mounts shows as the source (the image path). */
  fsname: string;
  /** Shown as the type `fuse.<subtype>`. */
  subtype?: string;
  readonly?: boolean;
  allowOther?: boolean;
  defaultPermissions?: boolean;
  /** The FUSE device node (default /dev/fuse). */
  device?: string;
  /** Owner of the connection (user_id/group_id): who may use the mount without allow_other. */
  uid?: number;
  gid?: number;
}

function readAsync(fd: number, buf: Uint8Array): Promise<number> {
  return new Promise((resolve, reject) => read(fd, buf, 0, buf.length, null, (err, n) => (err ? reject(err) : resolve(n))));
}

/** Runs a command to completion without blocking the event loop (never spawnSync: it could need our own answers). */
export function runCommand(cmd: string, args: string[], stdio3?: number): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve, reject) => {
    const stdio: (string | number)[] = ['ignore', 'pipe', 'pipe'];
    if (stdio3 !== undefined) stdio.push(stdio3);
    const child = spawn(cmd, args, { stdio: stdio as ('pipe' | 'ignore' | number)[] });
    let stderr = '';
    child.stdout!.on('data', (b: Buffer) => { stderr += b.toString(); });
    child.stderr!.on('data', (b: Buffer) => { stderr += b.toString(); });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stderr: stderr.trim() }));
  });
}

function errnoOf(e: unknown): number {
  const code = (e as { code?: unknown } | null)?.code;
  if (isErrno(code)) return code === 'EFTYPE' ? errnoNumber('EIO') : errnoNumber(code);
  return errnoNumber('EIO');
}

/** Opcodes that get no reply. */
const NO_REPLY = new Set<number>([Op.FORGET, Op.BATCH_FORGET, Op.INTERRUPT]);

/**
 * One FUSE connection. `mount()` opens /dev/fuse and mounts it; `serve()` answers requests until the file
 * system is unmounted (the read fails with ENODEV) and then resolves.
 */
export class FuseSession {
  private conn: ConnInfo | null = null;
  /** Requests being answered, by unique id; the value says whether a reply was already sent. */
  private readonly inflight = new Map<bigint, { replied: boolean }>();
  private failWith: number | null = null;
  private closed = false;
  /** Names are UTF-8 in our VFS; a name that is not (Linux allows any bytes) is refused with EILSEQ, never mangled. */
  private readonly dec = new TextDecoder('utf-8', { fatal: true });
  /** Counts by opcode name, for diagnostics and tests. */
  readonly stats = new Map<string, number>();
  onError: (msg: string) => void = () => {};
  /** When set, called with one line per answered request (opcode, node, time taken). */
  trace: ((line: string) => void) | null = null;

  private constructor(readonly fd: number, readonly spec: MountSpec) {}

  /**
   * Opens the FUSE device and mounts it at spec.mountpoint with mount(8) (`-i`: no helper). Needs CAP_SYS_ADMIN
   * in the mount's user namespace, and a device opened in that namespace (the kernel compares the opener's
   * user namespace with the mount's): root, or anyone inside `unshare -Urm` when the device is readable.
   */
  static async mount(spec: MountSpec): Promise<FuseSession> {
    const fd = openSync(spec.device ?? '/dev/fuse', 'r+');
    const opts = [
      'fd=3', 'rootmode=40000', `user_id=${spec.uid ?? process.getuid?.() ?? 0}`, `group_id=${spec.gid ?? process.getgid?.() ?? 0}`,
      'nosuid', 'nodev',
    ];
    if (spec.allowOther) opts.push('allow_other');
    if (spec.defaultPermissions) opts.push('default_permissions');
    opts.push(spec.readonly ? 'ro' : 'rw');
    const type = spec.subtype ? `fuse.${spec.subtype}` : 'fuse';
    const r = await runCommand('mount', ['-i', '-n', '-t', type, '-o', opts.join(','), spec.fsname, spec.mountpoint], fd).catch((e: Error) => ({ code: -1, stderr: e.message }));
    if (r.code !== 0) {
      closeSync(fd);
      const err = new Error(`mount ${spec.mountpoint}: ${r.stderr || `mount exited ${r.code}`}`) as Error & { code: string };
      err.code = /permission|not permitted/i.test(r.stderr) ? 'EPERM' : 'EIO';
      throw err;
    }
    return new FuseSession(fd, spec);
  }

  get connInfo(): ConnInfo | null {
    return this.conn;
  }

  /**
   * From now on every request (and every one in flight) answers `code` (the server died: EIO). FORGET and
   * friends are still accepted so the kernel's bookkeeping stays sane and umount works.
   */
  failAll(code: 'EIO' | 'ENOTCONN' = 'EIO'): void {
    this.failWith = errnoNumber(code);
    for (const [unique, st] of this.inflight) {
      if (!st.replied) {
        st.replied = true;
        this.send(unique, -this.failWith);
      }
    }
  }

  /** Answers requests with `fs` using `readers` concurrent reads, until unmount. */
  async serve(fs: RawFileSystem, readers = 4): Promise<void> {
    const loops: Promise<void>[] = [];
    for (let i = 0; i < readers; i++) loops.push(this.readLoop(fs));
    await Promise.all(loops);
    this.closed = true;
    try { closeSync(this.fd); } catch { /* already closed */ }
  }

  private async readLoop(fs: RawFileSystem): Promise<void> {
    const buf = new Uint8Array(READ_BUFFER);
    while (!this.closed) {
      let n: number;
      try {
        n = await readAsync(this.fd, buf);
      } catch (e) {
        const code = (e as { code?: string }).code;
        if (code === 'EINTR' || code === 'EAGAIN' || code === 'ENOENT') continue;
        // ENODEV: unmounted. Anything else: the connection is unusable.
        if (code !== 'ENODEV') this.onError(`fuse: read /dev/fuse: ${String(e)}`);
        this.closed = true;
        return;
      }
      if (n < P.inHeader.size) {
        this.onError(`fuse: short request (${n} bytes)`);
        continue;
      }
      const dv = new DataView(buf.buffer, 0, n);
      const op = dv.getUint32(4, true);
      if (op === Op.WRITE) {
        // The payload is a view into this reader's buffer: keep the buffer until the write is done.
        await this.dispatch(fs, buf.subarray(0, n));
      } else {
        void this.dispatch(fs, buf.slice(0, n));
      }
    }
  }

  private send(unique: bigint, error: number, ...payload: Uint8Array[]): void {
    const hdr = new Uint8Array(P.outHeader.size);
    let len = hdr.length;
    for (const p of payload) len += p.length;
    P.outHeader.encode(new DataView(hdr.buffer), 0, { len, error, unique });
    try {
      writevSync(this.fd, [hdr, ...payload]);
    } catch (e) {
      // ENOENT: the request was interrupted or the connection aborted; nothing to answer any more.
      const code = (e as { code?: string }).code;
      if (code !== 'ENOENT' && code !== 'ENODEV' && code !== 'EBADF') this.onError(`fuse: reply: ${String(e)}`);
    }
  }

  private str(b: Uint8Array, start: number): { s: string; end: number } {
    let end = b.indexOf(0, start);
    if (end < 0) end = b.length;
    let s: string;
    try {
      s = this.dec.decode(b.subarray(start, end));
    } catch {
      throw Object.assign(new Error('name is not UTF-8'), { code: 'EILSEQ' });
    }
    return { s, end: end + 1 };
  }

  private async dispatch(fs: RawFileSystem, req: Uint8Array): Promise<void> {
    const dv = new DataView(req.buffer, req.byteOffset, req.byteLength);
    const h = P.inHeader.decode(dv, 0);
    const body = req.subarray(P.inHeader.size, Math.min(req.length, h.len));
    const bdv = new DataView(body.buffer, body.byteOffset, body.byteLength);
    const c: Caller = { nodeid: h.nodeid, uid: h.uid, gid: h.gid, pid: h.pid, unique: h.unique };
    const name = OP_NAME_OF(h.opcode);
    this.stats.set(name, (this.stats.get(name) ?? 0) + 1);

    if (NO_REPLY.has(h.opcode)) {
      if (h.opcode === Op.FORGET && body.length >= P.forgetIn.size) fs.forget?.(h.nodeid, P.forgetIn.decode(bdv, 0).nlookup);
      else if (h.opcode === Op.BATCH_FORGET && body.length >= P.batchForgetIn.size) {
        const count = P.batchForgetIn.decode(bdv, 0).count;
        for (let i = 0; i < count; i++) {
          const off = P.batchForgetIn.size + i * P.forgetOne.size;
          if (off + P.forgetOne.size > body.length) break;
          const f = P.forgetOne.decode(bdv, off);
          fs.forget?.(f.nodeid, f.nlookup);
        }
      }
      // INTERRUPT: our calls into the kernel server cannot be cancelled halfway; the interrupted request
      // completes normally (the protocol allows ignoring interrupts).
      return;
    }
    if (h.opcode === Op.INIT) {
      this.init(fs, h.unique, bdv);
      return;
    }
    const st = { replied: false };
    this.inflight.set(h.unique, st);
    const reply = (error: number, ...payload: Uint8Array[]): void => {
      if (st.replied) return;
      st.replied = true;
      this.send(h.unique, error, ...payload);
    };
    const t0 = this.trace ? performance.now() : 0;
    try {
      if (this.failWith !== null && h.opcode !== Op.DESTROY) {
        reply(-this.failWith);
        return;
      }
      await this.call(fs, h.opcode, c, body, bdv, reply);
    } catch (e) {
      reply(-errnoOf(e));
    } finally {
      this.inflight.delete(h.unique);
      if (this.trace) this.trace(`${name} node=${h.nodeid} len=${h.len} ${(performance.now() - t0).toFixed(2)}ms`);
    }
  }

  private init(fs: RawFileSystem, unique: bigint, bdv: DataView): void {
    if (bdv.byteLength < P.initIn.size) {
      this.send(unique, -errnoNumber('EPROTO'));
      return;
    }
    const i = P.initIn.decode(bdv, 0);
    if (i.major !== P.FUSE_KERNEL_VERSION || i.minor < P.FUSE_MIN_MINOR) {
      // A newer major: answer with ours so the kernel may retry; an older minor: unsupported.
      const out = new Uint8Array(P.initOut.size);
      P.initOut.encode(new DataView(out.buffer), 0, { major: P.FUSE_KERNEL_VERSION, minor: P.FUSE_KERNEL_MINOR_VERSION });
      if (i.major > P.FUSE_KERNEL_VERSION) this.send(unique, 0, out);
      else this.send(unique, -errnoNumber('EPROTO'));
      return;
    }
    const want = P.Init.ASYNC_READ | P.Init.BIG_WRITES | P.Init.AUTO_INVAL_DATA | P.Init.DO_READDIRPLUS |
      P.Init.READDIRPLUS_AUTO | P.Init.PARALLEL_DIROPS | P.Init.MAX_PAGES | P.Init.CACHE_SYMLINKS | P.Init.ASYNC_DIO;
    const flags = (i.flags & want) >>> 0;
    const maxWrite = flags & P.Init.MAX_PAGES ? MAX_WRITE : 128 * 1024;
    const minor = Math.min(i.minor, P.FUSE_KERNEL_MINOR_VERSION);
    this.conn = { major: 7, minor, flags, kernelFlags: i.flags >>> 0, maxWrite, maxReadahead: i.max_readahead };
    this.trace?.(`INIT kernel 7.${i.minor} flags=0x${i.flags.toString(16)} max_readahead=${i.max_readahead}; answer 7.${minor} flags=0x${flags.toString(16)} max_write=${maxWrite}`);
    fs.init?.(this.conn);
    const out = new Uint8Array(P.initOut.size);
    P.initOut.encode(new DataView(out.buffer), 0, {
      major: P.FUSE_KERNEL_VERSION, minor, max_readahead: i.max_readahead, flags,
      max_background: 64, congestion_threshold: 48, max_write: maxWrite, time_gran: 1,
      max_pages: Math.ceil(maxWrite / 4096),
    });
    this.send(unique, 0, out);
  }

  private async call(fs: RawFileSystem, op: number, c: Caller, body: Uint8Array, bdv: DataView,
    reply: (error: number, ...payload: Uint8Array[]) => void): Promise<void> {
    const ENOSYS = -errnoNumber('ENOSYS');
    const need = (n: number): void => {
      if (body.length < n) throw Object.assign(new Error('short request'), { code: 'EINVAL' });
    };
    const ok = (): void => reply(0);
    switch (op) {
      case Op.LOOKUP: {
        if (!fs.lookup) return reply(ENOSYS);
        return reply(0, entryBytes(await fs.lookup(c, this.str(body, 0).s)));
      }
      case Op.GETATTR: {
        if (!fs.getattr) return reply(ENOSYS);
        let fh: number | undefined;
        if (body.length >= P.getattrIn.size) {
          const g = P.getattrIn.decode(bdv, 0);
          if (g.getattr_flags & P.FUSE_GETATTR_FH) fh = g.fh;
        }
        return reply(0, attrBytes(await fs.getattr(c, fh)));
      }
      case Op.SETATTR: {
        if (!fs.setattr) return reply(ENOSYS);
        need(P.setattrIn.size);
        const s = P.setattrIn.decode(bdv, 0);
        return reply(0, attrBytes(await fs.setattr(c, s)));
      }
      case Op.READLINK: {
        if (!fs.readlink) return reply(ENOSYS);
        return reply(0, new TextEncoder().encode(await fs.readlink(c)));
      }
      case Op.SYMLINK: {
        if (!fs.symlink) return reply(ENOSYS);
        const a = this.str(body, 0);
        const b = this.str(body, a.end);
        return reply(0, entryBytes(await fs.symlink(c, a.s, b.s)));
      }
      case Op.MKNOD: {
        if (!fs.mknod) return reply(ENOSYS);
        need(P.mknodIn.size);
        const m = P.mknodIn.decode(bdv, 0);
        return reply(0, entryBytes(await fs.mknod(c, this.str(body, P.mknodIn.size).s, m.mode, m.rdev, m.umask)));
      }
      case Op.MKDIR: {
        if (!fs.mkdir) return reply(ENOSYS);
        need(P.mkdirIn.size);
        const m = P.mkdirIn.decode(bdv, 0);
        return reply(0, entryBytes(await fs.mkdir(c, this.str(body, P.mkdirIn.size).s, m.mode, m.umask)));
      }
      case Op.UNLINK:
        if (!fs.unlink) return reply(ENOSYS);
        await fs.unlink(c, this.str(body, 0).s);
        return ok();
      case Op.RMDIR:
        if (!fs.rmdir) return reply(ENOSYS);
        await fs.rmdir(c, this.str(body, 0).s);
        return ok();
      case Op.RENAME:
      case Op.RENAME2: {
        if (!fs.rename) return reply(ENOSYS);
        const s = op === Op.RENAME ? P.renameIn : P.rename2In;
        need(s.size);
        const r = s.decode(bdv, 0) as { newdir: number; flags?: number };
        const a = this.str(body, s.size);
        const b = this.str(body, a.end);
        await fs.rename(c, a.s, r.newdir, b.s, r.flags ?? 0);
        return ok();
      }
      case Op.LINK: {
        if (!fs.link) return reply(ENOSYS);
        need(P.linkIn.size);
        const l = P.linkIn.decode(bdv, 0);
        return reply(0, entryBytes(await fs.link(c, l.oldnodeid, this.str(body, P.linkIn.size).s)));
      }
      case Op.OPEN:
      case Op.OPENDIR: {
        const f = op === Op.OPEN ? fs.open : fs.opendir;
        if (!f) return reply(ENOSYS);
        need(P.openIn.size);
        return reply(0, openBytes(await f.call(fs, c, P.openIn.decode(bdv, 0).flags)));
      }
      case Op.READ: {
        if (!fs.read) return reply(ENOSYS);
        need(P.readIn.size);
        const r = P.readIn.decode(bdv, 0);
        return reply(0, await fs.read(c, r.fh, r.offset, Math.min(r.size, MAX_WRITE * 2)));
      }
      case Op.WRITE: {
        if (!fs.write) return reply(ENOSYS);
        need(P.writeIn.size);
        const w = P.writeIn.decode(bdv, 0);
        if (P.writeIn.size + w.size > body.length) throw Object.assign(new Error('short write'), { code: 'EINVAL' });
        const n = await fs.write(c, w.fh, w.offset, body.subarray(P.writeIn.size, P.writeIn.size + w.size));
        const out = new Uint8Array(P.writeOut.size);
        P.writeOut.encode(new DataView(out.buffer), 0, { size: n });
        return reply(0, out);
      }
      case Op.STATFS: {
        if (!fs.statfs) return reply(ENOSYS);
        const s = await fs.statfs(c);
        const out = new Uint8Array(P.kstatfs.size);
        P.kstatfs.encode(new DataView(out.buffer), 0, s);
        return reply(0, out);
      }
      case Op.RELEASE:
      case Op.RELEASEDIR: {
        const f = op === Op.RELEASE ? fs.release : fs.releasedir;
        if (!f) return ok();
        need(P.releaseIn.size);
        await f.call(fs, c, P.releaseIn.decode(bdv, 0).fh);
        return ok();
      }
      case Op.FLUSH:
        if (!fs.flush) return reply(ENOSYS);
        need(P.flushIn.size);
        await fs.flush(c, P.flushIn.decode(bdv, 0).fh);
        return ok();
      case Op.FSYNC:
      case Op.FSYNCDIR: {
        const f = op === Op.FSYNC ? fs.fsync : fs.fsyncdir;
        if (!f) return reply(ENOSYS);
        need(P.fsyncIn.size);
        const s = P.fsyncIn.decode(bdv, 0);
        await f.call(fs, c, s.fh, (s.fsync_flags & 1) !== 0);
        return ok();
      }
      case Op.SETXATTR: {
        if (!fs.setxattr) return reply(ENOSYS);
        need(P.setxattrIn.size);
        const s = P.setxattrIn.decode(bdv, 0);
        const n = this.str(body, P.setxattrIn.size);
        if (n.end + s.size > body.length) throw Object.assign(new Error('short setxattr'), { code: 'EINVAL' });
        await fs.setxattr(c, n.s, body.slice(n.end, n.end + s.size), s.flags);
        return ok();
      }
      case Op.GETXATTR:
      case Op.LISTXATTR: {
        need(P.getxattrIn.size);
        const size = P.getxattrIn.decode(bdv, 0).size;
        let value: Uint8Array;
        if (op === Op.GETXATTR) {
          if (!fs.getxattr) return reply(ENOSYS);
          value = await fs.getxattr(c, this.str(body, P.getxattrIn.size).s);
        } else {
          if (!fs.listxattr) return reply(ENOSYS);
          const names = await fs.listxattr(c);
          value = new TextEncoder().encode(names.map((x) => x + '\0').join(''));
        }
        if (size === 0) {
          const out = new Uint8Array(P.getxattrOut.size);
          P.getxattrOut.encode(new DataView(out.buffer), 0, { size: value.length });
          return reply(0, out);
        }
        if (value.length > size) return reply(-errnoNumber('ERANGE'));
        return reply(0, value);
      }
      case Op.REMOVEXATTR:
        if (!fs.removexattr) return reply(ENOSYS);
        await fs.removexattr(c, this.str(body, 0).s);
        return ok();
      case Op.READDIR:
      case Op.READDIRPLUS: {
        if (!fs.readdir) return reply(ENOSYS);
        need(P.readIn.size);
        const r = P.readIn.decode(bdv, 0);
        const out = new DirBuffer(Math.min(r.size, MAX_WRITE), op === Op.READDIRPLUS);
        await fs.readdir(c, r.fh, r.offset, out, op === Op.READDIRPLUS);
        return reply(0, out.buf.subarray(0, out.length));
      }
      case Op.ACCESS:
        if (!fs.access) return reply(ENOSYS);
        need(P.accessIn.size);
        await fs.access(c, P.accessIn.decode(bdv, 0).mask);
        return ok();
      case Op.CREATE: {
        if (!fs.create) return reply(ENOSYS);
        need(P.createIn.size);
        const ci = P.createIn.decode(bdv, 0);
        const r = await fs.create(c, this.str(body, P.createIn.size).s, ci.flags, ci.mode, ci.umask);
        return reply(0, entryBytes(r.entry), openBytes(r.open));
      }
      case Op.DESTROY:
        await fs.destroy?.();
        return ok();
      case Op.SYNCFS:
        if (!fs.syncfs) return reply(ENOSYS);
        await fs.syncfs(c);
        return ok();
      default:
        // GETLK/SETLK (the kernel keeps locks locally since we do not ask for POSIX_LOCKS), BMAP, IOCTL, POLL,
        // FALLOCATE, LSEEK, COPY_FILE_RANGE, TMPFILE: the kernel falls back or answers EOPNOTSUPP.
        return reply(ENOSYS);
    }
  }
}

function OP_NAME_OF(op: number): string {
  return P.OP_NAME.get(op) ?? `OP${op}`;
}

function attrBytes(a: AttrOut): Uint8Array {
  const b = new Uint8Array(P.ATTR_OUT_SIZE);
  const dv = new DataView(b.buffer);
  const [s, ns] = splitValid(a.attrValid);
  P.attrOutHead.encode(dv, 0, { attr_valid: s, attr_valid_nsec: ns });
  encodeAttr(dv, P.attrOutHead.size, a.attr);
  return b;
}
