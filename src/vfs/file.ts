/**
 * Open files (NetBSD's struct file) and the per-process descriptor table
 * (struct filedesc). An OpenFile holds its vnode; descriptors share an
 * OpenFile after dup() and after a fork-like copy of the table, as POSIX says.
 */

import { KernelError } from '../kern/error.js';
import { vrele } from './mount.js';
import type { Vnode } from './vnode.js';
import { O_ACCMODE, O_RDONLY, O_WRONLY, O_RDWR } from './fcntl.js';

export class OpenFile {
  refs = 1;
  offset = 0;
  /** readdir position: the driver's cookie. */
  dirCookie = 0;
  dirEof = false;

  constructor(
    readonly vp: Vnode,
    readonly flags: number,
  ) {}

  get readable(): boolean {
    const acc = this.flags & O_ACCMODE;
    return acc === O_RDONLY || acc === O_RDWR;
  }

  get writable(): boolean {
    const acc = this.flags & O_ACCMODE;
    return acc === O_WRONLY || acc === O_RDWR;
  }

  /** Drops a reference; the last one releases the vnode (without waiting when that release needs none). */
  release(): Promise<void> | void {
    if (--this.refs === 0) return vrele(this.vp);
  }
}

export const FD_MAX = 65536;

export class FdTable {
  private readonly files: (OpenFile | undefined)[] = [];

  get(fd: number): OpenFile {
    const f = Number.isInteger(fd) && fd >= 0 ? this.files[fd] : undefined;
    if (f === undefined) throw new KernelError('EBADF');
    return f;
  }

  /** Installs `f` at the lowest free descriptor. */
  alloc(f: OpenFile, min = 0): number {
    for (let fd = min; fd < FD_MAX; fd++) {
      if (this.files[fd] === undefined) {
        this.files[fd] = f;
        return fd;
      }
    }
    throw new KernelError('EMFILE');
  }

  /** Installs `f` at exactly `fd`, returning what was there (the caller releases it). */
  put(fd: number, f: OpenFile): OpenFile | undefined {
    if (!Number.isInteger(fd) || fd < 0 || fd >= FD_MAX) throw new KernelError('EBADF');
    const old = this.files[fd];
    this.files[fd] = f;
    return old;
  }

  remove(fd: number): OpenFile {
    const f = this.get(fd);
    this.files[fd] = undefined;
    return f;
  }

  /** A copy sharing the open files (fork). */
  copy(): FdTable {
    const t = new FdTable();
    this.files.forEach((f, fd) => {
      if (f) {
        f.refs++;
        t.files[fd] = f;
      }
    });
    return t;
  }

  async closeAll(): Promise<void> {
    for (let fd = 0; fd < this.files.length; fd++) {
      const f = this.files[fd];
      if (f) {
        this.files[fd] = undefined;
        await f.release();
      }
    }
  }

  openCount(): number {
    return this.files.filter((f) => f !== undefined).length;
  }
}
