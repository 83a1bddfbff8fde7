/**
 * cd9660 reading ISOs made by the real tools (xorriso, genisoimage, makefs):
 * the tree seen through the kernel must be the source tree the tool was
 * given, Rock Ridge metadata included; Joliet and plain ISO 9660 namespaces
 * and the mount options that pick them.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir, run } from '../../../src/testing/tools.js';
import { makeSourceTree, mountIso, project, walkHost, walkKernel, type Info } from './util.js';
import { cd9660 } from '../../../src/fs/cd9660/index.js';
import { MemoryDevice } from '../../../src/dev/blockdev.js';
import { readFileSync } from 'node:fs';

const FULL: (keyof Info)[] = ['type', 'mode', 'uid', 'gid', 'size', 'mtime', 'target', 'sha', 'rdev'];

async function withTree<T>(body: (dir: string, src: string) => Promise<T>, opts: Parameters<typeof makeSourceTree>[1] = {}): Promise<T> {
  const t = await tempDir('cd9660-');
  try {
    const src = join(t.path, 'src');
    mkdirSync(src);
    makeSourceTree(src, opts);
    return await body(t.path, src);
  } finally {
    await t.cleanup();
  }
}

async function checkRockRidge(iso: string, src: string, extra: (m: Map<string, Info>) => void = () => undefined): Promise<void> {
  const { kernel, proc } = await mountIso(iso);
  try {
    const got = await walkKernel(proc, '/mnt');
    extra(got);
    assert.deepEqual(project(got, FULL), project(walkHost(src), FULL));
    // The root directory's own Rock Ridge attributes come from its "." record.
    const st = await proc.stat('/mnt/private');
    assert.equal(st.mode & 0o7777, 0o700);
    assert.equal(st.uid, 1000);
  } finally {
    await kernel.halt();
  }
}

test('xorriso -as mkisofs -R -J: the source tree, Rock Ridge metadata included', async () => {
  await withTree(async (dir, src) => {
    const iso = join(dir, 'x.iso');
    await run('xorriso', ['-as', 'mkisofs', '-R', '-J', '-joliet-long', '-V', 'XORRISO_VOL', '-o', iso, src]);
    await checkRockRidge(iso, src);
    const p = await cd9660.probe!(new MemoryDevice(readFileSync(iso)));
    assert.equal(p?.type, 'cd9660');
    assert.equal(p?.variant, 'ISO 9660 + Rock Ridge + Joliet');
    assert.equal(p?.label, 'XORRISO_VOL');
  });
});

test('genisoimage -R -J: the source tree, including special files', async () => {
  await withTree(async (dir, src) => {
    await run('mknod', [join(src, 'null-dev'), 'c', '1', '3']);
    await run('mknod', [join(src, 'blk-dev'), 'b', '8', '300']);
    await run('mkfifo', [join(src, 'fifo')]);
    chmodSync(join(src, 'fifo'), 0o620);
    const iso = join(dir, 'g.iso');
    await run('genisoimage', ['-quiet', '-R', '-J', '-joliet-long', '-input-charset', 'utf-8', '-o', iso, src]);
    await checkRockRidge(iso, src);
  }, { noLongLink: true });
});

test('makefs -t cd9660 -o rockridge: the source tree', async () => {
  await withTree(async (dir, src) => {
    const iso = join(dir, 'm.iso');
    await run('makefs', ['-t', 'cd9660', '-o', 'rockridge', iso, src]);
    const { kernel, proc } = await mountIso(iso);
    try {
      const got = await walkKernel(proc, '/mnt');
      // makefs records the modes, owners, sizes, contents and link targets it found.
      const keys: (keyof Info)[] = ['type', 'mode', 'uid', 'gid', 'size', 'target', 'sha'];
      assert.deepEqual(project(got, keys), project(walkHost(src), keys));
    } finally {
      await kernel.halt();
    }
  });
});

test('genisoimage deep tree: relocated directories appear where they were (CL/PL/RE)', async () => {
  await withTree(async (dir, src) => {
    const iso = join(dir, 'deep.iso');
    await run('genisoimage', ['-quiet', '-R', '-input-charset', 'utf-8', '-o', iso, src]);
    const { stdout } = await run('isoinfo', ['-R', '-l', '-i', iso]);
    assert.match(stdout.toString(), /rr_moved/, 'the image must really relocate');
    const { kernel, proc } = await mountIso(iso);
    try {
      const got = await walkKernel(proc, '/mnt');
      // xorriso's reader shows the relocation directory, emptied of what moved back.
      assert.deepEqual(await proc.readdir('/mnt/rr_moved'), []);
      got.delete('rr_moved');
      const keys: (keyof Info)[] = ['type', 'mode', 'size', 'mtime', 'target', 'sha'];
      assert.deepEqual(project(got, keys), project(walkHost(src), keys));
      const deepPath = '/mnt/' + Array.from({ length: 12 }, (_, i) => `level${i}`).join('/');
      assert.equal(await proc.getcwd(), '/');
      await proc.chdir(deepPath);
      // ".." of a relocated directory is its original parent (PL), not rr_moved.
      await proc.chdir('../..');
      assert.equal(await proc.getcwd(), '/mnt/' + Array.from({ length: 10 }, (_, i) => `level${i}`).join('/'));
      assert.deepEqual((await proc.readdir('.')).map((d) => d.name), ['level10']);
    } finally {
      await kernel.halt();
    }
  }, { deep: 12, noLongLink: true });
});

test('plain ISO 9660 (no extensions): names lower-cased without versions; gens and nomaplcase as NetBSD', async () => {
  const t = await tempDir('cd9660-');
  try {
    const src = join(t.path, 'src');
    mkdirSync(join(src, 'subdir'), { recursive: true });
    writeFileSync(join(src, 'readme.txt'), 'plain\n');
    writeFileSync(join(src, 'subdir', 'data.bin'), new Uint8Array(5000).fill(7));
    writeFileSync(join(src, 'noext'), 'x');
    const iso = join(t.path, 'plain.iso');
    // xorriso always adds Rock Ridge; genisoimage without -R/-J writes none.
    await run('genisoimage', ['-quiet', '-o', iso, src]);
    {
      const { kernel, proc } = await mountIso(iso);
      try {
        const got = await walkKernel(proc, '/mnt');
        const keys: (keyof Info)[] = ['type', 'size', 'sha'];
        assert.deepEqual(project(got, keys), project(walkHost(src), keys));
        const st = await proc.stat('/mnt/readme.txt');
        assert.equal(st.mode & 0o7777, 0o444);
        assert.equal((await proc.stat('/mnt/subdir')).mode & 0o7777, 0o555);
      } finally {
        await kernel.halt();
      }
    }
    {
      const { kernel, proc } = await mountIso(iso, 'gens,nomaplcase');
      try {
        const names = (await proc.readdir('/mnt')).map((d) => d.name).sort();
        // What isoinfo lists is what is on the disc.
        const { stdout } = await run('isoinfo', ['-f', '-i', iso]);
        const oracle = stdout.toString().split('\n').filter((l) => /^\/[^/]+$/.test(l)).map((l) => l.slice(1)).sort();
        assert.deepEqual(names, oracle);
        assert.ok(names.includes('README.TXT;1'));
      } finally {
        await kernel.halt();
      }
    }
    const p = await cd9660.probe!(new MemoryDevice(readFileSync(iso)));
    assert.equal(p?.variant, 'ISO 9660');
  } finally {
    await t.cleanup();
  }
});

test('Joliet without Rock Ridge, and norrip on an image with both', async () => {
  await withTree(async (dir, src) => {
    const iso = join(dir, 'j.iso');
    await run('genisoimage', ['-quiet', '-J', '-joliet-long', '-input-charset', 'utf-8', '-o', iso, src]);
    const rrj = join(dir, 'rrj.iso');
    await run('xorriso', ['-as', 'mkisofs', '-R', '-J', '-joliet-long', '-o', rrj, src]);
    for (const [img, opts] of [[iso, undefined], [rrj, 'norrip']] as const) {
      const { kernel, proc } = await mountIso(img, opts);
      try {
        const got = await walkKernel(proc, '/mnt');
        // Joliet has names (with case and Unicode) and data, no symlinks or POSIX metadata.
        const want = new Map([...walkHost(src)].filter(([, i]) => i.type === 'dir' || i.type === 'reg'));
        // Joliet names stop at 103 UCS-2 characters (-joliet-long); each tool truncates its own way: ask isoinfo.
        const long = 'n'.repeat(180) + '.txt';
        const listing = (await run('isoinfo', ['-J', '-f', '-i', img])).stdout.toString().split('\n');
        const short = listing.find((l) => l.startsWith('/nnnn'))!.slice(1);
        assert.ok(short.length > 64 && short.length < long.length);
        want.set(short, want.get(long)!);
        want.delete(long);
        const keys: (keyof Info)[] = ['type', 'size', 'sha'];
        assert.deepEqual(project(got, keys), project(want, keys), `${img} ${opts ?? ''}`);
      } finally {
        await kernel.halt();
      }
    }
    // nojoliet,norrip: the plain ISO 9660 names.
    const { kernel, proc } = await mountIso(rrj, 'norrip,nojoliet');
    try {
      const names = (await proc.readdir('/mnt')).map((d) => d.name);
      assert.ok(names.includes('hello.txt'));
      assert.ok(!names.some((n) => n.includes('ü')));
    } finally {
      await kernel.halt();
    }
  });
});

test('multi-session: the last session is shown', async () => {
  const t = await tempDir('cd9660-');
  try {
    const s1 = join(t.path, 's1'), s2 = join(t.path, 's2');
    mkdirSync(s1);
    mkdirSync(s2);
    writeFileSync(join(s1, 'first.txt'), 'one');
    writeFileSync(join(s2, 'second.txt'), 'two');
    // genisoimage style: a second session appended after the first at a chosen block, addresses absolute.
    const iso1 = join(t.path, 'one.iso');
    await run('genisoimage', ['-quiet', '-R', '-o', iso1, s1]);
    const first = readFileSync(iso1);
    const next = Math.ceil(first.length / 2048) + 150;
    const iso2 = join(t.path, 'two.iso');
    await run('genisoimage', ['-quiet', '-R', '-C', `0,${next}`, '-M', iso1, '-o', iso2, s2]);
    const second = readFileSync(iso2);
    const img = new Uint8Array(next * 2048 + second.length);
    img.set(first, 0);
    img.set(second, next * 2048);
    const { kernel, proc } = await mountIso(img);
    try {
      const names = (await proc.readdir('/mnt')).map((d) => d.name).sort();
      // -M merges the previous session's tree into the new one.
      assert.deepEqual(names, ['first.txt', 'second.txt']);
      const p = await kernel.probe('/dev/img0');
      assert.match(p?.variant ?? '', /2 sessions/);
    } finally {
      await kernel.halt();
    }
    // xorriso growing a file image: the newest tree is at block 16 again.
    const grown = join(t.path, 'grown.iso');
    await run('xorriso', ['-dev', `stdio:${grown}`, '-map', s1, '/', '-commit']);
    await run('xorriso', ['-dev', `stdio:${grown}`, '-rm', '/first.txt', '--', '-map', s2, '/', '-commit']);
    const m = await mountIso(grown);
    try {
      assert.deepEqual((await m.proc.readdir('/mnt')).map((d) => d.name), ['second.txt']);
    } finally {
      await m.kernel.halt();
    }
  } finally {
    await t.cleanup();
  }
});

test('every mutating call answers EROFS', async () => {
  await withTree(async (dir, src) => {
    const iso = join(dir, 'x.iso');
    await run('xorriso', ['-as', 'mkisofs', '-R', '-J', '-o', iso, src]);
    const { kernel, proc } = await mountIso(iso);
    try {
      const calls: [string, () => Promise<unknown>][] = [
        ['mkdir', () => proc.mkdir('/mnt/newdir')],
        ['unlink', () => proc.unlink('/mnt/hello.txt')],
        ['rmdir', () => proc.rmdir('/mnt/empty')],
        ['rename', () => proc.rename('/mnt/hello.txt', '/mnt/h2')],
        ['symlink', () => proc.symlink('x', '/mnt/sl')],
        ['chmod', () => proc.chmod('/mnt/hello.txt', 0o600)],
        ['truncate', () => proc.truncate('/mnt/hello.txt', 0)],
        ['open for writing', () => proc.open('/mnt/hello.txt', 2)],
        ['create', () => proc.open('/mnt/new', 0o101, 0o644)],
      ];
      for (const [name, call] of calls) await assert.rejects(call(), (e: { code?: string }) => e.code === 'EROFS', name);
      // The component also answers to its alias.
      assert.equal(kernel.findComponent('iso9660'), cd9660);
      await proc.mkdir('/iso').catch(() => undefined);
      await proc.mount('iso9660', '/iso', { source: '/dev/img0', readonly: true }).catch(async (e: { code?: string }) => {
        // One device mounted twice may be refused by the kernel (EBUSY); the alias itself must resolve.
        assert.equal(e.code, 'EBUSY');
      });
      // And the driver itself, not only the VFS, refuses.
      const m = await cd9660.mount(new MemoryDevice(readFileSync(iso)), { readonly: false, options: new Map() }, {
        now: () => ({ sec: 0, nsec: 0 }), log: () => undefined, random: () => undefined, monotonic: () => 0n,
      });
      const root = await m.vget(m.rootKey);
      const node = { type: 'reg' as const, mode: 0o644, uid: 0, gid: 0, time: { sec: 0, nsec: 0 } };
      await assert.rejects(async () => root.create('x', node), { code: 'EROFS' });
      await assert.rejects(root.mkdir('x', { ...node, type: 'dir' }), { code: 'EROFS' });
      await assert.rejects(root.setattr({ mode: 0 }), { code: 'EROFS' });
      await assert.rejects(async () => root.write(new Uint8Array(1), 0, { sec: 0, nsec: 0 }), { code: 'EROFS' });
    } finally {
      await kernel.halt();
    }
  });
});
