/**
 * How ext2fs joins the cross-file-system suite: an ext4 image made by our own
 * newfs and an ext2 image made by the real mke2fs (so both paths are covered;
 * lost+found left out, as the suite wants an empty root), each checked after
 * every test body by `e2fsck -fn`.
 */

import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MemoryDevice } from '../../dev/blockdev.js';
import type { FsTestProfile } from '../../testing/profile.js';
import { readImage, run, tempDir } from '../../testing/tools.js';
import { hostServices } from '../../testing/services.js';
import { parseOptions } from '../../vfs/types.js';
import { ext2fs } from './index.js';

const services = hostServices;

async function ourNewfs(type: 'ext2' | 'ext4', size: number): Promise<Uint8Array> {
  const dev = MemoryDevice.zeroed(size);
  await ext2fs.newfs!(dev, { options: parseOptions(`type=${type},blocksize=4096,nolostfound`) }, services);
  return dev.bytes;
}

async function mke2fs(type: 'ext2' | 'ext4', size: number): Promise<Uint8Array> {
  const t = await tempDir('ext2fs-profile-');
  try {
    const img = join(t.path, 'img');
    await run('mke2fs', ['-q', '-F', '-t', type, '-b', '4096', img, `${Math.floor(size / 1024)}k`]);
    // The suite expects an empty root; e2fsck is clean without lost+found (it makes one only when needed).
    await run('debugfs', ['-w', '-R', 'rmdir lost+found', img]);
    return await readImage(img);
  } finally {
    await t.cleanup();
  }
}

/** Runs e2fsck -fn on the image; throws with its report unless it exits 0. */
export async function e2fsckImage(image: Uint8Array): Promise<void> {
  const t = await tempDir('ext2fs-check-');
  try {
    const img = join(t.path, 'img');
    await writeFile(img, image);
    const r = await run('e2fsck', ['-fn', img], { allowFail: true });
    if (r.code !== 0) throw new Error(`e2fsck -fn exited ${r.code}:\n${r.stdout.toString('utf8')}${r.stderr}`);
  } finally {
    await t.cleanup();
  }
}

function profile(type: 'ext2' | 'ext4', maker: 'newfs' | 'mke2fs'): FsTestProfile {
  return {
    name: type,
    component: ext2fs,
    capabilities: { ...ext2fs.capabilities },
    makeImage: (size) => (maker === 'newfs' ? ourNewfs(type, size) : mke2fs(type, size)),
    check: e2fsckImage,
  };
}

export const profiles: FsTestProfile[] = [profile('ext2', 'mke2fs'), profile('ext4', 'newfs')];
