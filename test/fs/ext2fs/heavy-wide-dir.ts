/**
 * Heavy acceptance check, kept out of the regular suite (it takes tens of
 * seconds): a directory of 50,000 entries made by the Linux kernel (a loop
 * mount, so the directory is hashed) is listed and every name looked up
 * through the index here; 5,000 more names are added by this driver (leaf
 * splits), e2fsck -fn must stay clean and Linux must see all 55,000.
 *
 * Run: node --import tsx test/fs/ext2fs/heavy-wide-dir.ts   (needs root for the loop mount)
 */

import assert from 'node:assert/strict';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { readImage, run, tempDir } from '../../../src/testing/tools.js';
import { fsck, listDir, mke2fs, mountImage, resolve, services } from './helpers.js';

const N = 50_000;
const MORE = 5_000;
const work = await tempDir('ext2fs-heavy-');
try {
  const img = join(work.path, 'wide.img');
  await mke2fs(img, 'ext4', '256M', ['-N', '70000']);
  const mnt = join(work.path, 'mnt');
  await mkdir(mnt);
  await run('mount', ['-o', 'loop', img, mnt]);
  try {
    await mkdir(join(mnt, 'wide'));
    for (let i = 0; i < N; i++) await writeFile(join(mnt, 'wide', `a-file-in-a-wide-directory-${i}`), '');
  } finally {
    await run('umount', [mnt]);
  }
  await fsck(img);
  const bytes = await readImage(img);
  let t0 = Date.now();
  const m = await mountImage(bytes, { readonly: false });
  const wide = await resolve(m, '/wide');
  const names = await listDir(wide);
  assert.equal(names.size, N + 2);
  console.log(`listed ${N} entries in ${Date.now() - t0} ms`);
  t0 = Date.now();
  for (let i = 0; i < N; i++) assert.ok((await wide.lookup(`a-file-in-a-wide-directory-${i}`)) !== null, `entry ${i}`);
  console.log(`looked up ${N} names in ${Date.now() - t0} ms`);
  t0 = Date.now();
  const time = services().now();
  for (let i = 0; i < MORE; i++) await wide.create(`added-by-us-${i}`, { type: 'reg', mode: 0o644, uid: 0, gid: 0, time });
  await m.unmount();
  console.log(`added ${MORE} names in ${Date.now() - t0} ms`);
  await writeFile(img, bytes);
  await fsck(img);
  assert.match((await run('debugfs', ['-R', 'htree /wide', img])).stdout.toString(), /Root node dump/);
  await run('mount', ['-o', 'loop,ro', img, mnt]);
  try {
    assert.equal((await readdir(join(mnt, 'wide'))).length, N + MORE);
  } finally {
    await run('umount', [mnt]);
  }
  console.log('ok: e2fsck clean, index kept, Linux sees every name');
} finally {
  await work.cleanup();
}
