/**
 * The Linux FUSE kernel protocol (linux/fuse.h, protocol 7.x; we speak 7.31 and accept a kernel of 7.26 or
 * newer): opcodes, flags and every message structure we read or write, declared once in the header's order.
 */

import { struct } from './struct.js';

export const FUSE_KERNEL_VERSION = 7;
/** The minor version we implement: 7.28 added max_pages/FUSE_MAX_PAGES and 7.31 is what fuse.h of Linux 5.4+ speaks. */
export const FUSE_KERNEL_MINOR_VERSION = 31;
/** The oldest minor we accept: 7.26 gives readdirplus, rename2, parallel dirops and the 64-byte init reply. */
export const FUSE_MIN_MINOR = 26;
export const FUSE_ROOT_ID = 1;
/** A read of /dev/fuse must offer at least this much beyond max_write (fuse_dev_do_read checks it). */
export const FUSE_MIN_READ_BUFFER = 8192;

/** enum fuse_opcode. */
export const Op = {
  LOOKUP: 1, FORGET: 2, GETATTR: 3, SETATTR: 4, READLINK: 5, SYMLINK: 6, MKNOD: 8, MKDIR: 9, UNLINK: 10,
  RMDIR: 11, RENAME: 12, LINK: 13, OPEN: 14, READ: 15, WRITE: 16, STATFS: 17, RELEASE: 18, FSYNC: 20,
  SETXATTR: 21, GETXATTR: 22, LISTXATTR: 23, REMOVEXATTR: 24, FLUSH: 25, INIT: 26, OPENDIR: 27, READDIR: 28,
  RELEASEDIR: 29, FSYNCDIR: 30, GETLK: 31, SETLK: 32, SETLKW: 33, ACCESS: 34, CREATE: 35, INTERRUPT: 36,
  BMAP: 37, DESTROY: 38, IOCTL: 39, POLL: 40, NOTIFY_REPLY: 41, BATCH_FORGET: 42, FALLOCATE: 43,
  READDIRPLUS: 44, RENAME2: 45, LSEEK: 46, COPY_FILE_RANGE: 47, SETUPMAPPING: 48, REMOVEMAPPING: 49,
  SYNCFS: 50, TMPFILE: 51,
} as const;

export const OP_NAME = new Map<number, string>(Object.entries(Op).map(([k, v]) => [v, k]));

/** fuse_init_in/out flags (the first 32 bits). */
export const Init = {
  ASYNC_READ: 1 << 0,
  POSIX_LOCKS: 1 << 1,
  ATOMIC_O_TRUNC: 1 << 3,
  EXPORT_SUPPORT: 1 << 4,
  BIG_WRITES: 1 << 5,
  DONT_MASK: 1 << 6,
  AUTO_INVAL_DATA: 1 << 12,
  DO_READDIRPLUS: 1 << 13,
  READDIRPLUS_AUTO: 1 << 14,
  ASYNC_DIO: 1 << 15,
  WRITEBACK_CACHE: 1 << 16,
  NO_OPEN_SUPPORT: 1 << 17,
  PARALLEL_DIROPS: 1 << 18,
  HANDLE_KILLPRIV: 1 << 19,
  MAX_PAGES: 1 << 22,
  CACHE_SYMLINKS: 1 << 23,
  NO_OPENDIR_SUPPORT: 1 << 24,
} as const;

/** fuse_setattr_in.valid bits. */
export const FATTR = {
  MODE: 1 << 0, UID: 1 << 1, GID: 1 << 2, SIZE: 1 << 3, ATIME: 1 << 4, MTIME: 1 << 5, FH: 1 << 6,
  ATIME_NOW: 1 << 7, MTIME_NOW: 1 << 8, LOCKOWNER: 1 << 9, CTIME: 1 << 10, KILL_SUIDGID: 1 << 11,
} as const;

/** fuse_open_out.open_flags. */
export const FOPEN = { DIRECT_IO: 1 << 0, KEEP_CACHE: 1 << 1, NONSEEKABLE: 1 << 2, CACHE_DIR: 1 << 3 } as const;
/** fuse_getattr_in.getattr_flags: `fh` is valid. */
export const FUSE_GETATTR_FH = 1;

export const inHeader = struct('fuse_in_header', [
  ['len', 'u32'], ['opcode', 'u32'], ['unique', 'u64n'], ['nodeid', 'u64'],
  ['uid', 'u32'], ['gid', 'u32'], ['pid', 'u32'], ['total_extlen', 'u16'], ['padding', 'u16'],
] as const);

export const outHeader = struct('fuse_out_header', [['len', 'u32'], ['error', 'i32'], ['unique', 'u64n']] as const);

export const attr = struct('fuse_attr', [
  ['ino', 'u64'], ['size', 'u64'], ['blocks', 'u64'], ['atime', 'u64'], ['mtime', 'u64'], ['ctime', 'u64'],
  ['atimensec', 'u32'], ['mtimensec', 'u32'], ['ctimensec', 'u32'], ['mode', 'u32'], ['nlink', 'u32'],
  ['uid', 'u32'], ['gid', 'u32'], ['rdev', 'u32'], ['blksize', 'u32'], ['flags', 'u32'],
] as const);

/** fuse_entry_out is this header followed by a fuse_attr. */
export const entryOutHead = struct('fuse_entry_out', [
  ['nodeid', 'u64'], ['generation', 'u64'], ['entry_valid', 'u64'], ['attr_valid', 'u64'],
  ['entry_valid_nsec', 'u32'], ['attr_valid_nsec', 'u32'],
] as const);
export const ENTRY_OUT_SIZE = entryOutHead.size + attr.size;

/** fuse_attr_out is this header followed by a fuse_attr. */
export const attrOutHead = struct('fuse_attr_out', [['attr_valid', 'u64'], ['attr_valid_nsec', 'u32'], ['dummy', 'pad32']] as const);
export const ATTR_OUT_SIZE = attrOutHead.size + attr.size;

export const kstatfs = struct('fuse_kstatfs', [
  ['blocks', 'u64'], ['bfree', 'u64'], ['bavail', 'u64'], ['files', 'u64'], ['ffree', 'u64'],
  ['bsize', 'u32'], ['namelen', 'u32'], ['frsize', 'u32'], ['padding', 'pad32'],
  ['spare0', 'pad32'], ['spare1', 'pad32'], ['spare2', 'pad32'], ['spare3', 'pad32'], ['spare4', 'pad32'], ['spare5', 'pad32'],
] as const);

export const forgetIn = struct('fuse_forget_in', [['nlookup', 'u64']] as const);
export const forgetOne = struct('fuse_forget_one', [['nodeid', 'u64'], ['nlookup', 'u64']] as const);
export const batchForgetIn = struct('fuse_batch_forget_in', [['count', 'u32'], ['dummy', 'pad32']] as const);
export const getattrIn = struct('fuse_getattr_in', [['getattr_flags', 'u32'], ['dummy', 'pad32'], ['fh', 'u64']] as const);
export const mknodIn = struct('fuse_mknod_in', [['mode', 'u32'], ['rdev', 'u32'], ['umask', 'u32'], ['padding', 'pad32']] as const);
export const mkdirIn = struct('fuse_mkdir_in', [['mode', 'u32'], ['umask', 'u32']] as const);
export const renameIn = struct('fuse_rename_in', [['newdir', 'u64']] as const);
export const rename2In = struct('fuse_rename2_in', [['newdir', 'u64'], ['flags', 'u32'], ['padding', 'pad32']] as const);
export const linkIn = struct('fuse_link_in', [['oldnodeid', 'u64']] as const);
export const setattrIn = struct('fuse_setattr_in', [
  ['valid', 'u32'], ['padding', 'pad32'], ['fh', 'u64'], ['size', 'u64'], ['lock_owner', 'u64n'],
  ['atime', 'u64'], ['mtime', 'u64'], ['ctime', 'u64'], ['atimensec', 'u32'], ['mtimensec', 'u32'], ['ctimensec', 'u32'],
  ['mode', 'u32'], ['unused4', 'pad32'], ['uid', 'u32'], ['gid', 'u32'], ['unused5', 'pad32'],
] as const);
export const openIn = struct('fuse_open_in', [['flags', 'u32'], ['open_flags', 'u32']] as const);
export const createIn = struct('fuse_create_in', [['flags', 'u32'], ['mode', 'u32'], ['umask', 'u32'], ['open_flags', 'u32']] as const);
export const openOut = struct('fuse_open_out', [['fh', 'u64'], ['open_flags', 'u32'], ['padding', 'pad32']] as const);
export const releaseIn = struct('fuse_release_in', [['fh', 'u64'], ['flags', 'u32'], ['release_flags', 'u32'], ['lock_owner', 'u64n']] as const);
export const flushIn = struct('fuse_flush_in', [['fh', 'u64'], ['unused', 'pad32'], ['padding', 'pad32'], ['lock_owner', 'u64n']] as const);
export const readIn = struct('fuse_read_in', [
  ['fh', 'u64'], ['offset', 'u64'], ['size', 'u32'], ['read_flags', 'u32'], ['lock_owner', 'u64n'], ['flags', 'u32'], ['padding', 'pad32'],
] as const);
export const writeIn = struct('fuse_write_in', [
  ['fh', 'u64'], ['offset', 'u64'], ['size', 'u32'], ['write_flags', 'u32'], ['lock_owner', 'u64n'], ['flags', 'u32'], ['padding', 'pad32'],
] as const);
export const writeOut = struct('fuse_write_out', [['size', 'u32'], ['padding', 'pad32']] as const);
export const fsyncIn = struct('fuse_fsync_in', [['fh', 'u64'], ['fsync_flags', 'u32'], ['padding', 'pad32']] as const);
/** fuse_setxattr_in as sent without FUSE_SETXATTR_EXT (which we never ask for): FUSE_COMPAT_SETXATTR_IN_SIZE. */
export const setxattrIn = struct('fuse_setxattr_in(compat)', [['size', 'u32'], ['flags', 'u32']] as const);
export const getxattrIn = struct('fuse_getxattr_in', [['size', 'u32'], ['padding', 'pad32']] as const);
export const getxattrOut = struct('fuse_getxattr_out', [['size', 'u32'], ['padding', 'pad32']] as const);
export const accessIn = struct('fuse_access_in', [['mask', 'u32'], ['padding', 'pad32']] as const);
export const interruptIn = struct('fuse_interrupt_in', [['unique', 'u64n']] as const);
export const initIn = struct('fuse_init_in', [
  ['major', 'u32'], ['minor', 'u32'], ['max_readahead', 'u32'], ['flags', 'u32'],
] as const);
export const initOut = struct('fuse_init_out', [
  ['major', 'u32'], ['minor', 'u32'], ['max_readahead', 'u32'], ['flags', 'u32'],
  ['max_background', 'u16'], ['congestion_threshold', 'u16'], ['max_write', 'u32'], ['time_gran', 'u32'],
  ['max_pages', 'u16'], ['map_alignment', 'u16'], ['flags2', 'u32'],
  ['unused0', 'pad32'], ['unused1', 'pad32'], ['unused2', 'pad32'], ['unused3', 'pad32'], ['unused4', 'pad32'], ['unused5', 'pad32'], ['unused6', 'pad32'],
] as const);
/** fuse_dirent without its name; records are padded to 8 bytes (FUSE_DIRENT_ALIGN). */
export const direntHead = struct('fuse_dirent', [['ino', 'u64'], ['off', 'u64'], ['namelen', 'u32'], ['type', 'u32']] as const);

/** Rounds up to the 8-byte record alignment of fuse_dirent (FUSE_REC_ALIGN). */
export function recAlign(n: number): number {
  return (n + 7) & ~7;
}
