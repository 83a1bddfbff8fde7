/**
 * Hostile images: real images made by mkfs.fat and mcopy, then corrupted on purpose — cluster chain loops,
 * clusters outside the volume, chains shorter and longer than the size, looping directories, broken boot
 * sectors — must give EIO (EFTYPE at mount) with a detail naming the structure, never a hang or a foreign
 * exception; plus a seeded mutation campaign over the metadata with the harness's invariants.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, writeFile } from '../../../src/testing/hostfs.js';
import { join } from 'node:path';
import { tempDir } from '../../../src/testing/tools.js';
import { parseBootSector } from '../../../src/fs/msdosfs/bootsect.js';
import { msdosfs } from '../../../src/fs/msdosfs/index.js';
import { fuzzCampaign, fuzzSummary } from '../../../src/testing/fuzz.js';
import { mountImage, mtoolsImage, readAll } from './helpers.js';

interface Fixture {
  img: Uint8Array;
  geo: ReturnType<typeof parseBootSector>;
}

/** FAT16/32 image with BIG.BIN (5 clusters), ONE.BIN (1 cluster), SUB/ with 40 files (a multi-cluster directory). */
async function fixture(fat: 12 | 16 | 32): Promise<Fixture> {
  // Made once per FAT type by the real tools; each caller damages its own copy.
  const made = await (fixtures[fat] ??= makeFixture(fat));
  return { img: made.img.slice(), geo: made.geo };
}
const fixtures: Partial<Record<12 | 16 | 32, Promise<Fixture>>> = {};

async function makeFixture(fat: 12 | 16 | 32): Promise<Fixture> {
  const t = await tempDir('msdosfs-hostile-');
  try {
    const src = join(t.path, 'src');
    await mkdir(join(src, 'SUB'), { recursive: true });
    await writeFile(join(src, 'BIG.BIN'), Buffer.alloc(fat === 32 ? 2500 : 10000, 0x41));
    await writeFile(join(src, 'ONE.BIN'), Buffer.from('one'));
    for (let i = 0; i < 40; i++) await writeFile(join(src, 'SUB', `a rather long file name number ${i}.txt`), `file ${i}`);
    const img = await mtoolsImage(fat, fat === 32 ? 34 * 1024 : fat === 16 ? 16384 : 4096, src);
    return { img, geo: parseBootSector(img.subarray(0, 512), img.length) };
  } finally {
    await t.cleanup();
  }
}

const dv = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength);

/** Offset of the short entry named `name11` (11 bytes) in the root directory. */
function rootEntry(f: Fixture, name11: string): number {
  const start = f.geo.type === 32 ? clusterOff(f, f.geo.rootCluster) : f.geo.rootOffset;
  const len = f.geo.type === 32 ? f.geo.clusterSize : f.geo.rootBytes;
  for (let o = start; o < start + len; o += 32) {
    if (String.fromCharCode(...f.img.subarray(o, o + 11)) === name11) return o;
  }
  throw new Error(`no entry ${name11}`);
}

function clusterOff(f: Fixture, c: number): number {
  return f.geo.dataOffset + (c - 2) * f.geo.clusterSize;
}

function startCluster(f: Fixture, ent: number): number {
  return (dv(f.img).getUint16(ent + 20, true) << 16) | dv(f.img).getUint16(ent + 26, true);
}

function setStart(f: Fixture, ent: number, c: number): void {
  dv(f.img).setUint16(ent + 20, f.geo.type === 32 ? c >>> 16 : 0, true);
  dv(f.img).setUint16(ent + 26, c & 0xffff, true);
}

/** Sets FAT entry `c` in every FAT copy. */
function setFat(f: Fixture, c: number, v: number): void {
  for (let i = 0; i < f.geo.numFats; i++) {
    const base = f.geo.reservedSectors * f.geo.bytesPerSector + i * f.geo.fatSectors * f.geo.bytesPerSector;
    if (f.geo.type === 16) dv(f.img).setUint16(base + c * 2, v, true);
    else if (f.geo.type === 32) dv(f.img).setUint32(base + c * 4, v, true);
    else {
      const o = base + c + (c >> 1);
      const cur = dv(f.img).getUint16(o, true);
      dv(f.img).setUint16(o, c & 1 ? (cur & 0x000f) | (v << 4) : (cur & 0xf000) | (v & 0xfff), true);
    }
  }
}

/** Runs `p` with a time bound; a hang fails the test instead of stalling it. */
async function bounded<T>(p: Promise<T>, ms = 5000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, rej) => (timer = setTimeout(() => rej(new Error('hang: no answer within bound')), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

async function expectEio(f: Fixture, path: string, detail: RegExp, op: 'read' | 'readdir' = 'read'): Promise<void> {
  const { kernel, proc } = await mountImage(f.img, { readonly: true });
  try {
    const p: Promise<unknown> = op === 'read' ? readAll(proc, path) : proc.readdir(path);
    await assert.rejects(bounded(p), (e: unknown) => {
      const err = e as { code?: string; detail?: string; name?: string };
      assert.equal(err.name, 'KernelError', String(e));
      assert.equal(err.code, 'EIO', String(e));
      assert.match(err.detail ?? '', detail);
      return true;
    });
  } finally {
    await kernel.halt();
  }
}

for (const fat of [12, 16, 32] as const) {
  test(`FAT${fat}: a cluster chain that loops is EIO`, async () => {
    const f = await fixture(fat);
    const c = startCluster(f, rootEntry(f, 'BIG     BIN'));
    setFat(f, c + 2, c); // third cluster points back to the first
    await expectEio(f, '/mnt/BIG.BIN', /longer than|loop/);
  });

  test(`FAT${fat}: a chain pointing outside the volume is EIO`, async () => {
    const f = await fixture(fat);
    const c = startCluster(f, rootEntry(f, 'BIG     BIN'));
    setFat(f, c + 1, f.geo.clusterCount + 5);
    await expectEio(f, '/mnt/BIG.BIN', /outside/);
    const g = await fixture(fat);
    setStart(g, rootEntry(g, 'ONE     BIN'), 1);
    await expectEio(g, '/mnt/ONE.BIN', /outside/);
  });

  test(`FAT${fat}: chains shorter and longer than the size are EIO`, async () => {
    const f = await fixture(fat);
    const c = startCluster(f, rootEntry(f, 'BIG     BIN'));
    setFat(f, c + 1, 0xfffffff); // end after two clusters (masked per FAT width below)
    if (fat !== 32) setFat(f, c + 1, fat === 16 ? 0xffff : 0xfff);
    await expectEio(f, '/mnt/BIG.BIN', /shorter/);
    const g = await fixture(fat);
    const ent = rootEntry(g, 'BIG     BIN');
    dv(g.img).setUint32(ent + 28, 10, true); // one cluster's worth, five clusters in the chain
    await expectEio(g, '/mnt/BIG.BIN', /longer/);
    const k = await fixture(fat);
    dv(k.img).setUint32(rootEntry(k, 'ONE     BIN') + 28, 0xffffffff, true); // 4 GiB - 1 on a small volume
    await expectEio(k, '/mnt/ONE.BIN', /more than the volume/);
    const h = await fixture(fat);
    const c2 = startCluster(h, rootEntry(h, 'BIG     BIN'));
    setFat(h, c2 + 1, 0); // a free cluster inside the chain
    await expectEio(h, '/mnt/BIG.BIN', /free cluster/);
  });

  test(`FAT${fat}: a directory whose chain loops, or starts at cluster 0, is EIO on readdir`, async () => {
    const f = await fixture(fat);
    const sub = startCluster(f, rootEntry(f, 'SUB        '));
    setFat(f, sub, sub); // the directory's first cluster points to itself
    await expectEio(f, '/mnt/SUB', /longer than|loop/, 'readdir');
    const g = await fixture(fat);
    setStart(g, rootEntry(g, 'SUB        '), 0);
    await expectEio(g, '/mnt/SUB', /start cluster 0/, 'readdir');
  });
}

test('long names holding a slash are not taken (the short name stands); a NUL ends a long name early', async () => {
  const f = await fixture(16);
  // SUB's entries: three long-name slots, then the short entry, per file; slot 1 (chars 0..12) comes last.
  const sub = clusterOff(f, startCluster(f, rootEntry(f, 'SUB        ')));
  const firstSlots: number[] = [];
  for (let o = sub; o < sub + f.geo.clusterSize && firstSlots.length < 2; o += 32) {
    if (f.img[o + 11] === 0x0f && (f.img[o]! & 0x3f) === 1) firstSlots.push(o);
  }
  assert.equal(firstSlots.length, 2);
  // Char 1 of the first name becomes '/' (UTF-16 at byte 3 of the slot); char 8 of the second a NUL (byte 20).
  f.img[firstSlots[0]! + 3] = 0x2f;
  f.img[firstSlots[1]! + 20] = 0;
  f.img[firstSlots[1]! + 21] = 0;
  const { kernel, proc } = await mountImage(f.img, { readonly: true });
  try {
    const names = (await proc.readdir('/mnt/SUB')).map((e) => e.name).filter((n) => n !== '.' && n !== '..');
    assert.equal(names.length, 40);
    const long = names.filter((n) => n.startsWith('a rather long file name number '));
    assert.equal(long.length, 38, names.join(', '));
    assert.ok(names.includes('a rather'), names.join(', '));
    const short = names.filter((n) => !n.startsWith('a rather'));
    assert.equal(short.length, 1, names.join(', '));
    assert.match(short[0]!, /^ARATHE~\d\.TXT$/i);
    assert.ok(!names.some((n) => n.includes('/')));
    // Both answer lookups by the name shown.
    for (const n of ['a rather', short[0]!]) assert.equal((await proc.stat(`/mnt/SUB/${n}`)).size > 0, true);
  } finally {
    await kernel.halt();
  }
});

test('broken boot sectors are EFTYPE at mount with the reason', async () => {
  const f = await fixture(16);
  const cases: [string, (b: Uint8Array) => void, RegExp][] = [
    ['bytes per sector', (b) => dv(b).setUint16(11, 300, true), /bytes per sector/],
    ['sectors per cluster', (b) => (b[13] = 3), /sectors per cluster/],
    ['no FATs', (b) => (b[16] = 0), /number of FATs/],
    ['huge volume', (b) => { dv(b).setUint16(19, 0, true); dv(b).setUint32(32, 0xfffffff0, true); }, /larger than the device/],
    ['tiny FAT', (b) => dv(b).setUint16(22, 1, true), /too small|fills the volume/],
    ['zero reserved', (b) => dv(b).setUint16(14, 0, true), /reserved/],
  ];
  for (const [what, mutate, re] of cases) {
    const img = f.img.slice();
    mutate(img);
    await assert.rejects(mountImage(img, { readonly: true }), (e: unknown) => {
      const err = e as { code?: string; detail?: string };
      assert.equal(err.code, 'EFTYPE', `${what}: ${String(e)}`);
      assert.match(err.detail ?? '', re, what);
      return true;
    });
    assert.equal(await msdosfs.probe!({ name: 'x', sectorSize: 512, size: img.length, readonly: true, read: async (b, o) => b.set(img.subarray(o, o + b.length)), write: async () => undefined, flush: async () => undefined, close: async () => undefined }), null, what);
  }
});

test('seeded mutation campaign over FAT16 and FAT32 metadata: only KernelErrors, bounded calls', async () => {
  for (const fat of [16, 32] as const) {
    const f = await fixture(fat);
    const g = f.geo;
    const fatEnd = g.reservedSectors * g.bytesPerSector + g.numFats * g.fatSectors * g.bytesPerSector;
    const regions: [number, number][] = [
      [0, g.reservedSectors * g.bytesPerSector],
      [g.reservedSectors * g.bytesPerSector, Math.min(fatEnd, g.reservedSectors * g.bytesPerSector + 4096)],
      [g.rootOffset, g.rootOffset + Math.max(g.rootBytes, 0)],
      [g.dataOffset, g.dataOffset + 16 * g.clusterSize],
    ];
    const r = await fuzzCampaign({ component: msdosfs, image: f.img, regions: regions.filter(([a, b]) => b > a), writable: true }, 4242 + fat, 12, { callTimeoutMs: 5000 });
    assert.equal(r.violations.length, 0, `${fuzzSummary(r)}: ${JSON.stringify(r.violations[0])}`);
  }
});
