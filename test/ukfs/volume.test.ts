// The ukfs library: openImage and the node:fs/promises-shaped Volume on an ext4 image made by
// mke2fs -d; what it writes is checked by e2fsck -fn and debugfs; the same calls answer the same
// through a worker-hosted kernel.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, writeFile, readFile, symlink } from '../../src/testing/hostfs.js';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { run, tempDir } from '../../src/testing/tools.js';
import { isKernelError } from '../../src/kern/error.js';
import { openImage, type ImageVolume } from '../../src/ukfs/index.js';

const COMPONENTS = fileURLToPath(new URL(`./fixtures/components${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url));
let dir: string;
let cleanup: () => Promise<void>;
let img: string;

before(async () => {
  ({ path: dir, cleanup } = await tempDir('ukfs-'));
  await mkdir(join(dir, 'tree/etc'), { recursive: true });
  await writeFile(join(dir, 'tree/etc/motd'), 'welcome\n');
  // Absolute links, as system images have them (/etc/localtime -> /usr/share/zoneinfo/...).
  await symlink('/etc/motd', join(dir, 'tree/etc/alt'));
  await symlink('/etc', join(dir, 'tree/abs-dir'));
  img = join(dir, 'disk.img');
  await run('mke2fs', ['-q', '-F', '-t', 'ext4', '-L', 'ukfs', '-d', join(dir, 'tree'), img, '16M']);
});
after(() => cleanup());

const debugfs = async (req: string) => (await run('debugfs', ['-R', req, img])).stdout.toString();

test('openImage read-write: every Volume call, checked by e2fsck and debugfs', async () => {
  const vol: ImageVolume = await openImage(img, { readonly: false, isolation: 'trusted', extraComponentModules: [COMPONENTS] });
  try {
    const info = vol.info();
    assert.equal(info.type, 'ext2fs');
    assert.equal(info.probe?.label, 'ukfs');
    assert.equal(info.partition, null);
    assert.equal(info.readonly, false);

    assert.equal(await vol.readFile('/etc/motd', 'utf8'), 'welcome\n');
    assert.equal(await vol.mkdir('/a/b/c', { recursive: true }), '/a');
    assert.equal(await vol.mkdir('/a/b/c', { recursive: true }), undefined);
    await vol.writeFile('/a/b/c/f.txt', 'hello world\n', { mode: 0o640 });
    await vol.appendFile('/a/b/c/f.txt', 'again\n');
    await vol.symlink('b/c/f.txt', '/a/link');
    assert.equal(await vol.readlink('/a/link'), 'b/c/f.txt');
    await vol.rename('/a/b/c/f.txt', '/a/b/g.txt');
    await vol.symlink('b/g.txt', '/a/link2');
    await vol.chmod('/a/b/g.txt', 0o604);
    await vol.chown('/a/b/g.txt', 1234, 5678);
    await vol.utimes('/a/b/g.txt', new Date('2020-01-01T00:00:00Z'), new Date('2021-06-07T08:09:10Z'));
    const ents = await vol.readdir('/a', { withFileTypes: true });
    assert.deepEqual(ents.map((e) => [e.name, e.isDirectory(), e.isSymbolicLink()]).sort(), [['b', true, false], ['link', false, true], ['link2', false, true]]);
    const st = await vol.stat('/a/link2');
    assert.ok(st.isFile());
    assert.equal(st.size, 'hello world\nagain\n'.length);
    assert.equal(st.mode & 0o7777, 0o604);
    assert.equal(st.mtime.toISOString(), '2021-06-07T08:09:10.000Z');
    assert.ok((await vol.lstat('/a/link2')).isSymbolicLink());

    const fh = await vol.open('/a/b/h.bin', 'w+', 0o600);
    const data = new Uint8Array(3 * 1024 * 1024).map((_, i) => (i * 31) & 0xff);
    assert.equal((await fh.write(data, 0, data.length, 0)).bytesWritten, data.length);
    const back = new Uint8Array(100);
    assert.equal((await fh.read(back, 0, 100, 2 * 1024 * 1024)).bytesRead, 100);
    assert.deepEqual(back, data.subarray(2 * 1024 * 1024, 2 * 1024 * 1024 + 100));
    assert.equal((await fh.stat()).size, data.length);
    await fh.close();

    await vol.mkdir('/gone/x/y', { recursive: true });
    await vol.writeFile('/gone/x/y/z', 'z');
    await vol.rm('/gone', { recursive: true });
    await vol.rm('/nothing', { force: true });
    await assert.rejects(vol.rm('/a'), (e: unknown) => isKernelError(e) && e.code === 'EISDIR');
    await assert.rejects(vol.readFile('/missing'), (e: unknown) => isKernelError(e) && e.code === 'ENOENT' && e.path === '/missing');

    const fs = await vol.statfs();
    assert.ok(fs.blocks > 0 && fs.bfree < fs.blocks);
  } finally {
    await vol.close();
  }
  await run('e2fsck', ['-fn', img]);
  assert.equal(await debugfs('cat /a/b/g.txt'), 'hello world\nagain\n');
  const st = await debugfs('stat /a/b/g.txt');
  assert.match(st, /Mode:\s+0604/);
  assert.match(st, /User:\s+1234\s+Group:\s+5678/);
  assert.match(await debugfs('stat /a/link'), /Fast link dest: "b\/c\/f.txt"/);
  assert.ok(Buffer.from((await run('debugfs', ['-R', 'cat /a/b/h.bin', img])).stdout).equals(Buffer.from(new Uint8Array(3 * 1024 * 1024).map((_, i) => (i * 31) & 0xff))));
  assert.match((await run('debugfs', ['-R', 'ls /gone', img])).stderr, /File not found/);
});

test('absolute symbolic links resolve inside the image, as under chroot', async () => {
  const vol = await openImage(img, { isolation: 'trusted', extraComponentModules: [COMPONENTS] });
  try {
    assert.equal(await vol.readFile('/etc/alt', 'utf8'), 'welcome\n');
    assert.equal(await vol.readFile('/abs-dir/alt', 'utf8'), 'welcome\n');
    assert.deepEqual((await vol.readdir('/abs-dir')).sort(), ['alt', 'motd']);
    assert.ok((await vol.stat('/abs-dir')).isDirectory());
    assert.equal(await vol.readlink('/abs-dir/alt'), '/etc/motd');
    const fh = await vol.open('/abs-dir/motd');
    assert.equal((await fh.stat()).size, 8);
    await fh.close();
    await assert.rejects(vol.stat('/abs-dir/none'), (e: unknown) => isKernelError(e) && e.code === 'ENOENT' && e.path === '/abs-dir/none');
  } finally {
    await vol.close();
  }
});

test('read-only by default: writes answer EROFS and the image is unchanged; worker answers the same', async () => {
  const before = await readFile(img);
  const answers = [];
  for (const isolation of ['trusted', 'worker'] as const) {
    const vol = await openImage(img, { isolation, extraComponentModules: [COMPONENTS] });
    try {
      assert.equal(vol.info().readonly, true);
      assert.equal(vol.info().isolation, isolation);
      await assert.rejects(vol.writeFile('/new', 'x'), (e: unknown) => isKernelError(e) && e.code === 'EROFS');
      const tree: string[] = [];
      for await (const e of vol.walk('/')) tree.push(`${e.path} ${e.stat.type} ${e.stat.size}`);
      answers.push({ tree, motd: await vol.readFile('/etc/motd', 'utf8'), err: await vol.stat('/zz').catch((e: unknown) => (e as Error).message) });
    } finally {
      await vol.close();
    }
  }
  assert.deepEqual(answers[1], answers[0]);
  assert.equal(answers[0]!.err, "ENOENT: no such file or directory, stat '/zz'");
  assert.ok((await readFile(img)).equals(before));
});

test('readFile and readChunks at the sizes around the first compound read, sandboxed and in-process alike', async () => {
  const { path: d2, cleanup: done } = await tempDir('ukfs-sizes-');
  try {
    const sizes = [0, 1, 65535, 65536, 65537, 1024 * 1024 + 3];
    const tree = join(d2, 'tree');
    await mkdir(tree);
    const want = new Map<string, Buffer>();
    for (const n of sizes) {
      const b = Buffer.alloc(n);
      for (let i = 0; i < n; i++) b[i] = (i * 31 + n) & 0xff;
      want.set(`/f${n}`, b);
      await writeFile(join(tree, `f${n}`), b);
    }
    await mkdir(join(tree, 'dir'));
    const image = join(d2, 'sizes.img');
    await run('mke2fs', ['-q', '-F', '-t', 'ext4', '-d', tree, image, '16M']);
    for (const isolation of ['trusted', 'process'] as const) {
      const vol = await openImage(image, { isolation, extraComponentModules: [COMPONENTS] });
      try {
        for (const [path, b] of want) {
          assert.ok(Buffer.from(await vol.readFile(path)).equals(b), `${isolation} ${path}`);
          // Small chunks: the first read and the later ones both stop at the chunk size.
          const parts: Buffer[] = [];
          for await (const c of vol.readChunks(path, 40000)) parts.push(Buffer.from(c));
          assert.ok(Buffer.concat(parts).equals(b), `${isolation} ${path} in chunks`);
          assert.ok(parts.every((p) => p.length <= 40000));
        }
        await assert.rejects(vol.readFile('/dir'), (e: unknown) => isKernelError(e) && e.code === 'EISDIR' && e.path === '/dir');
        await assert.rejects(vol.readFile('/none'), (e: unknown) => isKernelError(e) && e.code === 'ENOENT' && e.path === '/none');
      } finally {
        await vol.close();
      }
    }
  } finally {
    await done();
  }
});
