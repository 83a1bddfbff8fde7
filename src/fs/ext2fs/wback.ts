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
 * only part of it: a read at once, readNow, is refused then); flush() writes
 * every run before flushing the device, so fsync and unmount keep their
 * meaning. A run that has to make room for another is written in the
 * background (the file system goes on meanwhile); a failed device write keeps
 * its run pending, and the error is reported by the next call that waits for
 * the device (flush, or a read or write of that run), as with any delayed
 * write.
 */

import { DeviceWrapper, type BlockDevice } from '../../dev/blockdev.js';

/** Largest run held back; larger writes go straight to the device. */
const MAX_RUN = 4 * 1024 * 1024;
/** Runs held at once (a directory's files and its subdirectories' files land in different groups). */
const MAX_RUNS = 16;
/** Bytes held at once, over all runs. */
const MAX_PENDING = 32 * 1024 * 1024;
/** Background writes at once (each holds a run's buffer until it completes). */
const MAX_INFLIGHT = 2;
/** Buffers kept for reuse once their runs are written. */
const MAX_SPARE = 4;
/** Largest gap a run grows over. */
const MAX_GAP = 64 * 1024;

interface Run {
  start: number;
  len: number;
  data: Uint8Array;
  /** A device read (gap) or write (drain) of this run in progress: others wait for it. It never rejects. */
  busy: Promise<void> | null;
  /** Set while `busy` is the run's write. */
  writing: boolean;
  /** Use counter at the last write into the run: the least recently used run is written first. */
  used: number;
  /** The error of the run's last device write, until reported. */
  error?: unknown;
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

  /** Bytes held back, not yet on the device (or on their way). */
  get pending(): number {
    let n = 0;
    for (const r of this.runs) n += r.len;
    return n;
  }

  /** Runs not being written, and the bytes they hold: what the caps apply to. */
  private held(): { count: number; bytes: number; writing: number } {
    let count = 0, bytes = 0, writing = 0;
    for (const r of this.runs) {
      if (r.writing) writing++;
      else {
        count++;
        bytes += r.len;
      }
    }
    return { count, bytes, writing };
  }

  private overlapping(from: number, to: number, except?: Run): Run | undefined {
    for (const r of this.runs) if (r !== except && r.start < to && from < r.start + r.len) return r;
    return undefined;
  }

  override async read(buf: Uint8Array, offset: number): Promise<void> {
    for (;;) {
      const r = this.fromRuns(buf, offset);
      if (r === true) return;
      if (r === false) return this.dev.read(buf, offset);
      // Partly pending: put the run on the device, then read there.
      await this.drainRun(r);
    }
  }

  /** read() at once: from a run holding all the bytes, or from a device that reads at once when no run holds any. */
  readNow(buf: Uint8Array, offset: number): boolean {
    const r = this.fromRuns(buf, offset);
    if (r === false) return this.dev.readNow?.(buf, offset) ?? false;
    return r === true;
  }

  /** Copies the bytes from a run holding them all (true); false when no run holds any; else the run holding some. */
  private fromRuns(buf: Uint8Array, offset: number): boolean | Run {
    const end = offset + buf.length;
    const r = this.overlapping(offset, end);
    if (!r) return false;
    if (offset < r.start || end > r.start + r.len) return r;
    // A run's bytes stay valid while it is being written, so a read needs no wait.
    buf.set(r.data.subarray(offset - r.start, end - r.start));
    return true;
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
        await busy.busy;
        if (busy.writing === false && this.runs.includes(busy) && busy.error) this.rethrow(busy);
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
        if (end > rend && this.held().bytes + (end - rend) > MAX_PENDING && (await this.makeRoom(r))) continue;
        if (offset > rend) {
          if (!(await this.fillGap(r, offset))) continue;
        }
        this.reserve(r, end - r.start);
        r.data.set(buf, offset - r.start);
        if (end - r.start > r.len) r.len = end - r.start;
        r.used = ++this.clock;
        r.error = undefined;
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
      const h = this.held();
      if ((h.count >= MAX_RUNS || h.bytes + buf.length > MAX_PENDING) && (await this.makeRoom())) continue;
      const run: Run = { start: offset, len: 0, data: new Uint8Array(0), busy: null, writing: false, used: ++this.clock };
      this.reserve(run, buf.length);
      run.data.set(buf, 0);
      run.len = buf.length;
      this.runs.push(run);
      return;
    }
  }

  /**
   * Starts writing the least recently used run (other than `keep`) in the background, first waiting for one
   * of the writes already in flight when there are MAX_INFLIGHT. Returns whether anything changed (the
   * caller then looks again).
   */
  private async makeRoom(keep?: Run): Promise<boolean> {
    const { writing } = this.held();
    if (writing >= MAX_INFLIGHT) {
      const w = this.runs.find((x) => x.writing)!;
      await w.busy;
      return true;
    }
    const lru = this.lru(keep);
    if (!lru) return false;
    this.startWrite(lru);
    return true;
  }

  /** The least recently written run (other than `keep`) not being read or written. */
  private lru(keep?: Run): Run | undefined {
    let best: Run | undefined;
    for (const x of this.runs) if (x !== keep && !x.busy && (!best || x.used < best.used)) best = x;
    return best;
  }

  /** Extends run `r` with the device's bytes up to `to`; false when the state changed meanwhile (the caller looks again). */
  private async fillGap(r: Run, to: number): Promise<boolean> {
    const rend = r.start + r.len;
    this.reserve(r, to - r.start);
    let failed: unknown;
    const p = this.dev.read(r.data.subarray(r.len, to - r.start), rend).catch((e: unknown) => {
      failed = e;
    });
    r.busy = p;
    await p;
    r.busy = null;
    if (failed !== undefined) throw failed;
    if (!this.runs.includes(r) || r.start + r.len !== rend) return false;
    r.len = to - r.start;
    this.stats.gapBytes += to - rend;
    return true;
  }

  override async flush(): Promise<void> {
    await this.drain();
    await this.dev.flush();
  }

  /** Writes every pending run to the device, in offset order, and waits for them. */
  async drain(): Promise<void> {
    for (const r of [...this.runs].sort((a, b) => a.start - b.start)) if (!r.busy) this.startWrite(r);
    while (this.runs.length > 0) {
      const r = this.runs.find((x) => x.busy) ?? this.runs[0]!;
      await this.drainRun(r);
    }
  }

  /** Writes run `r` (or waits for its write in flight); throws when that write failed. */
  private async drainRun(r: Run): Promise<void> {
    for (;;) {
      if (r.busy) await r.busy;
      if (!this.runs.includes(r)) return;
      if (r.error !== undefined) this.rethrow(r);
      if (!r.busy) this.startWrite(r);
    }
  }

  /** Throws a run's write error once (the run stays pending: a later flush tries again). */
  private rethrow(r: Run): never {
    const e = r.error;
    r.error = undefined;
    throw e;
  }

  /** Starts the device write of run `r`; its bytes stay readable from the run until the write completes. */
  private startWrite(r: Run): void {
    this.stats.deviceWrites++;
    r.writing = true;
    r.error = undefined;
    r.busy = this.dev.write(r.data.subarray(0, r.len), r.start).then(
      () => {
        this.runs.splice(this.runs.indexOf(r), 1);
        this.keep(r.data);
      },
      (e: unknown) => {
        r.error = e;
      },
    ).finally(() => {
      r.busy = null;
      r.writing = false;
    });
  }

  /** Gives run `r` its buffer: every run has one of MAX_RUN bytes, reused once written (no growth copies, no zero fill). */
  private reserve(r: Run, n: number): void {
    if (n <= r.data.length) return;
    const next = this.spare.pop() ?? new Uint8Array(MAX_RUN);
    next.set(r.data.subarray(0, r.len));
    r.data = next;
  }

  private keep(buf: Uint8Array): void {
    if (buf.length === MAX_RUN && this.spare.length < MAX_SPARE) this.spare.push(buf);
  }
}
