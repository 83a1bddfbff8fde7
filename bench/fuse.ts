/**
 * rump mount (FUSE) on the Linux source tree (78,579 files, ext4 image made by mke2fs -d): reading every file
 * through `rump mount` (the driver in the sandboxed kernel server, p2k answering FUSE) against Debian's
 * `fuse2fs` (libext2fs behind libfuse, the same image read-only) and against a kernel loop mount, all three
 * read the same way, `tar -cf - . | cat > /dev/null` in the mount point (tar skips reading when its output is
 * /dev/null itself), each freshly mounted so no reader finds the host's page cache warm for its files.
 * The image file itself is read once first so every reader finds it in the page cache.
 * Targets (issue 6): faster than fuse2fs, within 1.5x of the kernel loop mount.
 * Needs root and /dev/fuse. BENCH_FUSE_ROUNDS=N repeats the three readers N times (medians reported).
 * The note also gives the CPU time the FUSE servers used (rump: the daemon and the kernel server; fuse2fs:
 * its process), a figure less at the mercy of other load on the machine than the elapsed times.
 */

import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rumpMount, rumpUmount } from '../src/p2k/mount.js';
import { run, requireTool } from '../src/testing/tools.js';
import { linuxExt4 } from './fixtures.js';
import { median, withPeer, type Result } from './lib.js';

const READ = 'tar -cf - . | cat > /dev/null';

/** CPU seconds (user + system) of a process and its descendants, from /proc (0 for what has gone). */
async function cpuOfTree(pid: number): Promise<number> {
  let total = 0;
  const seen = new Set<number>();
  const stack = [pid];
  while (stack.length > 0) {
    const p = stack.pop()!;
    if (seen.has(p)) continue;
    seen.add(p);
    try {
      const stat = await readFile(`/proc/${p}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      total += (Number(f[11]) + Number(f[12])) / 100; // utime, stime in clock ticks (USER_HZ 100)
      for (const t of await readdir(`/proc/${p}/task`)) {
        const kids = (await readFile(`/proc/${p}/task/${t}/children`, 'utf8').catch(() => '')).trim();
        if (kids) stack.push(...kids.split(' ').map(Number));
      }
    } catch {
      // gone
    }
  }
  return total;
}

/** The pid of the fuse2fs serving `mnt` (it forks into the background, so it is found by its command line). */
async function fuse2fsPid(mnt: string): Promise<number> {
  for (const e of await readdir('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    const cmd = await readFile(`/proc/${e}/cmdline`, 'utf8').catch(() => '');
    const argv = cmd.split('\0');
    if (/(^|\/)fuse2fs$/.test(argv[0] ?? '') && argv.includes(mnt)) return Number(e);
  }
  return 0;
}

async function timedRead(mnt: string): Promise<number> {
  const t0 = performance.now();
  await run('sh', ['-c', `cd '${mnt}' && ${READ}`]);
  return (performance.now() - t0) / 1000;
}

/**
 * Mounts with `mount` (which returns the pid of the serving process, or 0), reads, unmounts; the mount point
 * is a fresh temporary directory. Returns seconds elapsed and CPU seconds of the server during the read.
 */
async function withMount(mount: (mnt: string) => Promise<number>, umount: (mnt: string) => Promise<void>, cpu?: number[]): Promise<number> {
  const mnt = await mkdtemp(join(tmpdir(), 'akbench-fuse-'));
  try {
    const pid = await mount(mnt);
    try {
      const c0 = pid ? await cpuOfTree(pid) : 0;
      const t = await timedRead(mnt);
      if (pid && cpu) cpu.push((await cpuOfTree(pid)) - c0);
      return t;
    } finally {
      await umount(mnt);
    }
  } finally {
    await rm(mnt, { recursive: true, force: true });
  }
}

export async function fuseBenchmarks(): Promise<Result[]> {
  if (process.getuid?.() !== 0) throw new Error('bench fuse: needs root (mount(8), /dev/fuse)');
  requireTool('fuse2fs');
  const img = await linuxExt4();
  await run('sh', ['-c', `cat '${img}' > /dev/null`]);
  const rounds = Math.max(1, Number(process.env['BENCH_FUSE_ROUNDS'] ?? 1) || 1);
  const loop: number[] = [];
  const fuse2fs: number[] = [];
  const rump: number[] = [];
  const rumpCpu: number[] = [];
  const fuse2fsCpu: number[] = [];
  // Opcode counts of the last rump mount (the daemon writes them when it ends).
  const statsFile = join(tmpdir(), `akbench-p2k-stats-${process.pid}.json`);
  for (let i = 0; i < rounds; i++) {
    loop.push(await withMount(
      async (mnt) => { await run('mount', ['-o', 'loop,ro', img, mnt]); return 0; },
      async (mnt) => { await run('umount', [mnt], { allowFail: true }); },
    ));
    fuse2fs.push(await withMount(
      // fuse2fs forks into the background once its mount is up.
      async (mnt) => { await run('fuse2fs', ['-o', 'ro', img, mnt]); return fuse2fsPid(mnt); },
      async (mnt) => { await run('umount', [mnt], { allowFail: true }); },
      fuse2fsCpu,
    ));
    process.env['P2K_STATS'] = statsFile;
    try {
      rump.push(await withMount(
        async (mnt) => (await rumpMount({ image: img, mountpoint: mnt, type: 'ext2fs' })).pid,
        async (mnt) => { await rumpUmount(mnt); },
        rumpCpu,
      ));
    } finally {
      delete process.env['P2K_STATS'];
    }
  }
  let ops = '';
  try {
    const counts = JSON.parse(await readFile(statsFile, 'utf8')) as Record<string, number>;
    ops = '; FUSE requests: ' + Object.entries(counts).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v}`).join(', ');
  } catch {
    // no counts: an older daemon or it could not write them
  } finally {
    await rm(statsFile, { force: true });
  }
  const each = (xs: number[]): string => xs.map((x) => x.toFixed(2)).join('/');
  const note = `runs (s): rump ${each(rump)}, fuse2fs ${each(fuse2fs)}, loop ${each(loop)}; ` +
    `server CPU (s): rump ${each(rumpCpu)}, fuse2fs ${each(fuse2fsCpu)}${ops}`;
  const ours = { name: 'ext4 via rump mount: tar every file of the Linux tree', value: median(rump), unit: 's' };
  return [
    withPeer({ ...ours, note }, 'fuse2fs -o ro', median(fuse2fs)),
    withPeer(ours, 'kernel loop mount', median(loop)),
  ];
}
