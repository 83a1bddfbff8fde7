/**
 * The buffer cache (NetBSD's vfs_bio.c): fixed-size blocks of one device,
 * keyed by byte offset, kept in LRU order under a byte cap. A file system
 * reads metadata with bread(), changes `buf.data` in place, and gives the
 * buffer back with brelse() (unchanged), bdwrite() (delayed write: dirty,
 * written at sync or eviction) or bwrite() (written now). File data may
 * bypass the cache and go to the device directly in large transfers.
 *
 * References: a Buf returned by bread()/getblk() is held until the caller
 * releases it; held buffers are never evicted. Concurrent bread()s of the
 * same block share one device read.
 */

import { KernelError } from '../kern/error.js';
import type { BlockDevice } from '../dev/blockdev.js';

/** Bytes at most in one device write of neighbouring dirty buffers (see writeBack). */
const WRITE_RUN_MAX = 1024 * 1024;

export class Buf {
  /** Reference count: callers that have not released it yet. */
  refs = 0;
  dirty = false;
  /** Set while the first read is in flight. */
  loading: Promise<void> | undefined;
  /** Set when the read failed; the buffer is dropped. */
  error: unknown;
  /** BufCache's use counter when the buffer last moved to the tail of the LRU order. */
  used = 0;
  /**
   * Run once, just before the buffer's next write to the device (then cleared): lets a file system put off
   * work that only the on-disk copy needs, such as a checksum over a block changed many times between writes.
   */
  prewrite: ((data: Uint8Array) => void) | undefined;

  constructor(
    readonly offset: number,
    public data: Uint8Array,
  ) {}

  get size(): number {
    return this.data.length;
  }
}

export interface BufStats {
  hits: number;
  misses: number;
  reads: number;
  writes: number;
  evictions: number;
  bytes: number;
}

export class BufCache {
  /** LRU order: the first entry is the least recently used. */
  private readonly bufs = new Map<number, Buf>();
  private bytes = 0;
  readonly stats: BufStats = { hits: 0, misses: 0, reads: 0, writes: 0, evictions: 0, bytes: 0 };

  constructor(
    readonly dev: BlockDevice,
    /** Byte cap for unreferenced buffers (default 16 MiB). */
    readonly capacity = 16 * 1024 * 1024,
  ) {}

  /** Reads the block of `size` bytes at byte `offset`, from the cache when present. */
  async bread(offset: number, size: number): Promise<Buf> {
    let bp = this.bufs.get(offset);
    if (bp && bp.size === size) {
      this.stats.hits++;
      bp.refs++;
      this.touch(bp);
      if (bp.loading) {
        try {
          await bp.loading;
        } catch (e) {
          bp.refs--;
          throw e;
        }
      }
      return bp;
    }
    if (bp) await this.resize(bp);
    this.stats.misses++;
    bp = this.insert(offset, new Uint8Array(size));
    bp.refs++;
    const b = bp;
    b.loading = (async () => {
      this.stats.reads++;
      await this.dev.read(b.data, offset);
    })();
    try {
      await b.loading;
    } catch (e) {
      b.error = e;
      b.refs--;
      this.remove(b);
      throw e;
    } finally {
      b.loading = undefined;
    }
    await this.maybeEvict();
    return b;
  }

  /**
   * bread() of a block that is cached and loaded, without waiting: the held buffer, or undefined (then
   * bread() it). Lets a lookup that finds everything in memory finish without a suspension.
   */
  peek(offset: number, size: number): Buf | undefined {
    const bp = this.bufs.get(offset);
    if (bp === undefined || bp.size !== size || bp.loading) return undefined;
    this.stats.hits++;
    bp.refs++;
    this.touch(bp);
    return bp;
  }

  /** The block at `offset` without reading it (zero-filled when not cached): for blocks about to be overwritten whole. */
  async getblk(offset: number, size: number): Promise<Buf> {
    let bp = this.bufs.get(offset);
    if (bp && bp.size === size) {
      if (bp.loading) await bp.loading.catch(() => undefined);
      if (this.bufs.get(offset) === bp) {
        bp.refs++;
        this.touch(bp);
        return bp;
      }
    }
    if (bp) await this.resize(bp);
    bp = this.insert(offset, new Uint8Array(size));
    bp.refs++;
    await this.maybeEvict();
    return bp;
  }

  brelse(bp: Buf): void {
    if (bp.refs <= 0) throw new KernelError('EINVAL', `bio: release of unreferenced buffer at ${bp.offset}`);
    bp.refs--;
  }

  /** Delayed write: marks the buffer dirty and releases it. */
  bdwrite(bp: Buf): void {
    bp.dirty = true;
    this.brelse(bp);
  }

  /** Writes the buffer now and releases it. */
  async bwrite(bp: Buf): Promise<void> {
    try {
      await this.writeOut(bp);
    } finally {
      this.brelse(bp);
    }
  }

  /** Whether the block is cached (for tests and read-ahead decisions). */
  has(offset: number): boolean {
    return this.bufs.has(offset);
  }

  /** Drops cached copies of blocks overlapping [offset, offset+len) — after writing around the cache. Dirty ones are written first. */
  async invalidateRange(offset: number, len: number): Promise<void> {
    for (const bp of [...this.bufs.values()]) {
      if (bp.offset < offset + len && bp.offset + bp.size > offset) {
        if (bp.dirty) await this.writeOut(bp);
        if (bp.refs === 0) this.remove(bp);
      }
    }
  }

  /** Writes every dirty buffer in offset order, then flushes the device. */
  async flush(): Promise<void> {
    await this.writeBack([...this.bufs.values()].filter((b) => b.dirty).sort((a, b) => a.offset - b.offset));
    if (!this.dev.readonly) await this.dev.flush();
  }

  /**
   * Writes dirty buffers given in offset order, each run of neighbours (up to WRITE_RUN_MAX bytes) in one
   * device write: a directory tree written back is many small blocks side by side, and one write per block
   * would wait on the host that many times. Buffers cleaned or dropped meanwhile are skipped.
   */
  private async writeBack(list: readonly Buf[]): Promise<void> {
    for (let i = 0; i < list.length; ) {
      const run: Buf[] = [];
      let end = -1;
      let bytes = 0;
      for (; i < list.length; i++) {
        const bp = list[i]!;
        if (!bp.dirty || this.bufs.get(bp.offset) !== bp) continue;
        if (run.length > 0 && (bp.offset !== end || bytes + bp.size > WRITE_RUN_MAX)) break;
        run.push(bp);
        end = bp.offset + bp.size;
        bytes += bp.size;
      }
      if (run.length === 1) await this.writeOut(run[0]!);
      else if (run.length > 1) await this.writeRun(run, bytes);
    }
  }

  /** Writes neighbouring dirty buffers as one device write (their data copied as it is now). */
  private async writeRun(run: readonly Buf[], bytes: number): Promise<void> {
    const data = new Uint8Array(bytes);
    let o = 0;
    for (const bp of run) {
      this.prepare(bp);
      data.set(bp.data, o);
      o += bp.size;
    }
    this.stats.writes++;
    try {
      await this.dev.write(data, run[0]!.offset);
    } catch (e) {
      for (const bp of run) bp.dirty = true;
      throw e;
    }
  }

  /** Drops every unreferenced buffer (after flush()). Dirty buffers are kept. */
  purge(): void {
    for (const bp of [...this.bufs.values()]) if (bp.refs === 0 && !bp.dirty) this.remove(bp);
  }

  get dirtyCount(): number {
    let n = 0;
    for (const bp of this.bufs.values()) if (bp.dirty) n++;
    return n;
  }

  /** A buffer about to be written: its pre-write hook run (checksums), marked clean (a change meanwhile dirties it again). */
  private prepare(bp: Buf): void {
    const pre = bp.prewrite;
    if (pre) {
      bp.prewrite = undefined;
      pre(bp.data);
    }
    bp.dirty = false;
  }

  private async writeOut(bp: Buf): Promise<void> {
    this.prepare(bp);
    this.stats.writes++;
    try {
      await this.dev.write(bp.data, bp.offset);
    } catch (e) {
      bp.dirty = true;
      throw e;
    }
  }

  /** Use counter: moving a buffer to the tail of the LRU order costs two map operations, so one used recently is left in place. */
  private clock = 0;

  private touch(bp: Buf): void {
    const now = ++this.clock;
    if (now - bp.used < this.bufs.size >> 2) return;
    bp.used = now;
    this.bufs.delete(bp.offset);
    this.bufs.set(bp.offset, bp);
  }

  private insert(offset: number, data: Uint8Array): Buf {
    const bp = new Buf(offset, data);
    bp.used = ++this.clock;
    this.bufs.set(offset, bp);
    this.bytes += data.length;
    this.stats.bytes = this.bytes;
    return bp;
  }

  private remove(bp: Buf): void {
    if (this.bufs.get(bp.offset) === bp) {
      this.bufs.delete(bp.offset);
      this.bytes -= bp.size;
      this.stats.bytes = this.bytes;
    }
  }

  /** A cached block is wanted at another size: write it if dirty and drop it. */
  private async resize(bp: Buf): Promise<void> {
    if (bp.loading) await bp.loading.catch(() => undefined);
    if (bp.refs > 0) {
      throw new KernelError('EIO', `bio: block at ${bp.offset} is held at size ${bp.size}, wanted at another size`);
    }
    if (bp.dirty) await this.writeOut(bp);
    this.remove(bp);
  }

  private async maybeEvict(): Promise<void> {
    if (this.bytes <= this.capacity) return;
    for (const bp of this.bufs.values()) {
      if (this.bytes <= this.capacity) return;
      if (bp.refs > 0 || bp.loading || bp.dirty) continue;
      this.remove(bp);
      this.stats.evictions++;
    }
    // What is left over the cap is dirty: write it all back in offset order (neighbours reach the device
    // together), then evict the least recently used down to three quarters of the cap, so that the next
    // inserts find clean buffers at the head of the list instead of walking past dirty ones each time.
    await this.writeBack([...this.bufs.values()].filter((b) => b.dirty && b.refs === 0 && !b.loading).sort((a, b) => a.offset - b.offset));
    const low = (this.capacity * 3) / 4;
    for (const bp of this.bufs.values()) {
      if (this.bytes <= low) break;
      if (bp.refs > 0 || bp.loading || bp.dirty) continue;
      this.remove(bp);
      this.stats.evictions++;
    }
  }
}
