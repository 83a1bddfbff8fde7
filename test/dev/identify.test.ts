// identifyForeign on images made by the real tools of each foreign format, and on our own formats
// (which it must not claim).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile, truncate, mkdir, open } from '../../src/testing/hostfs.js';
import { join } from 'node:path';
import { MemoryDevice, SubDevice } from '../../src/dev/blockdev.js';
import { identifyForeign } from '../../src/dev/identify.js';
import { run, tempDir } from '../../src/testing/tools.js';

const MiB = 1024 * 1024;

async function made(size: number, make: (path: string, dir: string) => Promise<unknown>): Promise<Uint8Array> {
  const t = await tempDir();
  try {
    const p = join(t.path, 'img');
    await writeFile(p, '');
    if (size > 0) await truncate(p, size);
    await make(p, t.path);
    // The signatures sit in the first 68 KiB: 1 MiB of the image is plenty (XFS images are 300 MiB).
    const fh = await open(p, 'r');
    try {
      const buf = new Uint8Array(Math.min(MiB, (await fh.stat()).size));
      await fh.read(buf, 0, buf.length, 0);
      return buf.subarray(0, buf.length - (buf.length % 512));
    } finally {
      await fh.close();
    }
  } finally {
    await t.cleanup();
  }
}

const cases: [string, number, (p: string, dir: string) => Promise<unknown>][] = [
  ['swap', 8 * MiB, (p) => run('mkswap', [p])],
  ['NTFS', 8 * MiB, (p) => run('mkntfs', ['-F', '-f', '-q', p])],
  ['exFAT', 8 * MiB, (p) => run('mkfs.exfat', [p])],
  ['btrfs', 128 * MiB, (p) => run('mkfs.btrfs', ['-q', '-f', p])],
  ['XFS', 320 * MiB, (p) => run('mkfs.xfs', ['-q', '-f', p])],
  ['LUKS', 20 * MiB, (p) => run('cryptsetup', ['luksFormat', '--batch-mode', '--type', 'luks2', '--pbkdf', 'pbkdf2', '--pbkdf-force-iterations', '1000', '--key-file', '-', p], { input: 'secret' })],
  ['squashfs', 0, async (p, dir) => {
    const src = join(dir, 'src');
    await mkdir(src);
    await writeFile(join(src, 'a'), 'hello');
    return run('mksquashfs', [src, p, '-noappend', '-quiet']);
  }],
];

for (const [name, size, make] of cases) {
  test(`identifyForeign names ${name} made by its own tool`, async () => {
    const img = await made(size, make);
    assert.equal(await identifyForeign(new MemoryDevice(img)), name);
    // The same inside a partition (a wedge at 1 MiB).
    const disk = new Uint8Array(MiB + img.length + (512 - (img.length % 512)) % 512);
    disk.set(img, MiB);
    assert.equal(await identifyForeign(new SubDevice(new MemoryDevice(disk), MiB, disk.length - MiB, 'wedge')), name);
  });
}

test('identifyForeign does not claim ext4, FAT or empty devices, and copes with tiny ones', async () => {
  assert.equal(await identifyForeign(new MemoryDevice(await made(8 * MiB, (p) => run('mke2fs', ['-q', '-F', '-t', 'ext4', p])))), null);
  assert.equal(await identifyForeign(new MemoryDevice(await made(8 * MiB, (p) => run('mkfs.fat', [p])))), null);
  assert.equal(await identifyForeign(MemoryDevice.zeroed(MiB)), null);
  assert.equal(await identifyForeign(MemoryDevice.zeroed(512)), null);
  assert.equal(await identifyForeign(MemoryDevice.zeroed(0)), null);
});
