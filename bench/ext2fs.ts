/**
 * ext2fs on the Linux source tree (78,579 files from Debian's linux-source-6.1, in an ext4 image made by
 * mke2fs -d): reading every file through an in-process kernel, against a fresh kernel loop mount of the
 * same image read with `tar -cf - . | cat` (tar skips reading when its output is /dev/null itself).
 * The image file is read once first so that every reader finds it in the page cache.
 */

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kernel } from '../src/kern/kernel.js';
import { NodeHypercalls } from '../src/rumpuser/node.js';
import { ext2fs } from '../src/fs/ext2fs/index.js';
import { run } from '../src/testing/tools.js';
import { linuxExt4 } from './fixtures.js';
import { withPeer, type Result } from './lib.js';
import { readTree } from './walk.js';

async function timed<T>(fn: () => Promise<T>): Promise<[number, T]> {
  const t0 = performance.now();
  const v = await fn();
  return [performance.now() - t0, v];
}

export async function ext2fsBenchmarks(): Promise<Result[]> {
  const img = await linuxExt4();
  await run('sh', ['-c', `cat '${img}' > /dev/null`]);
  const [ours, stats] = await timed(async () => {
    const k = await Kernel.boot({ components: [ext2fs], host: new NodeHypercalls() });
    await k.etfs.register('/dev/img0', img, { readonly: true });
    const p = k.newProc();
    await p.mount('ext2fs', '/mnt', { source: '/dev/img0', readonly: true });
    const s = await readTree(p, '/mnt');
    await k.halt();
    return s;
  });
  const note = `${stats.files} files, ${(stats.bytes / 1e9).toFixed(2)} GB`;
  const mnt = await mkdtemp(join(tmpdir(), 'akbench-'));
  let loop: number;
  try {
    await run('mount', ['-o', 'loop,ro', img, mnt]);
    [loop] = await timed(() => run('sh', ['-c', `cd '${mnt}' && tar -cf - . | cat > /dev/null`]));
  } finally {
    await run('umount', [mnt], { allowFail: true });
    await rm(mnt, { recursive: true, force: true });
  }
  return [withPeer({ name: 'ext4: read every file of the Linux tree (in-process kernel)', value: ours / 1000, unit: 's', note }, 'kernel loop mount + tar', loop / 1000)];
}
