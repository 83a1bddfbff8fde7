/**
 * Images made by mkfs.fat -F 12|16|32 and filled by mcopy -s from a generated tree (long, mixed-case and
 * non-ASCII names, deep directories, thousands of files) read back identically through the kernel: the
 * same names, types and bytes, and the modification times mcopy -m kept (to FAT's 2 seconds).
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile, stat } from '../../../src/testing/hostfs.js';
import { join } from 'node:path';
import { readImage, run, tempDir } from '../../../src/testing/tools.js';
import {
  diffTrees, fsckFat, makeTree, mountImage, mtoolsExtract, mtoolsImage, MTOOLS_ENV, readHostTree, readKernelTree, writeKernelTree,
} from './helpers.js';

const VARIANTS = [
  { fat: 12 as const, kib: 8 * 1024, files: 400, maxSize: 6000 },
  { fat: 16 as const, kib: 32 * 1024, files: 1000, maxSize: 12000 },
  { fat: 32 as const, kib: 64 * 1024, files: 1000, maxSize: 12000 },
];

for (const v of VARIANTS) {
  test(`FAT${v.fat}: a tree of ${v.files} files copied in by mcopy -s reads back identically`, async () => {
    const t = await tempDir('msdosfs-rb-');
    try {
      const src = join(t.path, 'src');
      await makeTree(src, { files: v.files, seed: 100 + v.fat, maxSize: v.maxSize, depth: 10 });
      const host = await readHostTree(src);
      const img = await mtoolsImage(v.fat, v.kib, src, 'READBACK');
      const { kernel, proc } = await mountImage(img, { readonly: true });
      try {
        const got = await readKernelTree(proc, '/mnt');
        assert.equal(diffTrees(host, got), null);
        // Times: mcopy -m keeps the host's mtime, stored to 2 s.
        let checked = 0;
        for (const rel of [...host.keys()].filter((_, i) => i % 25 === 0)) {
          const hs = await stat(join(src, rel));
          if (hs.isDirectory()) continue;
          const ks = await proc.stat(`/mnt/${rel}`);
          const hsec = Math.floor(hs.mtimeMs / 1000);
          assert.ok(ks.mtime.sec <= hsec && hsec - ks.mtime.sec < 2, `${rel}: mtime ${ks.mtime.sec} vs host ${hsec}`);
          assert.equal(ks.size, hs.size, rel);
          checked++;
        }
        assert.ok(checked > 10);
        // Case-insensitive lookups find the same file.
        const some = [...host.keys()].find((k) => host.get(k) !== null && /[a-z]/.test(k))!;
        const a = await proc.stat(`/mnt/${some}`);
        const b = await proc.stat(`/mnt/${some.toUpperCase()}`);
        assert.equal(a.ino, b.ino);
      } finally {
        await kernel.halt();
      }
    } finally {
      await t.cleanup();
    }
  });
}

test('unusual geometries from mkfs.fat (4 KiB sectors, 64 KiB clusters, one FAT, small root) read and write correctly', async () => {
  const t = await tempDir('msdosfs-geo-');
  try {
    const src = join(t.path, 'src');
    await makeTree(src, { files: 60, seed: 9, maxSize: 70000 });
    const host = await readHostTree(src);
    const geometries: [string[], number][] = [
      [['-F', '16', '-S', '4096', '-s', '1'], 24 * 1024], [['-F', '12', '-s', '128'], 16 * 1024], [['-F', '32', '-f', '1'], 40 * 1024],
      [['-F', '12', '-r', '112'], 8 * 1024], [['-F', '12', '-S', '2048', '-s', '2'], 12 * 1024],
    ];
    for (const [g, kib] of geometries) {
      const img = join(t.path, `g${g.join('')}.img`);
      await run('mkfs.fat', [...g, '-C', img, String(kib)]);
      const entries = await readdir(src);
      await run('mcopy', ['-D', 's', '-s', '-i', img, ...entries.map((e) => join(src, e)), '::/'], { env: MTOOLS_ENV });
      const bytes = await readImage(img);
      const { kernel, proc, host: h } = await mountImage(bytes);
      assert.equal(diffTrees(host, await readKernelTree(proc, '/mnt')), null, g.join(' '));
      await proc.mkdir('/mnt/Written Here');
      await writeKernelTree(proc, host, '/mnt/Written Here');
      await kernel.halt();
      const out = h.fileBytes('image')!;
      await fsckFat(out);
      const ext = await mtoolsExtract(out);
      for (const [k, v] of host) assert.ok(v === null ? ext.get(`Written Here/${k}`) === null : ext.get(`Written Here/${k}`)?.equals(v), `${g.join(' ')}: ${k}`);
    }
  } finally {
    await t.cleanup();
  }
});
