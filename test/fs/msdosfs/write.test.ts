/**
 * Trees written by msdosfs into fresh and pre-populated images made by mkfs.fat (+ mcopy -s): fsck.fat -n
 * is clean, and mtools (mcopy -s) and sleuthkit (fls/icat) read back exactly what was written.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { tempDir } from '../../../src/testing/tools.js';
import { O_TRUNC, O_WRONLY } from '../../../src/vfs/fcntl.js';
import {
  diffTrees, fsckFat, makeTree, mountImage, mtoolsExtract, mtoolsImage, readHostTree, readKernelTree, sleuthkitTree, writeKernelTree,
} from './helpers.js';

/** Checks an image against the expected tree with all three oracles. */
async function checkImage(out: Uint8Array, expected: Map<string, Buffer | null>): Promise<void> {
  await fsckFat(out);
  assert.equal(diffTrees(expected, await mtoolsExtract(out)), null, 'mtools');
  const tsk = await sleuthkitTree(out, (rel) => rel.length % 5 === 0);
  for (const [rel, data] of expected) {
    assert.equal(tsk.types.get(rel), data === null ? 'd' : 'r', `fls: ${rel}`);
  }
  assert.equal(tsk.types.size, expected.size, 'fls lists exactly the expected entries');
  assert.ok(tsk.contents.size > 5);
  for (const [rel, data] of tsk.contents) assert.ok(data.equals(expected.get(rel)!), `icat: ${rel}`);
}

for (const F of [12, 16, 32] as const) {
  test(`FAT${F}: a tree written into a fresh image passes fsck.fat and reads back with mtools and sleuthkit`, async () => {
    const t = await tempDir('msdosfs-w-');
    try {
      const src = join(t.path, 'src');
      await makeTree(src, { files: 150, seed: F, maxSize: 8000 });
      const tree = await readHostTree(src);
      const img = await mtoolsImage(F, F === 32 ? 34 * 1024 : F === 16 ? 16 * 1024 : 8 * 1024);
      const { kernel, proc, host } = await mountImage(img);
      await writeKernelTree(proc, tree, '/mnt');
      assert.equal(diffTrees(tree, await readKernelTree(proc, '/mnt')), null);
      await kernel.halt();
      await checkImage(host.fileBytes('image')!, tree);
    } finally {
      await t.cleanup();
    }
  });

  test(`FAT${F}: changes to an image filled by mcopy (add, overwrite, remove, rename) are what mtools and sleuthkit see`, async () => {
    const t = await tempDir('msdosfs-w2-');
    try {
      const src = join(t.path, 'src');
      await makeTree(src, { files: 100, seed: 50 + F, maxSize: 6000 });
      const before = await readHostTree(src);
      const img = await mtoolsImage(F, F === 32 ? 34 * 1024 : F === 16 ? 16 * 1024 : 8 * 1024, src);
      const { kernel, proc, host } = await mountImage(img);
      const expected = new Map(before);
      // New files in a new directory.
      const add = join(t.path, 'add');
      const addTree = await makeTree(add, { files: 50, seed: 90 + F, maxSize: 6000 });
      await proc.mkdir('/mnt/Added Later');
      await writeKernelTree(proc, addTree, '/mnt/Added Later');
      expected.set('Added Later', null);
      for (const [k, v] of addTree) expected.set(`Added Later/${k}`, v);
      // Remove, overwrite and move some of the original files.
      const files = [...before.keys()].filter((k) => before.get(k) !== null);
      for (let i = 0; i < files.length; i++) {
        const rel = files[i]!;
        if (i % 5 === 0) {
          await proc.unlink(`/mnt/${rel}`);
          expected.delete(rel);
        } else if (i % 5 === 1) {
          const data = Buffer.from(`rewritten ${rel} `.repeat(i % 40));
          const fd = await proc.open(`/mnt/${rel}`, O_WRONLY | O_TRUNC);
          await proc.write(fd, data);
          await proc.close(fd);
          expected.set(rel, data);
        } else if (i % 5 === 2) {
          const to = `Added Later/moved ${i} ${rel.split('/').pop()}`;
          await proc.rename(`/mnt/${rel}`, `/mnt/${to}`);
          expected.set(to, expected.get(rel)!);
          expected.delete(rel);
        }
      }
      assert.equal(diffTrees(expected, await readKernelTree(proc, '/mnt')), null);
      await kernel.halt();
      await checkImage(host.fileBytes('image')!, expected);
    } finally {
      await t.cleanup();
    }
  });
}
