/**
 * newfs against mkfs.fat: for the same sizes (and forced types) it picks the same FAT type, cluster size,
 * reserved sectors, FAT size and root directory size; what it makes passes fsck.fat -n, mounts, and is
 * readable by mtools after this driver wrote to it.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { open, readFile, writeFile } from '../../../src/testing/hostfs.js';
import { join } from 'node:path';
import { readImage, run, tempDir } from '../../../src/testing/tools.js';
import { MemoryDevice } from '../../../src/dev/blockdev.js';
import { parseOptions } from '../../../src/vfs/types.js';
import { parseBootSector } from '../../../src/fs/msdosfs/bootsect.js';
import { newfsMsdos } from '../../../src/fs/msdosfs/newfs.js';
import { msdosfs } from '../../../src/fs/msdosfs/index.js';
import { fsckFat, mountImage, mtoolsExtract, MTOOLS_ENV, SparseDevice } from './helpers.js';

const services = {
  now: () => ({ sec: 1700000000, nsec: 0 }),
  log: () => undefined,
  random: (b: Uint8Array) => b.fill(7),
  monotonic: () => 0n,
};

const CASES: { kib: number; fat?: 12 | 16 | 32 }[] = [
  { kib: 1440 }, { kib: 4600 }, { kib: 8192 }, { kib: 10240 }, { kib: 20000 }, { kib: 65536 }, { kib: 300000 },
  { kib: 600000 }, { kib: 65536, fat: 12 }, { kib: 65536, fat: 32 }, { kib: 40000, fat: 32 }, { kib: 600000, fat: 16 },
];

test('newfs picks the layout mkfs.fat picks', async () => {
  const t = await tempDir('msdosfs-newfs-');
  try {
    for (const c of CASES) {
      const img = join(t.path, `${c.kib}-${c.fat ?? 0}.img`);
      await run('mkfs.fat', [...(c.fat ? ['-F', String(c.fat)] : []), '-C', img, String(c.kib)]);
      const fh = await open(img, 'r');
      const head = new Uint8Array(512);
      await fh.read(head, 0, 512, 0);
      await fh.close();
      const theirs = parseBootSector(head, c.kib * 1024);
      const dev = c.kib <= 20000 ? MemoryDevice.zeroed(c.kib * 1024) : new SparseDevice(c.kib * 1024);
      await newfsMsdos(dev, { options: parseOptions(c.fat ? { fat: c.fat } : {}) }, services);
      const sec = new Uint8Array(512);
      await dev.read(sec, 0);
      const ours = parseBootSector(sec, dev.size);
      const pick = (g: typeof ours) => [g.type, g.sectorsPerCluster, g.reservedSectors, g.fatSectors, g.rootEntries, g.totalSectors, g.clusterCount];
      assert.deepEqual(pick(ours), pick(theirs), `layout for ${c.kib} KiB${c.fat ? ` -F ${c.fat}` : ''}: [type, spc, reserved, fat, root, total, clusters]`);
      if (dev instanceof MemoryDevice) await fsckFat(dev.bytes);
    }
  } finally {
    await t.cleanup();
  }
});

test('newfs with a label: probe, mtools and fsck.fat see it; files written afterwards read back with mtools', async () => {
  for (const fat of [12, 16, 32] as const) {
    const dev = MemoryDevice.zeroed(fat === 32 ? 40 * 1024 * 1024 : fat === 16 ? 16 * 1024 * 1024 : 4 * 1024 * 1024);
    await newfsMsdos(dev, { options: parseOptions({ fat }), label: 'Anykernel' }, services);
    const probe = await msdosfs.probe!(dev);
    assert.equal(probe?.variant, `FAT${fat}`);
    assert.equal(probe?.label, 'ANYKERNEL');
    assert.equal(probe?.uuid, '0707-0707');
    await fsckFat(dev.bytes);
    const t = await tempDir('msdosfs-lbl-');
    try {
      const img = join(t.path, 'l.img');
      await writeFile(img, dev.bytes);
      const r = await run('mlabel', ['-s', '-i', img, '::'], { env: MTOOLS_ENV });
      assert.match(r.stdout.toString(), /ANYKERNEL/);
      // A label changed by mlabel (root directory entry) is what probe reports.
      await run('mlabel', ['-i', img, '::Relabeled'], { env: MTOOLS_ENV });
      const relabeled = await readImage(img);
      assert.equal((await msdosfs.probe!(new MemoryDevice(relabeled)))?.label, 'RELABELED');
    } finally {
      await t.cleanup();
    }
    const { kernel, proc, host } = await mountImage(dev.bytes);
    await proc.mkdir('/mnt/Sub Dir');
    const fd = await proc.open('/mnt/Sub Dir/hello world.txt', 0o101, 0o644);
    await proc.write(fd, Buffer.from('hello'));
    await proc.close(fd);
    await kernel.halt();
    const out = host.fileBytes('image')!;
    await fsckFat(out);
    const tree = await mtoolsExtract(out);
    assert.equal(tree.get('Sub Dir/hello world.txt')?.toString(), 'hello');
  }
});
