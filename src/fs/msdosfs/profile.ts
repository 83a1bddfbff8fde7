/**
 * How msdosfs joins the cross-file-system suite: FAT12 (a small image), FAT16 and FAT32, each made by this
 * component's newfs and checked after every test body with dosfstools' `fsck.fat -n`.
 */

import { hostServices } from '../../testing/services.js';
import { MemoryDevice } from '../../dev/blockdev.js';
import type { FsTestProfile } from '../../testing/profile.js';
import { requireTool, run, tempDir } from '../../testing/tools.js';
import { parseOptions } from '../../vfs/types.js';
import { msdosfs } from './index.js';
import { newfsMsdos } from './newfs.js';

const services = hostServices;

const MiB = 1024 * 1024;

async function makeImage(bytes: number, fat: 12 | 16 | 32): Promise<Uint8Array> {
  const dev = MemoryDevice.zeroed(bytes);
  await newfsMsdos(dev, { options: parseOptions({ fat }) }, services);
  return dev.bytes;
}

/** Runs `fsck.fat -n` on the image; throws with its report unless it exits 0. */
export async function fsckFatImage(image: Uint8Array): Promise<void> {
  const fsck = requireTool('fsck.fat');
  const t = await tempDir('msdosfs-check-');
  try {
    // The image reaches the checker through a file written by the shell, so this file needs no host imports.
    const r = await run('sh', ['-c', 'cat > "$1" && exec "$0" -n "$1"', fsck, `${t.path}/image`], { input: image, allowFail: true });
    if (r.code !== 0) throw new Error(`fsck.fat -n exited ${r.code}:\n${r.stdout.toString('utf8')}${r.stderr}`);
  } finally {
    await t.cleanup();
  }
}

const capabilities = { ...msdosfs.capabilities };

export const profiles: FsTestProfile[] = [
  {
    name: 'fat12',
    component: msdosfs,
    capabilities,
    // FAT12 tops out near 4085 clusters: a small image keeps its clusters small.
    makeImage: (size) => makeImage(Math.min(size, 8 * MiB), 12),
    check: fsckFatImage,
  },
  {
    name: 'fat16',
    component: msdosfs,
    capabilities,
    makeImage: (size) => makeImage(Math.max(size, 16 * MiB), 16),
    check: fsckFatImage,
  },
  {
    name: 'fat32',
    component: msdosfs,
    capabilities,
    // FAT32 needs at least 65525 clusters: 34 MiB at 512-byte clusters.
    makeImage: (size) => makeImage(Math.max(size, 34 * MiB), 32),
    check: fsckFatImage,
  },
];
