/**
 * The Linux kernel as the oracle, through loop mounts: images made and
 * written by this component mount in Linux and show the same tree; a tree
 * written by Linux (its htree directories, extents, timestamps) reads back
 * here identically. Needs root and loop devices (a loud failure otherwise).
 */

import assert from 'node:assert/strict';
import { mkdir, writeFile } from '../../../src/testing/hostfs.js';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { MemoryDevice } from '../../../src/dev/blockdev.js';
import { ext2fs } from '../../../src/fs/ext2fs/index.js';
import { readImage, run, tempDir } from '../../../src/testing/tools.js';
import { parseOptions } from '../../../src/vfs/types.js';
import { compareTree, copyIn, fsck, makeTree, mke2fs, mountImage, services } from './helpers.js';
import { readFile } from 'node:fs/promises';

let work: { path: string; cleanup: () => Promise<void> };
let tree: string;
before(async () => {
  work = await tempDir('ext2fs-loop-');
  tree = join(work.path, 'tree');
  await mkdir(tree);
  await makeTree(tree, { files: 300, bigDir: 700, noSparse: true, hugeSparse: false });
});
after(() => work.cleanup());

async function withLoop<T>(img: string, ro: boolean, body: (dir: string) => Promise<T>): Promise<T> {
  const dir = join(work.path, `mnt-${Math.random().toString(36).slice(2)}`);
  await mkdir(dir);
  await run('mount', ['-t', 'ext4', '-o', `loop,${ro ? 'ro' : 'rw'}`, img, dir]);
  try {
    return await body(dir);
  } finally {
    await run('umount', [dir]);
  }
}

/** Compares two host trees: names, types, modes, owners, sizes, nanosecond mtimes of files, contents and targets. */
async function sameTrees(a: string, b: string): Promise<void> {
  const fsp = await import('node:fs/promises');
  const stack = [''];
  while (stack.length) {
    const rel = stack.pop()!;
    const na = (await fsp.readdir(join(a, rel))).filter((x) => x !== 'lost+found').sort();
    const nb = (await fsp.readdir(join(b, rel))).filter((x) => x !== 'lost+found').sort();
    assert.deepEqual(nb, na, `entries of /${rel}`);
    for (const name of na) {
      const sa = await fsp.lstat(join(a, rel, name), { bigint: true });
      const sb = await fsp.lstat(join(b, rel, name), { bigint: true });
      const where = `/${join(rel, name)}`;
      assert.equal(sb.mode, sa.mode, `mode of ${where}`);
      assert.equal(sb.uid, sa.uid, `uid of ${where}`);
      assert.equal(sb.gid, sa.gid, `gid of ${where}`);
      assert.equal(sb.nlink, sa.nlink, `nlink of ${where}`);
      if (sa.isDirectory()) stack.push(join(rel, name));
      else {
        assert.equal(sb.mtimeNs, sa.mtimeNs, `mtime of ${where}`);
        if (sa.isSymbolicLink()) assert.equal(await fsp.readlink(join(b, rel, name)), await fsp.readlink(join(a, rel, name)));
        else assert.ok((await fsp.readFile(join(b, rel, name))).equals(await fsp.readFile(join(a, rel, name))), `content of ${where}`);
      }
    }
  }
}

test('an ext4 made by newfs and filled by this driver mounts in Linux and shows the tree', async () => {
  const dev = MemoryDevice.zeroed(64 << 20);
  await ext2fs.newfs!(dev, { options: parseOptions('type=ext4') }, services());
  const m = await mountImage(dev.bytes, { readonly: false });
  await copyIn(m, tree);
  await m.unmount();
  const img = join(work.path, 'ours.img');
  await writeFile(img, dev.bytes);
  await fsck(img);
  await withLoop(img, true, (dir) => sameTrees(tree, dir));
  // Linux goes on writing into what we wrote: new names in our directories, appends to our files.
  await withLoop(img, false, async (dir) => {
    for (let i = 0; i < 200; i++) await writeFile(join(dir, 'wide', `linux-${i}`), 'x');
    await writeFile(join(dir, 'd0', 'f0.dat'), 'appended', { flag: 'a' });
    await run('rm', ['-rf', join(dir, 'd1')]);
  });
  await fsck(img);
});

test('a tree written by Linux (kernel htree directories and extents) reads back identically', async () => {
  const img = join(work.path, 'linux.img');
  await mke2fs(img, 'ext4', '64M', ['-b', '1024']);
  await withLoop(img, false, async (dir) => {
    await run('cp', ['-a', `${tree}/.`, dir]);
  });
  await fsck(img);
  const m = await mountImage(await readImage(img));
  await compareTree(m, tree, { nsec: true });
});

test('a copy of an image taken while Linux has it mounted is recovered in memory and shows the synced tree', async () => {
  const { copyFile } = await import('node:fs/promises');
  const { createHash } = await import('node:crypto');
  const img = join(work.path, 'live.img');
  const snap = join(work.path, 'snapshot.img');
  await mke2fs(img, 'ext4', '64M', ['-b', '4096']);
  await withLoop(img, false, async (dir) => {
    await run('cp', ['-a', `${tree}/.`, dir]);
    await run('sync', ['-f', dir]);
    await copyFile(img, snap);
  });
  assert.match((await run('dumpe2fs', ['-h', snap])).stdout.toString(), /needs_recovery/);
  assert.match((await run('debugfs', ['-R', 'logdump', snap])).stdout.toString(), /commit block/, 'the journal holds transactions');
  const bytes = await readImage(snap);
  const sum = createHash('sha256').update(bytes).digest('hex');
  const log: string[] = [];
  const m = await mountImage(bytes, { log });
  assert.ok(log.some((l) => /journal replayed in memory/.test(l)), log.join('\n'));
  await compareTree(m, tree, { nsec: true });
  assert.equal(createHash('sha256').update(bytes).digest('hex'), sum, 'image untouched');
});
