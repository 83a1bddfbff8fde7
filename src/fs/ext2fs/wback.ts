/**
 * Write-behind for a read-write ext2fs mount: consecutive writes (the data of
 * files allocated one after another, metadata written back in offset order at
 * sync) are gathered into a few pending runs and reach the device as large
 * transfers, instead of one host write per block or per small file.
 *
 * A run also grows over a short gap (a directory or extent block allocated
 * between two files' data) by taking the gap's current bytes from the device:
 * every write of this mount goes through here, so the gap's bytes are either
 * on the device already or written later over the run. Reads see pending
 * bytes (served from a run, or the run is written first when a read covers
 * only part of it); flush() writes every run before flushing the device, so
 * fsync and unmount keep their meaning. A failed device write keeps its run
 * pending and the error is the caller's, as with any delayed write.
 */

import { DeviceWrapper, type BlockDevice } from '../../dev/blockdev.js';

/** Largest run held back; larger writes go straight to the device. */
const MAX_RUN = 4 * 1024 * 1024;
/** Runs held at once (a directory's files and its subdirectories' files land in different groups). */
const MAX_RUNS = 32;
/** Bytes held at once, over all runs. */
const MAX_PENDING = 32 * 1024 * 1024;
/** Largest gap a run grows over. */
const MAX_GAP = 64 * 1024;

interface Run {
  start: number;
  len: number;
  data: Uint8Array;
  /** A device read (gap) or write (drain) of this run in progress: others wait for it. */
  busy: Promise<unknown> | null;
  /** Use counter at the last write into the run: the least recently used run is written first. */
  used: number;
}

export class WriteBehind extends DeviceWrapper {
  private readonly runs: Run[] = [];
  private readonly spare: Uint8Array[] = [];
  private clock = 0;
  /** Counters for benchmarks and tests: device writes issued, writes absorbed into a run, gap bytes read. */
  readonly stats = { deviceWrites: 0, gathered: 0, gapBytes: 0 };

  constructor(dev: BlockDevice) {
    super(dev);
  }

  /** Bytes held back, not yet on the device. */
  get pending(): number {
    let n = 0;
    for (const r of this.runs) n += r.len;
    return n;
  }

  private overlapping(from: number, to: number, except?: Run): Run | undefined {
    for (const r of this.runs) if (r !== except && r.start < to && from < r.start + r.len) return r;
    return undefined;
  }

  override async read(buf: Uint8Array, offset: number): Promise<void> {
    const end = offset + buf.length;
    for (;;) {
      const r = this.overlapping(offset, end);
      if (!r) return this.dev.read(buf, offset);
      if (offset >= r.start && end <= r.start + r.len) {
        // A run's bytes stay valid while it is being written, so a read needs no wait.
        buf.set(r.data.subarray(offset - r.start, end - r.start));
        return;
      }
      // Partly pending: put the run on the device, then read there.
      await this.drainRun(r);
    }
  }

  override async write(buf: Uint8Array, offset: number): Promise<void> {
    // A write the device would refuse must fail now, not at the next flush.
    if (!Number.isSafeInteger(offset) || offset < 0 || offset + buf.length > this.dev.size || this.dev.readonly) {
      return this.dev.write(buf, offset);
    }
    const end = offset + buf.length;
    for (;;) {
      const busy = this.runs.find((r) => r.busy && r.start < end + MAX_GAP && offset < r.start + r.len + MAX_GAP);
      if (busy) {
        await busy.busy!.catch(() => undefined);
        continue;
      }
      // A run this write continues, lands inside, or follows after a short gap.
      const r = this.runs.find((x) => offset >= x.start && offset <= x.start + x.len + MAX_GAP && end - x.start <= MAX_RUN);
      if (r) {
        const rend = r.start + r.len;
        const other = this.overlapping(Math.min(offset, rend), Math.max(end, rend), r);
        if (other) {
          await this.drainRun(other);
          continue;
        }
        if (end > rend && this.runs.length > 1 && this.pending + (end - rend) > MAX_PENDING) {
          await this.drainRun(this.lru(r));
          continue;
        }
        if (offset > rend) {
          if (!(await this.fillGap(r, offset))) continue;
        }
        this.reserve(r, end - r.start);
        r.data.set(buf, offset - r.start);
        if (end - r.start > r.len) r.len = end - r.start;
        r.used = ++this.clock;
        this.stats.gathered++;
        return;
      }
      const hit = this.overlapping(offset, end);
      if (hit) {
        await this.drainRun(hit);
        continue;
      }
      if (buf.length >= MAX_RUN) {
        this.stats.deviceWrites++;
        return this.dev.write(buf, offset);
      }
      if (this.runs.length >= MAX_RUNS || this.pending + buf.length > MAX_PENDING) {
        await this.drainRun(this.lru());
        continue;
      }
      const run: Run = { start: offset, len: 0, data: this.spare.pop() ?? new Uint8Array(0), busy: null, used: ++this.clock };
      this.reserve(run, buf.length);
      run.data.set(buf, 0);
      run.len = buf.length;
      this.runs.push(run);
      return;
    }
  }

  /** The least recently written run (other than `keep`). */
  private lru(keep?: Run): Run {
    let best: Run | undefined;
    for (const x of this.runs) if (x !== keep && (!best || x.used < best.used)) best = x;
    return best!;
  }

  /** Extends run `r` with the device's bytes up to `to`; false when the state changed meanwhile (the caller looks again). */
  private async fillGap(r: Run, to: number): Promise<boolean> {
    const rend = r.start + r.len;
    this.reserve(r, to - r.start);
    const p = this.dev.read(r.data.subarray(r.len, to - r.start), rend);
    r.busy = p;
    try {
      await p;
    } finally {
      r.busy = null;
    }
    if (!this.runs.includes(r) || r.start + r.len !== rend) return false;
    r.len = to - r.start;
    this.stats.gapBytes += to - rend;
    return true;
  }

  override async flush(): Promise<void> {
    await this.drain();
    await this.dev.flush();
  }

  /** Writes every pending run to the device, in offset order. */
  async drain(): Promise<void> {
    while (this.runs.length > 0) {
      let first = this.runs[0]!;
      for (const r of this.runs) if (r.start < first.start) first = r;
      await this.drainRun(first);
    }
  }

  private async drainRun(r: Run): Promise<void> {
    while (r.busy) await r.busy.catch(() => undefined);
    if (!this.runs.includes(r)) return;
    this.stats.deviceWrites++;
    const p = this.dev.write(r.data.subarray(0, r.len), r.start);
    r.busy = p;
    try {
      await p;
    } finally {
      r.busy = null;
    }
    this.runs.splice(this.runs.indexOf(r), 1);
    if (this.spare.length < 4) this.spare.push(r.data);
  }

  private reserve(r: Run, n: number): void {
    if (n <= r.data.length) return;
    let size = Math.max(256 * 1024, r.data.length);
    while (size < n) size *= 2;
    const next = new Uint8Array(Math.min(size, MAX_RUN));
    next.set(r.data.subarray(0, r.len));
    r.data = next;
  }
}
