/**
 * More ext4 comparisons on the Linux tree: extracting it to a host directory (against
 * `debugfs -R 'rdump / DIR'`), reading it with the npm `ext2fs` package (libext2fs in WebAssembly; only
 * with BENCH_NPM_EXT2FS=1: it runs out of WebAssembly memory on this image),
 * and writing it into an empty image (our newfs + the tree copied in through the kernel, against
 * `mke2fs -d`).
 */

import { mkdirSync, openSync, closeSync, ftruncateSync } from 'node:fs';
import { mkdtemp, rm, open as fsOpen } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kernel } from '../src/kern/kernel.js';
import { NodeHypercalls } from '../src/rumpuser/node.js';
import { ext2fs } from '../src/fs/ext2fs/index.js';
import type { Proc } from '../src/vfs/proc.js';
import { run } from '../src/testing/tools.js';
import { linuxExt4, linuxTree } from './fixtures.js';
import { withPeer, type Result } from './lib.js';
import { extractTree, fillTree } from './walk.js';

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return (performance.now() - t0) / 1000;
}

async function mounted<T>(img: string, readonly: boolean, fn: (p: Proc) => Promise<T>): Promise<T> {
  const k = await Kernel.boot({ components: [ext2fs], host: new NodeHypercalls() });
  try {
    await k.etfs.register('/dev/img0', img, { readonly });
    const p = k.newProc();
    await p.mount('ext2fs', '/mnt', { source: '/dev/img0', readonly });
    return await fn(p);
  } finally {
    await k.halt();
  }
}

async function npmExt2fsRead(img: string): Promise<number> {
  const require = createRequire(import.meta.url);
  const { withMountedDisk } = require('ext2fs') as { withMountedDisk: (d: unknown, off: number, f: (fs: { promises: Record<string, (...a: unknown[]) => Promise<unknown>> }) => Promise<unknown>) => Promise<unknown> };
  const { FileDisk } = require('file-disk') as { FileDisk: new (h: unknown, ro: boolean) => unknown };
  const fh = await fsOpen(img, 'r');
  try {
    const disk = new FileDisk(fh, true);
    return await timed(() =>
      withMountedDisk(disk, 0, async ({ promises: fs }) => {
        const stack = ['/'];
        while (stack.length > 0) {
          const dir = stack.pop()!;
          for (const name of (await fs['readdir']!(dir)) as string[]) {
            const path = dir === '/' ? `/${name}` : `${dir}/${name}`;
            const st = (await fs['lstat']!(path)) as { isDirectory(): boolean; isFile(): boolean };
            if (st.isDirectory()) stack.push(path);
            else if (st.isFile()) await fs['readFile']!(path);
          }
        }
      }),
    );
  } finally {
    await fh.close();
  }
}

export async function ext2fsPeerBenchmarks(): Promise<Result[]> {
  const img = await linuxExt4();
  const tree = await linuxTree();
  const out: Result[] = [];
  const work = await mkdtemp(join(tmpdir(), 'akbench-'));
  try {
    const buf = new Uint8Array(1024 * 1024);
    const ours = await timed(() => mounted(img, true, (p) => extractTree(p, '/mnt', join(work, 'ours'), buf)));
    await rm(join(work, 'ours'), { recursive: true, force: true });
    mkdirSync(join(work, 'debugfs'));
    const peer = await timed(() => run('debugfs', ['-R', `rdump / ${join(work, 'debugfs')}`, img]));
    await rm(join(work, 'debugfs'), { recursive: true, force: true });
    out.push(withPeer({ name: 'ext4: extract the Linux tree to a host directory', value: ours, unit: 's' }, "debugfs -R 'rdump'", peer));

    if (process.env['BENCH_NPM_EXT2FS']) {
      // The npm package aborts with an out-of-memory error of its WebAssembly heap on the 3 GiB Linux image
      // here (and installs process-wide handlers that end the process), so it runs only when asked.
      const npm = await npmExt2fsRead(img);
      const { readTree } = await import('./walk.js');
      const read = await timed(() => mounted(img, true, (p) => readTree(p, '/mnt')));
      out.push(withPeer({ name: 'ext4: read every file of the Linux tree (in-process kernel)', value: read, unit: 's' }, 'npm ext2fs (libext2fs wasm)', npm));
    }

    const ourImg = join(work, 'ours.ext4');
    const theirImg = join(work, 'theirs.ext4');
    const write = await timed(async () => {
      const fd = openSync(ourImg, 'w');
      ftruncateSync(fd, 3 * 1024 ** 3);
      closeSync(fd);
      const k = await Kernel.boot({ components: [ext2fs], host: new NodeHypercalls() });
      const dev = await k.etfs.register('/dev/img0', ourImg);
      await ext2fs.newfs!(dev, { options: new Map([['type', 'ext4']]) }, k.services);
      const p = k.newProc();
      await p.mount('ext2fs', '/mnt', { source: '/dev/img0' });
      await fillTree(p, tree, '/mnt');
      await k.halt();
    });
    const mke2fs = await timed(() => run('mke2fs', ['-q', '-F', '-t', 'ext4', '-d', tree, theirImg, '3G']));
    out.push(withPeer({ name: 'ext4: write the Linux tree into an empty image', value: write, unit: 's' }, 'mke2fs -d', mke2fs));
    const fsck = await run('e2fsck', ['-fn', ourImg], { allowFail: true });
    if (fsck.code !== 0) out[out.length - 1]!.note = `e2fsck -fn exit ${fsck.code}`;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  return out;
}
