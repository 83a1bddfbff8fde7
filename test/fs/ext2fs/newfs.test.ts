/**
 * newfs: ext2, ext3 and ext4 of several sizes and options, each judged by
 * e2fsck -fn and dumpe2fs; a tree written into a fresh one reads back
 * through debugfs.
 */

import assert from 'node:assert/strict';
import { writeFile } from '../../../src/testing/hostfs.js';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { MemoryDevice } from '../../../src/dev/blockdev.js';
import { ext2fs } from '../../../src/fs/ext2fs/index.js';
import { run, tempDir } from '../../../src/testing/tools.js';
import { parseOptions } from '../../../src/vfs/types.js';
import { compareWithDebugfs, copyIn, debugfs, fsck, makeTree, mountImage, services } from './helpers.js';

const work = await tempDir('ext2fs-newfs-');
after(() => work.cleanup());

async function make(size: number, options: string): Promise<{ bytes: Uint8Array; img: string }> {
  const dev = MemoryDevice.zeroed(size);
  dev.bytes.fill(0xa5); // newfs must not rely on a zeroed device
  await ext2fs.newfs!(dev, { options: parseOptions(options) }, services());
  const img = join(work.path, `${size}-${options.replace(/\W+/g, '_')}.img`);
  await writeFile(img, dev.bytes);
  return { bytes: dev.bytes, img };
}

const cases: [number, string, RegExp][] = [
  [1 << 20, 'type=ext2', /Filesystem features:\s+ext_attr dir_index filetype sparse_super large_file/],
  [1 << 20, 'type=ext4', /extent 64bit flex_bg sparse_super large_file huge_file dir_nlink extra_isize metadata_csum/],
  [8 << 20, 'type=ext3,label=vol3', /has_journal/],
  [64 << 20, 'type=ext4', /has_journal.*extent.*flex_bg/],
  [300 << 20, 'type=ext4,blocksize=1024', /Flex block group size:\s+\d+/],
  [64 << 20, 'type=ext4,blocksize=4096,inode_size=128,features=^metadata_csum+^64bit', /Inode size:\s+128/],
  [48 << 20, 'type=ext4,^metadata_csum,uninit_bg,^64bit,inode_ratio=8192', /features:.*uninit_bg/],
  [64 << 20, 'type=ext2,blocksize=2048,uuid=0123456789abcdef0123456789abcdef,label=two', /Filesystem UUID:\s+01234567-89ab-cdef-0123-456789abcdef/],
];

for (const [size, options, expect] of cases) {
  test(`newfs ${options} on ${size >> 20} MiB is clean for e2fsck`, async () => {
    const { img } = await make(size, options);
    await fsck(img);
    const info = (await run('dumpe2fs', ['-h', img])).stdout.toString();
    assert.match(info, expect);
    if (/\^metadata_csum/.test(options)) assert.doesNotMatch(info, /metadata_csum/);
    if (/\^64bit/.test(options)) assert.doesNotMatch(info, /64bit/);
    const label = /label=(\w+)/.exec(options)?.[1];
    if (label) assert.match(info, new RegExp(`Filesystem volume name:\\s+${label}`));
    assert.match(await debugfs(img, 'ls -l /'), /lost\+found/);
  });
}

test('a tree written into a fresh newfs image passes e2fsck and reads back through debugfs', async () => {
  const tree = join(work.path, 'tree');
  const { mkdir } = await import('node:fs/promises');
  await mkdir(tree);
  await makeTree(tree, { files: 150, bigDir: 150, noSparse: true, hugeSparse: false });
  for (const type of ['ext2', 'ext4']) {
    const { bytes, img } = await make(48 << 20, `type=${type}`);
    const m = await mountImage(bytes, { readonly: false });
    await copyIn(m, tree);
    await m.unmount();
    await writeFile(img, bytes);
    await fsck(img);
    await compareWithDebugfs(img, tree);
  }
});
