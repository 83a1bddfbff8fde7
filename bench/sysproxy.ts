/**
 * sysproxy: what running the kernel in the sandboxed server process costs.
 *
 * 1. Cold start: `rump cat IMAGE:/small-file`, each run a whole new `node dist/src/cli/main.js` process
 *    (sandboxed, the default, and with --trusted), against `debugfs -R 'cat /small-file' IMAGE`
 *    (e2fsprogs) on the same small ext4 image (made by mke2fs -d in a temporary directory). Like
 *    hyperfine: warm-up runs, then the three commands interleaved, medians; every run's output is checked.
 * 2. Reading every file of the Linux-source ext4 image (fixtures.linuxExt4, 78,579 files) through a
 *    sandboxed server process against an in-process kernel, the same reader code for both, each on a
 *    fresh kernel with the image in the host's page cache, the passes of the two sides interleaved and
 *    repeated (medians; the load of a shared 2-core machine moves one pass by +-50 %). Target: sandboxed within 1.25x of in-process
 *    (the ratio column is in-process/sandboxed, so >= 0.8 meets it; the note gives sandboxed/in-process).
 *    Three readers (bench/walk.ts), each the same code in-process and sandboxed:
 *    - readTreeBatched (the target line): readdir per directory, then the regular files 64 at a time
 *      through sysproxy's compound openReadMany (each file opened, stat'ed, read up to 1 MiB and closed
 *      at end of file, their bytes packed into one buffer of up to 4 MiB; src/sysproxy/compound.ts),
 *      the rest of a longer file with 1 MiB reads; four batches in flight (so that the server has the
 *      next batch queued while the client takes in a reply: with two it idled a quarter of the pass).
 *      On a read-only image the server answers with layouts (docs/sysproxy.md): the client reads the
 *      file data from the image itself, as the in-process kernel does.
 *    - readTreeCompound: the same walk with one openRead (open + fstat + read + close) per file,
 *      8 files in flight.
 *    - readTree: lstat, open, 1 MiB reads, close per file, one call at a time (four round trips per
 *      small file when remote): the reader the issue was first measured with, for comparison.
 *    On an in-process kernel openRead and openReadMany are the separate system calls made directly
 *    (a local call has no round trip to save), into one buffer per batch as the server does, so the
 *    in-process side does readTree's work (fstat in place of lstat) with the same concurrency. Said
 *    honestly: the target is met, where it is, by a different reader than readTree — one that asks for
 *    many files per request and keeps requests in flight — not by making one round trip cheaper.
 */

import { spawnSync } from 'node:child_process';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Kernel } from '../src/kern/kernel.js';
import { NodeHypercalls } from '../src/rumpuser/node.js';
import { ext2fs } from '../src/fs/ext2fs/index.js';
import { startKernel } from '../src/sysproxy/index.js';
import type { SyscallApi } from '../src/vfs/syscalls.js';
import { requireTool, run } from '../src/testing/tools.js';
import { linuxExt4 } from './fixtures.js';
import { median, withPeer, type Result } from './lib.js';
import { readTree, readTreeBatched, readTreeCompound, type WalkStats } from './walk.js';

const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const SMALL = 'hello from a small file inside an ext4 image\n';
const COLD_WARMUP = 2;
const COLD_RUNS = 10;
/** Requests readTreeCompound keeps in flight. */
export const IN_FLIGHT = 8;
/** readTreeBatched: batches in flight, files per batch. */
export const BATCHES = 4;
export const BATCH = 64;
/** Interleaved in-process/sandboxed rounds for the two compound readers (one pass is 10-25 s on this machine). */
const ROUNDS = 3;

function log(msg: string): void {
  process.stderr.write(`bench: sysproxy: ${msg}\n`);
}

/** Runs a command to completion; its wall time in ms. Throws when it fails or prints something else than `want`. */
function timedRun(cmd: string, args: string[], want: string): number {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0 || r.stdout !== want) throw new Error(`${cmd} ${args.join(' ')}: status ${r.status}, output ${JSON.stringify(r.stdout.slice(0, 80))}: ${r.stderr.slice(0, 300)}`);
  return ms;
}

async function coldStart(): Promise<Result[]> {
  requireTool('mke2fs');
  const debugfs = requireTool('debugfs');
  const dir = await mkdtemp(join(tmpdir(), 'akbench-sysproxy-'));
  try {
    const tree = join(dir, 'tree');
    await mkdir(join(tree, 'etc'), { recursive: true });
    await writeFile(join(tree, 'small-file'), SMALL);
    await writeFile(join(tree, 'etc', 'hostname'), 'bench\n');
    const img = join(dir, 'small.ext4');
    await run('mke2fs', ['-q', '-F', '-t', 'ext4', '-d', tree, img, '8M']);
    const cmds: Record<string, [string, string[]]> = {
      sandboxed: [process.execPath, [CLI, 'cat', `${img}:/small-file`]],
      trusted: [process.execPath, [CLI, 'cat', '--trusted', `${img}:/small-file`]],
      debugfs: [debugfs, ['-R', 'cat /small-file', img]],
    };
    const times: Record<string, number[]> = { sandboxed: [], trusted: [], debugfs: [] };
    for (let i = 0; i < COLD_WARMUP + COLD_RUNS; i++) {
      for (const [name, [cmd, args]] of Object.entries(cmds)) {
        const ms = timedRun(cmd, args, SMALL);
        if (i >= COLD_WARMUP) times[name]!.push(ms);
      }
    }
    const dbg = median(times['debugfs']!);
    const note = `${COLD_RUNS} runs each, interleaved, after ${COLD_WARMUP} warm-up rounds; node -e 0 alone: ${nodeBaseline().toFixed(0)} ms`;
    return [
      withPeer({ name: 'rump cat IMAGE:/small-file, cold start (sandboxed)', value: median(times['sandboxed']!), unit: 'ms', note }, "debugfs -R 'cat /small-file'", dbg),
      withPeer({ name: 'rump cat --trusted IMAGE:/small-file, cold start', value: median(times['trusted']!), unit: 'ms' }, "debugfs -R 'cat /small-file'", dbg),
    ];
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The floor under any `rump` run: starting node itself. */
function nodeBaseline(): number {
  const xs: number[] = [];
  for (let i = 0; i < 5; i++) xs.push(timedRun(process.execPath, ['-e', '0'], ''));
  return median(xs);
}

type Reader = (p: SyscallApi) => Promise<WalkStats>;

/** Mounts the image on a fresh kernel (in-process or in a sandboxed server) and times one pass of `reader`. */
async function readAll(img: string, where: 'in-process' | 'sandboxed', reader: Reader): Promise<{ ms: number; stats: WalkStats }> {
  let p: SyscallApi;
  let halt: () => Promise<void>;
  if (where === 'in-process') {
    const k = await Kernel.boot({ components: [ext2fs], host: new NodeHypercalls() });
    await k.etfs.register('/dev/img0', img, { readonly: true });
    p = k.newProc();
    halt = () => k.halt();
  } else {
    const rk = await startKernel({ images: [{ node: '/dev/img0', path: img, readonly: true }] });
    p = await rk.newProc();
    halt = () => rk.halt();
  }
  try {
    await p.mount('ext2fs', '/mnt', { source: '/dev/img0', readonly: true });
    const t0 = performance.now();
    const stats = await reader(p);
    return { ms: performance.now() - t0, stats };
  } finally {
    await halt();
  }
}

/**
 * In-process and sandboxed passes of `reader`, `rounds` times interleaved (the order alternating), so
 * that a change of the machine's load during the run falls on both; medians, every pass in the note.
 */
async function readAllPair(img: string, name: string, reader: Reader, rounds: number): Promise<Result> {
  const local: number[] = [];
  const remote: number[] = [];
  let seen: WalkStats | undefined;
  const pass = async (where: 'in-process' | 'sandboxed', into: number[]): Promise<void> => {
    log(`${name}: ${where} ...`);
    const r = await readAll(img, where, reader);
    if (seen !== undefined && (r.stats.files !== seen.files || r.stats.bytes !== seen.bytes)) {
      throw new Error(`${name}: ${where} saw ${r.stats.files} files/${r.stats.bytes} bytes, another pass ${seen.files}/${seen.bytes}`);
    }
    seen = r.stats;
    into.push(r.ms);
  };
  for (let i = 0; i < rounds; i++) {
    if (i % 2 === 0) {
      await pass('in-process', local);
      await pass('sandboxed', remote);
    } else {
      await pass('sandboxed', remote);
      await pass('in-process', local);
    }
  }
  const l = median(local);
  const r = median(remote);
  const factor = r / l;
  const secs = (xs: number[]) => xs.map((x) => (x / 1000).toFixed(1)).join(', ');
  const note =
    `${seen!.files} files, ${(seen!.bytes / 1e9).toFixed(2)} GB; sandboxed/in-process = ${factor.toFixed(2)}x (target <= 1.25x: ${factor <= 1.25 ? 'met' : 'not met'})` +
    (rounds > 1 ? `; passes (s): in-process ${secs(local)}, sandboxed ${secs(remote)}` : '');
  return withPeer({ name: `ext4 Linux tree, read every file, sandboxed server (${name})`, value: r / 1000, unit: 's', note }, 'in-process kernel, same reader', l / 1000);
}

export async function sysproxyBenchmarks(): Promise<Result[]> {
  const out: Result[] = [];
  log('cold start ...');
  out.push(...(await coldStart()));
  const img = await linuxExt4();
  await run('sh', ['-c', `cat '${img}' > /dev/null`]);
  out.push(await readAllPair(img, `readTreeBatched, ${BATCH} files a request, ${BATCHES} in flight`, (p) => readTreeBatched(p, '/mnt', BATCHES, BATCH), ROUNDS));
  out.push(await readAllPair(img, `readTreeCompound, ${IN_FLIGHT} in flight`, (p) => readTreeCompound(p, '/mnt', IN_FLIGHT), ROUNDS));
  out.push(await readAllPair(img, 'readTree: lstat+open+read+close', (p) => readTree(p, '/mnt'), 1));
  return out;
}
