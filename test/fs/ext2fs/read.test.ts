/**
 * Reading images made by the real mke2fs -d from a generated tree (a few
 * thousand files, a wide hashed directory, odd names, links, sparse and
 * > 4 GiB files): everything reads back as the host tree has it.
 */

import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { join } from 'node:path';
import { tempDir } from '../../../src/testing/tools.js';
import { compareTree, debugfs, indexDirs, mke2fs, mountImage, resolve, sharedTree } from './helpers.js';

const work = await tempDir('ext2fs-read-');
after(async () => {
  await work.cleanup();
  await (await sharedTree()).cleanup();
});
const opts = { files: 1000, bigDir: 1000 };

test('reads a tree from ext4 with hashed directories (mke2fs -d, e2fsck -D)', async () => {
  const tree = await sharedTree(opts);
  const img = join(work.path, 'ext4.img');
  await mke2fs(img, 'ext4', '64M', [], tree.path);
  const bytes = await indexDirs(img);
  assert.match(await debugfs(img, 'htree /wide'), /Root node dump/);
  const m = await mountImage(bytes);
  const n = await compareTree(m, tree.path);
  assert.ok(n > 2000, `compared ${n} files`);
  const wide = await resolve(m, '/wide');
  for (const i of [0, 1, 500, 999]) assert.ok((await wide.lookup(`entry-with-a-longish-name-${i}`)) !== null, `entry ${i}`);
  assert.equal(await wide.lookup('entry-with-a-longish-name-1000'), null);
  await m.unmount();
});

test('reads a tree from ext2 (block maps up to triple indirect)', async () => {
  const tree = await sharedTree(opts);
  const img = join(work.path, 'ext2.img');
  const bytes = await mke2fs(img, 'ext2', '64M', [], tree.path);
  const m = await mountImage(bytes);
  const n = await compareTree(m, tree.path);
  assert.ok(n > 2000, `compared ${n} files`);
  await m.unmount();
});
