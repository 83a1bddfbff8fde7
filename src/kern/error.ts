/**
 * KernelError: the one error type that crosses the system-call boundary.
 * Shaped like Node's fs errors (`code`, negative `errno`, `syscall`, `path`)
 * so code written for `node:fs` handles it unchanged. A driver throws it with
 * an errno and, for corrupt metadata, a one-line `detail` naming the
 * structure; the system-call layer adds the call and path and logs the detail.
 */

import { ERRNO, errnoNumber, isErrno, type Errno } from './errno.js';

export class KernelError extends Error {
  readonly code: Errno;
  readonly errno: number;
  syscall?: string;
  path?: string;
  dest?: string;
  /** One line for the kernel console: which structure was wrong, and where. */
  readonly detail?: string;

  constructor(code: Errno, detail?: string) {
    super(`${code}: ${ERRNO[code][1]}`);
    this.name = 'KernelError';
    this.code = code;
    this.errno = -errnoNumber(code);
    if (detail !== undefined) this.detail = detail;
  }

  /** Adds the system call and path(s), as Node's messages show them. */
  withContext(syscall: string, path?: string, dest?: string): this {
    if (this.syscall !== undefined) return this;
    this.syscall = syscall;
    let msg = `${this.code}: ${ERRNO[this.code][1]}, ${syscall}`;
    if (path !== undefined) {
      this.path = path;
      msg += ` '${path}'`;
      if (dest !== undefined) {
        this.dest = dest;
        msg += ` -> '${dest}'`;
      }
    }
    this.message = msg;
    return this;
  }

  toJSON(): object {
    return { code: this.code, errno: this.errno, syscall: this.syscall, path: this.path, detail: this.detail };
  }
}

/** Shorthand for drivers: `throw kerr('EIO', 'ext2fs: bad extent magic in inode 12')`. */
export function kerr(code: Errno, detail?: string): KernelError {
  return new KernelError(code, detail);
}

export function isKernelError(e: unknown): e is KernelError {
  return e instanceof KernelError;
}

/** Anything with a known errno code (a KernelError, a Node fs error) as a KernelError; otherwise undefined. */
export function asKernelError(e: unknown): KernelError | undefined {
  if (e instanceof KernelError) return e;
  if (e !== null && typeof e === 'object' && isErrno((e as { code?: unknown }).code)) {
    return new KernelError((e as { code: Errno }).code, (e as Error).message);
  }
  return undefined;
}
