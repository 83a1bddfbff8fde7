/**
 * rump mount (FUSE) on the Linux source tree (78,579 files, ext4 image made by mke2fs -d): reading every file
 * through `rump mount` (the driver in the sandboxed kernel server, p2k answering FUSE) against Debian's
 * `fuse2fs` (libext2fs behind libfuse, the same image read-only) and against a kernel loop mount, all three
 * read the same way, `tar -cf - . | cat > /dev/null` in the mount point (tar skips reading when its output is
 * /dev/null itself), each freshly mounted so no reader finds the host's page cache warm for its files.
 * The image file itself is read once first so every reader finds it in the page cache.
 * Targets (issue 6): faster than fuse2fs, within 1.5x of the kernel loop mount.
 * Needs root and /dev/fuse. BENCH_FUSE_ROUNDS=N repeats the three readers N times (medians reported).
 */

import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rumpMount, rumpUmount } from '../src/p2k/mount.js';
import { run, requireTool } from '../src/testing/tools.js';
import { linuxExt4 } from './fixtures.js';
import { median, withPeer, type Result } from './lib.js';

const READ = 'tar -cf - . | cat > /dev/null';

async function timedRead(mnt: string): Promise<number> {
  const t0 = performance.now();
  await run('sh', ['-c', `cd '${mnt}' && ${READ}`]);
  return (performance.now() - t0) / 1000;
}

/** Mounts with `mount`, reads, unmounts; the mount point is a fresh temporary directory. */
async function withMount(mount: (mnt: string) => Promise<void>, umount: (mnt: string) => Promise<void>): Promise<number> {
  const mnt = await mkdtemp(join(tmpdir(), 'akbench-fuse-'));
  try {
    await mount(mnt);
    try {
      return await timedRead(mnt);
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
  // Opcode counts of the last rump mount (the daemon writes them when it ends).
  const statsFile = join(tmpdir(), `akbench-p2k-stats-${process.pid}.json`);
  for (let i = 0; i < rounds; i++) {
    loop.push(await withMount(
      async (mnt) => { await run('mount', ['-o', 'loop,ro', img, mnt]); },
      async (mnt) => { await run('umount', [mnt], { allowFail: true }); },
    ));
    fuse2fs.push(await withMount(
      // fuse2fs forks into the background once its mount is up.
      async (mnt) => { await run('fuse2fs', ['-o', 'ro', img, mnt]); },
      async (mnt) => { await run('umount', [mnt], { allowFail: true }); },
    ));
    process.env['P2K_STATS'] = statsFile;
    try {
      rump.push(await withMount(
        async (mnt) => { await rumpMount({ image: img, mountpoint: mnt, type: 'ext2fs' }); },
        async (mnt) => { await rumpUmount(mnt); },
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
  const note = `runs (s): rump ${each(rump)}, fuse2fs ${each(fuse2fs)}, loop ${each(loop)}${ops}`;
  const ours = { name: 'ext4 via rump mount: tar every file of the Linux tree', value: median(rump), unit: 's' };
  return [
    withPeer({ ...ours, note }, 'fuse2fs -o ro', median(fuse2fs)),
    withPeer(ours, 'kernel loop mount', median(loop)),
  ];
}
