/**
 * newfs: UFS1 and UFS2, both byte orders, sizes from 1 MiB up, block and
 * fragment sizes as asked. Each fresh file system is clean for our checker,
 * sleuthkit's fsstat reports the geometry we asked for, and it takes files
 * until ENOSPC and stays consistent.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from '../../../src/testing/hostfs.js';
import { join } from 'node:path';
import { MemoryDevice } from '../../../src/dev/blockdev.js';
import { parseOptions } from '../../../src/vfs/types.js';
import { run, tempDir } from '../../../src/testing/tools.js';
import { ffs } from '../../../src/fs/ffs/index.js';
import { fsckFfs } from '../../../src/fs/ffs/fsck.js';
import { services, mountBytes, pattern } from './helpers.js';

async function fsstat(img: Uint8Array, fstype: string): Promise<string> {
  const t = await tempDir('ffs-newfs-');
  try {
    await writeFile(join(t.path, 'img'), img);
    return (await run('fsstat', ['-f', fstype, join(t.path, 'img')])).stdout.toString('utf8');
  } finally {
    await t.cleanup();
  }
}

const cases: Array<[number, string, number, number]> = [
  [1 << 20, 'version=1', 8192, 1024],
  [1 << 20, 'version=2', 8192, 1024],
  [(1 << 20) + 512 * 7, 'version=2,endian=be', 8192, 1024],
  [3 << 20, 'version=1,bsize=4096,fsize=512,endian=be', 4096, 512],
  [40 << 20, 'version=2,bsize=32768,fsize=4096', 32768, 4096],
  [24 << 20, 'version=1,bsize=16384,fsize=16384', 16384, 16384],
];

for (const [size, opts, bsize, fsize] of cases) {
  test(`newfs ${opts} on ${size} bytes`, async () => {
    const dev = MemoryDevice.zeroed(size);
    await ffs.newfs!(dev, { options: parseOptions(opts), label: 'vol1' }, services);
    const img = dev.bytes;
    assert.deepEqual(await fsckFfs(img), []);
    const p = await ffs.probe!(dev);
    assert.equal(p?.label, 'vol1');
    assert.equal(p?.variant, `${opts.includes('version=1') ? 'UFS1' : 'UFS2'}${opts.includes('endian=be') ? ' (big-endian)' : ''}`);
    const st = await fsstat(img, opts.includes('version=1') ? 'ufs1' : 'ufs2');
    assert.match(st, new RegExp(`Block Size: ${bsize}\\b`));
    assert.match(st, new RegExp(`Fragment Size: ${fsize}\\b`));
    // Fill it: files of mixed sizes until the space runs out, then check.
    const m = await mountBytes(img, false);
    const root = await m.vget(m.rootKey);
    const t = services.now();
    let i = 0;
    let full = false;
    while (!full && i < 2000) {
      try {
        const k = await root.create(`f${i}`, { type: 'reg', mode: 0o644, uid: 0, gid: 0, time: t });
        await (await m.vget(k)).write(pattern(i % 3 === 0 ? 70000 : 1500 + i, i), 0, t);
      } catch (e) {
        assert.ok((e as { code?: string }).code === 'ENOSPC', String(e));
        full = true;
      }
      i++;
    }
    if (size < 8 << 20) assert.ok(full, 'a small file system fills up');
    await m.unmount();
    assert.deepEqual(await fsckFfs(img), [], `after ${i} files`);
  });
}

test('newfs refuses bad options and devices too small', async () => {
  const bad = ['version=3', 'bsize=3000', 'fsize=16384,bsize=8192', 'bsize=8192,fsize=512', 'endian=middle'];
  for (const o of bad) {
    await assert.rejects(ffs.newfs!(MemoryDevice.zeroed(4 << 20), { options: parseOptions(o) }, services), { code: 'EINVAL' }, o);
  }
  await assert.rejects(ffs.newfs!(MemoryDevice.zeroed(64 << 10), { options: parseOptions('') }, services), { code: 'ENOSPC' });
});
