/**
 * Hostile images: mke2fs images with metadata corrupted on purpose (extent
 * headers, block pointers outside the file system or to themselves, broken
 * directory entries, absurd sizes) give EIO or EFTYPE, never a hang or a
 * foreign exception; and seeded mutation campaigns over the metadata keep the
 * fuzz harness's invariants. Checksums are off in these images so corrupt
 * structures are parsed rather than rejected at the checksum.
 */

import assert from 'node:assert/strict';
import { mkdir, writeFile } from '../../../src/testing/hostfs.js';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ext2fs } from '../../../src/fs/ext2fs/index.js';
import { isKernelError } from '../../../src/kern/error.js';
import { fuzzCampaign, fuzzSummary } from '../../../src/testing/fuzz.js';
import { run, tempDir } from '../../../src/testing/tools.js';
import { debugfs, listDir, mke2fs, mountImage, readAll, resolve } from './helpers.js';

let tmp: { path: string; cleanup: () => Promise<void> };
const images = new Map<string, { bytes: Uint8Array; img: string; regions: [number, number][] }>();

before(async () => {
  tmp = await tempDir('ext2fs-hostile-');
  const src = join(tmp.path, 'src');
  await mkdir(join(src, 'sub', 'deeper'), { recursive: true });
  const big = Buffer.alloc(300_000);
  for (let i = 0; i < big.length; i += 4) big.writeUInt32LE(i, i);
  await writeFile(join(src, 'big'), big);
  await writeFile(join(src, 'small'), 'small\n');
  for (let i = 0; i < 60; i++) await writeFile(join(src, 'sub', `file-with-a-longer-name-${i}`), `file ${i}\n`);
  for (const [name, type, extra] of [['ext4', 'ext4', ['-O', '^metadata_csum']], ['ext2', 'ext2', []]] as const) {
    const img = join(tmp.path, `${name}.img`);
    const bytes = await mke2fs(img, type, '4M', ['-b', '1024', ...extra], src);
    const info = (await run('dumpe2fs', [img])).stdout.toString();
    const it = /Inode table at (\d+)-(\d+)/.exec(info)!;
    const regions: [number, number][] = [[0, 8 * 1024], [Number(it[1]) * 1024, 16 * 1024]];
    for (const p of ['/', '/sub', '/big']) {
      for (const b of (await debugfs(img, `blocks ${p}`)).trim().split(/\s+/).slice(0, 4)) regions.push([Number(b) * 1024, 1024]);
    }
    images.set(name, { bytes, img, regions });
  }
});
after(() => tmp.cleanup());

async function inodeLoc(img: string, path: string): Promise<number> {
  const loc = await debugfs(img, `imap ${path}`);
  return Number(/located at block (\d+)/.exec(loc)![1]) * 1024 + parseInt(/offset 0x([0-9a-f]+)/.exec(loc)![1]!, 16);
}

/** Walks and reads everything; returns the error codes seen (only KernelErrors are allowed). */
async function walkAll(bytes: Uint8Array): Promise<string[]> {
  const codes: string[] = [];
  const guard = async <T>(p: Promise<T>): Promise<T | undefined> => {
    try {
      return await p;
    } catch (e) {
      assert.ok(isKernelError(e), `foreign exception: ${String(e)}`);
      codes.push(e.code);
      return undefined;
    }
  };
  const m = await guard(mountImage(bytes));
  if (!m) return codes;
  const stack = [await guard(m.vget(m.rootKey))];
  let n = 0;
  while (stack.length && n++ < 500) {
    const d = stack.pop();
    if (!d) continue;
    const entries = await guard(listDir(d));
    for (const [name, key] of entries ?? []) {
      if (name === '.' || name === '..') continue;
      const vp = await guard(m.vget(key));
      if (!vp) continue;
      const a = vp.getattr();
      if (a.type === 'dir') stack.push(vp);
      else if (a.type === 'reg') await guard(readAll(vp, Math.min(a.size, 4 * 1024 * 1024)));
      else if (a.type === 'lnk') await guard(vp.readlink());
    }
  }
  return codes;
}

test('crafted corruptions answer EIO/EFTYPE with a detail, never a foreign exception', async () => {
  const { bytes, img } = images.get('ext4')!;
  const big = await inodeLoc(img, '/big');
  const cases: [string, (b: Uint8Array) => void][] = [
    ['extent header magic', (b) => { b[big + 0x28] = 0; }],
    ['extent depth 40', (b) => { b[big + 0x28 + 6] = 40; }],
    ['extent entries beyond max', (b) => { b[big + 0x28 + 2] = 200; }],
    ['extent start outside the device', (b) => { b.set([0xff, 0xff, 0xff, 0x7f], big + 0x28 + 12 + 8); }],
    ['i_size absurd', (b) => { b.set([0xff, 0xff, 0xff, 0xff], big + 0x6c); }],
    ['superblock blocks per group 0', (b) => { b.set([0, 0, 0, 0], 1024 + 0x20); }],
    ['superblock inode size 3', (b) => { b.set([3, 0], 1024 + 0x58); }],
  ];
  for (const [what, corrupt] of cases) {
    const b = bytes.slice();
    corrupt(b);
    const codes = await walkAll(b);
    assert.ok(codes.every((c) => ['EIO', 'EFTYPE', 'ESTALE', 'ENOENT', 'EFBIG'].includes(c)), `${what}: ${codes.join(',')}`);
  }
  // A root directory entry with rec_len 0 is named.
  const rb = Number((await debugfs(img, 'bmap / 0')).trim());
  const d = bytes.slice();
  d.set([0, 0], rb * 1024 + 4);
  const m = await mountImage(d);
  await assert.rejects(listDir(await m.vget(m.rootKey)), (e: { code: string; detail: string }) => e.code === 'EIO' && /directory inode 2 block 0: bad entry/.test(e.detail));
  // A block-mapped file whose indirect block points at itself reads without hanging.
  const e2 = images.get('ext2')!;
  const loc = await inodeLoc(e2.img, '/big');
  const ind = new DataView(e2.bytes.buffer).getUint32(loc + 0x28 + 12 * 4, true);
  const loop = e2.bytes.slice();
  new DataView(loop.buffer).setUint32(ind * 1024, ind, true);
  const m2 = await mountImage(loop);
  const f = await resolve(m2, '/big');
  assert.equal((await readAll(f, f.getattr().size)).length, 300_000);
});

for (const name of ['ext4', 'ext2']) {
  test(`a seeded mutation campaign over ${name} metadata keeps the invariants`, async () => {
    const { bytes, regions } = images.get(name)!;
    const r = await fuzzCampaign({ component: ext2fs, image: bytes, regions, writable: true }, 7, 15, { callTimeoutMs: 5000 });
    assert.equal(r.violations.length, 0, `${fuzzSummary(r)}: ${JSON.stringify(r.violations.slice(0, 3))}`);
  });
}
