/**
 * A process and its system calls (NetBSD's struct proc with the vfs_syscalls.c
 * entry points): credentials, descriptor table, cwd, umask, and every call of
 * the SyscallApi. The generic rules live here — permission checks, POSIX
 * timestamps, read-only mounts, rename's legality — so drivers do only the
 * on-disk work.
 */

import { andThen, type Awaitable } from '../kern/awaitable.js';
import { KernelError, isKernelError } from '../kern/error.js';
import { ACC_EXEC, ACC_READ, ACC_WRITE, canAccess, groupMember, isRoot, type Cred } from '../kern/cred.js';
import {
  AT_SYMLINK_NOFOLLOW, F_OK, O_APPEND, O_CREAT, O_DIRECTORY, O_EXCL, O_NOFOLLOW, O_RDONLY, O_TRUNC, R_OK,
  RENAME_EXCHANGE, RENAME_NOREPLACE, SEEK_CUR, SEEK_END, SEEK_SET, W_OK, X_OK,
} from './fcntl.js';
import { FdTable, OpenFile } from './file.js';
import { Restart, vref, vrele, vreleLocked, type Mount } from './mount.js';
import { byteLength, checkPath, lookupName, namei, releaseResult, type NameiContext, type NameiResult } from './namei.js';
import type { Dirent, MountArgs, Stat, SyscallApi, TimeArg } from './syscalls.js';
import {
  S_ISGID, S_ISUID, S_ISVTX, VTYPE_TO_IFMT, ifmtToVType, parseOptions, type FileLayout, type NewNode, type SetAttr, type StatVfs,
  type Timespec, type VnodeKey, type VType,
} from './types.js';
import type { Vnode } from './vnode.js';
import type { Kernel } from '../kern/kernel.js';

const ST_RDONLY = 1;

const ST_NOSUID = 2;

/** The four ways of walking a path (namei's options), made once. */
const FOLLOW = Object.freeze({ follow: true });
const NOFOLLOW = Object.freeze({ follow: false });
const PARENT_FOLLOW = Object.freeze({ follow: true, parent: true });
const PARENT = Object.freeze({ follow: false, parent: true });

/** A driver's lookup() of `name`, answered from memory when it can be (lookupNow). */
function driverLookup(dvp: Vnode, name: string): Awaitable<VnodeKey | null> {
  const now = dvp.impl.lookupNow?.(name);
  return now !== undefined ? now : dvp.impl.lookup(name);
}

/** Releases `vp` and fails with `e` (at once when the release needs no wait). */
function releaseAndThrow(vp: Vnode, e: unknown): Promise<never> {
  const w = vrele(vp);
  if (w) {
    return w.then(() => {
      throw e;
    });
  }
  throw e;
}

function tsLE(a: Timespec, b: Timespec): boolean {
  return a.sec < b.sec || (a.sec === b.sec && a.nsec <= b.nsec);
}

export class Proc implements SyscallApi {
  readonly pid: number;
  cred: Cred;
  fds: FdTable;
  cwd: Vnode;
  umaskValue = 0o022;
  private exited = false;

  constructor(
    readonly kernel: Kernel,
    pid: number,
    cred: Cred,
    cwd: Vnode,
    fds = new FdTable(),
  ) {
    this.pid = pid;
    this.cred = cred;
    this.cwd = cwd;
    vref(cwd);
    this.fds = fds;
  }

  /** A child sharing this process's open files, cwd, umask and credentials (fork). */
  fork(): Proc {
    const p = this.kernel.newProc(this.cred, this.cwd, this.fds.copy());
    p.umaskValue = this.umaskValue;
    return p;
  }

  /** Closes every descriptor and releases the cwd. */
  async exit(): Promise<void> {
    if (this.exited) return;
    this.exited = true;
    await this.fds.closeAll();
    await vrele(this.cwd);
    this.kernel.procExited(this);
  }

  private get root(): Vnode {
    return this.kernel.rootVnode;
  }

  private now(): Timespec {
    return this.kernel.services.now();
  }

  /** Runs a system call: adds the call and path to errors, logs a driver's diagnostic once, never leaks a non-KernelError. */
  private sys<T>(name: string, path: string | undefined, fn: () => Awaitable<T>, dest?: string): Promise<T> {
    if (this.exited) return Promise.reject(new KernelError('ESRCH').withContext(name, path));
    let r: Awaitable<T>;
    try {
      r = fn();
    } catch (e) {
      return Promise.reject(this.sysError(name, path, dest, e));
    }
    // Most calls on cached state answer without waiting: no async frame then, only the promise the API returns.
    if (!(r instanceof Promise)) return Promise.resolve(r);
    return r.catch((e: unknown) => {
      throw this.sysError(name, path, dest, e);
    });
  }

  /** A system call's failure as the caller sees it: a KernelError with the call and path, a driver's diagnostic logged once. */
  private sysError(name: string, path: string | undefined, dest: string | undefined, e: unknown): KernelError {
    let ke: KernelError;
    if (isKernelError(e)) ke = e;
    else {
      const msg = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
      this.kernel.services.log(`panic: ${name}: ${msg}`);
      ke = new KernelError('EIO', `internal error in ${name}: ${msg}`);
    }
    if (ke.detail && !(ke as { logged?: boolean }).logged) {
      (ke as { logged?: boolean }).logged = true;
      this.kernel.services.log(ke.detail);
    }
    return ke.withContext(name, path, dest);
  }

  /** What a path lookup starts from: one object while root, cwd and credentials stay (a walk keeps the one it began with). */
  private ctx(): NameiContext {
    const c = this.lastCtx;
    if (c !== null && c.root === this.root && c.cwd === this.cwd && c.cred === this.cred) return c;
    return (this.lastCtx = { root: this.root, cwd: this.cwd, cred: this.cred });
  }

  private lastCtx: NameiContext | null = null;

  private lookup(path: string, follow: boolean): NameiResult | Promise<NameiResult> {
    return namei(this.ctx(), path, follow ? FOLLOW : NOFOLLOW);
  }

  private lookupParent(path: string, follow = false): NameiResult | Promise<NameiResult> {
    return namei(this.ctx(), path, follow ? PARENT_FOLLOW : PARENT);
  }

  /** Runs `fn` with the vnode of `path` held (without waiting when neither the walk nor `fn` waits). */
  private withVnode<T>(path: string, follow: boolean, fn: (vp: Vnode) => Awaitable<T>): Awaitable<T> {
    return Proc.withResult(this.lookup(path, follow), (r) => fn(r.vp!));
  }

  /** Runs `fn` on a lookup's result and releases its vnodes after (without waiting when nothing has to). */
  private static withResult<T>(found: Awaitable<NameiResult>, fn: (r: NameiResult) => Awaitable<T>): Awaitable<T> {
    return andThen(found, (r) => {
      let out: Awaitable<T>;
      try {
        out = fn(r);
      } catch (e) {
        return andThen(releaseResult(r), () => {
          throw e;
        });
      }
      if (out instanceof Promise) return out.finally(() => releaseResult(r));
      return andThen(releaseResult(r), () => out);
    });
  }

  /**
   * Runs a driver call under the mount's lock (exclusive for `write`), its errors as Mount.call's; without
   * waiting when the lock is free and `fn` answers at once.
   */
  private static locked<T>(mp: Mount, write: boolean, what: string, fn: () => Awaitable<T>): Awaitable<T> {
    if (write && mp.readonly) throw new KernelError('EROFS');
    if (write ? mp.lock.tryEnterWrite() : mp.lock.tryEnterRead()) return Proc.underLock(mp, write, what, fn);
    return (write ? mp.lock.enterWrite() : mp.lock.enterRead()).then(() => Proc.underLock(mp, write, what, fn));
  }

  /** The rest of locked(), the lock held: runs `fn` (as Mount.call) and lets the lock go when it is done. */
  private static underLock<T>(mp: Mount, write: boolean, what: string, fn: () => Awaitable<T>): Awaitable<T> {
    const exit = () => (write ? mp.lock.exitWrite() : mp.lock.exitRead());
    let out: Awaitable<T>;
    try {
      if (write && mp.readonly) throw new KernelError('EROFS');
      out = mp.call(what, fn);
    } catch (e) {
      exit();
      throw e;
    }
    if (!(out instanceof Promise)) {
      exit();
      return out;
    }
    return out.finally(exit);
  }

  private checkAcc(vp: Vnode, want: number): void {
    if (!canAccess(this.cred, vp.getattr(), want)) throw new KernelError('EACCES');
  }

  private isOwner(vp: Vnode): boolean {
    return isRoot(this.cred) || this.cred.uid === vp.getattr().uid;
  }

  /** Sticky directories: only the owner of the file, of the directory, or root may remove or rename an entry. */
  private checkSticky(dvp: Vnode, vp: Vnode): void {
    const d = dvp.getattr();
    if ((d.mode & S_ISVTX) === 0 || isRoot(this.cred)) return;
    if (this.cred.uid === d.uid || this.cred.uid === vp.getattr().uid) return;
    throw new KernelError('EPERM');
  }

  private checkName(mp: Mount, name: string): void {
    if (byteLength(name) > mp.nameMax) throw new KernelError('ENAMETOOLONG');
    mp.fs.validName?.(name);
  }

  /** Attributes of a node created by this process in `dvp` (umask applied; setgid directories pass on their group). */
  private newNode(dvp: Vnode, type: VType, mode: number, rdev = 0): NewNode {
    const d = dvp.getattr();
    let perm = mode & 0o7777 & ~this.umaskValue;
    let gid = this.cred.gid;
    if (d.mode & S_ISGID) {
      gid = d.gid;
      if (type === 'dir') perm |= S_ISGID;
    }
    if (type !== 'dir' && perm & S_ISGID && !isRoot(this.cred) && !groupMember(this.cred, gid)) perm &= ~S_ISGID;
    return { type, mode: perm, uid: this.cred.uid, gid, rdev, time: this.now() };
  }

  /** Common checks before adding an entry to `dvp`. */
  private checkCreate(r: NameiResult): { dvp: Vnode; name: string; mp: Mount } {
    const dvp = r.dvp;
    if (dvp === null || r.name === '' || r.name === '.' || r.name === '..') throw new KernelError('EEXIST');
    if (r.vp !== null) throw new KernelError('EEXIST');
    if (dvp.getattr().nlink === 0) throw new KernelError('ENOENT');
    this.checkAcc(dvp, ACC_WRITE | ACC_EXEC);
    const mp = dvp.mount;
    if (mp.readonly) throw new KernelError('EROFS');
    this.checkName(mp, r.name);
    return { dvp, name: r.name, mp };
  }

  private static makeStat(vp: Vnode): Stat {
    const a = vp.getattr();
    const st: Stat = {
      dev: vp.mount.id, ino: a.ino, mode: VTYPE_TO_IFMT[a.type] | (a.mode & 0o7777), nlink: a.nlink, uid: a.uid, gid: a.gid,
      rdev: a.rdev, size: a.size, blksize: a.blksize, blocks: a.blocks, atime: a.atime, mtime: a.mtime, ctime: a.ctime,
    };
    if (a.birthtime) st.birthtime = a.birthtime;
    return st;
  }

  // ---- files ----

  open(path: string, flags: number, mode = 0o666): Promise<number> {
    return this.sys('open', path, () => {
      if (flags & O_CREAT) return this.openCreate(path, flags, mode);
      return andThen(this.lookup(path, (flags & O_NOFOLLOW) === 0), (r) => this.openVnode(r.vp!, flags, false));
    });
  }

  /** open() with O_CREAT: the file found, or made (without waiting when nothing has to). */
  private openCreate(path: string, flags: number, mode: number): Awaitable<number> {
    const excl = (flags & O_EXCL) !== 0;
    const got = Proc.withResult(this.lookupParent(path, !(excl || flags & O_NOFOLLOW)), (r): Awaitable<[Vnode, boolean]> => {
      if (r.vp !== null) {
        if (excl) throw new KernelError('EEXIST');
        vref(r.vp);
        return [r.vp, false];
      }
      if (r.trailingSlash) throw new KernelError('EISDIR');
      const { dvp, name, mp } = this.checkCreate(r);
      const node = this.newNode(dvp, 'reg', mode);
      const key = Proc.locked(mp, true, 'create', () =>
        andThen(driverLookup(dvp, name), (existing) => {
          if (existing !== null) throw new KernelError('EEXIST');
          return dvp.impl.create(name, node);
        }),
      );
      return andThen(key, (key) => andThen(mp.callNow('vget', () => mp.vgetNow(key)) ?? Proc.vgetShared(mp, key), (vp) => [vp, true]));
    });
    return andThen(got, ([vp, created]) => this.openVnode(vp, flags, created));
  }

  /** The held vnode for `key`, under the mount's lock taken shared. */
  private static async vgetShared(mp: Mount, key: number): Promise<Vnode> {
    await mp.lock.enterRead();
    try {
      return await mp.vget(key);
    } finally {
      mp.lock.exitRead();
    }
  }

  /** A descriptor for the held `vp` (released on failure) after open()'s checks; `created`: by this call. */
  private openVnode(vp: Vnode, flags: number, created: boolean): number | Promise<number> {
    try {
      const a = vp.getattr();
      if (a.type === 'lnk') throw new KernelError('ELOOP');
      if (flags & O_DIRECTORY && a.type !== 'dir') throw new KernelError('ENOTDIR');
      const f = new OpenFile(vp, flags & ~(O_CREAT | O_EXCL | O_TRUNC));
      if (a.type === 'dir' && f.writable) throw new KernelError('EISDIR');
      if (a.type === 'fifo' || a.type === 'sock') throw new KernelError('ENXIO');
      if (!created) {
        let want = 0;
        if (f.readable) want |= ACC_READ;
        if (f.writable || flags & O_TRUNC) want |= ACC_WRITE;
        this.checkAcc(vp, want);
      }
      if ((f.writable || flags & O_TRUNC) && vp.mount.readonly && (a.type === 'reg' || a.type === 'dir')) throw new KernelError('EROFS');
      if (flags & O_TRUNC && !created && a.type === 'reg' && (f.writable || (flags & 3) === O_RDONLY)) {
        const t = this.now();
        return Promise.resolve(Proc.locked(vp.mount, true, 'setattr', () => vp.impl.setattr({ size: 0, mtime: t, ctime: t })))
          .then(() => this.fds.alloc(f))
          .catch((e) => releaseAndThrow(vp, e));
      }
      return this.fds.alloc(f);
    } catch (e) {
      return releaseAndThrow(vp, e);
    }
  }

  close(fd: number): Promise<void> {
    return this.sys('close', undefined, () => this.fds.remove(fd).release());
  }

  /** Reads at `pos`: at once when the driver can (VnodeImpl.readNow) and the mount's lock is free. */
  private doRead(f: OpenFile, buf: Uint8Array, pos: number): number | Promise<number> {
    if (!f.readable) throw new KernelError('EBADF');
    const vp = f.vp;
    const a = vp.getattr();
    if (a.type === 'dir') throw new KernelError('EISDIR');
    if (buf.length === 0) return 0;
    const impl = vp.impl;
    const n = impl.readNow === undefined ? undefined : vp.mount.callNow('read', () => impl.readNow!(buf, pos));
    if (n === undefined) return this.doReadWaiting(vp, buf, pos);
    return andThen(this.readDone(vp, buf, n), () => n);
  }

  private async doReadWaiting(vp: Vnode, buf: Uint8Array, pos: number): Promise<number> {
    const n = await Proc.locked(vp.mount, false, 'read', () => vp.impl.read(buf, pos));
    await this.readDone(vp, buf, n);
    return n;
  }

  /** After a read of `n` bytes: the driver's count checked, the access time marked. */
  private readDone(vp: Vnode, buf: Uint8Array, n: number): void | Promise<void> {
    if (!Number.isInteger(n) || n < 0 || n > buf.length) throw new KernelError('EIO', `${vp.mount.type.name}: read returned ${n}`);
    return this.touchAtime(vp);
  }

  /** Marks the access time after a read, as the mount's policy says (relatime: only when it is older than mtime/ctime or a day). */
  private touchAtime(vp: Vnode): void | Promise<void> {
    const mp = vp.mount;
    if (mp.atime === 'noatime' || mp.readonly) return;
    const a = vp.getattr();
    const now = this.now();
    if (mp.atime === 'relatime' && !(tsLE(a.atime, a.mtime) || tsLE(a.atime, a.ctime) || now.sec - a.atime.sec >= 86400)) return;
    return Promise.resolve(Proc.locked(mp, true, 'setattr', () => vp.impl.setattr({ atime: now }))).catch((e) => {
      if (!(isKernelError(e) && e.code === 'EROFS')) throw e;
    });
  }

  /** write() and pwrite() (`pos` null: at the file's offset), without waiting when the driver need not. */
  private doWrite(f: OpenFile, buf: Uint8Array, pos: number | null): Awaitable<number> {
    if (!f.writable) throw new KernelError('EBADF');
    const vp = f.vp;
    const mp = vp.mount;
    if (vp.type === 'dir') throw new KernelError('EISDIR');
    return Proc.locked(mp, true, 'write', () => {
      const off = f.flags & O_APPEND ? vp.getattr().size : pos ?? f.offset;
      if (buf.length === 0) return 0;
      if (off >= mp.maxFileSize) throw new KernelError('EFBIG');
      const data = off + buf.length > mp.maxFileSize ? buf.subarray(0, mp.maxFileSize - off) : buf;
      return andThen(vp.impl.write(data, off, this.now()), (n) => {
        if (!Number.isInteger(n) || n < 0 || n > data.length) throw new KernelError('EIO', `${mp.type.name}: write returned ${n}`);
        if (pos === null || f.flags & O_APPEND) f.offset = off + n;
        // A write by anyone but root clears setuid, and setgid when group-executable (Linux's file_remove_privs).
        const a = vp.getattr();
        if (!isRoot(this.cred) && (a.mode & S_ISUID || (a.mode & S_ISGID && a.mode & 0o010))) {
          let m = a.mode & ~S_ISUID;
          if (m & 0o010) m &= ~S_ISGID;
          return vp.impl.setattr({ mode: m, ctime: this.now() }).then(() => n);
        }
        return n;
      });
    });
  }

  read(fd: number, buf: Uint8Array): Promise<number> {
    return this.sys('read', undefined, () => {
      const f = this.fds.get(fd);
      return andThen(this.doRead(f, buf, f.offset), (n) => {
        f.offset += n;
        return n;
      });
    });
  }

  write(fd: number, buf: Uint8Array): Promise<number> {
    return this.sys('write', undefined, () => this.doWrite(this.fds.get(fd), buf, null));
  }

  pread(fd: number, buf: Uint8Array, position: number): Promise<number> {
    return this.sys('pread', undefined, async () => {
      if (!Number.isSafeInteger(position) || position < 0) throw new KernelError('EINVAL');
      return this.doRead(this.fds.get(fd), buf, position);
    });
  }

  /**
   * pread as a layout (VnodeImpl.layout): where the bytes a pread of `len` at `position` would return
   * lie in host files, not the bytes; the descriptor's offset does not move. Null when the file's
   * driver cannot say or the mount is writable: pread then. Not part of SyscallApi: the sysproxy
   * server answers with it a client that holds the image files too.
   */
  preadLayout(fd: number, len: number, position: number): Promise<FileLayout | null> {
    return this.sys('pread', undefined, async () => {
      if (!Number.isSafeInteger(position) || position < 0 || !Number.isSafeInteger(len) || len < 0) throw new KernelError('EINVAL');
      const f = this.fds.get(fd);
      if (!f.readable) throw new KernelError('EBADF');
      const vp = f.vp;
      if (vp.getattr().type === 'dir') throw new KernelError('EISDIR');
      const impl = vp.impl;
      // A read-only mount: no access time to mark, no data held back from the device.
      if (!vp.mount.readonly || impl.layout === undefined) return null;
      const lay = await Proc.locked(vp.mount, false, 'read', () => impl.layout!(position, len));
      if (lay === null) return null;
      const pieces = lay.segs.every((s) => Number.isSafeInteger(s.len) && s.len > 0 && Number.isSafeInteger(s.offset) && s.offset >= 0);
      const sum = pieces ? lay.segs.reduce((t, s) => t + s.len, 0) : -1;
      if (!Number.isInteger(lay.n) || lay.n < 0 || lay.n > len || sum !== lay.n) throw new KernelError('EIO', `${vp.mount.type.name}: bad layout of ${lay.n} bytes`);
      return lay;
    });
  }

  pwrite(fd: number, buf: Uint8Array, position: number): Promise<number> {
    return this.sys('pwrite', undefined, () => {
      if (!Number.isSafeInteger(position) || position < 0) throw new KernelError('EINVAL');
      return this.doWrite(this.fds.get(fd), buf, position);
    });
  }

  lseek(fd: number, offset: number, whence: number): Promise<number> {
    return this.sys('lseek', undefined, async () => {
      const f = this.fds.get(fd);
      let base: number;
      if (whence === SEEK_SET) base = 0;
      else if (whence === SEEK_CUR) base = f.offset;
      else if (whence === SEEK_END) base = f.vp.getattr().size;
      else throw new KernelError('EINVAL');
      const to = base + offset;
      if (!Number.isSafeInteger(to) || to < 0) throw new KernelError('EINVAL');
      f.offset = to;
      if (f.vp.type === 'dir' && to === 0) {
        f.dirCookie = 0;
        f.dirEof = false;
      }
      return to;
    });
  }

  fstat(fd: number): Promise<Stat> {
    return this.sys('fstat', undefined, () => Proc.makeStat(this.fds.get(fd).vp));
  }

  stat(path: string): Promise<Stat> {
    return this.sys('stat', path, () => this.withVnode(path, true, (vp) => Proc.makeStat(vp)));
  }

  lstat(path: string): Promise<Stat> {
    return this.sys('lstat', path, () => this.withVnode(path, false, (vp) => Proc.makeStat(vp)));
  }

  access(path: string, mode: number): Promise<void> {
    return this.sys('access', path, () =>
      this.withVnode(path, true, (vp) => {
        if (mode === F_OK) return;
        if (mode & ~(R_OK | W_OK | X_OK)) throw new KernelError('EINVAL');
        if (mode & W_OK && vp.mount.readonly && vp.type !== 'blk' && vp.type !== 'chr') throw new KernelError('EROFS');
        this.checkAcc(vp, mode & 7);
      }),
    );
  }

  // ---- names ----

  mkdir(path: string, mode = 0o777): Promise<void> {
    return this.sys('mkdir', path, async () => {
      const r = await this.lookupParent(path);
      try {
        const { dvp, name, mp } = this.checkCreate(r);
        const node = this.newNode(dvp, 'dir', mode & 0o7777);
        await Proc.locked(mp, true, 'mkdir', async () => {
          if ((await driverLookup(dvp, name)) !== null) throw new KernelError('EEXIST');
          await dvp.impl.mkdir(name, node);
        });
      } finally {
        await releaseResult(r);
      }
    });
  }

  mknod(path: string, mode: number, rdev = 0): Promise<void> {
    return this.sys('mknod', path, async () => {
      const type = ifmtToVType(mode) ?? 'reg';
      if (type === 'dir' || type === 'lnk') throw new KernelError('EINVAL');
      if ((type === 'blk' || type === 'chr') && !isRoot(this.cred)) throw new KernelError('EPERM');
      const r = await this.lookupParent(path);
      try {
        const { dvp, name, mp } = this.checkCreate(r);
        const node = this.newNode(dvp, type, mode & 0o7777, rdev);
        await Proc.locked(mp, true, 'create', async () => {
          if ((await driverLookup(dvp, name)) !== null) throw new KernelError('EEXIST');
          await dvp.impl.create(name, node);
        });
      } finally {
        await releaseResult(r);
      }
    });
  }

  rmdir(path: string): Promise<void> {
    return this.sys('rmdir', path, () => Proc.restarting(() => this.rmdirOnce(path)));
  }

  private async rmdirOnce(path: string): Promise<void> {
    {
      const r = await this.lookupParent(path);
      try {
        if (r.name === '.') throw new KernelError('EINVAL');
        if (r.name === '..') throw new KernelError('ENOTEMPTY');
        if (r.dvp === null || r.name === '') throw new KernelError('EBUSY');
        const { dvp, vp } = r;
        if (vp === null) throw new KernelError('ENOENT');
        if (vp.type !== 'dir') throw new KernelError('ENOTDIR');
        if (vp.mount !== dvp.mount || vp.mountedHere) throw new KernelError('EBUSY');
        this.checkAcc(dvp, ACC_WRITE | ACC_EXEC);
        this.checkSticky(dvp, vp);
        if (vp === this.root) throw new KernelError('EBUSY');
        try {
          await Proc.locked(dvp.mount, true, 'rmdir', async () => {
            await Proc.stillNames(dvp, r.name, vp);
            await dvp.impl.rmdir(r.name, vp.impl, this.now());
          });
        } finally {
          // Also when the call failed: the driver may have changed the directory before its write failed.
          dvp.forgetName(r.name);
          vp.purgeNames();
        }
      } finally {
        await releaseResult(r);
      }
    }
  }

  unlink(path: string): Promise<void> {
    return this.sys('unlink', path, () => Proc.restarting(() => this.unlinkOnce(path)));
  }

  /**
   * Runs a name-changing call again when, once it holds the mount lock, the names it looked up no longer
   * lead where they did (another call renamed or removed them in between).
   */
  private static async restarting<T>(fn: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await fn();
      } catch (e) {
        if (!(e instanceof Restart) || attempt >= 64) throw e instanceof Restart ? new KernelError('EAGAIN') : e;
      }
    }
  }

  /** Under the mount lock: does `name` in `dvp` still name `vp` (or nothing, for null)? */
  private static async stillNames(dvp: Vnode, name: string, vp: Vnode | null): Promise<void> {
    const key = await driverLookup(dvp, name);
    if (key !== (vp ? vp.key : null)) throw new Restart();
  }

  private async unlinkOnce(path: string): Promise<void> {
    {
      const r = await this.lookupParent(path);
      try {
        if (r.dvp === null || r.name === '' || r.name === '.' || r.name === '..') throw new KernelError(r.name === '' ? 'EISDIR' : 'EISDIR');
        const { dvp, vp } = r;
        if (vp === null) throw new KernelError('ENOENT');
        if (vp.type === 'dir') throw new KernelError('EISDIR');
        if (vp.mount !== dvp.mount) throw new KernelError('EBUSY');
        this.checkAcc(dvp, ACC_WRITE | ACC_EXEC);
        this.checkSticky(dvp, vp);
        try {
          await Proc.locked(dvp.mount, true, 'remove', async () => {
            await Proc.stillNames(dvp, r.name, vp);
            await dvp.impl.remove(r.name, vp.impl, this.now());
          });
        } finally {
          // Also when the call failed: the driver may have changed the directory before its write failed.
          dvp.forgetName(r.name);
        }
      } finally {
        await releaseResult(r);
      }
    }
  }

  rename(from: string, to: string, flags = 0): Promise<void> {
    return this.sys('rename', from, () => Proc.restarting(() => this.renameOnce(from, to, flags)), to);
  }

  private async renameOnce(from: string, to: string, flags: number): Promise<void> {
    {
      {
        if (flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE)) throw new KernelError('EINVAL');
        if (flags & RENAME_EXCHANGE) throw new KernelError('EINVAL', 'rename: RENAME_EXCHANGE is not supported');
        const fr = await this.lookupParent(from);
        let tr: NameiResult | null = null;
        try {
          tr = await this.lookupParent(to);
          const fdvp = fr.dvp;
          const tdvp = tr.dvp;
          if (fdvp === null || fr.name === '' || fr.name === '.' || fr.name === '..') throw new KernelError(fr.name === '' ? 'EBUSY' : 'EINVAL');
          if (tdvp === null || tr.name === '' || tr.name === '.' || tr.name === '..') throw new KernelError(tr.name === '' ? 'EBUSY' : 'EINVAL');
          const fvp = fr.vp;
          if (fvp === null) throw new KernelError('ENOENT');
          const tvp = tr.vp;
          const mp = fdvp.mount;
          if (fvp.mount !== mp || fvp.mountedHere) throw new KernelError('EBUSY');
          if (tdvp.mount !== mp) throw new KernelError('EXDEV');
          if (tvp && (tvp.mount !== mp || tvp.mountedHere)) throw new KernelError('EBUSY');
          const fdir = fvp.type === 'dir';
          if ((fr.trailingSlash || tr.trailingSlash) && !fdir) throw new KernelError('ENOTDIR');
          if (tvp) {
            if (flags & RENAME_NOREPLACE) throw new KernelError('EEXIST');
            if (fdir && tvp.type !== 'dir') throw new KernelError('ENOTDIR');
            if (!fdir && tvp.type === 'dir') throw new KernelError('EISDIR');
          }
          this.checkAcc(fdvp, ACC_WRITE | ACC_EXEC);
          if (tdvp !== fdvp) this.checkAcc(tdvp, ACC_WRITE | ACC_EXEC);
          this.checkSticky(fdvp, fvp);
          if (tvp) this.checkSticky(tdvp, tvp);
          if (tvp === fvp) return; // two names of one file: nothing to do
          if (mp.readonly) throw new KernelError('EROFS');
          this.checkName(mp, tr.name);
          if (fdir && fdvp !== tdvp) this.checkAcc(fvp, ACC_WRITE); // its '..' changes
          await mp.lock.enterWrite();
          try {
            if (mp.readonly) throw new KernelError('EROFS');
            if (fdir && fdvp !== tdvp) await this.checkNotAncestor(fvp, tdvp);
            if (fdvp.getattr().nlink === 0 || tdvp.getattr().nlink === 0) throw new KernelError('ENOENT');
            await mp.call('lookup', () => Proc.stillNames(fdvp, fr.name, fvp));
            await mp.call('lookup', () => Proc.stillNames(tdvp, tr!.name, tvp));
            await mp.call('rename', () => fdvp.impl.rename(fr.name, fvp.impl, tdvp.impl, tr!.name, tvp ? tvp.impl : null, this.now()));
          } finally {
            mp.lock.exitWrite();
            // Also when the call failed: the driver may have changed the directories before a write failed.
            fdvp.forgetName(fr.name);
            tdvp.forgetName(tr.name);
            if (tvp) tvp.purgeNames();
          }
        } finally {
          if (tr) await releaseResult(tr);
          await releaseResult(fr);
        }
      }
    }
  }

  /** EINVAL when `dir` is `vp` or below it (a directory moved into its own subtree). Caller holds the mount lock. */
  private async checkNotAncestor(vp: Vnode, dir: Vnode): Promise<void> {
    const mp = vp.mount;
    let key = dir.key;
    let cur = dir.impl;
    for (let depth = 0; depth < 65536; depth++) {
      if (key === vp.key) throw new KernelError('EINVAL');
      if (key === mp.fs.rootKey) return;
      const parent = await cur.lookup('..');
      if (parent === null || parent === key) return;
      key = parent;
      const cached = mp.vcache.get(key);
      cur = cached ? cached.impl : await mp.fs.vget(key);
    }
    throw new KernelError('EIO', `${mp.type.name}: directory tree deeper than 65536 levels (a loop?)`);
  }

  link(existing: string, newPath: string): Promise<void> {
    return this.sys(
      'link',
      existing,
      async () => {
        const sr = await this.lookup(existing, false);
        let r: NameiResult | null = null;
        try {
          const vp = sr.vp!;
          r = await this.lookupParent(newPath);
          if (r.vp !== null || r.dvp === null) throw new KernelError('EEXIST');
          if (vp.type === 'dir') throw new KernelError('EPERM');
          if (r.dvp.mount !== vp.mount) throw new KernelError('EXDEV');
          const { dvp, name, mp } = this.checkCreate(r);
          await Proc.locked(mp, true, 'link', async () => {
            if ((await driverLookup(dvp, name)) !== null) throw new KernelError('EEXIST');
            if (vp.getattr().nlink === 0) throw new KernelError('ENOENT');
            await dvp.impl.link(name, vp.impl, this.now());
          });
        } finally {
          if (r) await releaseResult(r);
          await releaseResult(sr);
        }
      },
      newPath,
    );
  }

  symlink(target: string, path: string): Promise<void> {
    return this.sys('symlink', path, async () => {
      if (target.length === 0) throw new KernelError('ENOENT');
      if (target.includes('\0')) throw new KernelError('EINVAL');
      if (byteLength(target) >= 1024) throw new KernelError('ENAMETOOLONG');
      const r = await this.lookupParent(path);
      try {
        const { dvp, name, mp } = this.checkCreate(r);
        const node = this.newNode(dvp, 'lnk', 0o777 | this.umaskValue);
        await Proc.locked(mp, true, 'symlink', async () => {
          if ((await driverLookup(dvp, name)) !== null) throw new KernelError('EEXIST');
          await dvp.impl.symlink(name, target, node);
        });
      } finally {
        await releaseResult(r);
      }
    });
  }

  readlink(path: string): Promise<string> {
    return this.sys('readlink', path, () =>
      this.withVnode(path, false, async (vp) => {
        if (vp.type !== 'lnk') throw new KernelError('EINVAL');
        const target = await Proc.locked(vp.mount, false, 'readlink', () => vp.impl.readlink());
        // Reading a link accesses it (POSIX readlink, Linux's touch_atime).
        await this.touchAtime(vp);
        return target;
      }),
    );
  }

  // ---- directories ----

  private async doGetdents(f: OpenFile, max: number): Promise<Dirent[]> {
    const vp = f.vp;
    if (vp.type !== 'dir') throw new KernelError('ENOTDIR');
    if (f.dirEof) return [];
    const mp = vp.mount;
    return Proc.locked(mp, false, 'readdir', async () => {
      const entries = await vp.impl.readdir(f.dirCookie, Math.max(1, Math.min(max, 4096)));
      if (entries.length === 0) {
        f.dirEof = true;
        return [];
      }
      const out: Dirent[] = [];
      for (const e of entries) {
        let type = e.type;
        if (type === undefined) {
          const cvp = e.key === vp.key ? vp : await mp.vget(e.key);
          type = cvp.type;
          if (cvp !== vp) vreleLocked(cvp);
        }
        out.push({ name: e.name, ino: e.ino ?? e.key, type });
      }
      const next = entries[entries.length - 1]!.next;
      if (next === f.dirCookie) throw new KernelError('EIO', `${mp.type.name}: readdir cookie did not advance (${next})`);
      f.dirCookie = next;
      return out;
    });
  }

  getdents(fd: number, max = 256): Promise<Dirent[]> {
    return this.sys('getdents', undefined, async () => {
      const f = this.fds.get(fd);
      const out = await this.doGetdents(f, max);
      // Reading a directory accesses it (POSIX readdir, Linux's iterate_dir), at its end too.
      await this.touchAtime(f.vp);
      return out;
    });
  }

  readdir(path: string): Promise<Dirent[]> {
    return this.sys('readdir', path, async () => {
      const r = await this.lookup(path, true);
      const vp = r.vp!;
      try {
        if (vp.type !== 'dir') throw new KernelError('ENOTDIR');
        this.checkAcc(vp, ACC_READ);
        const f = new OpenFile(vp, O_RDONLY);
        const out: Dirent[] = [];
        for (let rounds = 0; ; rounds++) {
          if (rounds > 1_000_000) throw new KernelError('EIO', `${vp.mount.type.name}: directory never ends`);
          const batch = await this.doGetdents(f, 1024);
          if (batch.length === 0) break;
          for (const d of batch) if (d.name !== '.' && d.name !== '..') out.push(d);
        }
        await this.touchAtime(vp);
        return out;
      } finally {
        await releaseResult(r);
      }
    });
  }

  // ---- attributes ----

  private async chmodVnode(vp: Vnode, mode: number): Promise<void> {
    if (!this.isOwner(vp)) throw new KernelError('EPERM');
    let m = mode & 0o7777;
    const a = vp.getattr();
    if (!isRoot(this.cred) && a.type !== 'dir' && m & S_ISGID && !groupMember(this.cred, a.gid)) m &= ~S_ISGID;
    await Proc.locked(vp.mount, true, 'setattr', () => vp.impl.setattr({ mode: m, ctime: this.now() }));
  }

  chmod(path: string, mode: number): Promise<void> {
    return this.sys('chmod', path, () => this.withVnode(path, true, (vp) => this.chmodVnode(vp, mode)));
  }

  fchmod(fd: number, mode: number): Promise<void> {
    return this.sys('fchmod', undefined, async () => this.chmodVnode(this.fds.get(fd).vp, mode));
  }

  private async chownVnode(vp: Vnode, uid: number, gid: number): Promise<void> {
    const a = vp.getattr();
    const newUid = uid === -1 || uid === 0xffffffff ? a.uid : uid;
    const newGid = gid === -1 || gid === 0xffffffff ? a.gid : gid;
    if (!Number.isInteger(newUid) || newUid < 0 || !Number.isInteger(newGid) || newGid < 0) throw new KernelError('EINVAL');
    if (!isRoot(this.cred)) {
      if (this.cred.uid !== a.uid || newUid !== a.uid) throw new KernelError('EPERM');
      if (newGid !== a.gid && !groupMember(this.cred, newGid)) throw new KernelError('EPERM');
    }
    const change: SetAttr = { ctime: this.now() };
    if (newUid !== a.uid) change.uid = newUid;
    if (newGid !== a.gid) change.gid = newGid;
    // Changing the owner clears setuid, and setgid when group-executable (as Linux does, for root too).
    if (a.type !== 'dir' && (uid !== -1 || gid !== -1) && a.mode & (S_ISUID | S_ISGID)) {
      let m = a.mode & ~S_ISUID;
      if (m & 0o010) m &= ~S_ISGID;
      if (m !== a.mode) change.mode = m;
    }
    await Proc.locked(vp.mount, true, 'setattr', () => vp.impl.setattr(change));
  }

  chown(path: string, uid: number, gid: number): Promise<void> {
    return this.sys('chown', path, () => this.withVnode(path, true, (vp) => this.chownVnode(vp, uid, gid)));
  }

  fchown(fd: number, uid: number, gid: number): Promise<void> {
    return this.sys('fchown', undefined, async () => this.chownVnode(this.fds.get(fd).vp, uid, gid));
  }

  lchown(path: string, uid: number, gid: number): Promise<void> {
    return this.sys('lchown', path, () => this.withVnode(path, false, (vp) => this.chownVnode(vp, uid, gid)));
  }

  private async utimensVnode(vp: Vnode, atime: TimeArg, mtime: TimeArg): Promise<void> {
    if (atime === 'omit' && mtime === 'omit') return;
    const now = this.now();
    const explicit = (atime !== 'omit' && atime !== 'now') || (mtime !== 'omit' && mtime !== 'now');
    if (!this.isOwner(vp)) {
      if (explicit) throw new KernelError('EPERM');
      if (!canAccess(this.cred, vp.getattr(), ACC_WRITE)) throw new KernelError('EACCES');
    }
    const check = (t: TimeArg): void => {
      if (typeof t === 'object' && (!Number.isSafeInteger(t.sec) || !Number.isInteger(t.nsec) || t.nsec < 0 || t.nsec > 999_999_999)) {
        throw new KernelError('EINVAL');
      }
    };
    check(atime);
    check(mtime);
    const change: SetAttr = { ctime: now };
    if (atime !== 'omit') change.atime = atime === 'now' ? now : atime;
    if (mtime !== 'omit') change.mtime = mtime === 'now' ? now : mtime;
    await Proc.locked(vp.mount, true, 'setattr', () => vp.impl.setattr(change));
  }

  utimens(path: string, atime: TimeArg, mtime: TimeArg, flags = 0): Promise<void> {
    return this.sys('utimens', path, () =>
      this.withVnode(path, (flags & AT_SYMLINK_NOFOLLOW) === 0, (vp) => this.utimensVnode(vp, atime, mtime)),
    );
  }

  futimens(fd: number, atime: TimeArg, mtime: TimeArg): Promise<void> {
    return this.sys('futimens', undefined, async () => this.utimensVnode(this.fds.get(fd).vp, atime, mtime));
  }

  private async truncateVnode(vp: Vnode, size: number): Promise<void> {
    if (!Number.isSafeInteger(size) || size < 0) throw new KernelError('EINVAL');
    const t = vp.type;
    if (t === 'dir') throw new KernelError('EISDIR');
    if (t !== 'reg') throw new KernelError('EINVAL');
    if (size > vp.mount.maxFileSize) throw new KernelError('EFBIG');
    const now = this.now();
    await Proc.locked(vp.mount, true, 'setattr', () => vp.impl.setattr({ size, mtime: now, ctime: now }));
  }

  truncate(path: string, size: number): Promise<void> {
    return this.sys('truncate', path, () =>
      this.withVnode(path, true, async (vp) => {
        if (vp.type === 'reg') this.checkAcc(vp, ACC_WRITE);
        await this.truncateVnode(vp, size);
      }),
    );
  }

  ftruncate(fd: number, size: number): Promise<void> {
    return this.sys('ftruncate', undefined, async () => {
      const f = this.fds.get(fd);
      if (!f.writable) throw new KernelError('EINVAL');
      await this.truncateVnode(f.vp, size);
    });
  }

  fsync(fd: number): Promise<void> {
    return this.sys('fsync', undefined, async () => {
      const vp = this.fds.get(fd).vp;
      if (vp.mount.readonly) return;
      await Proc.locked(vp.mount, true, 'fsync', () => vp.impl.fsync());
    });
  }

  sync(): Promise<void> {
    return this.sys('sync', undefined, () => this.kernel.syncAll());
  }

  private async statvfsOf(vp: Vnode): Promise<StatVfs> {
    const mp = vp.mount;
    const s = await Proc.locked(mp, false, 'statvfs', () => mp.fs.statvfs());
    return { ...s, fsid: mp.id, namemax: mp.nameMax, flag: (s.flag ?? 0) | (mp.readonly ? ST_RDONLY : 0) | (mp.options.has('nosuid') ? ST_NOSUID : 0) };
  }

  statvfs(path: string): Promise<StatVfs> {
    return this.sys('statvfs', path, () => this.withVnode(path, true, (vp) => this.statvfsOf(vp)));
  }

  fstatvfs(fd: number): Promise<StatVfs> {
    return this.sys('fstatvfs', undefined, async () => this.statvfsOf(this.fds.get(fd).vp));
  }

  // ---- mounts ----

  mount(fstype: string, target: string, args: MountArgs = {}): Promise<void> {
    return this.sys('mount', target, async () => {
      if (!isRoot(this.cred)) throw new KernelError('EPERM');
      const r = await this.lookup(target, true);
      const vp = r.vp!;
      try {
        if (vp.type !== 'dir') throw new KernelError('ENOTDIR');
        // As NetBSD: no mount over a mount point (or the root); unmount first.
        if (vp.mountedHere || vp.isRoot) throw new KernelError('EBUSY');
        const options = parseOptions(args.options);
        const readonly = args.readonly ?? (options.has('ro') && !options.has('rw'));
        await this.kernel.mountOn(vp, fstype, args.source, readonly, options, await this.pathOf(vp));
      } finally {
        await releaseResult(r);
      }
    });
  }

  unmount(target: string, opts: { force?: boolean } = {}): Promise<void> {
    return this.sys('unmount', target, async () => {
      if (!isRoot(this.cred)) throw new KernelError('EPERM');
      const r = await this.lookup(target, true);
      const vp = r.vp!;
      const mp = vp.mount;
      await releaseResult(r);
      if (!vp.isRoot || mp.covered === null) throw new KernelError('EINVAL');
      await this.kernel.unmountMount(mp, opts.force ?? false);
    });
  }

  // ---- process state ----

  chdir(path: string): Promise<void> {
    return this.sys('chdir', path, () => andThen(this.lookup(path, true), (r) => this.setCwd(r.vp!)));
  }

  /** Makes the held `vp` the working directory (released on failure). */
  private setCwd(vp: Vnode): void | Promise<void> {
    try {
      if (vp.type !== 'dir') throw new KernelError('ENOTDIR');
      this.checkAcc(vp, ACC_EXEC);
    } catch (e) {
      return releaseAndThrow(vp, e);
    }
    const old = this.cwd;
    this.cwd = vp;
    return vrele(old);
  }

  fchdir(fd: number): Promise<void> {
    return this.sys('fchdir', undefined, () => {
      const vp = this.fds.get(fd).vp;
      vref(vp);
      return this.setCwd(vp);
    });
  }

  /** The absolute path of a directory vnode, found by walking '..' and searching each parent for the child. */
  private async pathOf(dir: Vnode): Promise<string> {
    const names: string[] = [];
    let vp = dir;
    vref(vp);
    try {
      for (let depth = 0; depth < 4096; depth++) {
        if (vp === this.root) return '/' + names.reverse().join('/');
        // Leave a mount through its root: the covered directory has the same name.
        while (vp.isRoot && vp.mount.covered) {
          const c = vp.mount.covered;
          vref(c);
          await vrele(vp);
          vp = c;
        }
        if (vp === this.root) return '/' + names.reverse().join('/');
        const parent = await lookupName(vp, '..');
        if (parent === null || parent === vp) {
          if (parent) await vrele(parent);
          throw new KernelError('ENOENT');
        }
        try {
          const name = await this.nameIn(parent, vp.key);
          names.push(name);
        } catch (e) {
          await vrele(parent);
          throw e;
        }
        await vrele(vp);
        vp = parent;
      }
      throw new KernelError('ENAMETOOLONG');
    } finally {
      await vrele(vp);
    }
  }

  private async nameIn(dir: Vnode, key: number): Promise<string> {
    const mp = dir.mount;
    return Proc.locked(mp, false, 'readdir', async () => {
      let cookie = 0;
      for (let rounds = 0; rounds < 1_000_000; rounds++) {
        const batch = await dir.impl.readdir(cookie, 1024);
        if (batch.length === 0) break;
        for (const e of batch) if (e.key === key && e.name !== '.' && e.name !== '..') return e.name;
        const next = batch[batch.length - 1]!.next;
        if (next === cookie) break;
        cookie = next;
      }
      throw new KernelError('ENOENT');
    });
  }

  getcwd(): Promise<string> {
    return this.sys('getcwd', undefined, () => this.pathOf(this.cwd));
  }

  umask(mask: number): Promise<number> {
    const old = this.umaskValue;
    this.umaskValue = mask & 0o777;
    return Promise.resolve(old);
  }

  dup(fd: number): Promise<number> {
    return this.sys('dup', undefined, async () => {
      const f = this.fds.get(fd);
      const nfd = this.fds.alloc(f);
      f.refs++;
      return nfd;
    });
  }

  dup2(fd: number, to: number): Promise<number> {
    return this.sys('dup2', undefined, async () => {
      const f = this.fds.get(fd);
      if (fd === to) return to;
      f.refs++;
      const old = this.fds.put(to, f);
      if (old) await old.release();
      return to;
    });
  }

  // ---- extended attributes ----

  private xattrWriteCheck(vp: Vnode, name: string): void {
    if (name.startsWith('trusted.') || name.startsWith('security.')) {
      if (!isRoot(this.cred)) throw new KernelError('EPERM');
    } else if (name.startsWith('user.')) {
      if (vp.type !== 'reg' && vp.type !== 'dir') throw new KernelError('EPERM');
      this.checkAcc(vp, ACC_WRITE);
    } else if (!this.isOwner(vp)) throw new KernelError('EPERM');
  }

  private static checkXattrName(name: string): void {
    if (name.length === 0 || !name.includes('.')) throw new KernelError('EOPNOTSUPP');
    if (byteLength(name) > 255) throw new KernelError('ERANGE');
  }

  getxattr(path: string, name: string, opts: { nofollow?: boolean } = {}): Promise<Uint8Array> {
    return this.sys('getxattr', path, () =>
      this.withVnode(path, !opts.nofollow, async (vp) => {
        Proc.checkXattrName(name);
        if (!vp.impl.getxattr) throw new KernelError('EOPNOTSUPP');
        if (name.startsWith('trusted.') && !isRoot(this.cred)) throw new KernelError('ENODATA');
        if (name.startsWith('user.')) this.checkAcc(vp, ACC_READ);
        const v = await Proc.locked(vp.mount, false, 'getxattr', () => vp.impl.getxattr!(name));
        if (v === null) throw new KernelError('ENODATA');
        return v;
      }),
    );
  }

  setxattr(path: string, name: string, value: Uint8Array, opts: { nofollow?: boolean; create?: boolean; replace?: boolean } = {}): Promise<void> {
    return this.sys('setxattr', path, () =>
      this.withVnode(path, !opts.nofollow, async (vp) => {
        Proc.checkXattrName(name);
        if (!vp.impl.setxattr) throw new KernelError('EOPNOTSUPP');
        if (value.length > 65536) throw new KernelError('E2BIG');
        this.xattrWriteCheck(vp, name);
        const flags: { create?: boolean; replace?: boolean } = {};
        if (opts.create) flags.create = true;
        if (opts.replace) flags.replace = true;
        await Proc.locked(vp.mount, true, 'setxattr', () => vp.impl.setxattr!(name, value, flags));
      }),
    );
  }

  listxattr(path: string, opts: { nofollow?: boolean } = {}): Promise<string[]> {
    return this.sys('listxattr', path, () =>
      this.withVnode(path, !opts.nofollow, async (vp) => {
        if (!vp.impl.listxattr) return [];
        const names = await Proc.locked(vp.mount, false, 'listxattr', () => vp.impl.listxattr!());
        return isRoot(this.cred) ? names : names.filter((n) => !n.startsWith('trusted.'));
      }),
    );
  }

  removexattr(path: string, name: string, opts: { nofollow?: boolean } = {}): Promise<void> {
    return this.sys('removexattr', path, () =>
      this.withVnode(path, !opts.nofollow, async (vp) => {
        Proc.checkXattrName(name);
        if (!vp.impl.removexattr) throw new KernelError('EOPNOTSUPP');
        this.xattrWriteCheck(vp, name);
        await Proc.locked(vp.mount, true, 'removexattr', () => vp.impl.removexattr!(name));
      }),
    );
  }

  getcred(): Promise<{ uid: number; gid: number; groups: number[] }> {
    return Promise.resolve({ uid: this.cred.uid, gid: this.cred.gid, groups: [...this.cred.groups] });
  }
}

export { checkPath };
