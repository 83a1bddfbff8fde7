/**
 * cd9660 on the Linux source tree (78,579 files from Debian's linux-source-6.1, in an ISO made by
 * `xorriso -as mkisofs -R -J`): extracting the whole tree to a host directory through an in-process kernel
 * (bench/walk.ts extractTree), against `xorriso -osirrox on -indev ISO -extract / DIR` and `7z x -oDIR ISO`
 * (p7zip-full) in the same run. Target: faster than both. The ISO is read once first so that every reader
 * finds it in the page cache; each extraction goes to a fresh directory, removed (and not timed) afterwards.
 */

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kernel } from '../src/kern/kernel.js';
import { NodeHypercalls } from '../src/rumpuser/node.js';
import { cd9660 } from '../src/fs/cd9660/index.js';
import { requireTool, run } from '../src/testing/tools.js';
import { linuxIso } from './fixtures.js';
import { withPeer, type Result } from './lib.js';
import { extractTree } from './walk.js';

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return (performance.now() - t0) / 1000;
}

async function ours(iso: string, dir: string): Promise<void> {
  const k = await Kernel.boot({ components: [cd9660], host: new NodeHypercalls() });
  try {
    await k.etfs.register('/dev/img0', iso, { readonly: true });
    const p = k.newProc();
    await p.mount('cd9660', '/mnt', { source: '/dev/img0', readonly: true });
    await extractTree(p, '/mnt', dir, new Uint8Array(1024 * 1024));
  } finally {
    await k.halt();
  }
}

export async function cd9660Benchmarks(): Promise<Result[]> {
  const iso = await linuxIso();
  requireTool('xorriso');
  requireTool('7z');
  await run('sh', ['-c', `cat '${iso}' > /dev/null`]);
  const work = await mkdtemp(join(tmpdir(), 'akbench-'));
  // Each extraction starts with the previous one's files gone and written back, so none pays for another's.
  const fresh = async (name: string): Promise<string> => {
    await run('sync', []);
    return join(work, name);
  };
  try {
    const dirOurs = await fresh('ours');
    const t = await timed(() => ours(iso, dirOurs));
    await rm(dirOurs, { recursive: true, force: true });
    const dirX = await fresh('xorriso');
    const tx = await timed(() => run('xorriso', ['-osirrox', 'on', '-indev', iso, '-extract', '/', dirX]));
    await rm(dirX, { recursive: true, force: true });
    const dir7 = await fresh('7z');
    const t7 = await timed(() => run('7z', ['x', '-y', `-o${dir7}`, iso]));
    await rm(dir7, { recursive: true, force: true });
    const name = 'ISO 9660 (RR+Joliet): extract the Linux tree to a host directory (in-process kernel)';
    const note = 'target: faster than both (ratios > 1)';
    return [
      withPeer({ name, value: t, unit: 's', note }, 'xorriso -osirrox on -extract', tx),
      withPeer({ name, value: t, unit: 's' }, '7z x', t7),
    ];
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
