/**
 * A fault-injecting block device wrapping any other (NetBSD's RUMP_BLKFAIL):
 * fail every n-th I/O, or a seeded random fraction, with EIO; optionally tear
 * writes (only a prefix of the sectors reaches the device before the error), and
 * fail cache flushes when asked.
 * Every failure is reproducible from the seed.
 */

import { KernelError } from '../kern/error.js';
import { DeviceWrapper, type BlockDevice } from './blockdev.js';

export interface FaultOptions {
  /** Fail every n-th I/O (1-based count of reads+writes), if set. */
  every?: number;
  /** Fail this fraction of I/Os, drawn from `seed`. */
  fraction?: number;
  seed?: number;
  /**
   * Which I/Os may fail: reads, writes, both (the default), flushes (the device's cache flush, as a failed
   * fsync to the host would), or all three. Flushes are counted only when they may fail.
   */
  ops?: 'read' | 'write' | 'both' | 'flush' | 'all';
  /** A failing write first writes a seeded prefix of its sectors. */
  tear?: boolean;
  /** Start failing only after this many I/Os (to let a mount succeed). */
  after?: number;
}

/** The I/Os each `ops` choice lets fail. */
const FAILING: Record<NonNullable<FaultOptions['ops']>, readonly ('read' | 'write' | 'flush')[]> = {
  read: ['read'],
  write: ['write'],
  both: ['read', 'write'],
  flush: ['flush'],
  all: ['read', 'write', 'flush'],
};

export class FaultDevice extends DeviceWrapper {
  private count = 0;
  private state: number;
  /** I/Os failed so far, for reports. */
  failures = 0;
  enabled = true;

  constructor(
    dev: BlockDevice,
    private readonly opts: FaultOptions,
  ) {
    super(dev);
    this.state = (opts.seed ?? 1) >>> 0 || 1;
  }

  private rand(): number {
    // xorshift32
    let x = this.state;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.state = x >>> 0;
    return this.state / 0x100000000;
  }

  private shouldFail(op: 'read' | 'write' | 'flush'): boolean {
    if (!this.enabled) return false;
    if (!FAILING[this.opts.ops ?? 'both'].includes(op)) return false;
    this.count++;
    if (this.count <= (this.opts.after ?? 0)) return false;
    let fail = false;
    if (this.opts.every && this.count % this.opts.every === 0) fail = true;
    if (this.opts.fraction !== undefined && this.rand() < this.opts.fraction) fail = true;
    if (fail) this.failures++;
    return fail;
  }

  override async read(buf: Uint8Array, offset: number): Promise<void> {
    if (this.shouldFail('read')) throw new KernelError('EIO', `${this.name}: injected read fault at ${offset}`);
    return this.dev.read(buf, offset);
  }

  override async write(buf: Uint8Array, offset: number): Promise<void> {
    if (this.shouldFail('write')) {
      if (this.opts.tear) {
        const sectors = Math.floor(buf.length / this.sectorSize);
        const keep = Math.floor(this.rand() * sectors);
        if (keep > 0) await this.dev.write(buf.subarray(0, keep * this.sectorSize), offset);
      }
      throw new KernelError('EIO', `${this.name}: injected write fault at ${offset}`);
    }
    return this.dev.write(buf, offset);
  }

  override async flush(): Promise<void> {
    if (this.shouldFail('flush')) throw new KernelError('EIO', `${this.name}: injected flush fault`);
    return this.dev.flush();
  }
}
