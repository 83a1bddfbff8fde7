/**
 * How ffs joins the cross-file-system suite: UFS1 and UFS2 images made by our
 * own newfs, checked after every test body by our checker and, as a second
 * oracle, by sleuthkit's `fls -r` reading the whole tree.
 */

import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { MemoryDevice } from '../../dev/blockdev.js';
import type { FsTestProfile } from '../../testing/profile.js';
import { run, tempDir } from '../../testing/tools.js';
import { hostServices } from '../../testing/services.js';
import { parseOptions } from '../../vfs/types.js';
import { fsckFfs } from './fsck.js';
import { ffs } from './index.js';

const services = hostServices;

const ZEROS = Buffer.alloc(65536);

/** Writes an image leaving all-zero 64 KiB runs as holes: a fresh image is mostly zeros, and this is the slow part of a check. */
async function writeSparse(path: string, image: Uint8Array): Promise<void> {
  const fh = await open(path, 'w');
  try {
    const CH = 65536;
    for (let off = 0; off < image.length; off += CH) {
      const piece = image.subarray(off, Math.min(image.length, off + CH));
      const zero = Buffer.from(piece.buffer, piece.byteOffset, piece.length).equals(ZEROS.subarray(0, piece.length));
      if (!zero) await fh.write(piece, 0, piece.length, off);
    }
    await fh.truncate(image.length);
  } finally {
    await fh.close();
  }
}

async function check(image: Uint8Array, fstype: 'ufs1' | 'ufs2'): Promise<void> {
  const problems = await fsckFfs(image);
  if (problems.length > 0) throw new Error(`ffs checker: ${problems.length} problems:\n${problems.join('\n')}`);
  const t = await tempDir('ffs-check-');
  try {
    const img = join(t.path, 'img');
    await writeSparse(img, image);
    const r = await run('fls', ['-r', '-f', fstype, img], { allowFail: true });
    if (r.code !== 0) throw new Error(`fls -r exited ${r.code}: ${r.stderr.trim()}`);
  } finally {
    await t.cleanup();
  }
}

function profile(version: 1 | 2): FsTestProfile {
  return {
    name: `ufs${version}`,
    component: ffs,
    capabilities: { ...ffs.capabilities },
    async makeImage(size: number): Promise<Uint8Array> {
      const dev = MemoryDevice.zeroed(size);
      await ffs.newfs!(dev, { options: parseOptions(`version=${version}`) }, services);
      return dev.bytes;
    },
    check: (image) => check(image, version === 1 ? 'ufs1' : 'ufs2'),
  };
}

export const profiles: FsTestProfile[] = [profile(1), profile(2)];
