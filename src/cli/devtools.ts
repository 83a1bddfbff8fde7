/**
 * `rump mount`/`umount` (the FUSE bridge) and the developer commands:
 * `rump test [--watch] [--suite] [PATTERN]`, `rump fuzz -t TYPE`,
 * `rump crashsim -t TYPE` and `rump faults -t TYPE`, whose last lines are the
 * summaries scripts read.
 */

import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Kernel } from '../kern/kernel.js';
import { MemoryHypercalls } from '../rumpuser/memory.js';
import { O_CREAT, O_WRONLY } from '../vfs/fcntl.js';
import type { Proc } from '../vfs/proc.js';
import { allProfiles } from '../fs/profiles.js';
import type { FsTestProfile } from '../testing/profile.js';
import { fuzzCampaign, fuzzSummary, applyMutations, type Violation } from '../testing/fuzz.js';
import { fuzzCampaignJobs } from '../testing/fuzz-jobs.js';
import { crashSimulate, crashSummary, type Workload } from '../testing/crashsim.js';
import { faultCampaign, faultSummary } from '../testing/faults.js';
import { saveReproducer } from '../testing/corpus.js';
import { fuzzImageKind, imageHash, makeFuzzImage, metadataRegions } from '../testing/fuzz-images.js';
import { testCommand } from '../testing/runner.js';
import { rumpMount, rumpUmount } from '../p2k/mount.js';
import { parseRumpOptions } from '../p2k/options.js';
import { CliError, type Io } from './context.js';

export async function cmdMount(image: string, mountpoint: string, o: { type?: string; partition?: string; options?: string; foreground?: boolean }): Promise<void> {
  const parsed = parseRumpOptions(o.options ?? '');
  const type = o.type ?? parsed.type;
  const partition = o.partition !== undefined ? Number(o.partition) : parsed.partition;
  await rumpMount({
    image: resolve(image),
    mountpoint: resolve(mountpoint),
    ...(type !== undefined ? { type } : {}),
    ...(partition !== undefined ? { partition } : {}),
    options: parsed.options,
    foreground: o.foreground ?? false,
  });
}

export async function cmdUmount(mountpoint: string, o: { lazy?: boolean }): Promise<void> {
  await rumpUmount(resolve(mountpoint), { lazy: o.lazy ?? false });
}

export async function cmdTest(patterns: string[], o: { watch?: boolean; suite?: boolean }): Promise<number> {
  return testCommand({ patterns, watch: o.watch ?? false, suite: o.suite ?? false });
}

function profileFor(type: string): FsTestProfile {
  const p = allProfiles.find((x) => x.name === type) ??
    allProfiles.find((x) => x.component.name === type || (x.component.aliases ?? []).includes(type));
  if (!p) throw new CliError(`no test profile for type '${type}' (have: ${allProfiles.map((x) => x.name).join(', ')})`);
  return p;
}

/** A small tree written through the kernel into a fresh image of the profile: what the fuzzer mutates. */
async function populatedImage(p: FsTestProfile): Promise<Uint8Array> {
  if (!p.makeImage) throw new CliError(`${p.name} has no device image to fuzz`);
  const img = await p.makeImage(4 * 1024 * 1024);
  if (p.capabilities.readonly) return img;
  const host = new MemoryHypercalls();
  host.addFile('img', img);
  const k = await Kernel.boot({ components: [p.component], host });
  await k.etfs.register('/dev/img0', 'img');
  const proc = k.newProc();
  await proc.mount(p.component.name, '/mnt', { source: '/dev/img0' });
  for (let d = 0; d < 4; d++) {
    await proc.mkdir(`/mnt/dir${d}`);
    for (let f = 0; f < 12; f++) await writeSmall(proc, `/mnt/dir${d}/file-${f}.txt`, 700 * f + d);
  }
  if (p.capabilities.symlinks !== false) await proc.symlink('dir0/file-1.txt', '/mnt/link');
  await k.halt();
  return host.fileBytes('img')!;
}

async function writeSmall(p: Proc, path: string, len: number): Promise<void> {
  const fd = await p.open(path, O_CREAT | O_WRONLY, 0o644);
  await p.write(fd, new Uint8Array(len).fill(len & 0xff));
  await p.close(fd);
}

export async function cmdFuzz(io: Io, o: { type: string; seed?: string; cases?: string; image?: string; corpus?: string; start?: string; progress?: string; jobs?: string }): Promise<number> {
  const p = profileFor(o.type);
  const seed = Number(o.seed ?? 1);
  const cases = Number(o.cases ?? 1000);
  const start = Number(o.start ?? 0);
  const every = Number(o.progress ?? 0);
  const jobs = Math.max(1, Number(o.jobs ?? 1));
  // The real tool's small image of a fixed tree where there is one for the profile; else a tree written through the kernel.
  const kind = fuzzImageKind(p.name);
  const image = o.image ? new Uint8Array(readFileSync(o.image)) : kind ? await makeFuzzImage(kind) : await populatedImage(p);
  const regions = kind || o.image ? metadataRegions(image) : [[0, Math.min(image.length, 1024 * 1024)] as [number, number]];
  const target = { component: p.component, image, writable: !p.capabilities.readonly, regions };
  io.stderr.write(`fuzz ${p.name}: image ${image.length} bytes, sha256 ${imageHash(image)}, ${regions.reduce((s, r) => s + r[1], 0)} metadata bytes; seed ${seed}, cases ${start}..${start + cases - 1}\n`);
  const t0 = performance.now();
  let bad = 0;
  const rate = (done: number): string => {
    const s = (performance.now() - t0) / 1000;
    return `${done} cases, ${bad} violations, ${s.toFixed(0)} s, ${(done / s).toFixed(0)} cases/s`;
  };
  const found = (n: number, v: Violation): void => {
    bad++;
    io.stderr.write(`case ${n}: ${v.kind}: ${v.message}\n`);
  };
  let reported = 0;
  const r = jobs > 1
    ? await fuzzCampaignJobs({ component: p.component.name, image, regions, writable: target.writable, seed, start, cases }, jobs, {
      onViolation: found,
      onProgress: (done) => {
        if (every > 0 && done >= reported + every) {
          reported = done - (done % every);
          io.stderr.write(`progress: ${rate(done)}\n`);
        }
      },
    })
    : await fuzzCampaign(target, seed, cases, {
      start,
      onCase: (n, v) => {
        if (v) found(n, v);
        const done = n - start + 1;
        if (every > 0 && done % every === 0) io.stderr.write(`progress: ${rate(done)} (next --start ${n + 1})\n`);
      },
    });
  for (const v of r.violations) {
    const note = saveReproducer(o.corpus ?? 'test/corpus', { fs: p.component.name, seed, caseNo: v.caseNo, violation: v.violation, mutations: v.mutations }, applyMutations(image, v.mutations));
    io.stderr.write(`reproducer saved: ${note}\n`);
  }
  const s = (performance.now() - t0) / 1000;
  io.stderr.write(`${r.cases} cases in ${s.toFixed(1)} s: ${(r.cases / s).toFixed(0)} cases/s\n`);
  io.stdout.write(`${fuzzSummary(r)}\n`);
  return r.violations.length > 0 ? 1 : 0;
}

const WORKLOADS: Record<string, Workload> = {
  /** mkdir, two files written and fsynced (they must survive every later crash), then unsynced changes: a third file, a rename, an unlink. */
  default: async ({ proc, mnt, fsynced }) => {
    await proc.mkdir(`${mnt}/d`);
    for (const [name, len] of [['a', 5000], ['b', 300]] as const) {
      const data = new Uint8Array(len).fill(len & 0xff);
      const fd = await proc.open(`${mnt}/d/${name}`, O_CREAT | O_WRONLY, 0o644);
      await proc.write(fd, data);
      await proc.fsync(fd);
      fsynced(`${mnt}/d/${name}`, data);
      await proc.close(fd);
    }
    const fd = await proc.open(`${mnt}/d/c`, O_CREAT | O_WRONLY, 0o644);
    await proc.write(fd, new Uint8Array(2000).fill(3));
    await proc.close(fd);
    await proc.rename(`${mnt}/d/c`, `${mnt}/c`);
    await proc.unlink(`${mnt}/c`);
  },
};

export async function cmdCrashsim(io: Io, o: { type: string; seed?: string; workload?: string }): Promise<number> {
  const p = profileFor(o.type);
  const name = o.workload ?? 'default';
  const workload = WORKLOADS[name];
  if (!workload) throw new CliError(`no workload '${name}' (have: ${Object.keys(WORKLOADS).join(', ')})`);
  if (p.capabilities.readonly === true) throw new CliError(`${p.name} is read-only: there are no writes to crash`);
  if (!p.makeImage || !p.check) throw new CliError(`${p.name} has no image maker or checker to crash-simulate with`);
  const r = await crashSimulate({ profile: p, workload, seed: Number(o.seed ?? 1) });
  for (const s of r.states) if (!s.consistent || s.lost.length > 0) io.stderr.write(`${s.label}: ${s.consistent ? 'consistent' : 'inconsistent'}${s.lost.length ? `, lost ${s.lost.join(' ')}` : ''}\n`);
  io.stdout.write(`${r.writes} writes, ${r.flushes} flushes\n${crashSummary(r)}\n`);
  return 0;
}

function numberOption(name: string, v: string, ok: (n: number) => boolean, what: string): number {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || !ok(n)) throw new CliError(`--${name} ${v}: expected ${what}`);
  return n;
}

export async function cmdFaults(io: Io, o: { type: string; seed?: string; rounds?: string; fraction?: string; tear?: boolean; steps?: string }): Promise<number> {
  const p = profileFor(o.type);
  if (p.capabilities.readonly === true) throw new CliError(`${p.name} is read-only: there are no writes to fail`);
  if (!p.component.needsDevice || !p.makeImage) throw new CliError(`${p.name} has no device to inject faults into`);
  const seed = numberOption('seed', o.seed ?? '1', Number.isSafeInteger, 'an integer');
  const rounds = numberOption('rounds', o.rounds ?? '20', (n) => Number.isSafeInteger(n) && n > 0, 'a positive integer');
  const fraction = numberOption('fraction', o.fraction ?? '0.05', (n) => n >= 0 && n <= 1, 'a number from 0 to 1');
  const steps = numberOption('steps', o.steps ?? '150', (n) => Number.isSafeInteger(n) && n >= 0, 'a whole number');
  const tear = o.tear ?? false;
  const line = (s: string): string => s.replace(/\s*\n\s*/g, ' | ');
  io.stderr.write(`faults ${p.name}: seed ${seed}, ${rounds} rounds of ${steps} calls, ${fraction} of I/Os failing${tear ? ', torn writes' : ''}\n`);
  const r = await faultCampaign({
    profile: p, seed, rounds, fraction, tear, steps,
    onRound: (rr) => {
      for (const v of rr.violations) io.stderr.write(`round ${v.round}: ${v.kind}: ${line(v.message)}\n`);
      if (!rr.consistent) io.stderr.write(`round ${rr.round}: inconsistent after remount: ${line(rr.check ?? '')}\n`);
    },
  });
  const errnos = Object.entries(r.errnos).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v}`).join(', ');
  io.stdout.write(`${r.calls} calls, ${r.failed} failed${errnos ? ` (${errnos})` : ''}; ${r.durable} durable files checked, ${r.damaged} entries unreadable after remount\n${faultSummary(r)}\n`);
  return r.violations.length > 0 ? 1 : 0;
}
