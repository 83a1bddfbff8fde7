/**
 * Reading the mke2fs variants: ext3, 1 KiB blocks, 128-byte inodes, no
 * metadata_csum/64bit (gdt_csum), meta_bg, sparse_super2 — each from a tree
 * made by mke2fs -d, compared against the host tree.
 */

import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { join } from 'node:path';
import { tempDir } from '../../../src/testing/tools.js';
import { compareTree, mke2fs, mountImage, sharedTree } from './helpers.js';

const work = await tempDir('ext2fs-variants-');
after(async () => {
  await work.cleanup();
  await (await sharedTree()).cleanup();
});
const opts = { files: 200, bigDir: 100, noSparse: true };

const variants: [string, string, string[]][] = [
  ['ext3', 'ext3', []],
  ['ext2 revision 0', 'ext2', ['-r', '0']],
  ['ext4 with 1 KiB blocks', 'ext4', ['-b', '1024']],
  ['ext4 with 128-byte inodes', 'ext4', ['-I', '128']],
  ['ext4 without metadata_csum and 64bit', 'ext4', ['-O', '^metadata_csum,^64bit']],
  ['ext4 with meta_bg', 'ext4', ['-O', 'meta_bg,^resize_inode']],
  ['ext4 with sparse_super2', 'ext4', ['-O', 'sparse_super2']],
];

for (const [name, type, extra] of variants) {
  test(`reads a tree from ${name}`, async () => {
    const tree = await sharedTree(opts);
    const img = join(work.path, `${name.replace(/\W+/g, '_')}.img`);
    const bytes = await mke2fs(img, type, '48M', extra, tree.path);
    const m = await mountImage(bytes);
    const n = await compareTree(m, tree.path);
    assert.ok(n > 300, `compared ${n} files`);
    await m.unmount();
  });
}
