/**
 * ffs through the kernel: probe of a registered device, a read-only mount of
 * a makefs image read with the system-call API, and a read-write session on a
 * big-endian image after which the checker and sleuthkit agree.
 */

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, writeFile, symlink } from '../../../src/testing/hostfs.js';
import { join } from 'node:path';
import { Kernel } from '../../../src/kern/kernel.js';
import { MemoryHypercalls } from '../../../src/rumpuser/memory.js';
import { O_CREAT, O_RDONLY, O_WRONLY } from '../../../src/vfs/fcntl.js';
import { run, tempDir } from '../../../src/testing/tools.js';
import { MemoryDevice } from '../../../src/dev/blockdev.js';
import { parseOptions } from '../../../src/vfs/types.js';
import { ffs } from '../../../src/fs/ffs/index.js';
import { fsckFfs } from '../../../src/fs/ffs/fsck.js';
import { makefsImage, flsListing, pattern, services } from './helpers.js';

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

test('a makefs tree of a thousand files reads back identically through the system calls', async () => {
  const { makeTree } = await import('./helpers.js');
  const { readdir, lstat, readFile, readlink } = await import('node:fs/promises');
  const tree = join(tmp.path, 'big-tree');
  await makeTree(tree, 1000);
  const img = await makefsImage(tree, 2, true, 48);
  const { k, p } = await boot(img, true);
  await p.mount('ffs', '/mnt', { source: '/dev/img0', readonly: true });
  const buf = new Uint8Array(1 << 20);
  let nodes = 0;
  const stack = [''];
  while (stack.length) {
    const rel = stack.pop()!;
    const ours = (await p.readdir(`/mnt${rel}`)).map((e) => e.name).filter((n) => n !== '.' && n !== '..').sort();
    assert.deepEqual(ours, (await readdir(tree + rel)).sort(), `names in ${rel || '/'}`);
    for (const name of ours) {
      const hp = `${tree}${rel}/${name}`;
      const kp = `/mnt${rel}/${name}`;
      const hs = await lstat(hp);
      const ks = await p.lstat(kp);
      nodes++;
      assert.equal(ks.mode, hs.mode, `mode ${kp}`);
      assert.equal(ks.uid, hs.uid, `uid ${kp}`);
      assert.equal(ks.gid, hs.gid, `gid ${kp}`);
      assert.equal(ks.nlink, hs.nlink, `nlink ${kp}`);
      assert.equal(ks.mtime.sec, Math.floor(hs.mtimeMs / 1000), `mtime ${kp}`);
      if (hs.isDirectory()) stack.push(`${rel}/${name}`);
      else if (hs.isSymbolicLink()) assert.equal(await p.readlink(kp), await readlink(hp), `target ${kp}`);
      else {
        assert.equal(ks.size, hs.size, `size ${kp}`);
        const want = await readFile(hp);
        const fd = await p.open(kp, O_RDONLY);
        const got = Buffer.alloc(want.length);
        for (let off = 0; off < want.length; ) {
          const n = await p.pread(fd, buf, off);
          assert.ok(n > 0, `short read ${kp}`);
          got.set(buf.subarray(0, Math.min(n, want.length - off)), off);
          off += n;
        }
        await p.close(fd);
        assert.ok(got.equals(want), `content ${kp}`);
      }
    }
  }
  assert.ok(nodes > 1000);
  await k.halt();
});

// UFS1 with 4 KiB blocks reaches 5 GiB through the triple indirect block (the double one ends at 4 GiB).
for (const [version, opts] of [[1, 'version=1,bsize=4096,fsize=512'], [2, 'version=2']] as const) {
  test(`UFS${version} (${opts}): a sparse file past 4 GiB through the kernel: sizes, holes, data, then truncated; checker and sleuthkit agree`, async () => {
    const dev = MemoryDevice.zeroed(32 << 20);
    await ffs.newfs!(dev, { options: parseOptions(opts) }, services);
    const { k, host, p } = await boot(dev.bytes, false);
    await p.mount('ffs', '/mnt', { source: '/dev/img0', readonly: false });
    const far = 5 * 1024 ** 3 + 123;
    const tail = pattern(10_000, 77);
    const fd = await p.open('/mnt/big', O_CREAT | O_WRONLY, 0o644);
    await p.pwrite(fd, new TextEncoder().encode('head'), 0);
    await p.pwrite(fd, tail, far);
    await p.close(fd);
    const st = await p.stat('/mnt/big');
    assert.equal(st.size, far + tail.length);
    assert.ok(st.blocks * 512 < 1 << 20, `holes take no space (${st.blocks} blocks)`);
    const rd = await p.open('/mnt/big', O_RDONLY);
    const back = new Uint8Array(tail.length);
    assert.equal(await p.pread(rd, back, far), tail.length);
    assert.deepEqual(back, tail);
    const hole = new Uint8Array(4096).fill(0xaa);
    assert.equal(await p.pread(rd, hole, 3 * 1024 ** 3), 4096);
    assert.ok(hole.every((b) => b === 0), 'a hole reads as zeros');
    await p.close(rd);
    await k.halt();
    const img = host.fileBytes('img')!;
    assert.deepEqual(await fsckFfs(img), []);
    // sleuthkit's long listing: name, four times, then the size (istat would list every block address).
    const fls = (await run('fls', ['-l', '-f', `ufs${version}`, await saveImage(img)])).stdout.toString();
    const line = fls.split('\n').find((l) => l.split('\t')[1] === 'big');
    assert.equal(line?.split('\t')[6], String(far + tail.length), fls);
    // Truncated back below the first block: the far blocks and their indirect blocks are freed.
    const again = await boot(img, false);
    await again.p.mount('ffs', '/mnt', { source: '/dev/img0', readonly: false });
    const before = (await again.p.statvfs('/mnt')).bfree;
    await again.p.truncate('/mnt/big', 4);
    assert.ok((await again.p.statvfs('/mnt')).bfree > before, 'blocks freed');
    assert.equal((await again.p.stat('/mnt/big')).size, 4);
    await again.k.halt();
    assert.deepEqual(await fsckFfs(again.host.fileBytes('img')!), []);
  });
}

/** The image in a file of the test's scratch directory (for sleuthkit). */
async function saveImage(img: Uint8Array): Promise<string> {
  const path = join(tmp.path, `img-${Math.random().toString(36).slice(2)}`);
  await writeFile(path, img);
  return path;
}
