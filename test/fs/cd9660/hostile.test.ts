/**
 * Hostile images: an ISO made by xorriso, then corrupted the way an attacker
 * would — continuation-area loops and endless chains, sizes past the device,
 * directories that contain themselves or their parent, names with '/', NUL
 * and '..', both-endian fields that disagree — plus seeded random mutation.
 * Invariants: only KernelError escapes, every call returns, the damage stays
 * local (one entry, one file) and the console names the structure.
 */

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir, run } from '../../../src/testing/tools.js';
import { cd9660 } from '../../../src/fs/cd9660/index.js';
import { MemoryDevice } from '../../../src/dev/blockdev.js';
import { KernelError } from '../../../src/kern/error.js';
import type { FsMount, KernelServices } from '../../../src/vfs/types.js';
import { Prng } from '../../../src/testing/prng.js';

const SECTOR = 2048;
let base: Uint8Array;
let cleanup: () => Promise<void>;

before(async () => {
  const t = await tempDir('cd9660-hostile-');
  cleanup = t.cleanup;
  const src = join(t.path, 'src');
  mkdirSync(join(src, 'sub/inner'), { recursive: true });
  writeFileSync(join(src, 'a.txt'), 'alpha\n');
  writeFileSync(join(src, 'b.txt'), 'bravo\n');
  for (const n of ['slash1.txt', 'nulnul.txt', 'dotdot.txt']) writeFileSync(join(src, n), n);
  for (const n of ['__proto__', 'constructor', 'hasOwnProperty', 'toString']) writeFileSync(join(src, n), n);
  writeFileSync(join(src, 'sub/f.txt'), 'foxtrot\n');
  writeFileSync(join(src, 'sub/inner/g.txt'), 'golf\n');
  const iso = join(t.path, 'base.iso');
  await run('xorriso', ['-as', 'mkisofs', '-R', '-J', '-o', iso, src]);
  // One spare block at the end for continuation areas the tests plant.
  const img = readFileSync(iso);
  base = new Uint8Array(img.length + SECTOR);
  base.set(img);
});

after(async () => {
  await cleanup();
});

function u32(b: Uint8Array, o: number): number {
  return (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;
}
function put733(b: Uint8Array, o: number, v: number): void {
  for (let i = 0; i < 4; i++) {
    b[o + i] = (v >>> (8 * i)) & 0xff;
    b[o + 7 - i] = (v >>> (8 * i)) & 0xff;
  }
}

const rootExtent = (img: Uint8Array): number => u32(img, 16 * SECTOR + 156 + 2);

interface Rec { off: number; len: number; extent: number; suOff: number; nm?: { off: number; len: number } }

/** The records of the primary directory at `extent` (one block), with the offset of their NM entry. */
function records(img: Uint8Array, extent: number): Rec[] {
  const out: Rec[] = [];
  let p = extent * SECTOR;
  const end = p + SECTOR;
  while (p < end && img[p] !== 0) {
    const len = img[p]!;
    const nl = img[p + 32]!;
    const suOff = p + 33 + nl + (nl % 2 === 0 ? 1 : 0);
    const r: Rec = { off: p, len, extent: u32(img, p + 2), suOff };
    for (let q = suOff; q + 4 <= p + len; ) {
      const l = img[q + 2]!;
      if (l < 4) break;
      if (img[q] === 0x4e && img[q + 1] === 0x4d) r.nm = { off: q, len: l };
      q += l;
    }
    out.push(r);
    p += len;
  }
  return out;
}

function byName(img: Uint8Array, extent: number, name: string): Rec {
  const r = records(img, extent).find((x) => x.nm && new TextDecoder().decode(img.subarray(x.nm.off + 5, x.nm.off + x.nm.len)) === name);
  assert.ok(r, `no record named ${name}`);
  return r;
}

interface Mounted { m: FsMount; log: string[] }

async function mountBytes(img: Uint8Array): Promise<Mounted> {
  const log: string[] = [];
  const k: KernelServices = { now: () => ({ sec: 0, nsec: 0 }), log: (l) => log.push(l), random: () => undefined, monotonic: () => 0n };
  const m = await cd9660.mount(new MemoryDevice(img, { readonly: true }), { readonly: true, options: new Map() }, k);
  return { m, log };
}

async function rootNames(m: FsMount): Promise<string[]> {
  const root = await m.vget(m.rootKey);
  return (await root.readdir(0, 1000)).map((e) => e.name).filter((n) => n !== '.' && n !== '..').sort();
}

async function lookupPath(m: FsMount, path: string): Promise<number | null> {
  let key: number | null = m.rootKey;
  for (const c of path.split('/')) {
    if (key === null) return null;
    key = await (await m.vget(key)).lookup(c);
  }
  return key;
}

function isEio(e: unknown): boolean {
  return e instanceof KernelError && e.code === 'EIO';
}

test('the unmodified image reads (the baseline the corruptions start from)', async () => {
  const { m, log } = await mountBytes(base.slice());
  assert.deepEqual(await rootNames(m), ['__proto__', 'a.txt', 'b.txt', 'constructor', 'dotdot.txt', 'hasOwnProperty', 'nulnul.txt', 'slash1.txt', 'sub', 'toString']);
  for (const n of ['__proto__', 'constructor', 'hasOwnProperty', 'toString']) {
    const v = await m.vget((await lookupPath(m, n))!);
    const buf = new Uint8Array(32);
    const got = await v.read(buf, 0);
    assert.equal(new TextDecoder().decode(buf.subarray(0, got)), n);
  }
  assert.equal(await lookupPath(m, 'valueOf'), null);
  assert.deepEqual(log, []);
});

test('continuation areas: a loop, an endless chain and an area outside the device hide one entry each', async () => {
  const spare = base.length / SECTOR - 1;
  for (const kind of ['loop', 'chain', 'outside'] as const) {
    const img = base.slice();
    const r = byName(img, rootExtent(img), 'a.txt');
    // Replace the record's NM entry (at least 13 bytes: "NM", 5, "a.txt") start with a CE entry? Too small:
    // overwrite the whole System Use area from its start with a CE entry and padding.
    const room = r.off + r.len - r.suOff;
    assert.ok(room >= 28);
    img.fill(0, r.suOff, r.off + r.len);
    const ce = (at: number, block: number, offset: number, length: number): void => {
      img.set([0x43, 0x45, 28, 1], at);
      put733(img, at + 4, block);
      put733(img, at + 12, offset);
      put733(img, at + 20, length);
    };
    if (kind === 'loop') {
      ce(r.suOff, spare, 0, 28);
      ce(spare * SECTOR, spare, 0, 28); // points at itself
    } else if (kind === 'chain') {
      ce(r.suOff, spare, 0, 28);
      for (let i = 0; i < 70; i++) ce(spare * SECTOR + i * 28, spare, (i + 1) * 28, 28);
    } else {
      ce(r.suOff, 0xfffff, 0, 28);
    }
    const { m, log } = await mountBytes(img);
    const names = await rootNames(m);
    assert.ok(!names.includes('a.txt'), kind);
    assert.ok(names.includes('b.txt') && names.includes('sub'), kind);
    assert.equal(log.length, 1, `${kind}: ${log.join(' | ')}`);
    assert.match(log[0]!, kind === 'loop' ? /loop/ : kind === 'chain' ? /more than 32 continuation/ : /out of range/);
  }
});

test('sizes past the device: a file claiming 4 GiB reads EIO, a huge directory is refused', async () => {
  const img = base.slice();
  const r = byName(img, rootExtent(img), 'b.txt');
  put733(img, r.off + 10, 0xffffffff);
  const sub = byName(img, rootExtent(img), 'sub');
  // The size of a directory comes from its own "." record.
  put733(img, sub.extent * SECTOR + 10, 0xfffff800);
  const { m } = await mountBytes(img);
  const v = await m.vget((await lookupPath(m, 'b.txt'))!);
  assert.equal(v.getattr().size, 0xffffffff);
  // What lies on the device reads; past its end is EIO.
  assert.equal(await v.read(new Uint8Array(100), 0), 100);
  await assert.rejects(v.read(new Uint8Array(10), base.length), isEio);
  await assert.rejects(v.read(new Uint8Array(10), 0xfffffff0), isEio);
  const s = await m.vget((await lookupPath(m, 'sub'))!);
  await assert.rejects(s.readdir(0, 100), isEio);
  // The rest of the tree is untouched.
  const a = await m.vget((await lookupPath(m, 'a.txt'))!);
  const buf = new Uint8Array(6);
  assert.equal(await a.read(buf, 0), 6);
});

test('multi-extent chains that change name or never end hide their file only', async () => {
  const root = rootExtent(base);
  const img = base.slice();
  img[byName(img, root, 'a.txt').off + 25] |= 0x80; // "continued" by b.txt: another name
  const { m, log } = await mountBytes(img);
  const names = await rootNames(m);
  assert.ok(!names.includes('a.txt') && names.includes('b.txt'), names.join());
  assert.match(log.join('\n'), /continues with another name/);
  // Every record from "sub" on claims "more extents follow", to the end of the directory.
  const img2 = base.slice();
  const from = byName(img2, root, 'sub').off;
  for (const r of records(img2, root)) if (r.off >= from) img2[r.off + 25] |= 0x80;
  const { m: m2, log: log2 } = await mountBytes(img2);
  const names2 = await rootNames(m2);
  assert.ok(names2.includes('a.txt') && !names2.includes('sub'), names2.join());
  assert.match(log2.join('\n'), /runs past the directory's end|another name/);
});

test('directory records pointing at themselves or at their parent are refused, the walk ends', async () => {
  const img = base.slice();
  const root = rootExtent(img);
  const sub = byName(img, root, 'sub');
  const inner = byName(img, sub.extent, 'inner');
  put733(img, inner.off + 2, sub.extent); // sub/inner is sub itself
  const { m } = await mountBytes(img);
  await assert.rejects(lookupPath(m, 'sub/inner'), isEio);
  assert.ok((await lookupPath(m, 'sub/f.txt')) !== null);

  const img2 = base.slice();
  const sub2 = byName(img2, root, 'sub');
  const inner2 = byName(img2, sub2.extent, 'inner');
  put733(img2, inner2.off + 2, root); // sub/inner is the root
  const { m: m2 } = await mountBytes(img2);
  await assert.rejects(lookupPath(m2, 'sub/inner'), isEio);

  // A directory record pointing at file data, not at a directory.
  const img3 = base.slice();
  const sub3 = byName(img3, root, 'sub');
  put733(img3, sub3.off + 2, byName(img3, root, 'a.txt').extent);
  const { m: m3 } = await mountBytes(img3);
  await assert.rejects(lookupPath(m3, 'sub'), isEio);

  // A walk by readdir and lookup over every directory terminates and sees each directory once.
  const seen = new Set<number>();
  const stack = [m.rootKey];
  let steps = 0;
  while (stack.length > 0) {
    const k = stack.pop()!;
    assert.ok(!seen.has(k), 'directory visited twice');
    seen.add(k);
    const dir = await m.vget(k);
    for (const e of await dir.readdir(0, 1000)) {
      if (e.name === '.' || e.name === '..' || e.type !== 'dir') continue;
      assert.ok(++steps < 100);
      try {
        const c = await dir.lookup(e.name);
        if (c !== null) stack.push(c);
      } catch (err) {
        assert.ok(isEio(err));
      }
    }
  }
});

test("names with '/', NUL or '..' are hidden; the console says so", async () => {
  const img = base.slice();
  const root = rootExtent(img);
  const set = (name: string, bytes: number[]): void => {
    const r = byName(img, root, name);
    img.set(bytes, r.nm!.off + 5);
  };
  set('slash1.txt', [...new TextEncoder().encode('slash/.txt')]);
  set('nulnul.txt', [...new TextEncoder().encode('nul'), 0, ...new TextEncoder().encode('nul.txt')]);
  // "dotdot.txt" becomes "..": shorten the NM entry, pad the rest with a PD entry.
  const d = byName(img, root, 'dotdot.txt');
  const nm = d.nm!;
  img.set([0x4e, 0x4d, 7, 1, 0, 0x2e, 0x2e], nm.off);
  img.set([0x50, 0x44, nm.len - 7, 1], nm.off + 7);
  const { m, log } = await mountBytes(img);
  assert.deepEqual(await rootNames(m), ['__proto__', 'a.txt', 'b.txt', 'constructor', 'hasOwnProperty', 'sub', 'toString']);
  assert.equal(await lookupPath(m, '..'), m.rootKey);
  assert.match(log.join('\n'), /3 entries with unusable or duplicate names hidden/);
});

test('both-endian fields that disagree: EFTYPE in the volume descriptor, one entry hidden in a directory', async () => {
  const img = base.slice();
  img[16 * SECTOR + 80 + 7] ^= 0x01; // volume space size, MSB copy
  await assert.rejects(mountBytes(img), (e: unknown) => e instanceof KernelError && e.code === 'EFTYPE' && /both-endian/.test(e.detail ?? ''));
  const img2 = base.slice();
  const r = byName(img2, rootExtent(img2), 'a.txt');
  img2[r.off + 10 + 7] ^= 0x40; // data length, MSB copy
  const { m, log } = await mountBytes(img2);
  assert.ok(!(await rootNames(m)).includes('a.txt'));
  assert.match(log.join('\n'), /dataLength: both-endian copies disagree/);
});

test('path tables that disagree with each other or with the root are reported, not trusted', async () => {
  const img = base.slice();
  const mTable = ((img[16 * SECTOR + 148]! << 24) | (img[16 * SECTOR + 149]! << 16) | (img[16 * SECTOR + 150]! << 8) | img[16 * SECTOR + 151]!) >>> 0;
  img[mTable * SECTOR + 5] ^= 0xff; // the root's extent, in the M table only
  const { m, log } = await mountBytes(img);
  assert.match(log.join('\n'), /path table record 1: L and M tables disagree/);
  assert.ok((await rootNames(m)).includes('sub'));
  const img2 = base.slice();
  const lTable = u32(img2, 16 * SECTOR + 140);
  const mTable2 = ((img2[16 * SECTOR + 148]! << 24) | (img2[16 * SECTOR + 149]! << 16) | (img2[16 * SECTOR + 150]! << 8) | img2[16 * SECTOR + 151]!) >>> 0;
  img2[lTable * SECTOR + 2] ^= 1;
  img2[mTable2 * SECTOR + 5] ^= 1;
  const { log: log2 } = await mountBytes(img2);
  assert.match(log2.join('\n'), /path table record 1 names block \d+, the root directory is at \d+/);
});

test('a trailer full of fake session descriptors costs a bounded number of reads', async () => {
  const fakes = 3000;
  const volBlocks = u32(base, 16 * SECTOR + 80);
  const img = new Uint8Array((volBlocks + 16 + fakes) * SECTOR);
  img.set(base.subarray(0, volBlocks * SECTOR));
  const pvd = base.subarray(16 * SECTOR, 17 * SECTOR);
  for (let i = 0; i < fakes; i++) img.set(pvd, (volBlocks + 16 + i) * SECTOR); // roots point back into session 1: implausible
  let reads = 0;
  const dev = new MemoryDevice(img, { readonly: true });
  const counting = Object.assign(Object.create(dev) as MemoryDevice, {
    read: (b: Uint8Array, off: number) => { reads++; return dev.read(b, off); },
  });
  const m = await cd9660.mount(counting, { readonly: true, options: new Map() }, { now: () => ({ sec: 0, nsec: 0 }), log: () => undefined, random: () => undefined, monotonic: () => 0n });
  assert.ok((await rootNames(m)).includes('sub'));
  assert.ok(reads < 100, `${reads} device reads`);
});

test('not an ISO: probe answers null, mount EFTYPE', async () => {
  const img = new Uint8Array(64 * SECTOR);
  assert.equal(await cd9660.probe!(new MemoryDevice(img)), null);
  await assert.rejects(mountBytes(img), { code: 'EFTYPE' });
  const trunc = base.slice(0, 17 * SECTOR);
  await assert.rejects(mountBytes(trunc), { code: 'EFTYPE' });
});

test('seeded mutation: only KernelError escapes and every walk ends', async () => {
  const rng = new Prng(9660);
  const meta = rootExtent(base) + 8; // descriptors, path tables and directories come first
  for (let round = 0; round < 150; round++) {
    const img = base.slice();
    const n = 1 + rng.int(8);
    for (let i = 0; i < n; i++) img[16 * SECTOR + rng.int((meta - 16) * SECTOR)] = rng.int(256);
    const what = `round ${round}`;
    let mounted: Mounted;
    try {
      mounted = await mountBytes(img);
    } catch (e) {
      assert.ok(e instanceof KernelError, `${what}: ${String(e)}`);
      continue;
    }
    const { m } = mounted;
    const stack = [m.rootKey];
    let visited = 0;
    while (stack.length > 0 && visited < 200) {
      visited++;
      const k = stack.pop()!;
      try {
        const v = await m.vget(k);
        const a = v.getattr();
        if (a.type === 'reg') await v.read(new Uint8Array(Math.min(a.size, 1 << 20)), 0);
        if (a.type === 'lnk') await v.readlink();
        if (a.type !== 'dir') continue;
        for (const e of await v.readdir(0, 1000)) {
          if (e.name === '.' || e.name === '..') continue;
          try {
            const c = await v.lookup(e.name);
            if (c !== null) stack.push(c);
          } catch (err) {
            assert.ok(err instanceof KernelError, `${what}: lookup ${e.name}: ${String(err)}`);
          }
        }
      } catch (err) {
        assert.ok(err instanceof KernelError, `${what}: ${String(err)}`);
      }
    }
    assert.ok(visited < 200, `${what}: the walk did not end`);
  }
});
