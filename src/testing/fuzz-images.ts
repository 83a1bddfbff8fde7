/**
 * Small images made by the real tools for fuzz campaigns: one fixed tree
 * (a few directories, a directory spanning several blocks, files from empty to
 * past the direct blocks, short, long and dangling symlinks, a hard link)
 * formatted by mke2fs -d, mkfs.fat + mcopy, makefs or xorriso into tens to a
 * few hundred KiB, so a case mounts, walks and writes in well under a
 * millisecond of device work. Timestamps, UUIDs and volume ids are fixed so
 * the same tool versions make the same bytes, and a campaign's seed names its
 * cases; the image's hash is printed with the campaign all the same.
 */

import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, symlinkSync, linkSync, writeFileSync, utimesSync, lutimesSync } from 'node:fs';
import { join } from 'node:path';
import { fixturePattern } from './fixture.js';
import { run, tempDir } from './tools.js';

type Entry = { path: string; kind: 'dir' } | { path: string; kind: 'file'; size: number; seed: number } | { path: string; kind: 'symlink'; target: string } | { path: string; kind: 'hardlink'; target: string };

/** The tree every fuzz image holds (parents before children). */
export const FUZZ_TREE: readonly Entry[] = [
  { path: 'README.txt', kind: 'file', size: 57, seed: 1 },
  { path: 'empty', kind: 'file', size: 0, seed: 2 },
  { path: 'big.bin', kind: 'file', size: 70_000, seed: 3 },
  { path: 'dir1', kind: 'dir' },
  { path: 'dir1/nested', kind: 'dir' },
  { path: 'dir1/nested/leaf.txt', kind: 'file', size: 5000, seed: 4 },
  { path: 'dir1/sibling.txt', kind: 'file', size: 4096, seed: 5 },
  { path: 'emptydir', kind: 'dir' },
  { path: 'many', kind: 'dir' },
  // Twelve entries with names of 100 bytes: a directory of several blocks (clusters, sectors) in every format.
  ...Array.from({ length: 12 }, (_, i): Entry => ({ path: `many/${String(i).padStart(2, '0')}-${'long-name-'.repeat(9)}x`, kind: 'file', size: i + 1, seed: 100 + i })),
  { path: 'dir1/hard-readme', kind: 'hardlink', target: 'README.txt' },
  { path: 'link-to-readme', kind: 'symlink', target: 'README.txt' },
  { path: 'dir1/long-link', kind: 'symlink', target: `../dir1/nested/${'x'.repeat(90)}/leaf.txt` },
  { path: 'dangling', kind: 'symlink', target: 'no/such/file' },
];

export const FUZZ_TIME = 1_700_000_000;
const UUID = '6b1f2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d';

export type FuzzImageKind = 'ext2' | 'ext4' | 'fat12' | 'fat16' | 'fat32' | 'ufs1' | 'ufs2' | 'cd9660';

function writeTree(root: string, opts: { symlinks: boolean }): void {
  for (const e of FUZZ_TREE) {
    const p = join(root, e.path);
    if (e.kind === 'dir') mkdirSync(p);
    else if (e.kind === 'file') writeFileSync(p, fixturePattern(e.size, e.seed));
    else if (e.kind === 'hardlink') linkSync(join(root, e.target), p);
    else if (opts.symlinks) symlinkSync(e.target, p);
  }
  // Fixed times, children before parents, so the tools record the same bytes every time.
  for (const e of [...FUZZ_TREE].reverse()) {
    if (e.kind === 'symlink') {
      if (opts.symlinks) lutimesSync(join(root, e.path), FUZZ_TIME, FUZZ_TIME);
    } else utimesSync(join(root, e.path), FUZZ_TIME, FUZZ_TIME);
  }
  utimesSync(root, FUZZ_TIME, FUZZ_TIME);
}

/** Makes the fuzz image of `kind` with the real tool. */
export async function makeFuzzImage(kind: FuzzImageKind): Promise<Uint8Array> {
  const t = await tempDir('fuzz-image-');
  try {
    const tree = join(t.path, 'tree');
    mkdirSync(tree);
    writeTree(tree, { symlinks: !kind.startsWith('fat') });
    const img = join(t.path, 'img');
    const env = { SOURCE_DATE_EPOCH: String(FUZZ_TIME), E2FSPROGS_FAKE_TIME: String(FUZZ_TIME), TZ: 'UTC' };
    switch (kind) {
      case 'ext2':
      case 'ext4':
        await run('mke2fs', ['-q', '-F', '-t', kind, '-b', '1024', '-N', '64', '-U', UUID, '-E', `hash_seed=${UUID},root_owner=0:0`, '-d', tree, img, '384k'], { env });
        break;
      case 'fat12':
      case 'fat16':
      case 'fat32': {
        // The smallest sizes each FAT type allows with 512-byte clusters (FAT16 needs 4085 clusters, FAT32 65525).
        const size = { fat12: 512 * 1024, fat16: 2200 * 1024, fat32: 34 * 1024 * 1024 }[kind];
        writeFileSync(img, new Uint8Array(size));
        await run('mkfs.fat', ['-F', kind.slice(3), '-s', '1', '-i', '1234abcd', '--invariant', img], { env });
        const top = FUZZ_TREE.filter((e) => !e.path.includes('/') && e.kind !== 'symlink').map((e) => join(tree, e.path));
        await run('mcopy', ['-s', '-m', '-i', img, ...top, '::/'], { env });
        break;
      }
      case 'ufs1':
      case 'ufs2':
        await run('makefs', ['-t', 'ffs', '-T', String(FUZZ_TIME), '-o', `version=${kind === 'ufs1' ? 1 : 2},bsize=4096,fsize=512`, '-s', '384k', img, tree], { env });
        break;
      case 'cd9660':
        await run('xorriso', ['-as', 'mkisofs', '-quiet', '-R', '-J', '-V', 'FUZZ', '--modification-date=2023111422132000', '-o', img, tree], { env });
        break;
    }
    return new Uint8Array(readFileSync(img));
  } finally {
    await t.cleanup();
  }
}

/** The image kind for a profile name, or undefined when the fuzzer should make the image through the kernel. */
export function fuzzImageKind(profile: string): FuzzImageKind | undefined {
  return (['ext2', 'ext4', 'fat12', 'fat16', 'fat32', 'ufs1', 'ufs2', 'cd9660'] as const).find((k) => k === profile);
}

/**
 * Where the metadata is, found without knowing the format: every 512-byte
 * sector that is neither all zero nor a sector of some file's contents.
 * Mutations are biased toward these (superblocks, descriptors, inode tables,
 * directories, FATs, path tables); adjacent sectors are merged into one region.
 */
export function metadataRegions(image: Uint8Array): [number, number][] {
  const data = new Set<string>();
  for (const e of FUZZ_TREE) {
    if (e.kind !== 'file') continue;
    const bytes = fixturePattern(e.size, e.seed);
    for (let o = 0; o < bytes.length; o += 512) {
      const s = new Uint8Array(512);
      s.set(bytes.subarray(o, o + 512));
      data.add(Buffer.from(s).toString('latin1'));
    }
  }
  const out: [number, number][] = [];
  for (let o = 0; o + 512 <= image.length; o += 512) {
    const s = image.subarray(o, o + 512);
    if (s.every((b) => b === 0)) continue;
    if (data.has(Buffer.from(s).toString('latin1'))) continue;
    const last = out[out.length - 1];
    if (last && last[0] + last[1] === o) last[1] += 512;
    else out.push([o, 512]);
  }
  return out;
}

export function imageHash(image: Uint8Array): string {
  return createHash('sha256').update(image).digest('hex').slice(0, 16);
}
