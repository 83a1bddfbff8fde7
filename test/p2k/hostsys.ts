/**
 * A SyscallApi made of host system calls (node:fs, and python3's os module for what Node lacks: mknod and
 * xattrs; touch(1) for utimensat with UTIME_OMIT) on a directory of the host — a FUSE mount point — so the
 * cross-file-system suite can run through a real FUSE mount. Kernel paths under /mnt map to that directory;
 * the cwd, descriptor numbers and offsets are kept here, since Node exposes no lseek or dup.
 */

import * as fs from 'node:fs/promises';
import type { BigIntStats, Dir } from 'node:fs';
import { posix } from 'node:path';
import { spawn } from 'node:child_process';
import { KernelError } from '../../src/kern/error.js';
import { isErrno, type Errno } from '../../src/kern/errno.js';
import type { Dirent, MountArgs, Stat, SyscallApi, TimeArg } from '../../src/vfs/syscalls.js';
import type { StatVfs, Timespec, VType } from '../../src/vfs/types.js';
import { AT_SYMLINK_NOFOLLOW, O_APPEND, RENAME_EXCHANGE, RENAME_NOREPLACE, SEEK_CUR, SEEK_END, SEEK_SET } from '../../src/vfs/fcntl.js';

interface OpenFile {
  fh: fs.FileHandle;
  path: string;
  flags: number;
  pos: { v: number };
  refs: { n: number };
  dir?: { entries: Dirent[] | null; next: number };
}

function kerrOf(e: unknown, syscall: string, path?: string): KernelError {
  const code = (e as { code?: unknown }).code;
  const k = new KernelError(isErrno(code) ? code : code === 'ENOTSUP' ? 'EOPNOTSUPP' : 'EIO', String(e));
  return k.withContext(syscall, path);
}

function ts(ns: bigint): Timespec {
  return { sec: Number(ns / 1_000_000_000n), nsec: Number(ns % 1_000_000_000n) };
}

function toStat(s: BigIntStats): Stat {
  return {
    dev: Number(s.dev), ino: Number(s.ino), mode: Number(s.mode), nlink: Number(s.nlink), uid: Number(s.uid), gid: Number(s.gid),
    rdev: Number(s.rdev), size: Number(s.size), blksize: Number(s.blksize), blocks: Number(s.blocks),
    atime: ts(s.atimeNs), mtime: ts(s.mtimeNs), ctime: ts(s.ctimeNs),
  };
}

function vtype(d: { isFile(): boolean; isDirectory(): boolean; isSymbolicLink(): boolean; isBlockDevice(): boolean; isCharacterDevice(): boolean; isFIFO(): boolean }): VType {
  if (d.isDirectory()) return 'dir';
  if (d.isSymbolicLink()) return 'lnk';
  if (d.isBlockDevice()) return 'blk';
  if (d.isCharacterDevice()) return 'chr';
  if (d.isFIFO()) return 'fifo';
  if (d.isFile()) return 'reg';
  return 'sock';
}

/** Runs a short python3 program; its last line is either "ok <json>" or "err <ERRNO>". */
function py(code: string, args: string[]): Promise<unknown> {
  const prog = `import os, sys, json, errno\ntry:\n${code.split('\n').map((l) => '    ' + l).join('\n')}\nexcept OSError as e:\n    print('err ' + errno.errorcode.get(e.errno, 'EIO'))\n`;
  return new Promise((resolve, reject) => {
    const c = spawn('python3', ['-c', prog, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    c.stdout.on('data', (b: Buffer) => { out += b.toString(); });
    c.stderr.on('data', (b: Buffer) => { err += b.toString(); });
    c.on('error', reject);
    c.on('close', () => {
      const last = out.trim().split('\n').pop() ?? '';
      if (last.startsWith('ok ')) resolve(JSON.parse(last.slice(3)));
      else if (last.startsWith('err ')) reject(Object.assign(new Error(last), { code: last.slice(4) === 'ENOTSUP' ? 'EOPNOTSUPP' : last.slice(4) }));
      else reject(new Error(`python3: ${out}${err}`));
    });
  });
}

function run(cmd: string, args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve, reject) => {
    const c = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    c.stdout.on('data', (b: Buffer) => { out += b.toString(); });
    c.stderr.on('data', (b: Buffer) => { out += b.toString(); });
    c.on('error', reject);
    c.on('close', (code) => resolve({ code: code ?? -1, out }));
  });
}

export class HostSyscalls implements SyscallApi {
  readonly pid = process.pid;
  private cwd = '/mnt';
  private readonly fds = new Map<number, OpenFile>();

  /** `hostRoot` is what /mnt means. */
  constructor(private readonly hostRoot: string) {}

  private abs(path: string): string {
    return posix.normalize(path.startsWith('/') ? path : `${this.cwd}/${path}`);
  }

  /** The host path for a kernel path: only /mnt and below exist here. */
  private host(path: string): string {
    if (path === '') throw new KernelError('ENOENT');
    // A C string cannot hold NUL: the kernel's answer for such a name.
    if (path.includes('\0')) throw new KernelError('EINVAL');
    const a = path.startsWith('/') ? path : `${this.cwd}/${path}`;
    // No lexical normalisation: '..' and symlinks are resolved by the host, as a kernel would.
    if (a === '/mnt' || a.startsWith('/mnt/')) return this.hostRoot + a.slice(4);
    throw new KernelError('ENOENT', `hostsys: ${path} is outside /mnt`);
  }

  private file(fd: number): OpenFile {
    const f = this.fds.get(fd);
    if (!f) throw new KernelError('EBADF').withContext('fd');
    return f;
  }

  private lowestFree(from = 0): number {
    let n = from;
    while (this.fds.has(n)) n++;
    return n;
  }

  private async call<T>(syscall: string, path: string | undefined, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      if (e instanceof KernelError) throw e.withContext(syscall, path);
      throw kerrOf(e, syscall, path);
    }
  }

  /** Closes every descriptor (after a test body). */
  async closeAll(): Promise<void> {
    for (const fd of [...this.fds.keys()]) await this.close(fd).catch(() => undefined);
  }

  open(path: string, flags: number, mode = 0o666): Promise<number> {
    return this.call('open', path, async () => {
      const fh = await fs.open(this.host(path), flags, mode);
      const fd = this.lowestFree();
      this.fds.set(fd, { fh, path: this.abs(path), flags, pos: { v: 0 }, refs: { n: 1 } });
      return fd;
    });
  }

  close(fd: number): Promise<void> {
    return this.call('close', undefined, async () => {
      const f = this.file(fd);
      this.fds.delete(fd);
      if (--f.refs.n === 0) await f.fh.close();
    });
  }

  read(fd: number, buf: Uint8Array): Promise<number> {
    return this.call('read', undefined, async () => {
      const f = this.file(fd);
      const { bytesRead } = await f.fh.read(buf, 0, buf.length, f.pos.v);
      f.pos.v += bytesRead;
      return bytesRead;
    });
  }

  write(fd: number, buf: Uint8Array): Promise<number> {
    return this.call('write', undefined, async () => {
      const f = this.file(fd);
      if (f.flags & O_APPEND) {
        const { bytesWritten } = await f.fh.write(buf, 0, buf.length, null);
        f.pos.v = Number((await f.fh.stat()).size);
        return bytesWritten;
      }
      const { bytesWritten } = await f.fh.write(buf, 0, buf.length, f.pos.v);
      f.pos.v += bytesWritten;
      return bytesWritten;
    });
  }

  pread(fd: number, buf: Uint8Array, position: number): Promise<number> {
    return this.call('pread', undefined, async () => (await this.file(fd).fh.read(buf, 0, buf.length, position)).bytesRead);
  }

  pwrite(fd: number, buf: Uint8Array, position: number): Promise<number> {
    return this.call('pwrite', undefined, async () => (await this.file(fd).fh.write(buf, 0, buf.length, position)).bytesWritten);
  }

  lseek(fd: number, offset: number, whence: number): Promise<number> {
    return this.call('lseek', undefined, async () => {
      const f = this.file(fd);
      let base: number;
      if (whence === SEEK_SET) base = 0;
      else if (whence === SEEK_CUR) base = f.pos.v;
      else if (whence === SEEK_END) base = Number((await f.fh.stat()).size);
      else throw new KernelError('EINVAL');
      if (base + offset < 0) throw new KernelError('EINVAL');
      f.pos.v = base + offset;
      if (f.dir) {
        f.dir.next = f.pos.v;
      }
      return f.pos.v;
    });
  }

  fstat(fd: number): Promise<Stat> {
    return this.call('fstat', undefined, async () => toStat(await this.file(fd).fh.stat({ bigint: true })));
  }

  stat(path: string): Promise<Stat> {
    return this.call('stat', path, async () => toStat(await fs.stat(this.host(path), { bigint: true })));
  }

  lstat(path: string): Promise<Stat> {
    return this.call('lstat', path, async () => toStat(await fs.lstat(this.host(path), { bigint: true })));
  }

  access(path: string, mode: number): Promise<void> {
    return this.call('access', path, () => fs.access(this.host(path), mode));
  }

  mkdir(path: string, mode = 0o777): Promise<void> {
    return this.call('mkdir', path, async () => { await fs.mkdir(this.host(path), mode); });
  }

  rmdir(path: string): Promise<void> {
    return this.call('rmdir', path, () => fs.rmdir(this.host(path)));
  }

  unlink(path: string): Promise<void> {
    return this.call('unlink', path, () => fs.unlink(this.host(path)));
  }

  rename(from: string, to: string, flags = 0): Promise<void> {
    return this.call('rename', from, async () => {
      if (flags === 0) return fs.rename(this.host(from), this.host(to));
      // renameat2 through python's ctypes would be native code; mv(1) has both flags.
      const opt = flags === RENAME_NOREPLACE ? '--no-clobber' : flags === RENAME_EXCHANGE ? '--exchange' : null;
      if (!opt) throw new KernelError('EINVAL');
      await fs.lstat(this.host(from));
      if (flags === RENAME_NOREPLACE) {
        const exists = await fs.lstat(this.host(to)).then(() => true, () => false);
        if (exists) throw new KernelError('EEXIST');
      }
      const r = await run('mv', ['-T', opt, this.host(from), this.host(to)]);
      if (r.code !== 0) throw new KernelError(/exists/i.test(r.out) ? 'EEXIST' : /not found|No such/i.test(r.out) ? 'ENOENT' : 'EIO', r.out);
    });
  }

  link(existing: string, newPath: string): Promise<void> {
    return this.call('link', existing, () => fs.link(this.host(existing), this.host(newPath)));
  }

  symlink(target: string, path: string): Promise<void> {
    return this.call('symlink', path, () => fs.symlink(target, this.host(path)));
  }

  readlink(path: string): Promise<string> {
    return this.call('readlink', path, () => fs.readlink(this.host(path)));
  }

  mknod(path: string, mode: number, rdev = 0): Promise<void> {
    return this.call('mknod', path, async () => {
      await py(`os.mknod(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))\nprint('ok null')`, [this.host(path), String(mode), String(rdev)]);
    });
  }

  private async listDir(hostPath: string): Promise<Dirent[]> {
    const out: Dirent[] = [];
    const d: Dir = await fs.opendir(hostPath);
    for await (const e of d) {
      const st = await fs.lstat(posix.join(hostPath, e.name), { bigint: true });
      out.push({ name: e.name, ino: Number(st.ino), type: vtype(e) });
    }
    return out;
  }

  getdents(fd: number, max = 256): Promise<Dirent[]> {
    return this.call('getdents', undefined, async () => {
      const f = this.file(fd);
      if (!f.dir) f.dir = { entries: null, next: 0 };
      if (!f.dir.entries) {
        const hp = this.host(f.path);
        const self = await fs.stat(hp, { bigint: true });
        const up = await fs.stat(posix.join(hp, '..'), { bigint: true });
        f.dir.entries = [{ name: '.', ino: Number(self.ino), type: 'dir' }, { name: '..', ino: Number(up.ino), type: 'dir' }, ...(await this.listDir(hp))];
      }
      return this.nextDents(f, max);
    }).catch((e: KernelError) => {
      // The directory was removed while open: like the kernel, it lists nothing.
      if (e.code === 'ENOENT' && this.fds.get(fd)?.dir?.entries === null) return [];
      throw e;
    });
  }

  private nextDents(f: OpenFile, max: number): Dirent[] {
    const d = f.dir!;
    if (!d.entries) return [];
    const batch = d.entries.slice(d.next, d.next + Math.max(1, max));
    d.next += batch.length;
    f.pos.v = d.next;
    return batch;
  }

  readdir(path: string): Promise<Dirent[]> {
    return this.call('readdir', path, () => this.listDir(this.host(path)));
  }

  chmod(path: string, mode: number): Promise<void> {
    return this.call('chmod', path, () => fs.chmod(this.host(path), mode));
  }

  fchmod(fd: number, mode: number): Promise<void> {
    return this.call('fchmod', undefined, () => this.file(fd).fh.chmod(mode));
  }

  chown(path: string, uid: number, gid: number): Promise<void> {
    return this.call('chown', path, () => fs.chown(this.host(path), uid, gid));
  }

  fchown(fd: number, uid: number, gid: number): Promise<void> {
    return this.call('fchown', undefined, () => this.file(fd).fh.chown(uid, gid));
  }

  lchown(path: string, uid: number, gid: number): Promise<void> {
    return this.call('lchown', path, () => fs.lchown(this.host(path), uid, gid));
  }

  /** utimensat with nanoseconds and UTIME_OMIT/UTIME_NOW, through touch(1) (Node rounds times to doubles). */
  private async touchTimes(hostPath: string, atime: TimeArg, mtime: TimeArg, nofollow: boolean): Promise<void> {
    const spec = (t: TimeArg): string[] => (t === 'now' ? [] : typeof t === 'object' ? ['-d', `@${t.sec}.${String(t.nsec).padStart(9, '0')}`] : []);
    const h = nofollow ? ['-h'] : [];
    const one = async (which: '-a' | '-m', t: TimeArg): Promise<void> => {
      const r = await run('touch', ['-c', ...h, which, ...spec(t), '--', hostPath]);
      if (r.code !== 0) throw new KernelError(/Permission denied/.test(r.out) ? 'EACCES' : /not permitted/.test(r.out) ? 'EPERM' : /Read-only/.test(r.out) ? 'EROFS' : 'EIO', r.out);
    };
    await fs.lstat(hostPath);
    if (atime !== 'omit' && mtime !== 'omit' && JSON.stringify(atime) === JSON.stringify(mtime)) {
      const r = await run('touch', ['-c', ...h, ...spec(atime), '--', hostPath]);
      if (r.code !== 0) throw new KernelError(/Permission denied/.test(r.out) ? 'EACCES' : /not permitted/.test(r.out) ? 'EPERM' : /Read-only/.test(r.out) ? 'EROFS' : 'EIO', r.out);
      return;
    }
    if (atime !== 'omit') await one('-a', atime);
    if (mtime !== 'omit') await one('-m', mtime);
  }

  utimens(path: string, atime: TimeArg, mtime: TimeArg, flags = 0): Promise<void> {
    return this.call('utimens', path, () => this.touchTimes(this.host(path), atime, mtime, (flags & AT_SYMLINK_NOFOLLOW) !== 0));
  }

  futimens(fd: number, atime: TimeArg, mtime: TimeArg): Promise<void> {
    return this.call('futimens', undefined, () => this.touchTimes(this.host(this.file(fd).path), atime, mtime, false));
  }

  // Node clamps a negative length to 0; truncate(2) answers EINVAL.
  truncate(path: string, size: number): Promise<void> {
    return this.call('truncate', path, async () => {
      if (size < 0) throw new KernelError('EINVAL');
      await fs.truncate(this.host(path), size);
    });
  }

  ftruncate(fd: number, size: number): Promise<void> {
    return this.call('ftruncate', undefined, async () => {
      if (size < 0) throw new KernelError('EINVAL');
      await this.file(fd).fh.truncate(size);
    });
  }

  fsync(fd: number): Promise<void> {
    return this.call('fsync', undefined, () => this.file(fd).fh.sync());
  }

  async sync(): Promise<void> {
    await run('sync', ['-f', this.hostRoot]);
  }

  private async vfs(hostPath: string): Promise<StatVfs> {
    const s = await fs.statfs(hostPath);
    return { bsize: s.bsize, frsize: s.bsize, blocks: s.blocks, bfree: s.bfree, bavail: s.bavail, files: s.files, ffree: s.ffree, favail: s.ffree, fsid: 0, namemax: 255 };
  }

  statvfs(path: string): Promise<StatVfs> {
    return this.call('statvfs', path, () => this.vfs(this.host(path)));
  }

  fstatvfs(fd: number): Promise<StatVfs> {
    return this.call('fstatvfs', undefined, () => this.vfs(this.host(this.file(fd).path)));
  }

  async mount(_fstype: string, target: string, _args?: MountArgs): Promise<void> {
    throw new KernelError('EPERM').withContext('mount', target);
  }

  async unmount(target: string): Promise<void> {
    throw new KernelError('EPERM').withContext('unmount', target);
  }

  chdir(path: string): Promise<void> {
    return this.call('chdir', path, async () => {
      const st = await fs.stat(this.host(path));
      if (!st.isDirectory()) throw new KernelError('ENOTDIR');
      await fs.access(this.host(path), 1);
      this.cwd = this.abs(path);
    });
  }

  fchdir(fd: number): Promise<void> {
    return this.chdir(this.file(fd).path);
  }

  async getcwd(): Promise<string> {
    return this.cwd;
  }

  async umask(mask: number): Promise<number> {
    return process.umask(mask);
  }

  async dup(fd: number): Promise<number> {
    const f = this.file(fd);
    const n = this.lowestFree();
    f.refs.n++;
    this.fds.set(n, f);
    return n;
  }

  async dup2(fd: number, to: number): Promise<number> {
    const f = this.file(fd);
    if (fd === to) return to;
    if (this.fds.has(to)) await this.close(to);
    f.refs.n++;
    this.fds.set(to, f);
    return to;
  }

  getxattr(path: string, name: string, opts: { nofollow?: boolean } = {}): Promise<Uint8Array> {
    return this.call('getxattr', path, async () => {
      const hex = (await py(`print('ok ' + json.dumps(os.getxattr(sys.argv[1], sys.argv[2], follow_symlinks=sys.argv[3] == '1').hex()))`,
        [this.host(path), name, opts.nofollow ? '0' : '1'])) as string;
      return Uint8Array.from(Buffer.from(hex, 'hex'));
    });
  }

  setxattr(path: string, name: string, value: Uint8Array, opts: { nofollow?: boolean; create?: boolean; replace?: boolean } = {}): Promise<void> {
    return this.call('setxattr', path, async () => {
      const flags = (opts.create ? 1 : 0) | (opts.replace ? 2 : 0);
      await py(`os.setxattr(sys.argv[1], sys.argv[2], bytes.fromhex(sys.argv[3]), int(sys.argv[4]), follow_symlinks=sys.argv[5] == '1')\nprint('ok null')`,
        [this.host(path), name, Buffer.from(value).toString('hex'), String(flags), opts.nofollow ? '0' : '1']);
    });
  }

  listxattr(path: string, opts: { nofollow?: boolean } = {}): Promise<string[]> {
    return this.call('listxattr', path, async () => (await py(`print('ok ' + json.dumps(os.listxattr(sys.argv[1], follow_symlinks=sys.argv[2] == '1')))`,
      [this.host(path), opts.nofollow ? '0' : '1'])) as string[]);
  }

  removexattr(path: string, name: string, opts: { nofollow?: boolean } = {}): Promise<void> {
    return this.call('removexattr', path, async () => {
      await py(`os.removexattr(sys.argv[1], sys.argv[2], follow_symlinks=sys.argv[3] == '1')\nprint('ok null')`, [this.host(path), name, opts.nofollow ? '0' : '1']);
    });
  }

  async getcred(): Promise<{ uid: number; gid: number; groups: number[] }> {
    return { uid: 0, gid: 0, groups: [0] };
  }
}

export type { Errno };
