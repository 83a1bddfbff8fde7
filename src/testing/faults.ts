/**
 * Fault campaigns: a file system used through a device that fails a seeded
 * fraction of its I/Os (and, when asked, tears the failing writes), then
 * checked for what the failures must not have done.
 *
 * A round, seeded from the campaign's seed and the round number:
 *  1. Clean phase, no faults: a fresh image of the profile gets a reference
 *     set — files of known contents and sizes, nested directories, a symlink
 *     and a hard link where the component has them, a file in the root and
 *     one in the directory the workload will use — and is unmounted; the
 *     profile's checker must find it clean, and a read-only mount records
 *     every reference's lstat, contents, link target and directory listing.
 *  2. Faulty phase: the image is mounted read-write through a FaultDevice
 *     (faults switched on only once the mount has succeeded) and a workload
 *     runs on other paths: by default a seeded sequence of mutating calls
 *     (create, write, append, truncate, rename, unlink, mkdir, rmdir, fsync,
 *     sync) checked against a model, mixed with reads of the reference files,
 *     with faults in seeded stretches of 10 to 40 calls, on and off (so that
 *     some flushes succeed and make files durable for later faults to
 *     threaten); or, with `bodies`, bodies of the cross-file-system suite,
 *     faults on throughout.
 *  3. Faults off, still mounted: the mounted view must agree with itself
 *     (no inode named more times than its link count, no directory with
 *     fewer links than 2 + its subdirectories, readdir and lookup agreeing):
 *     a driver whose failed call left a half-made change in memory would
 *     otherwise free an inode a name still leads to at a later call that
 *     succeeds. Then unmount (it may fail).
 *  4. A read-only mount on a fresh kernel without faults: every reference
 *     (not its atime, nor its inode number: msdosfs numbers files as a mount
 *     meets them) must read back byte-identical
 *     with the same metadata, the tree must be walkable, and files whose calls
 *     all succeeded and that were made durable (fsync of the file after its
 *     last change, and sync or an fsync of its directory after it was named)
 *     must hold what was written. Then the profile's checker runs on the final
 *     image: inconsistency is reported, not a violation (no component
 *     journals its writes, so an interrupted multi-block update can leave
 *     the file system needing repair; crashsim measures the same).
 *
 * Violations: a system call rejecting with anything but a KernelError; a
 * kernel panic line (a driver that turned a failed I/O into a crash rather
 * than EIO: never the right outcome, the mount goes read-only); a call not
 * finishing within the bound; an errno other than EIO, ENOSPC (an allocator
 * may pass over what it cannot read) or, on a mount a panic made read-only,
 * EROFS from a call whose operands the model knows exactly — calls on paths
 * an earlier failure left uncertain may fail with any errno (a half-made
 * directory answers ENOENT, EEXIST, ENOTEMPTY); a read returning bytes that
 * were never written (a short read is allowed); link counts or names out of
 * step in the mounted view; and after the clean remount, a reference damaged
 * or missing, a durable file lost, or the mount itself failing.
 *
 * Why the default workload is not the suite's bodies: those live under
 * test/ (src/ must not import from there, and the installed `rump` command
 * has no test/), and they assert their own expectations without a model
 * of which calls failed. The campaign therefore runs its own seeded
 * workload, whose model lets it check errnos and durability; tests pass the
 * real suite bodies through `bodies`, where only the invariants that need no
 * model apply (their own assertion failures are expected consequences of
 * the injected faults, not violations).
 *
 * Everything is reproducible from the seed: the image template is made once,
 * the reference set, the workload and the fault device are seeded from
 * (seed, round), and the kernels' clock and random source are deterministic.
 */

import { Kernel } from '../kern/kernel.js';
import { isKernelError } from '../kern/error.js';
import { MemoryDevice, type BlockDevice } from '../dev/blockdev.js';
import { FaultDevice } from '../dev/fault.js';
import { MemoryHypercalls } from '../rumpuser/memory.js';
import type { Timespec } from '../vfs/types.js';
import { O_APPEND, O_CREAT, O_EXCL, O_RDONLY, O_RDWR, O_WRONLY } from '../vfs/fcntl.js';
import type { Proc } from '../vfs/proc.js';
import type { Stat } from '../vfs/syscalls.js';
import type { FsTestContext } from './fsapply.js';
import { chdirAsRoot, type FsTestProfile } from './profile.js';
import { Prng, patternBytes } from './prng.js';

export type FaultViolationKind =
  | 'setup'
  | 'non-kernel-error'
  | 'panic'
  | 'timeout'
  | 'errno'
  | 'wrong-data'
  | 'link-count'
  | 'live-inconsistent'
  | 'remount'
  | 'reference-damaged'
  | 'durable-lost';

export interface FaultViolation {
  round: number;
  kind: FaultViolationKind;
  message: string;
}

/** A body of the cross-file-system suite (or any body written against FsTestContext). */
export interface FaultBody {
  name: string;
  body: (ctx: FsTestContext) => Promise<void>;
}

export interface FaultCampaignOptions {
  profile: FsTestProfile;
  seed?: number;
  /** Rounds, each on a fresh image (default 20). */
  rounds?: number;
  /** Fraction of I/Os failing while faults are on (default 0.05). */
  fraction?: number;
  /** A failing write first writes a seeded prefix of its sectors. */
  tear?: boolean;
  /** Which I/Os may fail (default both). */
  ops?: 'read' | 'write' | 'both';
  /** Calls of the seeded workload per round (default 150). */
  steps?: number;
  /** Image size in bytes (default 8 MiB; profiles may round it up). */
  size?: number;
  /** Bound on one system call (default 5000 ms). */
  callTimeoutMs?: number;
  /** Run these bodies under faults instead of the seeded workload. */
  bodies?: readonly FaultBody[];
  /** Put around the fault device, between it and the driver: planted bugs in tests. */
  wrapDevice?: (dev: FaultDevice) => BlockDevice;
  /** Called after each round. */
  onRound?: (r: FaultRound) => void;
  /** Called with every system call of the faulty phase and the remount, and how it ended (for finding out what a violation came from). */
  trace?: (line: string) => void;
}

export interface FaultRound {
  round: number;
  /** I/Os the fault device failed. */
  faults: number;
  /** System calls made under faults, and how many failed. */
  calls: number;
  failed: number;
  /** Errno counts of the failed calls. */
  errnos: Record<string, number>;
  /** The final unmount's error (faults off), if it failed. */
  unmountError: string | null;
  /** Whether the profile's checker found the final image clean. */
  consistent: boolean;
  /** The checker's first lines when it did not. */
  check?: string;
  /** Entries the clean remount could not lstat or read: what failed calls left damaged. */
  damaged: number;
  /** Workload files checked after the remount: every call on them succeeded and they were made durable. */
  durable: number;
  violations: FaultViolation[];
}

export interface FaultReport {
  profile: string;
  seed: number;
  rounds: number;
  faults: number;
  calls: number;
  failed: number;
  errnos: Record<string, number>;
  violations: FaultViolation[];
  /** Rounds whose final image the checker found inconsistent. */
  inconsistent: number;
  /** Durable workload files checked after the remounts, and entries they could not lstat or read. */
  durable: number;
  damaged: number;
  perRound: FaultRound[];
}

const MNT = '/mnt';
const REF = `${MNT}/reference`;
const TOP = `${MNT}/reference-top`;
const WORK = `${MNT}/work`;
const KEEP = `${WORK}/keep`;
const DEV = '/dev/fault0';
const S_IFMT = 0o170000;
const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;

/** A kernel clock that starts at a fixed time and moves 1 ms each time it is read: deterministic, and never stuck. */
class SteppingHost extends MemoryHypercalls {
  private ms = 0;
  override clockRealtime(): Timespec {
    this.ms++;
    return { sec: 1_700_000_000 + Math.floor(this.ms / 1000), nsec: (this.ms % 1000) * 1_000_000 };
  }
}

const templates = new Map<string, Promise<Uint8Array>>();

/** The profile's fresh image, made once per (profile, size) and copied. */
async function freshImage(profile: FsTestProfile, size: number): Promise<Uint8Array> {
  const key = `${profile.name}:${size}`;
  let t = templates.get(key);
  if (!t) {
    t = profile.makeImage!(size);
    templates.set(key, t);
    t.catch(() => templates.delete(key));
  }
  return (await t).slice();
}

async function bootKernel(profile: FsTestProfile, seed: number): Promise<Kernel> {
  return Kernel.boot({ components: [profile.component, ...(profile.extraComponents ?? [])], host: new SteppingHost({ seed: seed || 1 }) });
}

function mountArgs(profile: FsTestProfile, readonly: boolean): { source: string; readonly: boolean; options?: string } {
  return { source: DEV, readonly, ...(profile.mountOptions ? { options: profile.mountOptions } : {}) };
}

const errText = (e: unknown): string => (e instanceof Error ? `${e.name}: ${e.message}` : String(e));

// ---------------------------------------------------------------------------------------------
// Calls under a bound

class Timeout extends Error {}

type Outcome<T> = { ok: true; value: T } | { ok: false; code: string };

/**
 * Makes the calls of one phase: records errnos, turns anything but a KernelError into a violation,
 * and bounds every call (one interval timer watching how long the current call has run).
 */
class Guard {
  calls = 0;
  failed = 0;
  readonly errnos: Record<string, number> = {};
  private current = '';
  private t0 = 0;
  private abort: ((e: Error) => void) | null = null;
  /** A call never finished: its kernel must be dropped, not halted. */
  hung = false;

  constructor(
    private readonly ms: number,
    private readonly violate: (kind: FaultViolationKind, message: string) => void,
    private readonly trace?: (line: string) => void,
  ) {}

  /** Runs a phase: rejects with Timeout when one of its calls (or the phase between calls) exceeds the bound. */
  async phase<T>(what: string, fn: () => Promise<T>): Promise<T> {
    this.current = what;
    this.t0 = performance.now();
    const aborted = new Promise<never>((_, reject) => {
      this.abort = reject;
    });
    const timer = setInterval(() => {
      if (this.abort && performance.now() - this.t0 > this.ms) this.abort(new Timeout(`${this.current} did not finish within ${this.ms} ms`));
    }, Math.min(250, this.ms));
    try {
      return await Promise.race([fn(), aborted]);
    } catch (e) {
      if (e instanceof Timeout) {
        this.hung = true;
        this.violate('timeout', e.message);
      }
      throw e;
    } finally {
      clearInterval(timer);
      this.abort = null;
    }
  }

  /** A call whose failure is recorded and rethrown (for suite bodies). */
  async wrap<T>(what: string, p: Promise<T>, count = true): Promise<T> {
    this.current = what;
    this.t0 = performance.now();
    if (count) this.calls++;
    try {
      const v = await p;
      this.trace?.(`${what}: ok`);
      return v;
    } catch (e) {
      this.trace?.(`${what}: ${isKernelError(e) ? e.code : errText(e)}`);
      this.note(what, e, count);
      throw e;
    }
  }

  /** A call whose failure is returned as its errno. */
  async call<T>(what: string, p: Promise<T>, count = true): Promise<Outcome<T>> {
    try {
      return { ok: true, value: await this.wrap(what, p, count) };
    } catch (e) {
      return { ok: false, code: isKernelError(e) ? e.code : 'non-kernel' };
    }
  }

  private note(what: string, e: unknown, count: boolean): void {
    if (count) this.failed++;
    if (isKernelError(e)) {
      if (count) this.errnos[e.code] = (this.errnos[e.code] ?? 0) + 1;
    } else this.violate('non-kernel-error', `${what}: ${errText(e)}`);
  }
}

// ---------------------------------------------------------------------------------------------
// The reference set: what the faulty phase must not touch

interface RefEntry {
  path: string;
  stat: Stat;
  data?: Uint8Array;
  target?: string;
  names?: string[];
}

/** Writes the reference set through the system calls (clean phase). */
async function writeReferences(p: Proc, profile: FsTestProfile, rng: Prng): Promise<void> {
  const caps = profile.capabilities;
  const max = caps.maxFileSize === undefined ? Infinity : Math.floor(caps.maxFileSize * 0.9);
  const put = async (path: string, len: number, mode = 0o644): Promise<void> => {
    const fd = await p.open(path, O_CREAT | O_EXCL | O_WRONLY, mode);
    const data = patternBytes(Math.min(len, max), rng.int(0x7fffffff));
    let done = 0;
    while (done < data.length) done += await p.write(fd, data.subarray(done));
    await p.close(fd);
  };
  await p.mkdir(REF, 0o755);
  await p.mkdir(`${REF}/sub`, 0o755);
  await p.mkdir(`${REF}/sub/deep`, 0o750);
  await p.mkdir(`${REF}/empty`, 0o755);
  const sizes = [0, 1 + rng.int(200), 512 + rng.int(3000), 4096, 5000 + rng.int(20000), 60000 + rng.int(30000), 180000 + rng.int(60000)];
  for (let i = 0; i < sizes.length; i++) await put(`${REF}/f${i}`, sizes[i]!);
  for (let i = 0; i < 12; i++) await put(`${REF}/sub/s${i}-${'x'.repeat(rng.int(40))}`, rng.int(3000));
  await put(`${REF}/sub/deep/g`, 10000 + rng.int(10000));
  await put(TOP, 3000 + rng.int(5000));
  await p.mkdir(WORK, 0o755);
  await put(KEEP, 2000 + rng.int(9000));
  if (caps.permissions !== false) await p.chmod(`${REF}/f1`, 0o600);
  if (caps.symlinks !== false) await p.symlink('sub/deep/g', `${REF}/link`);
  if (caps.hardlinks !== false) await p.link(`${REF}/f2`, `${REF}/sub/hard`);
}

/** Every reference path with its lstat, contents, link target or sorted listing (the root's listing too). */
async function recordReferences(p: Proc): Promise<RefEntry[]> {
  const out: RefEntry[] = [];
  const visit = async (path: string): Promise<void> => {
    const st = await p.lstat(path);
    const e: RefEntry = { path, stat: st };
    out.push(e);
    const type = st.mode & S_IFMT;
    if (type === S_IFDIR) {
      e.names = (await p.readdir(path)).map((d) => d.name).filter((n) => n !== '.' && n !== '..').sort();
      for (const n of e.names) await visit(`${path}/${n}`);
    } else if (type === S_IFLNK) e.target = await p.readlink(path);
    else if (type === S_IFREG) e.data = await readAll(p, path, st.size);
  };
  const root: RefEntry = { path: MNT, stat: await p.lstat(MNT) };
  root.names = (await p.readdir(MNT)).map((d) => d.name).filter((n) => n !== '.' && n !== '..').sort();
  out.push(root);
  await visit(REF);
  await visit(TOP);
  await visit(KEEP);
  return out;
}

async function readAll(p: Proc, path: string, size: number): Promise<Uint8Array> {
  const fd = await p.open(path, O_RDONLY);
  try {
    const buf = new Uint8Array(size + 1);
    let n = 0;
    for (;;) {
      const got = await p.pread(fd, buf.subarray(n), n);
      if (got === 0) break;
      n += got;
      if (n === buf.length) break;
    }
    return buf.subarray(0, n);
  } finally {
    await p.close(fd);
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function firstDiff(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return n;
}

/**
 * The lstat fields a reference keeps: not atime (the workload reads the references), nor the inode number
 * (msdosfs numbers files as a mount meets them).
 */
function statDiff(a: Stat, b: Stat): string | null {
  const diffs: string[] = [];
  for (const k of ['mode', 'nlink', 'uid', 'gid', 'size'] as const) if (a[k] !== b[k]) diffs.push(`${k} ${a[k]} -> ${b[k]}`);
  for (const k of ['mtime', 'ctime'] as const) {
    if (a[k].sec !== b[k].sec || a[k].nsec !== b[k].nsec) diffs.push(`${k} ${a[k].sec}.${a[k].nsec} -> ${b[k].sec}.${b[k].nsec}`);
  }
  return diffs.length > 0 ? diffs.join(', ') : null;
}

// ---------------------------------------------------------------------------------------------
// The seeded workload and its model

interface WFile {
  kind: 'file';
  data: Uint8Array;
  certain: boolean;
  /** Step of the last change of contents, of the last create or rename, of the last successful fsync. */
  changedAt: number;
  namedAt: number;
  fsyncAt: number;
}

interface WDir {
  kind: 'dir';
  certain: boolean;
  namedAt: number;
  fsyncAt: number;
}

type WNode = WFile | WDir;

const parentOf = (path: string): string => path.slice(0, path.lastIndexOf('/'));

class Workload {
  /** Paths under WORK (WORK itself included: made in the clean phase, durable). */
  readonly nodes = new Map<string, WNode>([[WORK, { kind: 'dir', certain: true, namedAt: -1, fsyncAt: -1 }]]);
  private step = 0;
  private lastSync = -1;
  private serial = 0;
  private readonly maxSize: number;

  constructor(
    private readonly p: Proc,
    private readonly k: Kernel,
    private readonly g: Guard,
    private readonly rng: Prng,
    private readonly refs: RefEntry[],
    profile: FsTestProfile,
    private readonly violate: (kind: FaultViolationKind, message: string) => void,
  ) {
    const m = profile.capabilities.maxFileSize;
    this.maxSize = m === undefined ? 400_000 : Math.min(400_000, Math.floor(m * 0.9));
  }

  /** Whether the node and every directory above it (up to WORK) are known exactly. */
  certain(path: string): boolean {
    for (let q = path; q.length >= WORK.length; q = parentOf(q)) {
      const n = this.nodes.get(q);
      if (!n || !n.certain) return false;
    }
    return true;
  }

  private children(dir: string): string[] {
    const pre = `${dir}/`;
    return [...this.nodes.keys()].filter((q) => q.startsWith(pre) && !q.slice(pre.length).includes('/'));
  }

  private pick<T>(xs: T[]): T | undefined {
    return xs.length > 0 ? this.rng.pick(xs) : undefined;
  }

  private files(): string[] {
    return [...this.nodes.entries()].filter(([, n]) => n.kind === 'file').map(([q]) => q);
  }

  private dirs(): string[] {
    return [...this.nodes.entries()].filter(([, n]) => n.kind === 'dir').map(([q]) => q);
  }

  /** Mostly certain operands, sometimes uncertain ones (their calls are made, but not checked). */
  private choose(paths: string[]): string | undefined {
    const sure = paths.filter((q) => this.certain(q));
    return this.rng.next() < 0.85 && sure.length > 0 ? this.pick(sure) : this.pick(paths);
  }

  private fresh(kind: 'f' | 'd'): string {
    return `${kind}${this.serial++}`;
  }

  private data(): Uint8Array {
    const r = this.rng.next();
    const len = r < 0.3 ? this.rng.int(600) : r < 0.7 ? this.rng.int(6000) : r < 0.95 ? this.rng.int(40000) : 100_000 + this.rng.int(100_000);
    return patternBytes(Math.min(len, this.maxSize), this.rng.int(0x7fffffff));
  }

  /** Whether an errno from a call on known operands is one the injected faults explain. */
  private expected(code: string, mutating: boolean): boolean {
    if (code === 'EIO') return true;
    if (code === 'ENOSPC' && mutating) return true;
    // A mount the kernel made read-only after a driver panic (itself a violation) refuses every change.
    if (code === 'EROFS' && mutating && this.k.mounts[1]?.readonly === true) return true;
    return false;
  }

  /** A failed call: a violation when its operands were known exactly and the errno is not one faults explain. */
  private failed(what: string, code: string, checked: boolean, mutating: boolean): void {
    if (checked && code !== 'non-kernel' && !this.expected(code, mutating)) this.violate('errno', `${what}: ${code} (operands known, expected EIO${mutating ? ' or ENOSPC' : ''})`);
  }

  private uncertain(path: string): void {
    const n = this.nodes.get(path);
    if (n) n.certain = false;
  }

  /**
   * Runs `steps` calls. Faults come in stretches: `faults(on)` is switched every 10 to 40 calls (seeded),
   * starting on, so that fsync and sync can succeed in between, making files durable that later faults
   * must not damage (with faults on throughout, a flush that rewrites every dirty block rarely succeeds).
   */
  async run(steps: number, faults: (on: boolean) => void): Promise<void> {
    let on = true;
    let toggle = 10 + this.rng.int(31);
    faults(on);
    for (this.step = 0; this.step < steps; this.step++) {
      if (this.step === toggle) {
        on = !on;
        faults(on);
        toggle += 10 + this.rng.int(31);
      }
      const r = this.rng.int(100);
      if (r < 18) await this.create();
      else if (r < 28) await this.pwrite();
      else if (r < 35) await this.append();
      else if (r < 41) await this.truncate();
      else if (r < 49) await this.rename();
      else if (r < 54) await this.unlink();
      else if (r < 60) await this.mkdir();
      else if (r < 63) await this.rmdir();
      else if (r < 73) await this.fsyncFile();
      else if (r < 77) await this.fsyncDir();
      else if (r < 82) await this.sync();
      else if (r < 90) await this.readRef();
      else if (r < 97) await this.readFile();
      else await this.readdir();
    }
  }

  private async create(): Promise<void> {
    const dir = this.choose(this.dirs())!;
    const path = `${dir}/${this.fresh('f')}`;
    const checked = this.certain(dir);
    const data = this.data();
    const node: WFile = { kind: 'file', data: new Uint8Array(0), certain: false, changedAt: this.step, namedAt: this.step, fsyncAt: -1 };
    this.nodes.set(path, node);
    const fd = await this.g.call(`create ${path}`, this.p.open(path, O_CREAT | O_EXCL | O_WRONLY, 0o644));
    if (!fd.ok) return this.failed(`create ${path}`, fd.code, checked, true);
    const w = await this.g.call(`write ${path}`, this.p.write(fd.value, data));
    await this.g.call(`close ${path}`, this.p.close(fd.value));
    if (!w.ok) return this.failed(`write ${path}`, w.code, checked, true);
    node.data = data.slice(0, w.value);
    node.certain = checked;
  }

  private async pwrite(): Promise<void> {
    const path = this.choose(this.files());
    if (!path) return this.create();
    const node = this.nodes.get(path) as WFile;
    const checked = this.certain(path);
    const data = this.data();
    const off = Math.min(this.rng.int(node.data.length + 2000), Math.max(0, this.maxSize - data.length));
    const fd = await this.g.call(`open ${path}`, this.p.open(path, O_WRONLY));
    if (!fd.ok) return this.failed(`open ${path}`, fd.code, checked, true);
    const w = await this.g.call(`pwrite ${path}`, this.p.pwrite(fd.value, data, off));
    await this.g.call(`close ${path}`, this.p.close(fd.value));
    node.changedAt = this.step;
    if (!w.ok) {
      this.uncertain(path);
      return this.failed(`pwrite ${path}`, w.code, checked, true);
    }
    node.data = splice(node.data, data.subarray(0, w.value), off);
  }

  private async append(): Promise<void> {
    const path = this.choose(this.files());
    if (!path) return this.create();
    const node = this.nodes.get(path) as WFile;
    const checked = this.certain(path);
    const data = this.data().subarray(0, Math.max(0, this.maxSize - node.data.length));
    const fd = await this.g.call(`open ${path}`, this.p.open(path, O_WRONLY | O_APPEND));
    if (!fd.ok) return this.failed(`open ${path}`, fd.code, checked, true);
    const w = await this.g.call(`append ${path}`, this.p.write(fd.value, data));
    await this.g.call(`close ${path}`, this.p.close(fd.value));
    node.changedAt = this.step;
    if (!w.ok) {
      this.uncertain(path);
      return this.failed(`append ${path}`, w.code, checked, true);
    }
    node.data = splice(node.data, data.subarray(0, w.value), node.data.length);
  }

  private async truncate(): Promise<void> {
    const path = this.choose(this.files());
    if (!path) return this.create();
    const node = this.nodes.get(path) as WFile;
    const checked = this.certain(path);
    const size = Math.min(this.maxSize, this.rng.next() < 0.7 ? this.rng.int(node.data.length + 1) : node.data.length + this.rng.int(20000));
    const t = await this.g.call(`truncate ${path}`, this.p.truncate(path, size));
    node.changedAt = this.step;
    if (!t.ok) {
      this.uncertain(path);
      return this.failed(`truncate ${path} ${size}`, t.code, checked, true);
    }
    const d = new Uint8Array(size);
    d.set(node.data.subarray(0, size));
    node.data = d;
  }

  private async rename(): Promise<void> {
    const src = this.choose([...this.nodes.keys()].filter((q) => q !== WORK));
    if (!src) return this.mkdir();
    const node = this.nodes.get(src)!;
    const dirs = this.dirs().filter((d) => d !== src && !d.startsWith(`${src}/`));
    const dir = this.choose(dirs)!;
    // Over an existing file now and then (a file only: replacing a directory needs it empty).
    const victims = node.kind === 'file' ? this.files().filter((q) => q !== src && this.certain(q)) : [];
    const over = this.rng.next() < 0.25 ? this.pick(victims) : undefined;
    const dst = over ?? `${dir}/${this.fresh(node.kind === 'file' ? 'f' : 'd')}`;
    const checked = this.certain(src) && this.certain(parentOf(dst)) && (over === undefined || this.certain(over));
    const r = await this.g.call(`rename ${src} ${dst}`, this.p.rename(src, dst));
    if (!r.ok) {
      // Either name may now hold either file (or both, or neither).
      this.uncertain(src);
      if (over) this.uncertain(over);
      else this.nodes.set(dst, { ...node, certain: false, namedAt: this.step });
      return this.failed(`rename ${src} ${dst}`, r.code, checked, true);
    }
    const moved: [string, WNode][] = [];
    for (const [q, n] of this.nodes) if (q === src || q.startsWith(`${src}/`)) moved.push([q, n]);
    for (const [q] of moved) this.nodes.delete(q);
    for (const [q, n] of moved) this.nodes.set(dst + q.slice(src.length), q === src ? { ...n, namedAt: this.step } : n);
  }

  private async unlink(): Promise<void> {
    const path = this.choose(this.files());
    if (!path) return this.create();
    const checked = this.certain(path);
    const u = await this.g.call(`unlink ${path}`, this.p.unlink(path));
    if (!u.ok) {
      this.uncertain(path);
      return this.failed(`unlink ${path}`, u.code, checked, true);
    }
    this.nodes.delete(path);
  }

  private async mkdir(): Promise<void> {
    const dir = this.choose(this.dirs())!;
    const path = `${dir}/${this.fresh('d')}`;
    const checked = this.certain(dir);
    this.nodes.set(path, { kind: 'dir', certain: false, namedAt: this.step, fsyncAt: -1 });
    const m = await this.g.call(`mkdir ${path}`, this.p.mkdir(path, 0o755));
    if (!m.ok) return this.failed(`mkdir ${path}`, m.code, checked, true);
    this.nodes.get(path)!.certain = checked;
  }

  private async rmdir(): Promise<void> {
    // WORK itself holds the reference file `keep`, and is never removed.
    const empty = this.dirs().filter((d) => d !== WORK && this.children(d).length === 0);
    const path = this.choose(empty);
    if (!path) return this.mkdir();
    const checked = this.certain(path);
    const r = await this.g.call(`rmdir ${path}`, this.p.rmdir(path));
    if (!r.ok) {
      this.uncertain(path);
      return this.failed(`rmdir ${path}`, r.code, checked, true);
    }
    this.nodes.delete(path);
  }

  private async fsyncFile(): Promise<void> {
    const path = this.choose(this.files());
    if (!path) return this.create();
    const node = this.nodes.get(path) as WFile;
    const checked = this.certain(path);
    const fd = await this.g.call(`open ${path}`, this.p.open(path, O_RDWR));
    if (!fd.ok) return this.failed(`open ${path}`, fd.code, checked, true);
    const f = await this.g.call(`fsync ${path}`, this.p.fsync(fd.value));
    await this.g.call(`close ${path}`, this.p.close(fd.value));
    if (!f.ok) {
      // What the failed flush left on the disk is not known.
      this.uncertain(path);
      return this.failed(`fsync ${path}`, f.code, checked, true);
    }
    node.fsyncAt = this.step;
  }

  private async fsyncDir(): Promise<void> {
    const path = this.choose(this.dirs())!;
    const node = this.nodes.get(path) as WDir;
    const checked = this.certain(path);
    const fd = await this.g.call(`open ${path}`, this.p.open(path, O_RDONLY));
    if (!fd.ok) return this.failed(`open ${path}`, fd.code, checked, false);
    const f = await this.g.call(`fsync ${path}`, this.p.fsync(fd.value));
    await this.g.call(`close ${path}`, this.p.close(fd.value));
    if (!f.ok) {
      // The directory's entries may be half-written: every name in it is in doubt.
      for (const c of this.children(path)) this.uncertain(c);
      return this.failed(`fsync ${path}`, f.code, checked, true);
    }
    node.fsyncAt = this.step;
  }

  private async sync(): Promise<void> {
    const s = await this.g.call('sync', this.p.sync());
    if (!s.ok) {
      // Some dirty state did not reach the disk: whatever was not durable before stays not durable.
      return this.failed('sync', s.code, true, true);
    }
    this.lastSync = this.step;
  }

  private async readRef(): Promise<void> {
    const files = this.refs.filter((e) => e.data !== undefined);
    const e = this.rng.pick(files);
    const fd = await this.g.call(`open ${e.path}`, this.p.open(e.path, O_RDONLY));
    if (!fd.ok) return this.failed(`open ${e.path}`, fd.code, true, false);
    await this.checkRead(e.path, fd.value, e.data!, true);
    await this.g.call(`close ${e.path}`, this.p.close(fd.value));
  }

  private async readFile(): Promise<void> {
    const path = this.choose(this.files());
    if (!path) return this.readRef();
    const checked = this.certain(path);
    const fd = await this.g.call(`open ${path}`, this.p.open(path, O_RDONLY));
    if (!fd.ok) return this.failed(`open ${path}`, fd.code, checked, false);
    await this.checkRead(path, fd.value, (this.nodes.get(path) as WFile).data, checked);
    await this.g.call(`close ${path}`, this.p.close(fd.value));
  }

  /** Reads the whole file: a short read is allowed (the call may stop at a failed block), wrong bytes are not. */
  private async checkRead(path: string, fd: number, want: Uint8Array, checked: boolean): Promise<void> {
    const buf = new Uint8Array(want.length + 1);
    const r = await this.g.call(`read ${path}`, this.p.pread(fd, buf, 0));
    if (!r.ok) return this.failed(`read ${path}`, r.code, checked, false);
    if (!checked) return;
    const got = buf.subarray(0, r.value);
    if (r.value > want.length) this.violate('wrong-data', `read ${path}: ${r.value} bytes, the file holds ${want.length}`);
    else if (!sameBytes(got, want.subarray(0, r.value))) this.violate('wrong-data', `read ${path}: byte ${firstDiff(got, want)} differs from what was written`);
  }

  private async readdir(): Promise<void> {
    const path = this.choose(this.dirs())!;
    const checked = this.certain(path);
    const r = await this.g.call(`readdir ${path}`, this.p.readdir(path));
    if (!r.ok) return this.failed(`readdir ${path}`, r.code, checked, false);
    if (!checked) return;
    const names = new Set(r.value.map((d) => d.name));
    for (const c of this.children(path)) {
      if (this.certain(c) && !names.has(c.slice(path.length + 1))) this.violate('wrong-data', `readdir ${path}: ${c.slice(path.length + 1)} is missing`);
    }
  }

  /** Whether a node's name is durable: sync(2) or an fsync of its directory after it was named, up to WORK. */
  private nameDurable(path: string): boolean {
    for (let q = path; q !== WORK; q = parentOf(q)) {
      const n = this.nodes.get(q)!;
      const dir = this.nodes.get(parentOf(q)) as WDir;
      if (Math.max(this.lastSync, dir.fsyncAt) <= n.namedAt) return false;
    }
    return true;
  }

  /** Files the clean remount must show as written: every call on them succeeded, contents and name made durable. */
  durableFiles(): [string, Uint8Array][] {
    const out: [string, Uint8Array][] = [];
    for (const [q, n] of this.nodes) {
      if (n.kind !== 'file' || !this.certain(q)) continue;
      if (Math.max(this.lastSync, n.fsyncAt) <= n.changedAt) continue;
      if (!this.nameDurable(q)) continue;
      out.push([q, n.data]);
    }
    return out;
  }
}

function splice(old: Uint8Array, data: Uint8Array, off: number): Uint8Array {
  const len = Math.max(old.length, off + data.length);
  const out = new Uint8Array(len);
  out.set(old);
  out.set(data, off);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Suite bodies under faults

/**
 * A process whose every method call goes through the guard (counted, bounded, errnos recorded), the
 * method itself called on the real process so the kernel's own internal calls are not counted.
 */
function guarded(p: Proc, g: Guard): Proc {
  return new Proxy(p, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver) as unknown;
      if (typeof v !== 'function' || typeof prop !== 'string') return v;
      return (...args: unknown[]) => {
        const r = (v as (...a: unknown[]) => unknown).apply(target, args);
        return r instanceof Promise ? g.wrap(`${prop} ${args.filter((a) => typeof a === 'string').join(' ')}`.trim(), r) : r;
      };
    },
    set(target, prop, value) {
      return Reflect.set(target, prop, value);
    },
  });
}

async function runBodies(k: Kernel, profile: FsTestProfile, fdev: FaultDevice, mem: MemoryDevice, g: Guard, bodies: readonly FaultBody[]): Promise<void> {
  const admin = k.newProc();
  const raws: Proc[] = [];
  const ensureMounted = async (): Promise<void> => {
    if (k.mounts.length > 1) return;
    fdev.enabled = false;
    try {
      await admin.mount(profile.component.name, MNT, mountArgs(profile, false));
    } finally {
      fdev.enabled = true;
    }
  };
  for (const b of bodies) {
    const raw = k.newProc();
    await raw.chdir(MNT);
    raws.push(raw);
    const procs: Proc[] = [raw];
    const ctx: FsTestContext = {
      kernel: k,
      profile,
      caps: profile.capabilities,
      proc: guarded(raw, g),
      mnt: MNT,
      user(uid, gid, groups) {
        const p = k.newProc({ uid, gid, groups: groups ?? [gid] }, raw.cwd);
        procs.push(p);
        raws.push(p);
        return guarded(p, g);
      },
      async remount(ropts = {}) {
        const moved: Proc[] = [];
        for (const p of procs) {
          if (p.cwd.mount !== k.rootVnode.mount) {
            moved.push(p);
            await p.chdir('/');
          }
        }
        // The unmount runs under faults (it may fail, as the body then sees); the mount does not.
        await g.wrap('remount: unmount', admin.unmount(MNT));
        fdev.enabled = false;
        try {
          await admin.mount(profile.component.name, MNT, mountArgs(profile, ropts.readonly ?? false));
        } finally {
          fdev.enabled = true;
        }
        await chdirAsRoot(moved, MNT);
      },
      image: () => mem.bytes,
    };
    try {
      await b.body(ctx);
    } catch {
      // The body's own expectations failing is what injected faults do; the invariants are checked elsewhere.
    }
    for (const p of procs) await p.exit().catch(() => undefined);
    // A body that left the file system read-only (its own remount) or unmounted: the next gets it read-write.
    const mp = k.mounts[1];
    if (mp && mp.readonly && !mp.panicked) await g.call('unmount', admin.unmount(MNT), false);
    await ensureMounted();
  }
  await admin.exit();
}

// ---------------------------------------------------------------------------------------------
// A round

interface ReadOnlyCheck {
  entries: number;
  errors: number;
}

/** Walks the whole tree read-only (lstat, readlink, read every file), bounded; counts the entries that fail. */
async function walkTree(p: Proc, g: Guard): Promise<ReadOnlyCheck> {
  const stack: [string, number][] = [[MNT, 0]];
  let entries = 0;
  let errors = 0;
  while (stack.length > 0 && entries < 10_000) {
    const [dir, depth] = stack.pop()!;
    const ents = await g.call(`readdir ${dir}`, p.readdir(dir), false);
    if (!ents.ok) {
      errors++;
      continue;
    }
    for (const e of ents.value) {
      if (e.name === '.' || e.name === '..') continue;
      entries++;
      const path = `${dir}/${e.name}`;
      const st = await g.call(`lstat ${path}`, p.lstat(path), false);
      if (!st.ok) {
        errors++;
        continue;
      }
      const type = st.value.mode & S_IFMT;
      if (type === S_IFDIR) {
        if (depth < 32) stack.push([path, depth + 1]);
      } else if (type === S_IFLNK) {
        if (!(await g.call(`readlink ${path}`, p.readlink(path), false)).ok) errors++;
      } else if (type === S_IFREG) {
        if (!(await g.call(`read ${path}`, readAll(p, path, Math.min(st.value.size, 1 << 20)), false)).ok) errors++;
      }
    }
  }
  return { entries, errors };
}

/**
 * The mounted file system's own view after the faulty phase, faults off: a failed call may leave the disk
 * behind, but what the driver holds in memory must still agree with itself, or a later call that succeeds
 * frees an inode a name still leads to. Walks the tree; violations: an inode named more times than its
 * link count, a directory with fewer links than 2 + its subdirectories (where the component counts them),
 * a name readdir lists that lstat does not find, or one lstat finds (`probe`: names the workload used)
 * that its directory does not list.
 */
async function liveCheck(p: Proc, g: Guard, countsSubdirs: boolean, probe: string[], violate: (kind: FaultViolationKind, message: string) => void): Promise<void> {
  const byIno = new Map<number, { names: string[]; nlink: number }>();
  const listed = new Map<string, Set<string>>();
  const stack = [MNT];
  let seen = 0;
  while (stack.length > 0 && seen < 10_000) {
    const dir = stack.pop()!;
    const ents = await g.call(`readdir ${dir}`, p.readdir(dir), false);
    if (!ents.ok) continue;
    const names = new Set<string>();
    listed.set(dir, names);
    let subdirs = 0;
    for (const e of ents.value) {
      if (e.name === '.' || e.name === '..') continue;
      seen++;
      names.add(e.name);
      const path = `${dir}/${e.name}`;
      const st = await g.call(`lstat ${path}`, p.lstat(path), false);
      if (!st.ok) {
        if (st.code === 'ENOENT') violate('live-inconsistent', `${path}: readdir lists it, lstat says ENOENT`);
        continue;
      }
      if ((st.value.mode & S_IFMT) === S_IFDIR) {
        subdirs++;
        stack.push(path);
      } else {
        const n = byIno.get(st.value.ino) ?? { names: [], nlink: st.value.nlink };
        n.names.push(path);
        byIno.set(st.value.ino, n);
      }
    }
    if (countsSubdirs) {
      // After its readdir: some components count subdirectories only once the directory is read.
      const st = await g.call(`lstat ${dir}`, p.lstat(dir), false);
      if (st.ok && st.value.nlink < 2 + subdirs) violate('link-count', `${dir}: ${st.value.nlink} links, ${subdirs} subdirectories`);
    }
  }
  for (const [ino, n] of byIno) if (n.names.length > n.nlink) violate('link-count', `inode ${ino} is named ${n.names.join(', ')} with ${n.nlink} link(s)`);
  for (const path of probe) {
    const names = listed.get(parentOf(path));
    if (!names || names.has(path.slice(parentOf(path).length + 1))) continue;
    const st = await g.call(`lstat ${path}`, p.lstat(path), false);
    if (st.ok) violate('live-inconsistent', `${path}: lstat finds it (inode ${st.value.ino}), readdir of its directory does not list it`);
  }
}

async function halt(k: Kernel, g: Guard): Promise<void> {
  // A kernel with a call that never finished would wait for that call's lock forever: drop it instead.
  if (g.hung) void k.halt().catch(() => undefined);
  else await k.halt().catch(() => undefined);
}

function panics(k: Kernel): string[] {
  return k.consoleLines.filter((l) => l.startsWith('panic:'));
}

export async function faultRound(opts: FaultCampaignOptions, round: number): Promise<FaultRound> {
  const { profile } = opts;
  const seed = opts.seed ?? 1;
  const rseed = (Math.imul(seed, 1_000_003) + round) >>> 0;
  const rng = new Prng(rseed);
  const ms = opts.callTimeoutMs ?? 5000;
  const out: FaultRound = { round, faults: 0, calls: 0, failed: 0, errnos: {}, unmountError: null, consistent: true, damaged: 0, durable: 0, violations: [] };
  const violate = (kind: FaultViolationKind, message: string): void => {
    opts.trace?.(`violation: ${kind}: ${message}`);
    if (out.violations.length < 50) out.violations.push({ round, kind, message });
  };

  // 1. Clean phase: the reference set, checked by the profile's checker, and recorded from a read-only mount.
  const image = await freshImage(profile, opts.size ?? 8 * 1024 * 1024);
  const mem = new MemoryDevice(image, { name: DEV });
  let refs: RefEntry[];
  {
    const k = await bootKernel(profile, rseed);
    try {
      await k.etfs.register(DEV, mem);
      const p = k.newProc();
      await p.mount(profile.component.name, MNT, mountArgs(profile, false));
      await writeReferences(p, profile, rng);
      await p.unmount(MNT);
      if (profile.check) await profile.check(mem.bytes);
      await p.mount(profile.component.name, MNT, mountArgs(profile, true));
      refs = await recordReferences(p);
      await p.unmount(MNT);
      for (const l of panics(k)) violate('panic', `clean phase: ${l}`);
    } catch (e) {
      violate('setup', `clean phase: ${errText(e).split('\n').slice(0, 4).join(' | ')}`);
      await k.halt().catch(() => undefined);
      return out;
    }
    await k.halt().catch(() => undefined);
  }

  // 2. Faulty phase: mounted without faults, then the workload with faults on.
  const fdev = new FaultDevice(mem, {
    fraction: opts.fraction ?? 0.05,
    seed: (rseed ^ 0x5eed) >>> 0 || 1,
    ops: opts.ops ?? 'both',
    ...(opts.tear ? { tear: true } : {}),
  });
  fdev.enabled = false;
  const g = new Guard(ms, violate, opts.trace);
  let workload: Workload | null = null;
  {
    const k = await bootKernel(profile, rseed);
    await k.etfs.register(DEV, opts.wrapDevice ? opts.wrapDevice(fdev) : fdev);
    const p = k.newProc();
    try {
      await p.mount(profile.component.name, MNT, mountArgs(profile, false));
    } catch (e) {
      violate('setup', `mount without faults: ${errText(e)}`);
      await halt(k, g);
      return out;
    }
    fdev.enabled = true;
    try {
      await g.phase('workload', async () => {
        if (opts.bodies) await runBodies(k, profile, fdev, mem, g, opts.bodies);
        else {
          workload = new Workload(p, k, g, rng, refs, profile, violate);
          await workload.run(opts.steps ?? 150, (on) => (fdev.enabled = on));
        }
      });
    } catch (e) {
      if (!(e instanceof Timeout)) violate('non-kernel-error', `workload: ${errText(e)}`);
    }
    fdev.enabled = false;
    out.faults = fdev.failures;
    out.calls = g.calls;
    out.failed = g.failed;
    Object.assign(out.errnos, g.errnos);
    if (g.hung) {
      for (const l of panics(k)) violate('panic', l);
      await halt(k, g);
      return out;
    }
    // 3. Faults off: the mounted view must agree with itself; then unmount (it may fail: the image is then what reached the device).
    if (k.mounts.length > 1) {
      const ref = refs.find((e) => e.path === REF)!;
      const countsSubdirs = ref.stat.nlink === 2 + ref.names!.filter((n) => (refs.find((e) => e.path === `${REF}/${n}`)!.stat.mode & S_IFMT) === S_IFDIR).length;
      const probe = [...((workload as Workload | null)?.nodes.keys() ?? [])];
      try {
        await g.phase('live check', () => liveCheck(p, g, countsSubdirs, probe, violate));
      } catch (e) {
        if (!(e instanceof Timeout)) violate('non-kernel-error', `live check: ${errText(e)}`);
      }
    }
    if (g.hung) {
      for (const l of panics(k)) violate('panic', l);
      await halt(k, g);
      return out;
    }
    const mp = k.mounts[1];
    if (mp) {
      try {
        await g.phase('unmount', () => k.unmountMount(mp, true));
      } catch (e) {
        out.unmountError = errText(e);
      }
    }
    for (const l of panics(k)) violate('panic', l);
    await halt(k, g);
    if (g.hung) return out;
  }
  const durable = (workload as Workload | null)?.durableFiles() ?? [];
  out.durable = durable.length;

  // 4. A clean read-only mount on a fresh kernel: the references, the durable files, the whole tree.
  {
    const k = await bootKernel(profile, rseed);
    const vg = new Guard(ms, violate, opts.trace);
    await k.etfs.register(DEV, mem);
    const p = k.newProc();
    try {
      await vg.phase('remount', async () => {
        const m = await vg.call('mount', p.mount(profile.component.name, MNT, mountArgs(profile, true)), false);
        if (!m.ok) {
          violate('remount', `the clean read-only mount failed: ${m.code}`);
          return;
        }
        await verifyReferences(p, vg, refs, opts.bodies !== undefined, violate);
        for (const [path, data] of durable) {
          const r = await vg.call(`read ${path}`, readAll(p, path, data.length), false);
          if (!r.ok) violate('durable-lost', `${path}: ${r.code} (every call on it succeeded, and it was made durable)`);
          else if (!sameBytes(r.value, data)) violate('durable-lost', `${path}: ${r.value.length} bytes read back, ${data.length} written${r.value.length === data.length ? `; byte ${firstDiff(r.value, data)} differs` : ''}`);
        }
        const w = await walkTree(p, vg);
        out.damaged = w.errors;
      });
    } catch (e) {
      if (!(e instanceof Timeout)) violate('non-kernel-error', `remount: ${errText(e)}`);
    }
    for (const l of panics(k)) violate('panic', `clean remount: ${l}`);
    await halt(k, vg);
  }
  if (profile.check) {
    try {
      await profile.check(mem.bytes);
    } catch (e) {
      out.consistent = false;
      // What the checker found, without its progress lines (e2fsck's passes, fsck.fat's banner) or the
      // scratch file's name (the same seed prints the same lines).
      out.check = (e as Error).message
        .split('\n')
        .filter((l) => l.trim() !== '' && !/^Pass \d+[A-Z]?:|^fsck\.fat \d/.test(l))
        .slice(0, 6)
        .map((l) => l.replace(/\/\S*\/(img|image)\b/g, '$1'))
        .join('\n');
    }
  }
  return out;
}

/** `rootShared`: the workload made and removed names in the mount's root too (suite bodies): the root keeps the reference names, not only them. */
async function verifyReferences(p: Proc, g: Guard, refs: RefEntry[], rootShared: boolean, violate: (kind: FaultViolationKind, message: string) => void): Promise<void> {
  for (const e of refs) {
    const st = await g.call(`lstat ${e.path}`, p.lstat(e.path), false);
    if (!st.ok) {
      violate('reference-damaged', `${e.path}: lstat ${st.code}`);
      continue;
    }
    // The root's own times, size and links may change (suite bodies work there); its names are checked below.
    if (e.path !== MNT) {
      const d = statDiff(e.stat, st.value);
      if (d) violate('reference-damaged', `${e.path}: ${d}`);
    }
    if (e.data) {
      const r = await g.call(`read ${e.path}`, readAll(p, e.path, e.data.length), false);
      if (!r.ok) violate('reference-damaged', `${e.path}: read ${r.code}`);
      else if (!sameBytes(r.value, e.data)) violate('reference-damaged', `${e.path}: contents differ (${r.value.length} bytes, ${e.data.length} written; first difference at byte ${firstDiff(r.value, e.data)})`);
    }
    if (e.target !== undefined) {
      const r = await g.call(`readlink ${e.path}`, p.readlink(e.path), false);
      if (!r.ok || r.value !== e.target) violate('reference-damaged', `${e.path}: link target ${r.ok ? JSON.stringify(r.value) : r.code}, was ${JSON.stringify(e.target)}`);
    }
    if (e.names) {
      const r = await g.call(`readdir ${e.path}`, p.readdir(e.path), false);
      if (!r.ok) violate('reference-damaged', `${e.path}: readdir ${r.code}`);
      else {
        const names = r.value.map((d) => d.name).filter((n) => n !== '.' && n !== '..').sort();
        if (e.path === MNT && rootShared) {
          const have = new Set(names);
          const lost = e.names.filter((n) => !have.has(n));
          if (lost.length > 0) violate('reference-damaged', `${e.path}: ${JSON.stringify(lost)} missing`);
        } else if (names.join('/') !== e.names.join('/')) violate('reference-damaged', `${e.path}: entries ${JSON.stringify(names)}, were ${JSON.stringify(e.names)}`);
      }
    }
  }
}

/** Runs the campaign: `rounds` rounds (default 20), each reproducible on its own from (seed, round). */
export async function faultCampaign(opts: FaultCampaignOptions): Promise<FaultReport> {
  const { profile } = opts;
  if (profile.capabilities.readonly === true) throw new Error(`faults: ${profile.name} is read-only`);
  if (!profile.component.needsDevice || !profile.makeImage) throw new Error(`faults: ${profile.name} has no device`);
  const report: FaultReport = { profile: profile.name, seed: opts.seed ?? 1, rounds: 0, faults: 0, calls: 0, failed: 0, errnos: {}, violations: [], inconsistent: 0, durable: 0, damaged: 0, perRound: [] };
  for (let r = 0; r < (opts.rounds ?? 20); r++) {
    const rr = await faultRound(opts, r);
    report.rounds++;
    report.faults += rr.faults;
    report.calls += rr.calls;
    report.failed += rr.failed;
    for (const [k, v] of Object.entries(rr.errnos)) report.errnos[k] = (report.errnos[k] ?? 0) + v;
    report.violations.push(...rr.violations);
    if (!rr.consistent) report.inconsistent++;
    report.durable += rr.durable;
    report.damaged += rr.damaged;
    report.perRound.push(rr);
    opts.onRound?.(rr);
  }
  return report;
}

/** The summary line `rump faults` prints. */
export function faultSummary(r: FaultReport): string {
  return `${r.rounds} rounds, ${r.faults} faults injected, ${r.violations.length} violations, ${r.inconsistent} inconsistent after remount`;
}
