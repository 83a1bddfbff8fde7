/**
 * The remote operations, declared once: for each system call and control
 * operation, the shape of its arguments (checked by the server before the
 * kernel sees them) and of its result (checked by the client before its
 * caller sees it). Both sides treat the other's values as hostile.
 */

import { isErrno } from '../kern/errno.js';
import type { Stat } from '../vfs/syscalls.js';
import type { PutAttrs } from './compound.js';

export type ArgKind = 'path' | 'paths' | 'int' | 'int?' | 'time' | 'obj?' | 'cred';
export type ResultKind = 'void' | 'int' | 'str' | 'strs' | 'stat' | 'statvfs' | 'dirents' | 'cred' | 'bytes' | 'probe' | 'parts' | 'pid' | 'openread' | 'openreadv' | 'readl' | 'lstatv' | 'readdirplus' | 'putfilev';

export interface OpSpec {
  args: readonly ArgKind[];
  result: ResultKind;
  /** The call carries a data payload (write-like). */
  dataIn?: boolean;
  /** Index of the argument that is a path, for error context. */
  path?: number;
}

const P = (args: ArgKind[], result: ResultKind, extra: Partial<OpSpec> = {}): OpSpec => ({
  args,
  result,
  ...(args[0] === 'path' ? { path: 0 } : {}),
  ...extra,
});

/** System calls, by SyscallApi method name. read/pread take a length where the local call takes a buffer. */
export const SYSCALL_OPS: ReadonlyMap<string, OpSpec> = new Map<string, OpSpec>([
  ['open', P(['path', 'int', 'int?'], 'int')],
  ['close', P(['int'], 'void')],
  ['read', P(['int', 'int'], 'bytes')],
  ['write', P(['int'], 'int', { dataIn: true })],
  ['pread', P(['int', 'int', 'int'], 'bytes')],
  ['pwrite', P(['int', 'int'], 'int', { dataIn: true })],
  ['lseek', P(['int', 'int', 'int'], 'int')],
  ['fstat', P(['int'], 'stat')],
  ['stat', P(['path'], 'stat')],
  ['lstat', P(['path'], 'stat')],
  ['access', P(['path', 'int'], 'void')],
  ['mkdir', P(['path', 'int?'], 'void')],
  ['rmdir', P(['path'], 'void')],
  ['unlink', P(['path'], 'void')],
  ['rename', P(['path', 'path', 'int?'], 'void')],
  ['link', P(['path', 'path'], 'void')],
  ['symlink', P(['path', 'path'], 'void', { path: 1 })],
  ['readlink', P(['path'], 'str')],
  ['mknod', P(['path', 'int', 'int?'], 'void')],
  ['getdents', P(['int', 'int?'], 'dirents')],
  ['readdir', P(['path'], 'dirents')],
  ['chmod', P(['path', 'int'], 'void')],
  ['fchmod', P(['int', 'int'], 'void')],
  ['chown', P(['path', 'int', 'int'], 'void')],
  ['fchown', P(['int', 'int', 'int'], 'void')],
  ['lchown', P(['path', 'int', 'int'], 'void')],
  ['utimens', P(['path', 'time', 'time', 'int?'], 'void')],
  ['futimens', P(['int', 'time', 'time'], 'void')],
  ['truncate', P(['path', 'int'], 'void')],
  ['ftruncate', P(['int', 'int'], 'void')],
  ['fsync', P(['int'], 'void')],
  ['sync', P([], 'void')],
  ['statvfs', P(['path'], 'statvfs')],
  ['fstatvfs', P(['int'], 'statvfs')],
  ['mount', P(['path', 'path', 'obj?'], 'void', { path: 1 })],
  ['unmount', P(['path', 'obj?'], 'void')],
  ['chdir', P(['path'], 'void')],
  ['fchdir', P(['int'], 'void')],
  ['getcwd', P([], 'str')],
  ['umask', P(['int'], 'int')],
  ['dup', P(['int'], 'int')],
  ['dup2', P(['int', 'int'], 'int')],
  ['getxattr', P(['path', 'path', 'obj?'], 'bytes')],
  ['setxattr', P(['path', 'path', 'obj?'], 'void', { dataIn: true })],
  ['listxattr', P(['path', 'obj?'], 'strs')],
  ['removexattr', P(['path', 'path', 'obj?'], 'void')],
  ['getcred', P([], 'cred')],
  // Compound (compound.ts): open + fstat + read up to `length` bytes (+ close at end of file) in one round trip.
  ['openread', P(['path', 'int', 'int'], 'openread')],
  // Compound: openread for several files, their bytes packed into one payload.
  // paths, flags, maxEach, maxTotal, and 1 when the client reads layouts (layout.ts) of files on its images.
  ['openreadv', P(['paths', 'int', 'int', 'int', 'int?'], 'openreadv')],
  // Compound: readdir(path) and the lstat of the first maxStats entries: {d: dirents, s: [packed stat or null, ...]}.
  ['readdirplus', P(['path', 'int'], 'readdirplus')],
  // Compound: lstat of each path, answered [packed stat or {e: error}, ...] in order.
  ['lstatv', P(['paths'], 'lstatv')],
  // read (position null) or pread of `length` bytes, answered {n} with the bytes, or {n, l} with a layout.
  ['readl', P(['int', 'int', 'int?'], 'readl')],
  // Compound: for each path in order, open(path, O_CREAT|O_WRONLY|O_TRUNC, mode), write its bytes, fchown/fchmod/
  // futimens for what its attributes {uid, gid, perm, atime, mtime} give (all optional), close. The second
  // argument {m: modes, n: byte counts, a: attributes or null}, one each per path; the files' bytes one after
  // the other. Answered [null or {e: error}, ...] in order.
  ['putfilev', P(['paths', 'obj?'], 'putfilev', { dataIn: true })],
]);

/** Operations on the kernel itself (no process). */
export const CONTROL_OPS: ReadonlyMap<string, OpSpec> = new Map<string, OpSpec>([
  ['newproc', { args: ['cred'], result: 'pid' }],
  ['probe', { args: ['path'], result: 'probe', path: 0 }],
  ['partitions', { args: ['path'], result: 'parts', path: 0 }],
  ['addwedge', { args: ['path', 'int', 'path'], result: 'void', path: 0 }],
  ['console', { args: [], result: 'strs' }],
  ['halt', { args: [], result: 'void' }],
]);

/** Longest path or name string accepted in a call. */
export const MAX_PATH = 64 * 1024;
/** Most paths in one 'paths' argument (compound.ts's OPENREAD_MANY_MAX_PATHS). */
export const MAX_PATHS = 4096;

function isInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v) && Object.getPrototypeOf(v) === Object.prototype;
}

function isTimespec(v: unknown): v is { sec: number; nsec: number } {
  return isPlainObject(v) && isInt(v['sec']) && isInt(v['nsec']);
}

/** One file's attributes in a putfilev request, checked: the attributes, or a reason they are not acceptable. */
export function checkPutAttrs(a: unknown): PutAttrs | string {
  if (a === undefined || a === null) return {};
  if (!isPlainObject(a)) return 'attributes are not an object';
  const out: PutAttrs = {};
  for (const [k, v] of Object.entries(a)) {
    if (k === 'uid' || k === 'gid' || k === 'perm') {
      if (!isInt(v)) return `${k} is not an integer`;
      out[k] = v;
    } else if (k === 'atime' || k === 'mtime') {
      if (!isTimespec(v) || v.nsec < 0 || v.nsec >= 1e9) return `${k} is not a time`;
      out[k] = { sec: v.sec, nsec: v.nsec };
    } else return `unknown attribute ${k.slice(0, 20)}`;
  }
  return out;
}

/** Checks call arguments against the spec; returns a reason when they do not fit. */
export function checkArgs(spec: OpSpec, a: unknown): string | null {
  if (!Array.isArray(a)) return 'arguments are not an array';
  if (a.length > spec.args.length) return 'too many arguments';
  for (let i = 0; i < spec.args.length; i++) {
    const v = a[i];
    switch (spec.args[i]) {
      case 'path':
        if (typeof v !== 'string' || v.length > MAX_PATH) return `argument ${i} is not a string`;
        break;
      case 'paths':
        if (!Array.isArray(v) || v.length === 0 || v.length > MAX_PATHS || !v.every((x) => typeof x === 'string' && x.length <= MAX_PATH)) {
          return `argument ${i} is not a list of 1 to ${MAX_PATHS} paths`;
        }
        break;
      case 'int':
        if (!isInt(v)) return `argument ${i} is not an integer`;
        break;
      case 'int?':
        if (v !== undefined && v !== null && !isInt(v)) return `argument ${i} is not an integer`;
        break;
      case 'time':
        if (v !== 'now' && v !== 'omit' && !isTimespec(v)) return `argument ${i} is not a time`;
        break;
      case 'obj?':
      case 'cred':
        if (v !== undefined && v !== null && !isPlainObject(v)) return `argument ${i} is not an object`;
        break;
    }
  }
  return null;
}

const STAT_NUMBERS = ['dev', 'ino', 'mode', 'nlink', 'uid', 'gid', 'rdev', 'size', 'blksize', 'blocks'] as const;
const STATVFS_NUMBERS = ['bsize', 'frsize', 'blocks', 'bfree', 'bavail', 'files', 'ffree', 'favail', 'fsid', 'namemax'] as const;
const VTYPES = new Set(['reg', 'dir', 'lnk', 'blk', 'chr', 'fifo', 'sock']);

function isFiniteNumber(v: unknown): boolean {
  return typeof v === 'number' && Number.isFinite(v);
}

function isStringArray(v: unknown): boolean {
  return Array.isArray(v) && v.every((s) => typeof s === 'string');
}

/** Pieces one layout (layout.ts) may have on the wire. */
export const MAX_LAYOUT_PIECES = 4096;

/** Whether `l` is a well-formed wire layout of exactly `n` bytes (its shape only; ImageReader checks the images). */
export function isWireLayout(l: unknown, n: number): l is number[] {
  if (!Array.isArray(l) || l.length % 3 !== 0 || l.length > 3 * MAX_LAYOUT_PIECES) return false;
  let sum = 0;
  for (let i = 0; i < l.length; i += 3) {
    const [img, off, len] = [l[i], l[i + 1], l[i + 2]];
    if (!isInt(img) || img < -1 || !isInt(off) || off < 0 || !isInt(len) || len <= 0) return false;
    sum += len;
  }
  return sum === n;
}

function isOpenRead(r: Record<string, unknown>): boolean {
  return isInt(r['fd']) && r['fd'] >= -1 && isInt(r['n']) && r['n'] >= 0 && isPackedStat(r['st']);
}

/**
 * The compound reads' stat, packed as a list of numbers (a reply of 64 files spends a third of the
 * time of the object form encoding and decoding it): dev, ino, mode, nlink, uid, gid, rdev, size,
 * blksize, blocks, then sec and nsec of atime, mtime, ctime and, when there is one, birthtime.
 */
export function packStat(st: Stat): number[] {
  const a = [st.dev, st.ino, st.mode, st.nlink, st.uid, st.gid, st.rdev, st.size, st.blksize, st.blocks,
    st.atime.sec, st.atime.nsec, st.mtime.sec, st.mtime.nsec, st.ctime.sec, st.ctime.nsec];
  if (st.birthtime !== undefined) a.push(st.birthtime.sec, st.birthtime.nsec);
  return a;
}

/** packStat's list back as a Stat; the list has been checked by isPackedStat. */
export function unpackStat(a: number[]): Stat {
  const st: Stat = {
    dev: a[0]!, ino: a[1]!, mode: a[2]!, nlink: a[3]!, uid: a[4]!, gid: a[5]!, rdev: a[6]!, size: a[7]!, blksize: a[8]!, blocks: a[9]!,
    atime: { sec: a[10]!, nsec: a[11]! }, mtime: { sec: a[12]!, nsec: a[13]! }, ctime: { sec: a[14]!, nsec: a[15]! },
  };
  if (a.length === 18) st.birthtime = { sec: a[16]!, nsec: a[17]! };
  return st;
}

function isPackedStat(a: unknown): a is number[] {
  if (!Array.isArray(a) || (a.length !== 16 && a.length !== 18)) return false;
  for (let i = 0; i < a.length; i++) if (i < 10 ? !isFiniteNumber(a[i]) : !isInt(a[i])) return false;
  return true;
}

function isStat(r: unknown): boolean {
  return (
    isPlainObject(r) &&
    STAT_NUMBERS.every((k) => isFiniteNumber(r[k])) &&
    isTimespec(r['atime']) && isTimespec(r['mtime']) && isTimespec(r['ctime']) &&
    (r['birthtime'] === undefined || isTimespec(r['birthtime']))
  );
}

function isDirents(r: unknown): boolean {
  return Array.isArray(r) && r.every((d) => isPlainObject(d) && typeof d['name'] === 'string' && isFiniteNumber(d['ino']) && VTYPES.has(d['type'] as string));
}

/** Checks a result from the server against the spec. `dataLength` is the payload's length, if any. */
export function checkResult(kind: ResultKind, r: unknown, dataLength: number | undefined): boolean {
  switch (kind) {
    case 'void':
      return r === null || r === undefined;
    case 'int':
    case 'pid':
      return isInt(r);
    case 'str':
      return typeof r === 'string';
    case 'strs':
      return isStringArray(r);
    case 'bytes':
      return isInt(r) && r >= 0 && dataLength === r;
    case 'stat':
      return isStat(r);
    case 'openread':
      // {fd, n, st}: fd -1 (closed) or a descriptor, n the payload's length, st a packed stat.
      return isPlainObject(r) && isOpenRead(r) && dataLength === r['n'];
    case 'openreadv': {
      // A list of {fd, n, st} (st packed), {fd, n, st, l} or {e: error}; the ns of those without l add up to the payload's length.
      if (!Array.isArray(r) || r.length === 0 || r.length > MAX_PATHS) return false;
      let total = 0;
      for (const it of r) {
        if (!isPlainObject(it)) return false;
        if ('e' in it) {
          if (!isPlainObject(it['e']) || Object.keys(it).length !== 1) return false;
        } else if (isOpenRead(it) && 'l' in it) {
          if (!isWireLayout(it['l'], it['n'] as number) || Object.keys(it).length !== 4) return false;
        } else if (isOpenRead(it) && Object.keys(it).length === 3) total += it['n'] as number;
        else return false;
      }
      return total === (dataLength ?? 0);
    }
    case 'putfilev':
      return Array.isArray(r) && r.length > 0 && r.length <= MAX_PATHS &&
        r.every((it) => it === null || (isPlainObject(it) && isPlainObject(it['e']) && Object.keys(it).length === 1));
    case 'lstatv':
      return Array.isArray(r) && r.length > 0 && r.length <= MAX_PATHS &&
        r.every((it) => isPackedStat(it) || (isPlainObject(it) && isPlainObject(it['e']) && Object.keys(it).length === 1));
    case 'readl':
      if (!isPlainObject(r) || !isInt(r['n']) || r['n'] < 0) return false;
      if ('l' in r) return Object.keys(r).length === 2 && isWireLayout(r['l'], r['n']) && !dataLength;
      return Object.keys(r).length === 1 && dataLength === r['n'];
    case 'statvfs':
      return isPlainObject(r) && STATVFS_NUMBERS.every((k) => isFiniteNumber(r[k])) && (r['flag'] === undefined || isFiniteNumber(r['flag']));
    case 'dirents':
      return isDirents(r);
    case 'readdirplus':
      return (
        isPlainObject(r) && Object.keys(r).length === 2 && isDirents(r['d']) && Array.isArray(r['s']) &&
        r['s'].length <= (r['d'] as unknown[]).length && r['s'].every((st) => st === null || isPackedStat(st))
      );
    case 'cred':
      return isPlainObject(r) && isInt(r['uid']) && isInt(r['gid']) && Array.isArray(r['groups']) && r['groups'].every(isInt);
    case 'probe':
      return (
        r === null ||
        (isPlainObject(r) &&
          typeof r['type'] === 'string' &&
          ['variant', 'label', 'uuid'].every((k) => r[k] === undefined || typeof r[k] === 'string') &&
          (r['size'] === undefined || isFiniteNumber(r['size'])))
      );
    case 'parts':
      return (
        Array.isArray(r) &&
        r.every(
          (p) =>
            isPlainObject(p) &&
            isInt(p['index']) && isFiniteNumber(p['start']) && isFiniteNumber(p['size']) &&
            typeof p['type'] === 'string' && (p['name'] === undefined || typeof p['name'] === 'string') &&
            (p['scheme'] === 'mbr' || p['scheme'] === 'gpt'),
        )
      );
  }
}

/** Checks an error reply's fields; returns them normalised (an unknown errno becomes EIO). */
export function checkErrorReply(e: unknown): { code: import('../kern/errno.js').Errno; detail?: string; syscall?: string; path?: string; dest?: string } {
  if (!isPlainObject(e)) return { code: 'EIO', detail: 'sysproxy: malformed error reply' };
  const str = (k: string): string | undefined => (typeof e[k] === 'string' ? (e[k] as string) : undefined);
  const code = isErrno(e['code']) ? e['code'] : 'EIO';
  const out: ReturnType<typeof checkErrorReply> = { code };
  const detail = str('detail') ?? (code !== e['code'] ? `sysproxy: unknown errno ${String(e['code']).slice(0, 40)}` : undefined);
  if (detail !== undefined) out.detail = detail;
  const syscall = str('syscall');
  if (syscall !== undefined) out.syscall = syscall;
  const path = str('path');
  if (path !== undefined) out.path = path;
  const dest = str('dest');
  if (dest !== undefined) out.dest = dest;
  return out;
}
