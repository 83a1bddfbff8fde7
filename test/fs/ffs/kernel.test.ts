/**
 * ffs through the kernel: probe of a registered device, a read-only mount of
 * a makefs image read with the system-call API, and a read-write session on a
 * big-endian image after which the checker and sleuthkit agree.
 */

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, writeFile, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { Kernel } from '../../../src/kern/kernel.js';
import { MemoryHypercalls } from '../../../src/rumpuser/memory.js';
import { O_CREAT, O_RDONLY, O_WRONLY } from '../../../src/vfs/fcntl.js';
import { tempDir } from '../../../src/testing/tools.js';
import { ffs } from '../../../src/fs/ffs/index.js';
import { fsckFfs } from '../../../src/fs/ffs/fsck.js';
import { makefsImage, flsListing, pattern } from './helpers.js';

let tmp: { path: string; cleanup: () => Promise<void> };
let src: string;

before(async () => {
  tmp = await tempDir('ffs-kernel-');
  src = join(tmp.path, 'src');
  await mkdir(join(src, 'etc'), { recursive: true });
  await writeFile(join(src, 'etc', 'motd'), 'NetBSD\n');
  await writeFile(join(src, 'blob'), pattern(300_000, 5));
  await symlink('etc/motd', join(src, 'motd'));
});
after(() => tmp.cleanup());

async function boot(img: Uint8Array, readonly: boolean) {
  const host = new MemoryHypercalls();
  host.addFile('img', img);
  const k = await Kernel.boot({ components: [ffs], host });
  await k.etfs.register('/dev/img0', 'img', { readonly });
  return { k, host, p: k.newProc() };
}

test('probe and a read-only mount of a makefs UFS2 image', async () => {
  const img = await makefsImage(src, 2, false, 4);
  const { k, p } = await boot(img, true);
  const pr = await k.probe('/dev/img0');
  assert.equal(pr?.type, 'ffs');
  assert.equal(pr?.variant, 'UFS2');
  await p.mount('ufs2', '/mnt', { source: '/dev/img0', readonly: true });
  const fd = await p.open('/mnt/motd', O_RDONLY);
  const buf = new Uint8Array(64);
  const n = await p.read(fd, buf);
  assert.equal(new TextDecoder().decode(buf.subarray(0, n)), 'NetBSD\n');
  await p.close(fd);
  assert.equal(await p.readlink('/mnt/motd'), 'etc/motd');
  assert.equal((await p.stat('/mnt/blob')).size, 300_000);
  await assert.rejects(p.mkdir('/mnt/new'), { code: 'EROFS' });
  await k.halt();
});

test('read-write through the kernel on a big-endian UFS1 image, then checked', async () => {
  const img = await makefsImage(src, 1, true, 4, ['-f', '200']);
  const { k, host, p } = await boot(img, false);
  await p.mount('ffs', '/mnt', { source: '/dev/img0', readonly: false });
  await p.mkdir('/mnt/home');
  const fd = await p.open('/mnt/home/notes', O_CREAT | O_WRONLY, 0o600);
  await p.write(fd, pattern(20_000, 9));
  await p.close(fd);
  await p.rename('/mnt/etc/motd', '/mnt/home/motd');
  await p.unlink('/mnt/blob');
  await k.halt();
  const out = host.fileBytes('img')!;
  assert.deepEqual(await fsckFfs(out), []);
  const fls = await flsListing(out, 'ufs1');
  assert.deepEqual([...fls.keys()].sort(), ['etc', 'home', 'home/motd', 'home/notes', 'motd']);
});
