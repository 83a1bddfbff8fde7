/**
 * Image fuzzing: seeded mutations of a real image, biased toward the
 * component's metadata regions, plus structure-aware corruptions (maximum
 * counts and sizes, hostile names). Each case boots a kernel, mounts
 * read-only, walks the tree and reads every file, then — for components
 * that write — mounts read-write and creates, writes, renames and removes.
 *
 * Invariants: only KernelError escapes a system call, and no driver panics
 * (the kernel logs a panic when it turns a driver's stray exception into EIO); every call ends within
 * a time bound; heap growth stays within a bound; a read-only mount never
 * writes to the device. A violating case is shrunk (mutations dropped while
 * it still fails) and can be saved as a reproducer.
 */

import { getHeapStatistics } from 'node:v8';
import { Kernel } from '../kern/kernel.js';
import { isKernelError } from '../kern/error.js';
import { MemoryDevice, type BlockDevice } from '../dev/blockdev.js';
import { MemoryHypercalls } from '../rumpuser/memory.js';
import { O_CREAT, O_RDONLY, O_WRONLY } from '../vfs/fcntl.js';
import type { Proc } from '../vfs/proc.js';
import type { FileSystemType } from '../vfs/types.js';
import { Prng } from './prng.js';

export interface Mutation {
  offset: number;
  bytes: number[];
}

export interface FuzzTarget {
  component: FileSystemType;
  /** A populated image made by the real tools. */
  image: Uint8Array;
  /** Byte ranges holding metadata (superblocks, descriptors, inode tables, directories, FAT, path tables). */
  regions?: [number, number][];
  /** Whether to run the read-write phase. */
  writable: boolean;
}

export interface Violation {
  kind: 'non-kernel-error' | 'timeout' | 'memory' | 'ro-write';
  message: string;
}

export interface CaseResult {
  mutations: Mutation[];
  violation: Violation | null;
}

const HOSTILE_NAMES = ['/', '\0', '..', '.', '__proto__', 'constructor', 'a/b'].map((n) => [...new TextEncoder().encode(n)]);

/** Mutations for case `n` of a campaign seeded with `seed`. */
export function makeMutations(target: FuzzTarget, seed: number, n: number): Mutation[] {
  const rng = new Prng((seed * 1_000_003 + n) >>> 0);
  const count = 1 + rng.int(8);
  const size = target.image.length;
  const regions = target.regions?.filter(([s, l]) => l > 0 && s + l <= size) ?? [];
  const out: Mutation[] = [];
  for (let i = 0; i < count; i++) {
    let at: number;
    if (regions.length > 0 && rng.next() < 0.85) {
      const [s, l] = rng.pick(regions);
      at = s + rng.int(l);
    } else at = rng.int(Math.min(size, 4 * 1024 * 1024));
    const kind = rng.int(8);
    let bytes: number[];
    switch (kind) {
      case 0: bytes = [rng.int(256)]; break;
      case 1: bytes = [target.image[at]! ^ (1 << rng.int(8))]; break;
      case 2: bytes = [0xff, 0xff, 0xff, 0xff]; break;
      case 3: bytes = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]; break;
      case 4: bytes = [0, 0, 0, 0]; break;
      case 5: {
        // A pointer to itself: the little-endian block/sector number of where it is written, at 1K..4K granularity.
        const unit = [512, 1024, 2048, 4096][rng.int(4)]!;
        const v = Math.floor(at / unit);
        bytes = [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
        break;
      }
      case 6: bytes = rng.pick(HOSTILE_NAMES).slice(); break;
      default: bytes = [rng.int(256), rng.int(256)]; break;
    }
    if (at + bytes.length > size) continue;
    out.push({ offset: at, bytes });
  }
  return out;
}

export function applyMutations(image: Uint8Array, muts: readonly Mutation[]): Uint8Array {
  const img = image.slice();
  for (const m of muts) img.set(m.bytes, m.offset);
  return img;
}

/**
 * The fuzzed device: a working copy of the pristine image that remembers
 * every byte range changed (by a mutation or a write), so a case ends by
 * copying back only those ranges; and it counts writes, for the read-only
 * invariant.
 */
class FuzzDevice extends MemoryDevice {
  writes = 0;
  private readonly dirty: number[] = [];
  private overflow = false;

  constructor(private readonly pristine: Uint8Array) {
    super(pristine.slice(), { readonly: false, name: '/dev/fuzz0' });
  }

  override async write(buf: Uint8Array, offset: number): Promise<void> {
    this.writes++;
    await super.write(buf, offset);
    this.touched(offset, buf.length);
  }

  apply(muts: readonly Mutation[]): void {
    for (const m of muts) {
      this.bytes.set(m.bytes, m.offset);
      this.touched(m.offset, m.bytes.length);
    }
  }

  private touched(offset: number, len: number): void {
    // Past a few thousand ranges one whole copy is cheaper than the list.
    if (this.dirty.length >= 8192) this.overflow = true;
    else this.dirty.push(offset, len);
  }

  /** Back to the pristine image. */
  reset(): void {
    if (this.overflow) this.bytes.set(this.pristine);
    else for (let i = 0; i < this.dirty.length; i += 2) {
      const o = this.dirty[i]!;
      this.bytes.set(this.pristine.subarray(o, o + this.dirty[i + 1]!), o);
    }
    this.dirty.length = 0;
    this.overflow = false;
    this.writes = 0;
  }
}

class Timeout extends Error {}

class NonKernel extends Error {}

export interface RunOptions {
  /** Per-call time bound (ms). */
  callTimeoutMs?: number;
  /** Heap growth bound (bytes). */
  heapBound?: number;
}

type Call = <T>(what: string, p: Promise<T>) => Promise<T | undefined>;

const NODE = '/dev/fuzz0';

/**
 * Runs cases on one booted kernel: each case is a fresh mount (read-only,
 * then read-write) of the device holding the mutated image, and ends with
 * the mount gone, the process exited and the device's changed bytes copied
 * back. The kernel keeps nothing of a mount after unmount (vnodes, buffer
 * cache and driver state all belong to the mount), so a case sees what a
 * freshly booted kernel would; a case that leaves the kernel in doubt (a
 * violation, a failed unmount) gets a new kernel and device for the next.
 *
 * The time bound is one interval timer for the whole run, checking how long
 * the current system call has been running, instead of a timer per call.
 */
export class Fuzzer {
  private k: Kernel | null = null;
  private dev: FuzzDevice | null = null;
  private stale = true;
  private readonly ms: number;
  private readonly heapBound: number;
  private heap0 = 0;
  private current = '';
  private t0 = 0;
  private abort: ((e: Error) => void) | null = null;
  private timer: ReturnType<typeof setInterval> | null = null;
  private readonly call: Call;
  private roWrite: string | undefined;
  /** A call of the current kernel never finished: halting it would wait for that call's lock forever. */
  private hung = false;
  /** Buffers every case reuses: the read-all walk's, and the write phase's file contents. */
  private readonly readBuf = new Uint8Array(READ_CHUNK);
  private readonly writeData = new Uint8Array(70000).fill(0x5a);

  constructor(private readonly target: FuzzTarget, opts: RunOptions = {}) {
    this.ms = opts.callTimeoutMs ?? 5000;
    this.heapBound = opts.heapBound ?? 512 * 1024 * 1024;
    this.call = async <T>(what: string, p: Promise<T>): Promise<T | undefined> => {
      this.current = what;
      this.t0 = performance.now();
      try {
        return await p;
      } catch (e) {
        if (isKernelError(e)) {
          // A read-only mount's driver writes through a view that refuses: the refusal is how the attempt shows.
          if (e.code === 'EROFS' && (e.detail ?? '').includes('device is read-only')) this.roWrite ??= what;
          return undefined;
        }
        throw new NonKernel(`${what}: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
      }
    };
  }

  private async boot(): Promise<void> {
    await this.drop();
    this.dev = new FuzzDevice(this.target.image);
    this.k = await Kernel.boot({ components: [this.target.component], host: new MemoryHypercalls() });
    await this.k.etfs.register(NODE, this.dev as BlockDevice);
    this.stale = false;
  }

  /** Runs the image with `muts` applied; returns the first violation, or null. */
  async run(muts: readonly Mutation[]): Promise<Violation | null> {
    if (this.stale) await this.boot();
    if (!this.timer) {
      this.heap0 = getHeapStatistics().used_heap_size;
      this.timer = setInterval(() => {
        if (this.abort && performance.now() - this.t0 > this.ms) this.abort(new Timeout(`${this.current} did not finish within ${this.ms} ms`));
      }, Math.min(250, this.ms));
    }
    const dev = this.dev!;
    dev.apply(muts);
    let v: Violation | null;
    try {
      const aborted = new Promise<never>((_, reject) => {
        this.abort = reject;
      });
      this.t0 = performance.now();
      this.current = 'case';
      v = await Promise.race([this.body(), aborted]);
    } catch (e) {
      if (e instanceof Timeout) {
        v = { kind: 'timeout', message: e.message };
        this.hung = true;
      } else if (e instanceof NonKernel) v = { kind: 'non-kernel-error', message: e.message };
      else v = { kind: 'non-kernel-error', message: String(e) };
    } finally {
      this.abort = null;
    }
    // v8's heap statistics, not process.memoryUsage(): the latter costs most of a millisecond a call.
    if (!v && getHeapStatistics().used_heap_size - this.heap0 > this.heapBound) v = { kind: 'memory', message: 'heap grew beyond the bound' };
    // After a violation the kernel may hold a half-finished call, or still be running one: start afresh.
    if (v || this.stale) this.stale = true;
    else dev.reset();
    return v;
  }

  /** The device's bytes as the next case starts from (for tests: the pristine image after every clean case). */
  deviceBytes(): Uint8Array | null {
    return this.dev ? this.dev.bytes : null;
  }

  /** Stops the watchdog and the kernel. */
  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.drop();
    this.stale = true;
  }

  /** Halts the current kernel, without waiting when one of its calls hangs. */
  private async drop(): Promise<void> {
    const k = this.k;
    this.k = null;
    if (!k) return;
    if (this.hung) void k.halt().catch(() => undefined);
    else await k.halt().catch(() => undefined);
    this.hung = false;
  }

  private async body(): Promise<Violation | null> {
    const ro = await this.phase(true);
    if (ro || !this.target.writable) return ro;
    return this.phase(false);
  }

  private async phase(readonly: boolean): Promise<Violation | null> {
    const k = this.k!;
    const dev = this.dev!;
    const call = this.call;
    k.consoleLines.length = 0;
    const writes0 = dev.writes;
    this.roWrite = undefined;
    const p = k.newProc();
    const mounted = await call('mount', p.mount(this.target.component.name, '/mnt', { source: NODE, readonly }).then(() => true));
    if (mounted) {
      await call('statvfs', p.statvfs('/mnt'));
      await walk(p, call, this.readBuf);
      if (!readonly) await mutate(p, call, this.writeData);
    }
    await call('exit', p.exit());
    const mp = k.mounts[1];
    if (mp) await call('unmount', k.unmountMount(mp, true));
    // A mount the unmount could not remove: the next case needs a new kernel.
    if (k.mounts.length !== 1) this.stale = true;
    // The kernel turns an exception escaping a driver into EIO and logs a panic: for the fuzzer that is the bug.
    const panic = k.consoleLines.find((l) => l.startsWith('panic:'));
    if (panic) return { kind: 'non-kernel-error', message: panic };
    if (readonly && dev.writes > writes0) return { kind: 'ro-write', message: `read-only mount wrote ${dev.writes - writes0} times` };
    if (readonly && this.roWrite !== undefined) return { kind: 'ro-write', message: `read-only mount tried to write (in ${this.roWrite})` };
    return null;
  }
}

/** Runs one image through the read walk (and the write phase) on a freshly booted kernel; returns the first violation, or null. */
export async function runImage(target: FuzzTarget, img: Uint8Array, opts: RunOptions = {}): Promise<Violation | null> {
  const f = new Fuzzer({ ...target, image: img }, opts);
  try {
    return await f.run([]);
  } finally {
    await f.close();
  }
}

/** Bounds of the read-all walk: it visits every entry of an intact image and stays cheap on a hostile one. */
const WALK_ENTRIES = 2000;
const WALK_DEPTH = 16;
const READ_CHUNK = 64 * 1024;
const READ_PER_FILE = 4;
const READ_PER_CASE = 4 * 1024 * 1024;

async function walk(p: Proc, call: Call, buf: Uint8Array): Promise<void> {
  const stack: [string, number][] = [['/mnt', 0]];
  let seen = 0;
  let budget = READ_PER_CASE;
  while (stack.length > 0 && seen < WALK_ENTRIES) {
    const [dir, depth] = stack.pop()!;
    const ents = await call(`readdir ${dir}`, p.readdir(dir));
    if (!ents) continue;
    for (const e of ents) {
      if (++seen > WALK_ENTRIES) break;
      const path = `${dir}/${e.name}`;
      const st = await call(`lstat ${path}`, p.lstat(path));
      if (!st) continue;
      const type = st.mode & 0o170000;
      if (type === 0o040000) {
        if (depth < WALK_DEPTH) stack.push([path, depth + 1]);
      } else if (type === 0o120000) await call(`readlink ${path}`, p.readlink(path));
      else if (type === 0o100000 && budget > 0) {
        const fd = await call(`open ${path}`, p.open(path, O_RDONLY));
        if (fd === undefined) continue;
        let off = 0;
        for (let i = 0; i < READ_PER_FILE && budget > 0; i++) {
          const n = await call(`read ${path}`, p.pread(fd, buf, off));
          if (!n) break;
          off += n;
          budget -= n;
        }
        // The end of a file claiming more than was read: hostile sizes reach the far end of the block maps.
        if (st.size > off + READ_CHUNK) await call(`read ${path} at ${st.size - 1}`, p.pread(fd, buf.subarray(0, 4096), Math.max(0, st.size - 4096)));
        await call(`close ${path}`, p.close(fd));
      }
    }
  }
}

async function mutate(p: Proc, call: Call, data: Uint8Array): Promise<void> {
  await call('mkdir', p.mkdir('/mnt/fuzz-dir'));
  const fd = await call('create', p.open('/mnt/fuzz-dir/f', O_CREAT | O_WRONLY, 0o644));
  if (fd !== undefined) {
    await call('write', p.write(fd, data));
    await call('close', p.close(fd));
  }
  await call('rename', p.rename('/mnt/fuzz-dir/f', '/mnt/fuzz-g'));
  const ents = (await call('readdir', p.readdir('/mnt'))) ?? [];
  for (const e of ents.slice(0, 3)) {
    if (e.type === 'dir') await call('rmdir', p.rmdir(`/mnt/${e.name}`));
    else await call('unlink', p.unlink(`/mnt/${e.name}`));
  }
  await call('sync', p.sync());
}

/** Drops mutations one at a time while the case still violates an invariant of the same kind. */
export async function shrink(target: FuzzTarget, muts: Mutation[], kind: Violation['kind'], opts: RunOptions = {}): Promise<Mutation[]> {
  let cur = muts;
  for (let i = 0; i < cur.length; ) {
    const trial = cur.filter((_, j) => j !== i);
    const v = await runImage(target, applyMutations(target.image, trial), opts);
    if (v && v.kind === kind) cur = trial;
    else i++;
  }
  return cur;
}

export interface CampaignResult {
  cases: number;
  violations: { caseNo: number; mutations: Mutation[]; violation: Violation }[];
}

/**
 * Runs cases `start` .. `start + cases - 1` of the campaign seeded with
 * `seed` on one reused kernel (see Fuzzer); a violating case is run again on
 * a freshly booted kernel and shrunk there, so what is reported and saved
 * does not depend on the cases before it. `onCase` reports progress.
 */
export async function fuzzCampaign(
  target: FuzzTarget,
  seed: number,
  cases: number,
  opts: RunOptions & { start?: number; onCase?: (n: number, v: Violation | null) => void } = {},
): Promise<CampaignResult> {
  const out: CampaignResult = { cases: 0, violations: [] };
  const start = opts.start ?? 0;
  const f = new Fuzzer(target, opts);
  try {
    for (let n = start; n < start + cases; n++) {
      const muts = makeMutations(target, seed, n);
      let v = await f.run(muts);
      out.cases++;
      if (v) {
        const fresh = await runImage(target, applyMutations(target.image, muts), opts);
        // A violation a fresh kernel does not repeat would mean cases leak into each other: report it as found.
        if (!fresh) v = { ...v, message: `${v.message} (on the reused kernel only; not repeated on a fresh one)` };
        const small = fresh ? await shrink(target, muts, fresh.kind, opts) : muts;
        out.violations.push({ caseNo: n, mutations: small, violation: fresh ?? v });
      }
      opts.onCase?.(n, v);
    }
  } finally {
    await f.close();
  }
  return out;
}

/** The summary line `rump fuzz` prints. */
export function fuzzSummary(r: CampaignResult): string {
  return `${r.cases} cases, ${r.violations.length} violations`;
}
