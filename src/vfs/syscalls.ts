/**
 * The system-call API of one process, as a type. A local process (Proc) and a
 * remote one (the sysproxy client) both implement it, so code written against
 * a local kernel runs unchanged against a sandboxed one. Paths are relative
 * to the process's cwd; errors are KernelErrors carrying `syscall` and `path`.
 */

import type { Timespec, VType, StatVfs } from './types.js';

/** stat(2) result. `mode` carries the type bits (S_IFREG...) and the permission bits. */
export interface Stat {
  dev: number;
  ino: number;
  mode: number;
  nlink: number;
  uid: number;
  gid: number;
  rdev: number;
  size: number;
  blksize: number;
  blocks: number;
  atime: Timespec;
  mtime: Timespec;
  ctime: Timespec;
  birthtime?: Timespec;
}

/** One getdents(2) entry. */
export interface Dirent {
  name: string;
  ino: number;
  type: VType;
}

export type TimeArg = Timespec | 'now' | 'omit';

export interface MountArgs {
  /** The block device path inside the kernel (an etfs node such as /dev/img0), for components that need one. */
  source?: string;
  readonly?: boolean;
  /** Options as `-o` spells them ("uid=1000,noatime") or as an object. */
  options?: string | Record<string, string | number | boolean>;
}

export interface SyscallApi {
  readonly pid: number;

  open(path: string, flags: number, mode?: number): Promise<number>;
  close(fd: number): Promise<void>;
  /** Reads into `buf` at the file offset; returns bytes read. */
  read(fd: number, buf: Uint8Array): Promise<number>;
  write(fd: number, buf: Uint8Array): Promise<number>;
  pread(fd: number, buf: Uint8Array, position: number): Promise<number>;
  pwrite(fd: number, buf: Uint8Array, position: number): Promise<number>;
  lseek(fd: number, offset: number, whence: number): Promise<number>;
  fstat(fd: number): Promise<Stat>;
  stat(path: string): Promise<Stat>;
  lstat(path: string): Promise<Stat>;
  access(path: string, mode: number): Promise<void>;
  mkdir(path: string, mode?: number): Promise<void>;
  rmdir(path: string): Promise<void>;
  unlink(path: string): Promise<void>;
  rename(from: string, to: string, flags?: number): Promise<void>;
  link(existing: string, newPath: string): Promise<void>;
  symlink(target: string, path: string): Promise<void>;
  readlink(path: string): Promise<string>;
  /** mknod(2) for fifo, sock, blk and chr nodes (blk/chr need root). */
  mknod(path: string, mode: number, rdev?: number): Promise<void>;
  /** The next entries of an open directory; an empty array at the end. */
  getdents(fd: number, max?: number): Promise<Dirent[]>;
  /** Convenience: every entry of a directory except '.' and '..'. */
  readdir(path: string): Promise<Dirent[]>;
  chmod(path: string, mode: number): Promise<void>;
  fchmod(fd: number, mode: number): Promise<void>;
  chown(path: string, uid: number, gid: number): Promise<void>;
  fchown(fd: number, uid: number, gid: number): Promise<void>;
  lchown(path: string, uid: number, gid: number): Promise<void>;
  /** utimensat(2): `flags` may be AT_SYMLINK_NOFOLLOW. */
  utimens(path: string, atime: TimeArg, mtime: TimeArg, flags?: number): Promise<void>;
  futimens(fd: number, atime: TimeArg, mtime: TimeArg): Promise<void>;
  truncate(path: string, size: number): Promise<void>;
  ftruncate(fd: number, size: number): Promise<void>;
  fsync(fd: number): Promise<void>;
  sync(): Promise<void>;
  statvfs(path: string): Promise<StatVfs>;
  fstatvfs(fd: number): Promise<StatVfs>;
  mount(fstype: string, target: string, args?: MountArgs): Promise<void>;
  unmount(target: string, opts?: { force?: boolean }): Promise<void>;
  chdir(path: string): Promise<void>;
  fchdir(fd: number): Promise<void>;
  getcwd(): Promise<string>;
  /** Sets the umask and returns the previous one. */
  umask(mask: number): Promise<number>;
  dup(fd: number): Promise<number>;
  dup2(fd: number, to: number): Promise<number>;
  getxattr(path: string, name: string, opts?: { nofollow?: boolean }): Promise<Uint8Array>;
  setxattr(path: string, name: string, value: Uint8Array, opts?: { nofollow?: boolean; create?: boolean; replace?: boolean }): Promise<void>;
  listxattr(path: string, opts?: { nofollow?: boolean }): Promise<string[]>;
  removexattr(path: string, name: string, opts?: { nofollow?: boolean }): Promise<void>;
  /** Credentials of this process. */
  getcred(): Promise<{ uid: number; gid: number; groups: number[] }>;
}
