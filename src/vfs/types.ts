/**
 * The interface between the VFS and file-system components: what a driver
 * implements (FileSystemType, FsMount — NetBSD's struct vfsops — and
 * VnodeImpl — struct vnodeops) and the value types that cross it.
 *
 * The kernel owns the generic work: the vnode cache and reference counts,
 * locking, path lookup, permission checks, open files and offsets, and the
 * read-only-mount check (a driver never sees a mutating call on a read-only
 * mount). The driver owns the on-disk work and keeps its metadata consistent.
 *
 * Locking contract: each mount has one rw-lock. Mutating operations (create,
 * mkdir, symlink, link, remove, rmdir, rename, write, setattr, setxattr,
 * removexattr, fsync, sync, inactive, reclaim) hold it exclusively; the others (lookup,
 * getattr, read, readdir, readlink, getxattr, listxattr, statvfs, vget)
 * hold it shared and may run concurrently with each other, never with a
 * mutation. A driver needs no locks of its own unless it starts I/O that
 * outlives a call.
 *
 * Errors: every method rejects only with KernelError. Corrupt metadata is
 * `EFTYPE` from mount() and `EIO` (or `EUCLEAN`) afterwards, with a `detail`
 * line naming the structure ("ext2fs: inode 12: extent header magic 0x1234").
 */

import type { BlockDevice } from '../dev/blockdev.js';
import type { Awaitable } from '../kern/awaitable.js';
import type { Timespec } from '../rumpuser/types.js';

export type { Timespec } from '../rumpuser/types.js';
export type { BlockDevice } from '../dev/blockdev.js';

/** Vnode types (NetBSD's enum vtype). */
export type VType = 'reg' | 'dir' | 'lnk' | 'blk' | 'chr' | 'fifo' | 'sock';

/** File-type bits of st_mode (POSIX, same values on Linux and NetBSD). */
export const S_IFMT = 0o170000;
export const S_IFSOCK = 0o140000;
export const S_IFLNK = 0o120000;
export const S_IFREG = 0o100000;
export const S_IFBLK = 0o060000;
export const S_IFDIR = 0o040000;
export const S_IFCHR = 0o020000;
export const S_IFIFO = 0o010000;
export const S_ISUID = 0o4000;
export const S_ISGID = 0o2000;
export const S_ISVTX = 0o1000;

export const VTYPE_TO_IFMT: Record<VType, number> = {
  reg: S_IFREG,
  dir: S_IFDIR,
  lnk: S_IFLNK,
  blk: S_IFBLK,
  chr: S_IFCHR,
  fifo: S_IFIFO,
  sock: S_IFSOCK,
};

export function ifmtToVType(mode: number): VType | undefined {
  switch (mode & S_IFMT) {
    case S_IFREG: return 'reg';
    case S_IFDIR: return 'dir';
    case S_IFLNK: return 'lnk';
    case S_IFBLK: return 'blk';
    case S_IFCHR: return 'chr';
    case S_IFIFO: return 'fifo';
    case S_IFSOCK: return 'sock';
    default: return undefined;
  }
}

/** Attributes of a vnode (NetBSD's struct vattr). */
export interface Vattr {
  type: VType;
  /** Permission bits and setuid/setgid/sticky (07777); never the type bits. */
  mode: number;
  nlink: number;
  uid: number;
  gid: number;
  /** Bytes (for a symlink: the target's length). */
  size: number;
  /** Allocated storage in 512-byte units. */
  blocks: number;
  /** Preferred I/O size. */
  blksize: number;
  /** The file's number on this file system (inode number); equals its VnodeKey unless the driver says otherwise. */
  ino: number;
  /** Device number for blk/chr nodes (Linux encoding: major<<8|minor for small numbers), else 0. */
  rdev: number;
  atime: Timespec;
  mtime: Timespec;
  ctime: Timespec;
  /** Creation time where the format keeps one. */
  birthtime?: Timespec;
}

/**
 * A change of attributes. Only the fields present change. The VFS decides the times: it passes `ctime` with
 * every change POSIX says changes it (and `mtime` with a truncate), and a driver sets exactly the times given —
 * an atime-only update (from a read) comes without ctime and must not change ctime.
 */
export interface SetAttr {
  mode?: number;
  uid?: number;
  gid?: number;
  /** Truncate or extend (with a hole) to this size. */
  size?: number;
  atime?: Timespec;
  mtime?: Timespec;
  ctime?: Timespec;
}

/** Attributes of a node being created; the VFS has applied umask and chosen uid/gid (setgid directories). */
export interface NewNode {
  type: VType;
  mode: number;
  uid: number;
  gid: number;
  rdev?: number;
  /** The creation time the VFS read from the clock: atime=mtime=ctime(=birthtime) of the new node, and mtime/ctime of the parent. */
  time: Timespec;
}

/** A driver's name for a file: usually the inode number. Unique within a mount while the file exists. */
export type VnodeKey = number;

export interface DirEntry {
  name: string;
  key: VnodeKey;
  /** The file's inode number as the format records it (defaults to key). */
  ino?: number;
  /** Type when the directory records it cheaply (ext2 filetype, FAT attributes); otherwise omit and the VFS asks the vnode. */
  type?: VType;
  /** Cookie to pass to readdir() to continue after this entry. */
  next: number;
}

export interface StatVfs {
  bsize: number;
  frsize: number;
  blocks: number;
  bfree: number;
  bavail: number;
  files: number;
  ffree: number;
  favail: number;
  fsid: number;
  namemax: number;
  flag?: number;
}

/** Operations on one file (NetBSD's vnodeops). Directory-only methods are absent or answer ENOTDIR on other types. */
export interface VnodeImpl {
  readonly key: VnodeKey;

  /** Attributes from the in-memory inode: a driver keeps the inode in memory while the vnode lives. */
  getattr(): Vattr;
  /** Changes attributes; size changes truncate or extend. The VFS has checked permissions. */
  setattr(attr: SetAttr): Promise<void>;

  /** Directory lookup of one name ('..' included; '.' never reaches a driver). Returns null when absent. */
  lookup(name: string): Promise<VnodeKey | null>;
  /**
   * lookup() answered from memory, without waiting: the key, null when absent, or undefined when the answer
   * needs a read (the VFS then calls lookup()). Optional; the VFS's path lookup uses it first.
   */
  lookupNow?(name: string): VnodeKey | null | undefined;
  /**
   * Creates a node of type reg, fifo, sock, blk or chr named `name` in this directory.
   * The VFS has checked that `name` is absent, valid in length, and that the caller may write here.
   * May answer without a promise when it did not have to wait.
   */
  create(name: string, node: NewNode): Awaitable<VnodeKey>;
  mkdir(name: string, node: NewNode): Promise<VnodeKey>;
  symlink(name: string, target: string, node: NewNode): Promise<VnodeKey>;
  /** Adds `name` for `target` (not a directory; EMLINK at the format's link maximum). */
  link(name: string, target: VnodeImpl, time: Timespec): Promise<void>;
  /** Removes the entry `name` for the non-directory `node`. The VFS calls inactive() when the last reference goes. */
  remove(name: string, node: VnodeImpl, time: Timespec): Promise<void>;
  /** Removes the empty directory `name`; ENOTEMPTY if it is not empty. */
  rmdir(name: string, node: VnodeImpl, time: Timespec): Promise<void>;
  /**
   * Moves `fromName` (node `from`) in this directory to `toName` in `toDir`, replacing `to` if present.
   * The VFS has checked: types agree (dir over empty dir, file over file), no directory moves into its own
   * subtree, permissions. The driver checks a replaced directory is empty (ENOTEMPTY) and fixes '..'.
   */
  rename(fromName: string, from: VnodeImpl, toDir: VnodeImpl, toName: string, to: VnodeImpl | null, time: Timespec): Promise<void>;
  readlink(): Promise<string>;

  /** Reads up to buf.length bytes at `offset`; returns bytes read (0 at or past end of file). Holes read as zeros. */
  read(buf: Uint8Array, offset: number): Promise<number>;
  /** read() done without waiting when everything it needs is in memory or on a device that reads at once (BlockDevice.readNow); undefined otherwise. */
  readNow?(buf: Uint8Array, offset: number): number | undefined;
  /**
   * Where the bytes read(buf of `len`, offset) would return live in host files, instead of the bytes:
   * for a read-only mount whose data lies plainly on a read-only host file (BlockDevice.hostExtent),
   * so that a process holding the same file reads them itself. `n` is what read would return, or less
   * (a prefix: the caller goes on from offset + n). Null whenever the driver cannot say (inline,
   * encoded or cached data, a writable mount): read() then.
   */
  layout?(offset: number, len: number): Promise<FileLayout | null>;
  /**
   * Writes all of `buf` at `offset`, extending the file; updates mtime/ctime to `time`. Returns bytes written
   * (a driver may answer without a promise when it did not have to wait).
   */
  write(buf: Uint8Array, offset: number, time: Timespec): Awaitable<number>;
  /**
   * Directory entries from `cookie` (0 = start), at most about `max` of them; an empty array at the end.
   * Includes '.' and '..'. Entries added or removed meanwhile may or may not be seen; others are seen exactly once.
   */
  readdir(cookie: number, max: number): Promise<DirEntry[]>;
  /** Makes this file's data and metadata durable. */
  fsync(): Promise<void>;

  /** The last reference is gone: free the file's storage if its link count is 0 (an orphan). */
  inactive?(): Promise<void>;
  /** The vnode leaves the cache: drop in-memory state (without a promise when nothing is waited for). */
  reclaim?(): Awaitable<void>;

  getxattr?(name: string): Promise<Uint8Array | null>;
  setxattr?(name: string, value: Uint8Array, flags: { create?: boolean; replace?: boolean }): Promise<void>;
  listxattr?(): Promise<string[]>;
  removexattr?(name: string): Promise<void>;
}

/** VnodeImpl.layout's answer: the first `n` bytes from the offset asked, piece by piece. */
export interface FileLayout {
  n: number;
  /** In order, adding up to n: `len` bytes at `offset` of the host file `path`, or zeros (a hole) when path is null. */
  segs: { path: string | null; offset: number; len: number }[];
}

/** A mounted instance of a file system (NetBSD's struct vfsops on a struct mount). */
export interface FsMount {
  readonly rootKey: VnodeKey;
  /** Loads the file `key` (from lookup/create/readdir) into memory. ENOENT/ESTALE if it no longer exists. */
  vget(key: VnodeKey): Promise<VnodeImpl>;
  /** vget() done without waiting when what it needs is in memory; undefined otherwise (the VFS then calls vget()). */
  vgetNow?(key: VnodeKey): VnodeImpl | undefined;
  statvfs(): Promise<StatVfs>;
  /** Writes everything dirty (delayed buffers, allocation summaries) and flushes the device. */
  sync(): Promise<void>;
  /** Called after sync() and after every vnode was reclaimed: leave the file system clean on disk. */
  unmount(): Promise<void>;
  /** Longest name in bytes (UTF-8) the format allows; the VFS answers ENAMETOOLONG beyond. Default 255. */
  readonly nameMax?: number;
  /** Largest file size, for EFBIG. */
  readonly maxFileSize?: number;
  /** Optional name check (for FAT's forbidden characters); throws EINVAL. */
  validName?(name: string): void;
  /** Whether names are case-insensitive (FAT): the VFS name cache is bypassed. */
  readonly caseInsensitive?: boolean;
}

/** Parsed `-o` options: `ro`, `uid=1000` → Map { 'ro' => '', 'uid' => '1000' }. */
export type OptionMap = ReadonlyMap<string, string>;

export interface MountOptions {
  readonly: boolean;
  options: OptionMap;
}

export interface NewfsOptions {
  options: OptionMap;
  /** Volume label, where the format has one. */
  label?: string;
}

/** What the kernel lends a component: clock, console, random bytes, a buffer cache for a device. */
export interface KernelServices {
  now(): Timespec;
  log(line: string): void;
  random(buf: Uint8Array): void;
  /** Monotonic nanoseconds. */
  monotonic(): bigint;
}

export interface ProbeResult {
  /** The component that can mount it. */
  type: string;
  /** Human variant: 'ext4', 'FAT32', 'UFS2 (big-endian)'. */
  variant?: string;
  label?: string;
  uuid?: string;
  /** Bytes the file system occupies. */
  size?: number;
}

/** Capabilities a component lacks, for the cross-file-system suite (tests that need them are reported as not applicable). */
export interface FsCapabilities {
  readonly?: boolean;
  symlinks?: boolean;
  hardlinks?: boolean;
  /** chmod/chown change what stat shows. */
  permissions?: boolean;
  /** Special files (fifo, sock, dev nodes). */
  specialFiles?: boolean;
  /** Holes read as zero and take no space. */
  sparse?: boolean;
  xattr?: boolean;
  /** Timestamp resolution in nanoseconds (FAT: 2e9 for mtime). */
  timeResolutionNs?: number;
  /** atime is kept (FAT keeps only a date). */
  atime?: boolean;
  caseInsensitive?: boolean;
  /** Longest name in bytes. */
  nameMax?: number;
  /** Largest file. */
  maxFileSize?: number;
}

/** A file-system component (NetBSD's rumpfs_<name> library): a plain descriptor passed to Kernel.boot. */
export interface FileSystemType {
  readonly name: string;
  readonly aliases?: readonly string[];
  /** Whether mount() needs a block device (tmpfs does not). */
  readonly needsDevice: boolean;
  readonly capabilities?: FsCapabilities;
  /** Cheap detection from the device's first blocks, for `-t` auto. Never throws for a foreign image: returns null. */
  probe?(dev: BlockDevice): Promise<ProbeResult | null>;
  /** Mounts: validates the superblock (EFTYPE on a foreign or corrupt one). `dev` is null when needsDevice is false. */
  mount(dev: BlockDevice | null, opts: MountOptions, k: KernelServices): Promise<FsMount>;
  /** Makes a new empty file system on `dev` (mkfs/newfs). */
  newfs?(dev: BlockDevice, opts: NewfsOptions, k: KernelServices): Promise<void>;
}

/** Parses "ro,uid=1000,noatime" into an OptionMap. */
export function parseOptions(s: string | undefined | Record<string, string | number | boolean>): Map<string, string> {
  const m = new Map<string, string>();
  if (s === undefined) return m;
  if (typeof s === 'object') {
    for (const [k, v] of Object.entries(s)) if (v !== false) m.set(k, v === true ? '' : String(v));
    return m;
  }
  for (const part of s.split(',')) {
    if (!part) continue;
    const eq = part.indexOf('=');
    if (eq < 0) m.set(part, '');
    else m.set(part.slice(0, eq), part.slice(eq + 1));
  }
  return m;
}
