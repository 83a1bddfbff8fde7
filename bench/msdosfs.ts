/**
 * msdosfs against mtools on FAT32, both in the same run (target: faster than mtools for both):
 *
 * - extraction: the Linux tree from a FAT32 image made by mkfs.fat + mcopy -s (fixtures.linuxFat32) to a
 *   host directory, through an in-process kernel (walk.ts extractTree) against `mcopy -s -n -i IMG ::/* DIR`;
 * - filling: an empty 3 GiB FAT32 image made by mkfs.fat (the same command for both sides) filled with a
 *   tree, through the kernel (fillTreeNoLinks below, then unmount) against `mcopy -s -D o -i IMG ... ::/`
 *   (-D o: a name clashing in case only overwrites, as ours does); our image must pass `fsck.fat -n` (a note
 *   says when it does not). The whole Linux tree is filled: mcopy does that in well under a minute here, so
 *   no subset is needed (FILL_SUBSET can name one).
 *
 * The image is read once first so that both readers find it in the page cache; both write their output
 * under os.tmpdir(); every timed side starts after `sync`. Each side runs twice, in the order ours, mcopy,
 * mcopy, ours, and the means are compared (single runs on this shared machine vary by 2x and more). Our fill ends with the image synced (unmount),
 * so mcopy's fill is timed with `sync IMG` after it (its time alone is in the note).
 */

import { closeSync, lstatSync, mkdirSync, openSync, readdirSync, readSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kernel } from '../src/kern/kernel.js';
import { NodeHypercalls } from '../src/rumpuser/node.js';
import { msdosfs } from '../src/fs/msdosfs/index.js';
import { run } from '../src/testing/tools.js';
import { linuxFat32, linuxTree } from './fixtures.js';
import { withPeer, type Result } from './lib.js';
import { O_CREAT, O_TRUNC, O_WRONLY } from '../src/vfs/fcntl.js';
import type { SyscallApi } from '../src/vfs/syscalls.js';
import { extractTree } from './walk.js';

/** mtools asks no questions and skips its geometry checks (mkfs.fat's FAT32 geometry is not a floppy's). */
const MTOOLS_ENV = { MTOOLS_SKIP_CHECK: '1' };

/** Directories of the Linux tree filled, each into the image's root (undefined: the whole tree). */
const FILL_SUBSET: string[] | undefined = undefined;

/**
 * walk.ts fillTree for a file system without symbolic links, doing what `mcopy -s` does with them: a link to
 * a file is copied as that file, a link to a directory is skipped. A name that differs from an earlier one
 * only in case replaces it (O_TRUNC), as `mcopy -D o` does. Files are read in pieces of at most `buf`'s size
 * (as mcopy does) rather than whole.
 */
export async function fillTreeNoLinks(p: SyscallApi, from: string, to: string, buf = new Uint8Array(1024 * 1024)): Promise<void> {
  for (const name of readdirSync(from)) {
    const src = join(from, name);
    const dst = `${to}/${name}`;
    const link = lstatSync(src);
    const st = link.isSymbolicLink() ? statSync(src) : link;
    if (st.isDirectory()) {
      if (link.isSymbolicLink()) continue;
      try {
        await p.mkdir(dst, st.mode & 0o7777);
      } catch (e) {
        // A directory named like an earlier one but for case: its files go into that one.
        if ((e as { code?: string }).code !== 'EEXIST') throw e;
      }
      await fillTreeNoLinks(p, src, dst, buf);
    } else if (st.isFile()) {
      const fd = await p.open(dst, O_CREAT | O_WRONLY | O_TRUNC, st.mode & 0o7777);
      const hfd = openSync(src, 'r');
      try {
        // Up to the size lstat gave (mcopy also copies what the size says), sparing a read that returns 0.
        for (let left = st.size; left > 0; ) {
          const n = readSync(hfd, buf, 0, Math.min(buf.length, left), null);
          if (n === 0) break;
          await p.write(fd, buf.subarray(0, n));
          left -= n;
        }
      } finally {
        closeSync(hfd);
        await p.close(fd);
      }
    }
  }
}

/**
 * Times `fn` from a quiet start: the host's dirty pages (the previous side's output) are written out first,
 * so neither side pays for the other's writeback.
 */
async function timed(fn: () => Promise<unknown>): Promise<number> {
  await run('sync', []);
  const t0 = performance.now();
  await fn();
  return (performance.now() - t0) / 1000;
}

async function mkfsFat32(img: string): Promise<void> {
  await rm(img, { force: true });
  await run('mkfs.fat', ['-F', '32', '-C', img, String(3 * 1024 * 1024)]);
}

/** Runs two timed functions in the order a, b, b, a (so neither always runs first) and returns their means. */
async function abba(a: (i: number) => Promise<number>, b: (i: number) => Promise<number>): Promise<[number, number, string]> {
  const a0 = await a(0);
  const b0 = await b(0);
  const b1 = await b(1);
  const a1 = await a(1);
  return [(a0 + a1) / 2, (b0 + b1) / 2, `ours ${a0.toFixed(2)}, ${a1.toFixed(2)} s; peer ${b0.toFixed(2)}, ${b1.toFixed(2)} s`];
}

export async function msdosfsBenchmarks(): Promise<Result[]> {
  const img = await linuxFat32();
  const tree = await linuxTree();
  await run('sh', ['-c', `cat '${img}' > /dev/null`]);
  const out: Result[] = [];
  const work = await mkdtemp(join(tmpdir(), 'akbench-msdos-'));
  try {
    // Everything is made before the first timing and removed after the last, so that no side pays for
    // the host's work of deleting another side's output.
    const sources = (FILL_SUBSET ?? readdirSync(tree)).map((n) => join(tree, n));
    const what = FILL_SUBSET ? `the Linux tree's ${FILL_SUBSET.join(', ')}` : 'the Linux tree';
    for (const side of ['ours', 'theirs']) for (const i of [0, 1]) await mkfsFat32(join(work, `${side}${i}.fat32`));
    for (const i of [0, 1]) mkdirSync(join(work, `mtools${i}`));

    // Extraction.
    const buf = new Uint8Array(1024 * 1024);
    const [ours, peer, xnote] = await abba(
      (i) =>
        timed(async () => {
          const k = await Kernel.boot({ components: [msdosfs], host: new NodeHypercalls() });
          try {
            await k.etfs.register('/dev/img0', img, { readonly: true });
            const p = k.newProc();
            await p.mount('msdosfs', '/mnt', { source: '/dev/img0', readonly: true });
            await extractTree(p, '/mnt', join(work, `ours${i}`), buf);
          } finally {
            await k.halt();
          }
        }),
      (i) => timed(() => run('mcopy', ['-s', '-n', '-i', img, '::/*', join(work, `mtools${i}`)], { env: MTOOLS_ENV })),
    );
    out.push(withPeer({ name: 'FAT32: extract the Linux tree to a host directory (mean of 2)', value: ours, unit: 's', note: xnote }, 'mcopy -s', peer));

    // Filling. Our unmount ends with fdatasync of the image; mcopy never syncs, so its image is synced
    // after it (coreutils `sync FILE`) and both times end with the image on disk.
    let mcopyAlone = 0;
    const [fill, mcopy, fnote] = await abba(
      (i) =>
        timed(async () => {
          const k = await Kernel.boot({ components: [msdosfs], host: new NodeHypercalls() });
          try {
            await k.etfs.register('/dev/img0', join(work, `ours${i}.fat32`));
            const p = k.newProc();
            await p.mount('msdosfs', '/mnt', { source: '/dev/img0' });
            if (FILL_SUBSET === undefined) await fillTreeNoLinks(p, tree, '/mnt');
            else {
              for (const src of sources) {
                const dst = `/mnt/${src.slice(src.lastIndexOf('/') + 1)}`;
                await p.mkdir(dst, 0o755);
                await fillTreeNoLinks(p, src, dst);
              }
            }
          } finally {
            await k.halt();
          }
        }),
      (i) =>
        timed(async () => {
          const theirImg = join(work, `theirs${i}.fat32`);
          const t0 = performance.now();
          await run('mcopy', ['-s', '-D', 'o', '-i', theirImg, ...sources, '::/'], { env: MTOOLS_ENV });
          mcopyAlone += (performance.now() - t0) / 2000;
          await run('sync', [theirImg]);
        }),
    );
    const r = withPeer({ name: `FAT32: fill an empty image (mkfs.fat) with ${what} (mean of 2)`, value: fill, unit: 's' }, 'mcopy -s + sync IMG', mcopy);
    r.note = `${fnote}; mcopy -s alone ${mcopyAlone.toFixed(2)} s`;
    for (const i of [0, 1]) {
      const fsck = await run('fsck.fat', ['-n', join(work, `ours${i}.fat32`)], { allowFail: true });
      if (fsck.code !== 0) r.note += `; fsck.fat -n exit ${fsck.code}: ${fsck.stdout.toString('utf8').trim().split('\n').slice(1, 4).join(' / ')}`;
    }
    out.push(r);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  return out;
}
