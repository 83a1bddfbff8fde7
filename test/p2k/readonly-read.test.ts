/**
 * The read path of a read-only rump mount: the host kernel sends no OPEN/RELEASE (FUSE no_open) and files
 * read in listing order are read ahead (bridge.ts, prefetchAfter). Whatever a reader gets must be exactly the
 * image's bytes, at every size around the host's read windows, in order and out of order; a file whose
 * blocks point off the disk must still answer EIO, read ahead or not. The oracle is the tree mke2fs -d was given.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { run, tempDir, requireTool } from '../../src/testing/tools.js';
import { withMount, mustSh, sh, modulePath } from './helpers.js';
import { SPIN_SIZE } from './fixtures/spinread.js';

const EXT2FS = modulePath('../../src/fs/ext2fs/index');

/** Sizes around page, first-window (16 KiB) and readahead-window (128 KiB) boundaries. */
const SIZES = [0, 1, 4095, 4096, 4097, 16383, 16384, 16385, 65536, 131071, 131072, 131073, 300_000, (1 << 20) + 5];

async function makeTree(root: string): Promise<void> {
  for (const d of ['a', 'a/sub', 'b', 'many']) await fs.mkdir(join(root, d), { recursive: true });
  let i = 0;
  for (const size of SIZES) {
    await fs.writeFile(join(root, 'a', `f${i}`), randomBytes(size));
    await fs.writeFile(join(root, 'a', 'sub', `g${i}`), randomBytes(size));
    // A subdirectory between files of b: the reader leaves the listing and comes back to it.
    if (i % 5 === 2) await fs.mkdir(join(root, 'b', `d${i}`));
    if (i % 5 === 2) await fs.writeFile(join(root, 'b', `d${i}`, 'inner'), randomBytes(size + 3));
    await fs.writeFile(join(root, 'b', `f${i}`), randomBytes(size));
    i++;
  }
  for (let k = 0; k < 120; k++) await fs.writeFile(join(root, 'many', `m${k}`), `small file ${k}\n`.repeat(k));
  await fs.symlink('a/f3', join(root, 'link'));
}

async function readStats(file: string): Promise<Record<string, number>> {
  return JSON.parse(await fs.readFile(file, 'utf8')) as Record<string, number>;
}

test('read-only mount: tar, cp and reads at offsets get the exact bytes; no OPEN is sent and files are read ahead', async () => {
  requireTool('mke2fs');
  const dir = await tempDir('p2k-ro-');
  const statsFile = join(dir.path, 'stats.json');
  try {
    const tree = join(dir.path, 'tree');
    await makeTree(tree);
    const img = join(dir.path, 'disk.img');
    await run('mke2fs', ['-q', '-F', '-t', 'ext4', '-b', '4096', '-d', tree, img, '64M']);
    process.env['P2K_STATS'] = statsFile;
    try {
      await withMount({ image: img, type: 'ext4', options: { componentModules: [EXT2FS] } }, async (mnt) => {
        // In listing order, as tar goes.
        const out = join(dir.path, 'out');
        await fs.mkdir(out);
        await mustSh('sh', ['-c', `tar -C '${mnt}' -cf - . | tar -C '${out}' -xf -`]);
        await mustSh('diff', ['-r', '--no-dereference', '-x', 'lost+found', tree, out]);
        // Again with cp in another order of directories (the host page cache now answers most of it).
        await mustSh('cp', ['-a', join(mnt, 'b'), join(dir.path, 'cp-b')]);
        await mustSh('diff', ['-r', join(tree, 'b'), join(dir.path, 'cp-b')]);
        // Out of order: windows in the middle and at the end of files never read before.
        for (const [name, off, len] of [['a/sub/g12', 200_000, 70_000], ['a/sub/g13', (1 << 20) - 3, 100], ['a/sub/g10', 131_070, 10]] as const) {
          const want = (await fs.readFile(join(tree, name))).subarray(off, off + len);
          const fh = await fs.open(join(mnt, name), 'r');
          try {
            const buf = Buffer.alloc(len);
            const { bytesRead } = await fh.read(buf, 0, len, off);
            assert.deepEqual(buf.subarray(0, bytesRead), want, `${name} at ${off}`);
          } finally {
            await fh.close();
          }
        }
      });
    } finally {
      delete process.env['P2K_STATS'];
    }
    const stats = await readStats(statsFile);
    assert.ok((stats['OPEN'] ?? 0) <= 1, `the host kernel stopped sending OPEN (${stats['OPEN']})`);
    assert.equal(stats['RELEASE'] ?? 0, 0, 'nor RELEASE');
    assert.ok((stats['prefetch-hit'] ?? 0) > 100, `READs answered from files read ahead (${JSON.stringify(stats)})`);
  } finally {
    await dir.cleanup();
  }
});

test('read-only mount: a file whose block points off the disk answers EIO, read ahead or not; its neighbours read fine', async () => {
  requireTool('mke2fs');
  requireTool('debugfs');
  const dir = await tempDir('p2k-ro-bad-');
  try {
    const tree = join(dir.path, 'tree');
    await fs.mkdir(join(tree, 'd'), { recursive: true });
    for (let i = 0; i < 12; i++) await fs.writeFile(join(tree, 'd', `f${i}`), randomBytes(6000 + i));
    const img = join(dir.path, 'disk.img');
    // ext2: block maps, so one debugfs command sends a block pointer off the disk.
    await run('mke2fs', ['-q', '-F', '-t', 'ext2', '-b', '4096', '-d', tree, img, '16M']);
    await run('debugfs', ['-w', '-R', 'sif /d/f6 block[0] 4000000000', img]);
    await withMount({ image: img, type: 'ext2', options: { componentModules: [EXT2FS] } }, async (mnt) => {
      // Through cat: tar writing to /dev/null itself would not read the data.
      const t = await sh('bash', ['-c', `set -o pipefail; cd '${mnt}' && tar -cf - . | cat > /dev/null`], { timeoutMs: 60_000 });
      assert.notEqual(t.code, 0, `tar reports the bad file: ${t.out}`);
      assert.match(t.out, /f6.*Input\/output error/, 'tar saw EIO for d/f6');
      assert.doesNotMatch(t.out, /f[0-57-9]\b.*error|f1[01].*error/, 'and only for it');
      await assert.rejects(fs.readFile(join(mnt, 'd', 'f6')), { code: 'EIO' });
      for (const i of [5, 7]) assert.deepEqual(await fs.readFile(join(mnt, 'd', `f${i}`)), await fs.readFile(join(tree, 'd', `f${i}`)));
    });
  } finally {
    await dir.cleanup();
  }
});

test('read-only mount: a driver spinning while a file is read ahead: the watchdog kills the server, readers get EIO, nothing hangs', async () => {
  requireTool('mke2fs');
  const dir = await tempDir('p2k-ro-spin-');
  try {
    const tree = join(dir.path, 'tree');
    await fs.mkdir(join(tree, 'd'), { recursive: true });
    // f4 has the size the test driver spins on; tar reaches it in listing order, so it is read ahead.
    for (let i = 0; i < 10; i++) await fs.writeFile(join(tree, 'd', `f${i}`), randomBytes(i === 4 ? SPIN_SIZE : 5000 + i));
    const img = join(dir.path, 'disk.img');
    await run('mke2fs', ['-q', '-F', '-t', 'ext2', '-b', '4096', '-d', tree, img, '16M']);
    const spinread = modulePath('./fixtures/spinread');
    await withMount({ image: img, type: 'spinread', options: { timeoutMs: 1500, componentModules: [spinread] } }, async (mnt) => {
      const t0 = performance.now();
      const t = await sh('bash', ['-c', `set -o pipefail; cd '${mnt}' && tar -cf - . | cat > /dev/null`], { timeoutMs: 30_000 });
      const took = performance.now() - t0;
      assert.notEqual(t.code, 0, 'tar fails');
      assert.match(t.out, /Input\/output error/, 'with EIO');
      // The watchdog catches a call between 1.5 and 1.875 s; the rest is tar and slack for a loaded machine.
      assert.ok(took < 15_000, `tar ended in ${took.toFixed(0)} ms`);
      await assert.rejects(fs.readFile(join(mnt, 'd', 'f9')), { code: 'EIO' });
    });
  } finally {
    await dir.cleanup();
  }
});
