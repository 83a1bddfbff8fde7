/**
 * Node.js hypercalls: host files through file descriptors and positional I/O.
 * The only module of the kernel that imports `node:*`.
 */

import { open as fsOpen, type FileHandle } from 'node:fs/promises';
import { constants as fsc, readSync } from 'node:fs';
import { randomFillSync } from 'node:crypto';
import { asKernelError, KernelError } from '../kern/error.js';
import { RUMPUSER_VERSION, type HostFile, type Hypercalls, type Timespec } from './types.js';

function hostError(e: unknown, path: string): KernelError {
  const k = asKernelError(e) ?? new KernelError('EIO', String(e));
  return k.withContext('rumpuser_open', path);
}

/** Reads up to this size are synchronous (see read()). */
const SYNC_READ_MAX = 256 * 1024;

class NodeHostFile implements HostFile {
  constructor(
    readonly path: string,
    readonly readonly: boolean,
    private readonly fh: FileHandle,
    private readonly isBlockDevice: boolean,
  ) {}

  async size(): Promise<number> {
    const st = await this.fh.stat();
    if (this.isBlockDevice) {
      // A block device's st_size is 0; its capacity is where a seek to the end lands.
      const { fd } = this.fh;
      const { seekEnd } = await import('./node-blk.js');
      return seekEnd(fd);
    }
    return st.size;
  }

  /**
   * Small reads (metadata, small files) are served from the host's page cache in microseconds: a
   * synchronous pread costs less than the hop to libuv's thread pool and back.
   */
  readNow(buf: Uint8Array, offset: number): number | undefined {
    if (buf.length > SYNC_READ_MAX) return undefined;
    let done = 0;
    while (done < buf.length) {
      const n = readSync(this.fh.fd, buf, done, buf.length - done, offset + done);
      if (n === 0) break;
      done += n;
    }
    return done;
  }

  async read(buf: Uint8Array, offset: number): Promise<number> {
    const now = this.readNow(buf, offset);
    if (now !== undefined) return now;
    let done = 0;
    while (done < buf.length) {
      const { bytesRead } = await this.fh.read(buf, done, buf.length - done, offset + done);
      if (bytesRead === 0) break;
      done += bytesRead;
    }
    return done;
  }

  async write(buf: Uint8Array, offset: number): Promise<void> {
    if (this.readonly) throw new KernelError('EROFS', `rumpuser: ${this.path} is open read-only`);
    let done = 0;
    while (done < buf.length) {
      const { bytesWritten } = await this.fh.write(buf, done, buf.length - done, offset + done);
      done += bytesWritten;
    }
  }

  async flush(): Promise<void> {
    if (!this.readonly) await this.fh.datasync();
  }

  async close(): Promise<void> {
    await this.fh.close();
  }
}

export class NodeHypercalls implements Hypercalls {
  readonly version = RUMPUSER_VERSION;
  private readonly consoleSink: (line: string) => void;

  /** `console` receives kernel console lines; by default they go to stderr only when RUMP_CONSOLE is set. */
  constructor(opts: { console?: (line: string) => void } = {}) {
    this.consoleSink =
      opts.console ?? ((line) => (process.env['RUMP_CONSOLE'] ? process.stderr.write(`[kernel] ${line}\n`) : undefined));
  }

  async open(path: string, opts: { readonly: boolean; create?: boolean }): Promise<HostFile> {
    let flags = opts.readonly ? fsc.O_RDONLY : fsc.O_RDWR;
    if (!opts.readonly && opts.create) flags |= fsc.O_CREAT;
    try {
      const fh = await fsOpen(path, flags, 0o644);
      const st = await fh.stat();
      if (!st.isFile() && !st.isBlockDevice()) {
        await fh.close();
        throw new KernelError('EFTYPE', `rumpuser: ${path} is neither a regular file nor a block device`);
      }
      return new NodeHostFile(path, opts.readonly, fh, st.isBlockDevice());
    } catch (e) {
      throw hostError(e, path);
    }
  }

  clockRealtime(): Timespec {
    const ns = process.hrtime.bigint() - hrBase + realBaseNs;
    return { sec: Number(ns / 1_000_000_000n), nsec: Number(ns % 1_000_000_000n) };
  }

  clockMonotonic(): bigint {
    return process.hrtime.bigint();
  }

  random(buf: Uint8Array): void {
    randomFillSync(buf);
  }

  console(line: string): void {
    this.consoleSink(line);
  }
}

// Realtime with nanosecond resolution: wall clock at start plus the monotonic clock since.
const hrBase = process.hrtime.bigint();
const realBaseNs = BigInt(Date.now()) * 1_000_000n;
