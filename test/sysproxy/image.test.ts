/**
 * A real image through the sandboxed server: mke2fs -d builds an ext4 image
 * from a host directory, and a remote process in each isolation walks it —
 * names, types, sizes, modes, symlink targets and every file's bytes must
 * equal the host directory mke2fs read (the oracle), and the read-only
 * session leaves the image byte-identical.
 */

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { lstat, mkdir, readFile, readdir, readlink, symlink, writeFile } from '../../src/testing/hostfs.js';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startKernel } from '../../src/sysproxy/index.js';
import { O_RDONLY } from '../../src/vfs/fcntl.js';
import type { SyscallApi } from '../../src/vfs/syscalls.js';
import { run, tempDir } from '../../src/testing/tools.js';

let dir: { path: string; cleanup: () => Promise<void> };
let image: string;
let tree: string;

function ext2fsModule(): string {
  const js = fileURLToPath(new URL('../../src/fs/ext2fs/index.js', import.meta.url));
  return existsSync(js) ? js : fileURLToPath(new URL('../../src/fs/ext2fs/index.ts', import.meta.url));
}

function bytes(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  let x = seed || 1;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

before(async () => {
  dir = await tempDir('sysproxy-image-');
  tree = join(dir.path, 'tree');
  await mkdir(join(tree, 'a', 'b', 'c'), { recursive: true });
  await mkdir(join(tree, 'many'));
  for (let i = 0; i < 300; i++) await writeFile(join(tree, 'many', `f${i}`), bytes(i * 37, i));
  await writeFile(join(tree, 'a', 'b', 'c', 'big'), bytes(5 * 1024 * 1024 + 77, 99));
  await writeFile(join(tree, 'a', 'empty'), new Uint8Array(0));
  await writeFile(join(tree, '__proto__'), 'a legal file name\n', { mode: 0o600 });
  await symlink('a/b/c/big', join(tree, 'link'));
  image = join(dir.path, 'ext4.img');
  await run('mke2fs', ['-q', '-F', '-t', 'ext4', '-d', tree, image, '32M']);
});

after(async () => {
  await dir.cleanup();
});

/** Everything under `path` as [relative path, type, size, mode bits, link target or content hash]. */
async function walkRemote(p: SyscallApi, root: string): Promise<string[][]> {
  const out: string[][] = [];
  const todo = [''];
  while (todo.length) {
    const rel = todo.pop()!;
    for (const d of await p.readdir(`${root}${rel}`)) {
      if (d.name === 'lost+found') continue;
      const path = `${rel}/${d.name}`;
      const st = await p.lstat(`${root}${path}`);
      let what = '';
      if (d.type === 'dir') todo.push(path);
      else if (d.type === 'lnk') what = await p.readlink(`${root}${path}`);
      else {
        const buf = new Uint8Array(st.size);
        const fd = await p.open(`${root}${path}`, O_RDONLY);
        const n = await p.read(fd, buf);
        await p.close(fd);
        assert.equal(n, st.size, path);
        what = createHash('sha256').update(buf).digest('hex');
      }
      out.push([path, d.type, d.type === 'dir' ? '' : String(st.size), (st.mode & 0o7777).toString(8), what]);
    }
  }
  return out.sort((x, y) => x[0]!.localeCompare(y[0]!));
}

async function walkHost(root: string): Promise<string[][]> {
  const out: string[][] = [];
  const todo = [''];
  while (todo.length) {
    const rel = todo.pop()!;
    for (const d of await readdir(join(root, rel), { withFileTypes: true })) {
      const path = `${rel}/${d.name}`;
      const st = await lstat(join(root, path));
      let what = '';
      let type = 'reg';
      if (d.isDirectory()) {
        type = 'dir';
        todo.push(path);
      } else if (d.isSymbolicLink()) {
        type = 'lnk';
        what = await readlink(join(root, path));
      } else what = createHash('sha256').update(await readFile(join(root, path))).digest('hex');
      out.push([path, type, type === 'dir' ? '' : String(st.size), (st.mode & 0o7777).toString(8), what]);
    }
  }
  return out.sort((x, y) => x[0]!.localeCompare(y[0]!));
}

for (const isolation of ['process', 'worker', 'trusted'] as const) {
  test(`an ext4 image made by mke2fs -d reads back as its source directory (${isolation})`, async () => {
    const before = createHash('sha256').update(await readFile(image)).digest('hex');
    const rk = await startKernel({ images: [{ node: '/dev/img0', path: image, readonly: true }], isolation, extraComponentModules: [ext2fsModule()] });
    try {
      assert.equal((await rk.control.probe('/dev/img0'))?.type, 'ext2fs');
      const p = await rk.newProc();
      await p.mount('ext2fs', '/mnt', { source: '/dev/img0', readonly: true });
      assert.deepEqual(await walkRemote(p, '/mnt'), await walkHost(tree));
      await p.unmount('/mnt');
    } finally {
      await rk.halt();
    }
    assert.equal(createHash('sha256').update(await readFile(image)).digest('hex'), before, 'a read-only session changed the image');
  });
}
