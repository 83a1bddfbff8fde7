/**
 * Compound calls: a few system calls that callers almost always make back to
 * back, run by the server in one round trip. `openRead` is open + fstat +
 * read up to N bytes (+ close when the read reached the end of the file): the
 * whole of reading a small file; `openReadMany` is openRead for many files,
 * their bytes packed into one buffer; `putFiles` is the whole of writing small
 * files with their owners, modes and times. Each function here is both the server's
 * implementation (run on its local Proc, so the semantics are exactly those
 * of the separate calls) and the fallback for any SyscallApi that has no
 * native compound call, so callers write one line that works on a local
 * kernel and on a remote one alike.
 */

import { KernelError } from '../kern/error.js';
import { O_ACCMODE, O_APPEND, O_CREAT, O_EXCL, O_RDONLY, O_TRUNC, O_WRONLY, SEEK_SET } from '../vfs/fcntl.js';
import type { Dirent, Stat, SyscallApi } from '../vfs/syscalls.js';
import type { Timespec } from '../vfs/types.js';

/** What openRead found: the file's status, the bytes read, and the descriptor when the file is still open. */
export interface OpenReadResult {
  /** -1 when the file was closed (the read came back short: end of file); else the open descriptor. */
  fd: number;
  /** Bytes read into the caller's buffer (from offset 0). */
  n: number;
  /** fstat of the opened file. */
  stat: Stat;
}

/** A SyscallApi whose transport runs openRead as one request (the sysproxy client's RemoteProc). */
export interface OpenReadApi {
  openRead(path: string, buf: Uint8Array, flags?: number): Promise<OpenReadResult>;
}

export function hasOpenRead(p: SyscallApi): p is SyscallApi & OpenReadApi {
  return typeof (p as Partial<OpenReadApi>).openRead === 'function';
}

/**
 * Open flags openRead accepts: read-only access, nothing that creates,
 * truncates or appends (O_NOFOLLOW, O_DIRECTORY, O_NONBLOCK... are fine).
 * A reason when they are not acceptable.
 */
export function badOpenReadFlags(flags: number): string | null {
  if ((flags & O_ACCMODE) !== O_RDONLY) return 'openRead opens read-only';
  if ((flags & (O_CREAT | O_EXCL | O_TRUNC | O_APPEND)) !== 0) return 'openRead does not create, truncate or append';
  return null;
}

/**
 * Opens `path`, stats it and reads up to `buf.length` bytes into `buf`. A
 * read shorter than the buffer is the end of a regular file (POSIX read(2)),
 * so the file is then closed and `fd` is -1; a full buffer leaves the file
 * open at that offset for the caller to read on and close. A zero-length
 * buffer is open + fstat. When the stat or the read fails the file is closed
 * and the error (with the failing call's name) is thrown. Uses the
 * process's native compound call when it has one (a remote process: one
 * round trip), else the separate calls.
 */
export async function openRead(p: SyscallApi, path: string, buf: Uint8Array, flags: number = O_RDONLY): Promise<OpenReadResult> {
  const bad = badOpenReadFlags(flags);
  if (bad !== null) throw new KernelError('EINVAL', bad).withContext('open', path);
  if (hasOpenRead(p)) return p.openRead(path, buf, flags);
  const r = await openReadLocal(p, path, flags, () => buf);
  return { fd: r.fd, n: r.n, stat: r.stat };
}

/**
 * openRead as the separate system calls, reading into the buffer `bufFor`
 * gives once the status is known (the server sizes its reply buffer by the
 * file's size): a read shorter than that buffer is the end of the file and
 * closes it. What the server runs for a compound request.
 */
export async function openReadLocal(
  p: SyscallApi,
  path: string,
  flags: number,
  bufFor: (stat: Stat) => Uint8Array,
  layout?: LayoutFn,
): Promise<OpenReadResult & { buf: Uint8Array; l?: number[] }> {
  const fd = await p.open(path, flags);
  let stat: Stat;
  let buf: Uint8Array;
  let n: number;
  let lay: { n: number; l: number[] } | null = null;
  let open: boolean;
  try {
    stat = await p.fstat(fd);
    buf = bufFor(stat);
    if (buf.length > 0 && layout !== undefined) lay = await layout(fd, buf.length);
    n = lay !== null ? lay.n : buf.length === 0 ? 0 : await p.read(fd, buf);
    // A short read is the end of the file, except that a layout may cover less than asked before the end
    // (a fragmented file): the file then stays open there.
    open = n === buf.length || (lay !== null && n < stat.size);
    if (lay !== null && open) await p.lseek(fd, n, SEEK_SET);
  } catch (e) {
    await p.close(fd).catch(() => undefined);
    throw e;
  }
  if (!open) await p.close(fd);
  return { fd: open ? fd : -1, n, stat, buf, ...(lay !== null ? { l: lay.l } : {}) };
}

/**
 * Where a file's first `len` bytes lie, in layout.ts's wire form (`n` may
 * be less than len: a prefix, or the end of the file), or null to read them.
 * The server's, for a client that reads the images itself.
 */
export type LayoutFn = (fd: number, len: number) => Promise<{ n: number; l: number[] } | null>;

/** A SyscallApi whose transport runs lstatMany as one request. */
export interface LstatManyApi {
  lstatMany(paths: string[]): Promise<(Stat | KernelError)[]>;
}

export function hasLstatMany(p: SyscallApi): p is SyscallApi & LstatManyApi {
  return typeof (p as Partial<LstatManyApi>).lstatMany === 'function';
}

/**
 * lstat of each path (1 to OPENREAD_MANY_MAX_PATHS of them), in one round trip on a remote process: each
 * result the Stat or the KernelError that path failed with (one failure does not stop the others). What a
 * directory lister needs for every entry (READDIRPLUS): one request per directory instead of one per entry.
 */
export async function lstatMany(p: SyscallApi, paths: string[]): Promise<(Stat | KernelError)[]> {
  if (paths.length === 0) return [];
  if (paths.length > OPENREAD_MANY_MAX_PATHS) throw new KernelError('EINVAL', `lstatMany: ${paths.length} paths`).withContext('lstat', paths[0]);
  if (hasLstatMany(p)) return p.lstatMany(paths);
  const out: (Stat | KernelError)[] = [];
  for (const path of paths) out.push(await p.lstat(path).catch((e: unknown) => asKernelError(e, 'lstatMany')));
  return out;
}

/** A directory's entries with their lstat (null where it failed) for the first `maxStats` of them. */
export interface DirPlus {
  entries: Dirent[];
  stats: (Stat | null)[];
}

/** A SyscallApi whose transport runs readdirPlus as one request. */
export interface ReaddirPlusApi {
  readdirPlus(path: string, maxStats?: number): Promise<DirPlus>;
}

export function hasReaddirPlus(p: SyscallApi): p is SyscallApi & ReaddirPlusApi {
  return typeof (p as Partial<ReaddirPlusApi>).readdirPlus === 'function';
}

/** Entries whose status readdirPlus gives by default. */
export const READDIR_PLUS_STATS = 1024;

/**
 * readdir(path) and the lstat of its first `maxStats` entries (at most OPENREAD_MANY_MAX_PATHS), in one
 * round trip on a remote process: a directory listing with attributes (FUSE's READDIRPLUS, `ls -l`).
 */
export async function readdirPlus(p: SyscallApi, path: string, maxStats = READDIR_PLUS_STATS): Promise<DirPlus> {
  const max = Math.max(0, Math.min(maxStats, OPENREAD_MANY_MAX_PATHS));
  if (hasReaddirPlus(p)) return p.readdirPlus(path, max);
  const entries = await p.readdir(path);
  const base = path.endsWith('/') ? path : `${path}/`;
  const sts = await lstatMany(p, entries.slice(0, max).map((e) => base + e.name));
  return { entries, stats: sts.map((st) => (st instanceof KernelError ? null : st)) };
}

/** Most paths one openReadMany request names. */
export const OPENREAD_MANY_MAX_PATHS = 4096;

/** One file of openReadMany: as openRead's result with its bytes (a view), or the error that stopped it. */
export type OpenReadManyItem = (OpenReadResult & { data: Uint8Array }) | { error: KernelError };

export interface OpenReadManyOptions {
  flags?: number;
  /** Bytes read of each file at most (default 1 MiB); a longer file is left open at that offset. */
  maxEach?: number;
  /** Bytes of all the files together at most (default 4 MiB; MAX_IO remotely; at most buffer's length). */
  maxTotal?: number;
  /**
   * Where the bytes go (the items' data are views into it), for a caller that reuses one buffer from
   * call to call: no allocation, and remotely the reply is copied straight from the transport into
   * it. By default a fresh buffer per call, which the caller owns.
   */
  buffer?: Uint8Array;
}

/** A SyscallApi whose transport runs openReadMany as one request. */
export interface OpenReadManyApi {
  openReadMany(paths: string[], opts?: OpenReadManyOptions): Promise<OpenReadManyItem[]>;
}

export function hasOpenReadMany(p: SyscallApi): p is SyscallApi & OpenReadManyApi {
  return typeof (p as Partial<OpenReadManyApi>).openReadMany === 'function';
}

export const OPENREAD_MANY_EACH = 1 << 20;
export const OPENREAD_MANY_TOTAL = 4 << 20;

/**
 * openRead for several files in a row, in one round trip on a remote process:
 * the files are read in order into one buffer of `maxTotal` bytes, each up to
 * `maxEach` bytes (a file's share is also bounded by its size, so small files
 * pack together), and a file is started only while the buffer has room. The
 * result covers a prefix of `paths` (at least one): the caller goes on with
 * the rest. Each item is openRead's result with its bytes (views into one
 * buffer that the caller owns), or the KernelError that file failed with —
 * one file's failure does not stop the others. A file left open (`fd` >= 0:
 * longer than its share) is the caller's to read on and close.
 */
export async function openReadMany(p: SyscallApi, paths: string[], opts: OpenReadManyOptions = {}): Promise<OpenReadManyItem[]> {
  const flags = opts.flags ?? O_RDONLY;
  const bad = badOpenReadFlags(flags);
  if (bad !== null) throw new KernelError('EINVAL', bad).withContext('open', paths[0]);
  if (paths.length === 0) return [];
  if (hasOpenReadMany(p)) return p.openReadMany(paths, opts);
  const maxTotal = Math.max(1, Math.min(opts.maxTotal ?? OPENREAD_MANY_TOTAL, opts.buffer?.length ?? Infinity));
  const maxEach = Math.max(1, Math.min(opts.maxEach ?? OPENREAD_MANY_EACH, maxTotal));
  if (opts.buffer !== undefined) {
    if (opts.buffer.length === 0) throw new KernelError('EINVAL', 'openReadMany: empty buffer').withContext('open', paths[0]);
    const r = await openReadManyLocal(p, paths.slice(0, OPENREAD_MANY_MAX_PATHS), flags, maxEach, opts.buffer.subarray(0, maxTotal));
    return r.items.map((it) => ('error' in it ? { error: asKernelError(it.error) } : it));
  }
  // As a remote client ends up with: the files' bytes in one buffer of the size they took. They are
  // read into a reused scratch buffer of maxTotal (a fresh one per call would cost its page faults
  // every time), then copied out once.
  const buf = scratch !== null && scratch.length >= maxTotal ? scratch : Buffer.allocUnsafeSlow(maxTotal);
  scratch = null;
  let r: Awaited<ReturnType<typeof openReadManyLocal>>;
  try {
    r = await openReadManyLocal(p, paths.slice(0, OPENREAD_MANY_MAX_PATHS), flags, maxEach, buf.subarray(0, maxTotal));
  } finally {
    scratch = buf;
  }
  const out = Buffer.allocUnsafeSlow(r.used);
  out.set(buf.subarray(0, r.used));
  return r.items.map((it) => {
    if ('error' in it) return { error: asKernelError(it.error) };
    const at = it.data.byteOffset - buf.byteOffset;
    return { fd: it.fd, n: it.n, stat: it.stat, data: out.subarray(at, at + it.n) };
  });
}

/** openReadMany's scratch buffer for local processes, reused by one call at a time. */
let scratch: Uint8Array | null = null;

/** A failure of one file as a KernelError (the kernel throws nothing else; anything else is EIO). */
function asKernelError(e: unknown, call = 'openReadMany'): KernelError {
  return e instanceof KernelError ? e : new KernelError('EIO', `${call}: ${e instanceof Error ? e.message : String(e)}`);
}

/**
 * openReadMany as the separate calls, packing the files' bytes one after the
 * other into `buf` (what the server runs for a compound request, with a
 * pooled buffer). Returns the items and how many bytes of `buf` they used.
 */
export async function openReadManyLocal(
  p: SyscallApi,
  paths: string[],
  flags: number,
  maxEach: number,
  buf: Uint8Array,
  layout?: LayoutFn,
): Promise<{ items: ((OpenReadResult & { data: Uint8Array; l?: number[] }) | { error: unknown })[]; used: number; packed: number }> {
  const items: ((OpenReadResult & { data: Uint8Array; l?: number[] }) | { error: unknown })[] = [];
  // Bytes of the caller's buffer the items take, and of them those read here (packed at the start of
  // `buf`); the rest are layouts, for the caller to read into its buffer after the packed bytes.
  let used = 0;
  let packed = 0;
  for (const path of paths) {
    // Started only while there is room (the first file always is): the caller asks again for the rest.
    if (items.length > 0 && used >= buf.length) break;
    try {
      const r = await openReadLocal(
        p,
        path,
        flags,
        (st) => {
          const room = Math.min(maxEach, buf.length - used);
          const share = Number.isSafeInteger(st.size) && st.size >= 0 ? Math.min(room, st.size + 1) : room;
          return buf.subarray(packed, packed + share);
        },
        layout,
      );
      if (r.l !== undefined) {
        items.push({ fd: r.fd, n: r.n, stat: r.stat, data: r.buf.subarray(0, 0), l: r.l });
      } else {
        items.push({ fd: r.fd, n: r.n, stat: r.stat, data: buf.subarray(packed, packed + r.n) });
        packed += r.n;
      }
      used += r.n;
    } catch (e) {
      items.push({ error: e });
    }
  }
  return { items, used, packed };
}

/** What putFiles sets on a file once it is written: owner, permission bits, access and modification times. */
export interface PutAttrs {
  uid?: number;
  gid?: number;
  perm?: number;
  atime?: Timespec;
  mtime?: Timespec;
}

/** Bytes at most of one file in putFiles: a larger file is written by the separate calls. */
export const PUT_FILE_MAX = 1024 * 1024;
/** Files at most in one putFiles, and their bytes together. */
export const PUT_FILES_MAX = 256;
export const PUT_FILES_TOTAL = 4 * 1024 * 1024;

/** One file for putFiles: created or truncated with `mode`, written whole, then given `attrs`. */
export interface PutFileItem {
  path: string;
  mode: number;
  data: Uint8Array;
  attrs?: PutAttrs;
}

/** A SyscallApi whose transport runs putFiles as one request. */
export interface PutFilesApi {
  putFiles(items: readonly PutFileItem[]): Promise<(KernelError | null)[]>;
}

function hasPutFiles(p: SyscallApi): p is SyscallApi & PutFilesApi {
  return typeof (p as Partial<PutFilesApi>).putFiles === 'function';
}

/** Why a putFiles request is out of bounds, or null. */
export function badPutFiles(items: readonly { path: string; data: Uint8Array }[]): string | null {
  if (items.length === 0 || items.length > PUT_FILES_MAX) return `${items.length} files, not 1 to ${PUT_FILES_MAX}`;
  let total = 0;
  for (const it of items) {
    if (it.data.length > PUT_FILE_MAX) return `${it.data.length} bytes for one file, more than ${PUT_FILE_MAX}`;
    total += it.data.length;
  }
  return total > PUT_FILES_TOTAL ? `${total} bytes, more than ${PUT_FILES_TOTAL}` : null;
}

/**
 * Writing whole small files, in order, each as open(path, O_CREAT|O_WRONLY|O_TRUNC, mode), write all of its
 * bytes, fchown, fchmod and futimens on the open file for what its `attrs` give, and close: a tree copy's six
 * calls per file, and many files, in one round trip through a server, with one path lookup per file. Each
 * file's failure (its first failing call's error) in its place; the others are still written.
 */
export async function putFiles(p: SyscallApi, items: readonly PutFileItem[]): Promise<(KernelError | null)[]> {
  const bad = badPutFiles(items);
  if (bad !== null) throw new KernelError('EINVAL', `putFiles: ${bad}`).withContext('write', items[0]?.path);
  if (hasPutFiles(p)) return p.putFiles(items);
  return putFilesLocal(p, items);
}

/** putFiles() as the separate calls on `p` (the server runs this on its own process). */
export async function putFilesLocal(p: SyscallApi, items: readonly PutFileItem[]): Promise<(KernelError | null)[]> {
  const out: (KernelError | null)[] = [];
  for (const it of items) out.push(await putFileLocal(p, it).then(() => null, (e: unknown) => asKernelError(e, 'putFiles')));
  return out;
}

async function putFileLocal(p: SyscallApi, it: PutFileItem): Promise<void> {
  const { path, data, attrs = {} } = it;
  const fd = await p.open(path, O_CREAT | O_WRONLY | O_TRUNC, it.mode);
  let done = false;
  try {
    for (let at = 0; at < data.length; ) {
      const n = await p.write(fd, data.subarray(at));
      if (!(n > 0)) throw new KernelError('EIO', `putFiles: write returned ${n}`).withContext('write', path);
      at += n;
    }
    // Owner before mode (a change of owner clears setuid), times after the last write.
    if (attrs.uid !== undefined || attrs.gid !== undefined) await p.fchown(fd, attrs.uid ?? -1, attrs.gid ?? -1);
    if (attrs.perm !== undefined) await p.fchmod(fd, attrs.perm);
    if (attrs.atime !== undefined && attrs.mtime !== undefined) await p.futimens(fd, attrs.atime, attrs.mtime);
    done = true;
  } finally {
    // After a failed call, that failure is the one to report.
    if (done) await p.close(fd);
    else await p.close(fd).catch(() => undefined);
  }
}
