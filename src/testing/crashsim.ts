/**
 * Crash simulation: run a workload on a recording device, then rebuild the
 * image as a power cut would have left it — after every prefix of the write
 * log, and, for writes between two flushes, seeded reorderings (any subset of
 * an unflushed epoch may have reached the disk) — and check each state with
 * the profile's checker (the real fsck). Files made durable by fsync are read
 * back from every state that includes the flush that followed the fsync.
 *
 * Today's components do not journal writes, so inconsistent states are
 * expected; the simulator measures them honestly.
 */

import { Kernel } from '../kern/kernel.js';
import { MemoryDevice } from '../dev/blockdev.js';
import { MemoryHypercalls } from '../rumpuser/memory.js';
import { O_RDONLY } from '../vfs/fcntl.js';
import type { Proc } from '../vfs/proc.js';
import type { FsTestProfile } from './profile.js';
import { Prng } from './prng.js';
import { applyWrites, RecordingDevice } from './recorder.js';

export interface WorkloadContext {
  proc: Proc;
  mnt: string;
  /** Call after fsync(fd) returned: the file at `path` must hold `content` in every later crash state. */
  fsynced(path: string, content: Uint8Array): void;
}

export type Workload = (ctx: WorkloadContext) => Promise<void>;

export interface CrashSimOptions {
  profile: FsTestProfile;
  workload: Workload;
  seed?: number;
  /** Image size (default 8 MiB). */
  size?: number;
  /** Reordered states sampled per unflushed epoch (default 4). */
  reorders?: number;
  /** Upper bound on states checked; beyond it states are sampled (seeded). Default 400. */
  maxStates?: number;
}

export interface CrashState {
  /** Writes applied, by index in the write log. */
  label: string;
  consistent: boolean;
  report?: string;
  lost: string[];
}

export interface CrashReport {
  writes: number;
  flushes: number;
  prefixes: number;
  inconsistent: number;
  fsyncedLost: number;
  states: CrashState[];
}

interface Mark {
  path: string;
  content: Uint8Array;
  /** Number of log entries when fsync returned. */
  at: number;
}

export async function crashSimulate(opts: CrashSimOptions): Promise<CrashReport> {
  const { profile } = opts;
  if (!profile.makeImage || !profile.check) throw new Error(`crashsim: profile ${profile.name} has no image or checker`);
  const rng = new Prng(opts.seed ?? 1);
  const image0 = await profile.makeImage(opts.size ?? 8 * 1024 * 1024);

  // Run the workload on a recording device.
  const rec = new RecordingDevice(new MemoryDevice(image0.slice(), { name: '/dev/img0' }));
  const marks: Mark[] = [];
  const k = await Kernel.boot({ components: [profile.component], host: new MemoryHypercalls() });
  await k.etfs.register('/dev/img0', rec);
  const p = k.newProc();
  const mountArgs = { source: '/dev/img0', readonly: false, ...(profile.mountOptions ? { options: profile.mountOptions } : {}) };
  await p.mount(profile.component.name, '/mnt', mountArgs);
  await opts.workload({
    proc: p,
    mnt: '/mnt',
    fsynced: (path, content) => marks.push({ path, content: content.slice(), at: rec.log.length }),
  });
  await k.halt();

  // Index the log: write i is at log position pos[i]; a mark is durable once a flush follows it.
  const writes: { offset: number; data: Uint8Array; pos: number }[] = [];
  const flushPos: number[] = [];
  rec.log.forEach((e, pos) => {
    if (e.kind === 'write') writes.push({ offset: e.offset, data: e.data, pos });
    else flushPos.push(pos);
  });

  // States: every prefix, plus sampled reorderings within each epoch.
  const states: { label: string; which: number[]; upTo: number }[] = [];
  for (let n = 0; n <= writes.length; n++) {
    states.push({ label: `prefix ${n}`, which: [...Array(n).keys()], upTo: n === 0 ? -1 : writes[n - 1]!.pos });
  }
  // An epoch is a run of writes with no flush between them: [first, end) indexes into `writes`.
  const epochs: [number, number][] = [];
  let flushesSeen = 0;
  let epochOf = -1;
  writes.forEach((w, i) => {
    while (flushesSeen < flushPos.length && flushPos[flushesSeen]! < w.pos) flushesSeen++;
    if (flushesSeen !== epochOf || epochs.length === 0) {
      epochs.push([i, i + 1]);
      epochOf = flushesSeen;
    } else epochs[epochs.length - 1]![1] = i + 1;
  });
  for (const [a, b] of epochs) {
    if (b - a < 3) continue;
    for (let r = 0; r < (opts.reorders ?? 4); r++) {
      const subset = [...Array(a).keys()];
      for (let i = a; i < b; i++) if (rng.next() < 0.5) subset.push(i);
      states.push({ label: `epoch ${a}..${b - 1} subset #${r}`, which: subset, upTo: writes[a]!.pos - 1 });
    }
  }
  let chosen = states;
  const max = opts.maxStates ?? 400;
  if (states.length > max) {
    // Keep the first and last prefixes, sample the rest.
    const keep = new Set([0, writes.length]);
    while (keep.size < max) keep.add(rng.int(states.length));
    chosen = [...keep].sort((x, y) => x - y).map((i) => states[i]!);
  }

  const out: CrashState[] = [];
  for (const st of chosen) {
    const img = applyWrites(image0, writes, st.which);
    let consistent = true;
    let report: string | undefined;
    try {
      await profile.check(img);
    } catch (e) {
      consistent = false;
      report = (e as Error).message.split('\n').slice(0, 6).join('\n');
    }
    // Durable files: a mark is durable in this state if a flush after it is within the applied prefix.
    const lost: string[] = [];
    const durable = marks.filter((m) => flushPos.some((f) => f >= m.at - 1 && f <= st.upTo));
    if (durable.length > 0) lost.push(...(await lostFiles(profile, img, durable)));
    const s: CrashState = { label: st.label, consistent, lost };
    if (report !== undefined) s.report = report;
    out.push(s);
  }
  return {
    writes: writes.length,
    flushes: flushPos.length,
    prefixes: out.length,
    inconsistent: out.filter((s) => !s.consistent).length,
    fsyncedLost: out.reduce((n, s) => n + s.lost.length, 0),
    states: out,
  };
}

async function lostFiles(profile: FsTestProfile, img: Uint8Array, marks: Mark[]): Promise<string[]> {
  const k = await Kernel.boot({ components: [profile.component], host: new MemoryHypercalls() });
  const lost: string[] = [];
  try {
    await k.etfs.register('/dev/img0', img.slice(), { readonly: true });
    const p = k.newProc();
    try {
      await p.mount(profile.component.name, '/mnt', { source: '/dev/img0', readonly: true });
    } catch {
      return marks.map((m) => m.path);
    }
    // The newest mark per path is what must be there.
    const latest = new Map<string, Mark>();
    for (const m of marks) latest.set(m.path, m);
    for (const m of latest.values()) {
      try {
        const fd = await p.open(m.path, O_RDONLY);
        const buf = new Uint8Array(m.content.length + 1);
        const n = await p.read(fd, buf);
        await p.close(fd);
        if (n !== m.content.length || !buf.subarray(0, n).every((b, i) => b === m.content[i])) lost.push(m.path);
      } catch {
        lost.push(m.path);
      }
    }
  } finally {
    await k.halt().catch(() => undefined);
  }
  return lost;
}

/** The summary line `rump crashsim` prints. */
export function crashSummary(r: CrashReport): string {
  return `${r.prefixes} prefixes checked, ${r.inconsistent} inconsistent, ${r.fsyncedLost} fsynced files lost`;
}
