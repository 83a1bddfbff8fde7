/**
 * ECMA-119 directory-record features that today's tools rarely write:
 * interleaved files (§6.4.3), extended attribute records (§9.5), associated
 * and hidden files (§9.1.6), several
 * versions of one name (§7.5.1, §9.3). The images come from genisoimage
 * (plain ISO 9660, no extensions) and are then edited where the tools offer
 * no switch; the expected bytes follow from the standard.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir, run } from '../../../src/testing/tools.js';
import { mountIso, readAll } from './util.js';

const SECTOR = 2048;

async function plainImage(): Promise<Uint8Array> {
  const t = await tempDir('cd9660-rec-');
  try {
    const src = join(t.path, 'src');
    mkdirSync(src);
    const blocks = new Uint8Array(4 * SECTOR);
    for (let i = 0; i < 4; i++) blocks.fill(0x41 + i, i * SECTOR, (i + 1) * SECTOR);
    writeFileSync(join(src, 'inter.bin'), blocks);
    writeFileSync(join(src, 'a.txt'), 'version two');
    writeFileSync(join(src, 'b.txt'), 'version one');
    writeFileSync(join(src, 'c.txt'), 'associated');
    writeFileSync(join(src, 'd.txt'), 'hidden');
    const iso = join(t.path, 'p.iso');
    await run('genisoimage', ['-quiet', '-o', iso, src]);
    return new Uint8Array(readFileSync(iso));
  } finally {
    await t.cleanup();
  }
}

function u32(b: Uint8Array, o: number): number {
  return (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;
}
function put733(b: Uint8Array, o: number, v: number): void {
  for (let i = 0; i < 4; i++) {
    b[o + i] = (v >>> (8 * i)) & 0xff;
    b[o + 7 - i] = (v >>> (8 * i)) & 0xff;
  }
}

/** Offset of the root-directory record whose identifier is `id` ('INTER.BIN;1'). */
function recordOf(img: Uint8Array, id: string): number {
  const root = u32(img, 16 * SECTOR + 156 + 2);
  for (let p = root * SECTOR; img[p] !== 0; p += img[p]!) {
    const name = String.fromCharCode(...img.subarray(p + 33, p + 33 + img[p + 32]!));
    if (name === id) return p;
  }
  throw new Error(`no record ${id}`);
}

test('interleaved files read unit by unit, skipping the gaps (§6.4.3)', async () => {
  const base = await plainImage();
  for (const [unit, gap, blocks, want] of [[1, 1, 2, 'AC'], [2, 1, 3, 'ABD'], [1, 2, 2, 'AD']] as const) {
    const img = base.slice();
    const r = recordOf(img, 'INTER.BIN;1');
    img[r + 26] = unit;
    img[r + 27] = gap;
    put733(img, r + 10, blocks * SECTOR - 5); // the last unit ends part-way
    const { kernel, proc } = await mountIso(img);
    try {
      const data = await readAll(proc, '/mnt/inter.bin', blocks * SECTOR - 5);
      const expect = new Uint8Array(blocks * SECTOR - 5);
      for (let i = 0; i < expect.length; i++) expect[i] = want.charCodeAt(Math.floor(i / SECTOR));
      assert.deepEqual(data, expect, `unit ${unit} gap ${gap}`);
      // A read that starts inside a unit and crosses a gap.
      const fd = await proc.open('/mnt/inter.bin', 0);
      const buf = new Uint8Array(20);
      assert.equal(await proc.pread(fd, buf, SECTOR - 10), 20);
      assert.deepEqual(buf, expect.subarray(SECTOR - 10, SECTOR + 10));
      await proc.close(fd);
    } finally {
      await kernel.halt();
    }
  }
});

test('an extended attribute record before the data is skipped (§9.1.2, §9.5)', async () => {
  const img = await plainImage();
  const r = recordOf(img, 'INTER.BIN;1');
  const extent = u32(img, r + 2);
  img[r + 1] = 1; // one block of extended attributes...
  put733(img, r + 2, extent - 1); // ...recorded just before the data, which stays where it was
  const { kernel, proc } = await mountIso(img);
  try {
    const data = await readAll(proc, '/mnt/inter.bin', 4 * SECTOR);
    assert.deepEqual([data[0], data[SECTOR], data[4 * SECTOR - 1]], [0x41, 0x42, 0x44]);
  } finally {
    await kernel.halt();
  }
});

test('associated files show with a leading "=", hidden files show (as NetBSD)', async () => {
  const img = await plainImage();
  img[recordOf(img, 'C.TXT;1') + 25] |= 0x04;
  img[recordOf(img, 'D.TXT;1') + 25] |= 0x01;
  const { kernel, proc } = await mountIso(img);
  try {
    const names = (await proc.readdir('/mnt')).map((d) => d.name).sort();
    assert.deepEqual(names, ['=c.txt', 'a.txt', 'b.txt', 'd.txt', 'inter.bin']);
    assert.equal(new TextDecoder().decode(await readAll(proc, '/mnt/=c.txt', 10)), 'associated');
  } finally {
    await kernel.halt();
  }
});

test('several versions of a name: the highest shows, all of them with gens', async () => {
  const img = await plainImage();
  // "A.TXT;1" becomes "B.TXT;2": records now read B.TXT;2 then B.TXT;1, highest version first (§9.3).
  const r = recordOf(img, 'A.TXT;1');
  img.set(new TextEncoder().encode('B.TXT;2'), r + 33);
  {
    const { kernel, proc } = await mountIso(img);
    try {
      assert.deepEqual((await proc.readdir('/mnt')).map((d) => d.name).sort(), ['b.txt', 'c.txt', 'd.txt', 'inter.bin']);
      assert.equal(new TextDecoder().decode(await readAll(proc, '/mnt/b.txt', 11)), 'version two');
    } finally {
      await kernel.halt();
    }
  }
  const { kernel, proc } = await mountIso(img, 'gens');
  try {
    assert.deepEqual((await proc.readdir('/mnt')).map((d) => d.name).sort(), ['b.txt;1', 'b.txt;2', 'c.txt;1', 'd.txt;1', 'inter.bin;1']);
    assert.equal(new TextDecoder().decode(await readAll(proc, '/mnt/b.txt;1', 11)), 'version one');
  } finally {
    await kernel.halt();
  }
});
