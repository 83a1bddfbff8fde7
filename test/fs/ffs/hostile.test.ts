/**
 * Hostile images: makefs images corrupted on purpose (indirect-block loops,
 * pointers outside the file system, absurd sizes and counts, directory
 * loops) give EIO or EFTYPE, never a hang or a foreign exception; and a
 * seeded mutation campaign over the metadata keeps the harness's invariants.
 */

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, writeFile } from '../../../src/testing/hostfs.js';
import { join } from 'node:path';
import { tempDir } from '../../../src/testing/tools.js';
import { ffs } from '../../../src/fs/ffs/index.js';
import { fsckFfs } from '../../../src/fs/ffs/fsck.js';
import { findSuperblock, type FsGeom } from '../../../src/fs/ffs/geom.js';
import { DINODE1, DINODE2, SUPERBLOCK } from '../../../src/fs/ffs/layout.js';
import { fuzzCampaign, fuzzSummary } from '../../../src/testing/fuzz.js';
import { isKernelError } from '../../../src/kern/error.js';
import { makefsImage, mountBytes, readAll, listDir, pattern } from './helpers.js';

let tmp: { path: string; cleanup: () => Promise<void> };
const images = new Map<number, Uint8Array>();

before(async () => {
  tmp = await tempDir('ffs-hostile-');
  const src = join(tmp.path, 'src');
  await mkdir(join(src, 'sub', 'deeper'), { recursive: true });
  await writeFile(join(src, 'big'), pattern(200_000, 1)); // past the direct blocks at 8 KiB
  await writeFile(join(src, 'small'), 'small\n');
  for (let i = 0; i < 30; i++) await writeFile(join(src, 'sub', `file-with-a-longer-name-${i}`), `file ${i}\n`);
  for (const v of [1, 2]) images.set(v, await makefsImage(src, v as 1 | 2, v === 2, 2));
});
after(() => tmp.cleanup());

async function geom(img: Uint8Array): Promise<FsGeom> {
  const f = await findSuperblock(async (o, l) => img.subarray(o, o + l), img.length);
  if ('reasons' in f) throw new Error('no superblock');
  return f.geom;
}

async function inodeOf(img: Uint8Array, path: string[]): Promise<number> {
  const m = await mountBytes(img, true);
  let k = m.rootKey;
  for (const n of path) k = (await (await m.vget(k)).lookup(n))!;
  return k;
}

function patch(g: FsGeom, img: Uint8Array, ino: number, f: Record<string, number | number[]>): void {
  const at = g.inoToFsba(ino) * g.fsize + g.inoToFsbo(ino) * g.isize;
  (g.ufs2 ? DINODE2 : DINODE1).encode(img, at, g.le, f as never);
}
function allCopies(g: FsGeom, img: Uint8Array, f: Record<string, number>): void {
  SUPERBLOCK.encode(img, g.sbloc, g.le, f);
  for (let c = 0; c < g.ncg; c++) SUPERBLOCK.encode(img, g.cgsblock(c) * g.fsize, g.le, f);
}
function dinode(g: FsGeom, img: Uint8Array, ino: number) {
  const at = g.inoToFsba(ino) * g.fsize + g.inoToFsbo(ino) * g.isize;
  return g.ufs2 ? DINODE2.decode(img, at, g.le) : DINODE1.decode(img, at, g.le);
}

/** Walks everything; returns the errors met (all must be KernelErrors). */
async function walkAll(img: Uint8Array): Promise<string[]> {
  const codes: string[] = [];
  let m;
  try {
    m = await mountBytes(img, true);
  } catch (e) {
    assert.ok(isKernelError(e), `mount threw ${String(e)}`);
    return [e.code];
  }
  const stack = [m.rootKey];
  const seen = new Set<number>();
  while (stack.length) {
    const k = stack.pop()!;
    if (seen.has(k)) continue;
    seen.add(k);
    try {
      const v = await m.vget(k);
      const a = v.getattr();
      if (a.type === 'dir') for (const [n, c] of await listDir(v)) if (n !== '.' && n !== '..') stack.push(c);
      if (a.type === 'reg' && a.size < 1 << 24) await readAll(v);
      if (a.type === 'lnk') await v.readlink();
    } catch (e) {
      assert.ok(isKernelError(e), `threw ${String(e)}`);
      codes.push(e.code);
    }
  }
  return codes;
}

for (const v of [1, 2]) {
  test(`UFS${v}: crafted corruptions give EIO/EFTYPE and the checker names them`, async () => {
    const base = images.get(v)!;
    const g = await geom(base);
    const big = await inodeOf(base, ['big']);
    const sub = await inodeOf(base, ['sub']);
    const cases: Array<[string, (img: Uint8Array) => void, string]> = [
      ['indirect block pointing at itself', (img) => {
        const d = dinode(g, img, big);
        const ind = d.ib[0]!;
        const dv = new DataView(img.buffer, img.byteOffset);
        if (g.ufs2) dv.setBigInt64(ind * g.fsize, BigInt(ind), g.le);
        else dv.setInt32(ind * g.fsize, ind, g.le);
      }, 'any'], // an alias, not a loop: it reads, and only the checker can tell
      ['block pointer past the end', (img) => patch(g, img, big, { db: [g.size + 5, ...dinode(g, img, big).db.slice(1)] }), 'EIO'],
      ['negative block pointer', (img) => patch(g, img, big, { db: [-7, ...dinode(g, img, big).db.slice(1)] }), 'EIO'],
      ['directory size of 2^40', (img) => patch(g, img, sub, { size: 2 ** 40 }), 'EIO'],
      ['directory size not a multiple of 512', (img) => patch(g, img, sub, { size: 700 }), 'EIO'],
      ['file size of 2^60', (img) => patch(g, img, big, { size: 2 ** 60 }), 'EIO'],
      ['inodes per group of 2^30 (every copy)', (img) => allCopies(g, img, { ipg: 2 ** 30 }), 'EFTYPE'],
      ['cylinder groups past the device (every copy)', (img) => allCopies(g, img, { ncg: 1000 }), 'EFTYPE'],
      ['a bad primary, good copies', (img) => SUPERBLOCK.encode(img, g.sbloc, g.le, { bsize: 3 }), 'any'],
    ];
    for (const [name, damage, code] of cases) {
      const img = base.slice();
      damage(img);
      const codes = await walkAll(img);
      if (code !== 'any') assert.ok(codes.includes(code), `${name}: got [${codes.join(', ')}]`);
      const problems = await fsckFfs(img);
      assert.ok(problems.length > 0, `${name}: the checker found nothing`);
    }
  });

  test(`UFS${v}: a seeded mutation campaign keeps the invariants`, async () => {
    const img = images.get(v)!;
    const g = await geom(img);
    const regions: [number, number][] = [[g.sbloc, 1376]];
    for (let c = 0; c < g.ncg; c++) {
      regions.push([g.cgtod(c) * g.fsize, g.cgbytes]);
      regions.push([g.cgimin(c) * g.fsize, 4 * g.bsize]);
    }
    const r = await fuzzCampaign({ component: ffs, image: img, regions, writable: true }, 7 + v, 30, { callTimeoutMs: 5000 });
    assert.equal(r.violations.length, 0, `${fuzzSummary(r)}: ${JSON.stringify(r.violations.slice(0, 3))}`);
  });
}
