/**
 * Compound calls: a few system calls that callers almost always make back to
 * back, run by the server in one round trip. `openRead` is open + fstat +
 * read up to N bytes (+ close when the read reached the end of the file): the
 * whole of reading a small file. The function here is both the server's
 * implementation (run on its local Proc, so the semantics are exactly those
 * of the separate calls) and the fallback for any SyscallApi that has no
 * native compound call, so callers write one line that works on a local
 * kernel and on a remote one alike.
 */

import { KernelError } from '../kern/error.js';
import { O_ACCMODE, O_APPEND, O_CREAT, O_EXCL, O_RDONLY, O_TRUNC } from '../vfs/fcntl.js';
import type { Stat, SyscallApi } from '../vfs/syscalls.js';

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
): Promise<OpenReadResult & { buf: Uint8Array }> {
  const fd = await p.open(path, flags);
  let stat: Stat;
  let buf: Uint8Array;
  let n: number;
  try {
    stat = await p.fstat(fd);
    buf = bufFor(stat);
    n = buf.length === 0 ? 0 : await p.read(fd, buf);
  } catch (e) {
    await p.close(fd).catch(() => undefined);
    throw e;
  }
  if (n < buf.length) {
    await p.close(fd);
    return { fd: -1, n, stat, buf };
  }
  return { fd, n, stat, buf };
}
