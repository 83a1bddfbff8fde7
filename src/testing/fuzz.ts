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

const HOSTILE_NAMES = ['/', '\0', '..', '.', '__proto__', 'constructor', 'a/b'];

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
      case 6: bytes = [...new TextEncoder().encode(rng.pick(HOSTILE_NAMES))]; break;
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

class CountingDevice extends MemoryDevice {
  writes = 0;
  override async write(buf: Uint8Array, offset: number): Promise<void> {
    this.writes++;
    return super.write(buf, offset);
  }
}

class Timeout extends Error {}

async function bounded<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Timeout(`${what} did not finish within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([p, t]);
  } finally {
    clearTimeout(timer);
  }
}

export interface RunOptions {
  /** Per-call time bound (ms). */
  callTimeoutMs?: number;
  /** Heap growth bound (bytes). */
  heapBound?: number;
}

/** Runs one mutated image through the read walk (and the write phase); returns the first violation, or null. */
export async function runImage(target: FuzzTarget, img: Uint8Array, opts: RunOptions = {}): Promise<Violation | null> {
  const ms = opts.callTimeoutMs ?? 5000;
  const heapBound = opts.heapBound ?? 512 * 1024 * 1024;
  const heap0 = process.memoryUsage().heapUsed;
  const call = async <T>(what: string, p: Promise<T>): Promise<T | undefined> => {
    try {
      return await bounded(p, ms, what);
    } catch (e) {
      if (e instanceof Timeout) throw e;
      if (isKernelError(e)) return undefined;
      throw Object.assign(new Error(`${what}: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`), { nonKernel: true });
    }
  };
  const phase = async (readonly: boolean): Promise<Violation | null> => {
    const dev = new CountingDevice(img, { readonly: false, name: '/dev/img0' });
    const k = await Kernel.boot({ components: [target.component], host: new MemoryHypercalls() });
    try {
      await k.etfs.register('/dev/img0', dev as BlockDevice);
      const p = k.newProc();
      const mounted = await call('mount', p.mount(target.component.name, '/mnt', { source: '/dev/img0', readonly }).then(() => true));
      if (!mounted) {
        const panic = k.consoleLines.find((l) => l.startsWith('panic:'));
        return panic ? { kind: 'non-kernel-error', message: panic } : null;
      }
      await walk(p, call);
      if (!readonly) await mutate(p, call);
      await call('halt', k.halt());
      // The kernel turns an exception escaping a driver into EIO and logs a panic: for the fuzzer that is the bug.
      const panic = k.consoleLines.find((l) => l.startsWith('panic:'));
      if (panic) return { kind: 'non-kernel-error', message: panic };
      if (readonly && dev.writes > 0) return { kind: 'ro-write', message: `read-only mount wrote ${dev.writes} times` };
      if (process.memoryUsage().heapUsed - heap0 > heapBound) return { kind: 'memory', message: 'heap grew beyond the bound' };
      return null;
    } catch (e) {
      if (e instanceof Timeout) return { kind: 'timeout', message: e.message };
      if ((e as { nonKernel?: boolean }).nonKernel) return { kind: 'non-kernel-error', message: (e as Error).message };
      return { kind: 'non-kernel-error', message: String(e) };
    } finally {
      await k.halt().catch(() => undefined);
    }
  };
  const ro = await phase(true);
  if (ro || !target.writable) return ro;
  return phase(false);
}

type Call = <T>(what: string, p: Promise<T>) => Promise<T | undefined>;

async function walk(p: Proc, call: Call): Promise<void> {
  const stack: [string, number][] = [['/mnt', 0]];
  let seen = 0;
  const buf = new Uint8Array(256 * 1024);
  while (stack.length > 0 && seen < 5000) {
    const [dir, depth] = stack.pop()!;
    const ents = await call(`readdir ${dir}`, p.readdir(dir));
    if (!ents) continue;
    for (const e of ents.slice(0, 2000)) {
      seen++;
      const path = `${dir}/${e.name}`;
      const st = await call(`lstat ${path}`, p.lstat(path));
      if (!st) continue;
      const type = st.mode & 0o170000;
      if (type === 0o040000 && depth < 32) stack.push([path, depth + 1]);
      else if (type === 0o120000) await call(`readlink ${path}`, p.readlink(path));
      else if (type === 0o100000) {
        const fd = await call(`open ${path}`, p.open(path, O_RDONLY));
        if (fd === undefined) continue;
        for (let off = 0, i = 0; i < 16; i++) {
          const n = await call(`read ${path}`, p.pread(fd, buf, off));
          if (!n) break;
          off += n;
        }
        await call(`close ${path}`, p.close(fd));
      }
    }
  }
}

async function mutate(p: Proc, call: Call): Promise<void> {
  const data = new Uint8Array(70000).fill(0x5a);
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

/** Runs `cases` cases from `seed`; violating cases are shrunk. `onCase` reports progress. */
export async function fuzzCampaign(
  target: FuzzTarget,
  seed: number,
  cases: number,
  opts: RunOptions & { onCase?: (n: number, v: Violation | null) => void } = {},
): Promise<CampaignResult> {
  const out: CampaignResult = { cases: 0, violations: [] };
  for (let n = 0; n < cases; n++) {
    const muts = makeMutations(target, seed, n);
    const v = await runImage(target, applyMutations(target.image, muts), opts);
    out.cases++;
    if (v) {
      const small = await shrink(target, muts, v.kind, opts);
      out.violations.push({ caseNo: n, mutations: small, violation: v });
    }
    opts.onCase?.(n, v);
  }
  return out;
}

/** The summary line `rump fuzz` prints. */
export function fuzzSummary(r: CampaignResult): string {
  return `${r.cases} cases, ${r.violations.length} violations`;
}
