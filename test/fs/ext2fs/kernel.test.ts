/**
 * ext2fs through the kernel: probe of a registered image, mounts by every
 * alias, options (nocsum), system calls on a host-file-backed image (etfs),
 * and the image file unchanged by a read-only mount.
 */

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from '../../../src/testing/hostfs.js';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { Kernel } from '../../../src/kern/kernel.js';
import { NodeHypercalls } from '../../../src/rumpuser/node.js';
import { ext2fs } from '../../../src/fs/ext2fs/index.js';
import { O_RDONLY } from '../../../src/vfs/fcntl.js';
import { tempDir } from '../../../src/testing/tools.js';
import { fsck, mke2fs } from './helpers.js';

const work = await tempDir('ext2fs-kernel-');
after(() => work.cleanup());

test('probe, alias mounts and system calls on an etfs-registered host image', async () => {
  const tree = join(work.path, 'tree');
  await mkdir(join(tree, 'dir'), { recursive: true });
  await writeFile(join(tree, 'dir', 'hello'), 'hello, world\n');
  const img = join(work.path, 'k.img');
  await mke2fs(img, 'ext4', '16M', ['-L', 'mylabel', '-U', '0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9'], tree);
  const sha = createHash('sha256').update(await readFile(img)).digest('hex');
  const k = await Kernel.boot({ components: [ext2fs], host: new NodeHypercalls() });
  await k.etfs.register('/dev/img0', img, { readonly: true });
  const pr = await k.probe('/dev/img0');
  assert.deepEqual(pr, { type: 'ext2fs', variant: 'ext4', label: 'mylabel', uuid: '0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9', size: 16 * 1024 * 1024 });
  await k.etfs.register('/dev/zero0', new Uint8Array(1 << 20));
  assert.equal(await k.probe('/dev/zero0'), null, 'no superblock, no answer');
  const p = k.newProc();
  for (const alias of ['ext4', 'ext2', 'ext3', 'ext2fs']) {
    await p.mount(alias, '/mnt', { source: '/dev/img0', readonly: true, options: 'nocsum' });
    const fd = await p.open('/mnt/dir/hello', O_RDONLY);
    const buf = new Uint8Array(100);
    const n = await p.read(fd, buf);
    assert.equal(new TextDecoder().decode(buf.subarray(0, n)), 'hello, world\n');
    await p.close(fd);
    assert.deepEqual((await p.readdir('/mnt')).map((d) => d.name).sort(), ['dir', 'lost+found']);
    await p.unmount('/mnt');
  }
  await k.halt();
  assert.equal(createHash('sha256').update(await readFile(img)).digest('hex'), sha, 'read-only mounts left the image as it was');
});

test('a read-write mount through the kernel leaves an image e2fsck accepts', async () => {
  const img = join(work.path, 'rw.img');
  await mke2fs(img, 'ext4', '16M', []);
  const k = await Kernel.boot({ components: [ext2fs], host: new NodeHypercalls() });
  await k.etfs.register('/dev/img0', img);
  const p = k.newProc();
  await p.mount('ext4', '/mnt', { source: '/dev/img0' });
  await p.mkdir('/mnt/a');
  await p.symlink('/mnt/a', '/mnt/link');
  await p.rename('/mnt/a', '/mnt/b');
  await k.halt();
  await fsck(img);
});
