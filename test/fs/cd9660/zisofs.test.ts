/**
 * zisofs (Rock Ridge ZF entries): files xorriso compressed read back as the
 * source bytes; the inflater agrees with Node's zlib on every kind of block
 * (stored, fixed, dynamic Huffman) and refuses damaged or oversized streams.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { deflateSync, constants } from 'node:zlib';
import { tempDir, run } from '../../../src/testing/tools.js';
import { zlibInflate } from '../../../src/fs/cd9660/inflate.js';
import { KernelError } from '../../../src/kern/error.js';
import { Prng } from '../../../src/testing/prng.js';
import { mountIso, project, readAll, walkHost, walkKernel } from './util.js';

function samples(): Uint8Array[] {
  const rng = new Prng(1950);
  const text = new TextEncoder().encode('the quick brown fox jumps over the lazy dog\n'.repeat(900));
  const random = new Uint8Array(40_000);
  for (let i = 0; i < random.length; i++) random[i] = rng.int(256);
  const mixed = new Uint8Array(70_000);
  for (let i = 0; i < mixed.length; i++) mixed[i] = i % 3000 < 1500 ? rng.int(4) + 0x61 : (i * 7) & 0xff;
  return [new Uint8Array(0), new Uint8Array([42]), text, random, mixed, new Uint8Array(65_536)];
}

test('inflate agrees with zlib: stored, fixed and dynamic blocks at every level', () => {
  for (const data of samples()) {
    for (const opts of [{ level: 0 }, { level: 1 }, { level: 6 }, { level: 9 }, { strategy: constants.Z_FIXED }, { strategy: constants.Z_HUFFMAN_ONLY }, { strategy: constants.Z_RLE }]) {
      const packed = new Uint8Array(deflateSync(data, opts));
      const out = new Uint8Array(data.length);
      assert.equal(zlibInflate(packed, out), data.length, JSON.stringify(opts));
      assert.deepEqual(out, data, JSON.stringify(opts));
    }
  }
});

test('inflate refuses streams that are damaged or larger than their block', () => {
  const data = samples()[4]!;
  const packed = new Uint8Array(deflateSync(data));
  const eio = (e: unknown) => e instanceof KernelError && e.code === 'EIO';
  assert.throws(() => zlibInflate(packed, new Uint8Array(data.length - 1)), eio);
  assert.throws(() => zlibInflate(packed.subarray(0, packed.length - 10), new Uint8Array(data.length)), eio);
  const rng = new Prng(1951);
  for (let i = 0; i < 300; i++) {
    const bad = packed.slice();
    bad[rng.int(bad.length)] ^= 1 << rng.int(8);
    try {
      const out = new Uint8Array(data.length);
      zlibInflate(bad, out);
      // Inflating without an error means the checksum matched: then the output must be the data.
      assert.deepEqual(out, data);
    } catch (e) {
      assert.ok(eio(e), String(e));
    }
  }
});

test('xorriso -zisofs: compressed files read back as the source bytes; a damaged block is EIO for that file only', async () => {
  const t = await tempDir('cd9660-zf-');
  try {
    const src = join(t.path, 'src');
    mkdirSync(join(src, 'd'), { recursive: true });
    const rng = new Prng(7);
    writeFileSync(join(src, 'text.txt'), 'hello zisofs\n'.repeat(20_000));
    const rnd = new Uint8Array(100_000);
    for (let i = 0; i < rnd.length; i++) rnd[i] = rng.int(256);
    writeFileSync(join(src, 'd', 'rand.bin'), rnd);
    writeFileSync(join(src, 'zeros.bin'), new Uint8Array(300_000));
    writeFileSync(join(src, 'small.txt'), 'tiny');
    const iso = join(t.path, 'z.iso');
    await run('xorriso', ['-outdev', `stdio:${iso}`, '-zisofs', 'level=9:block_size=32k', '-map', src, '/', '-set_filter_r', '--zisofs', '/', '--', '-commit']);
    const ls = (await run('isoinfo', ['-R', '-l', '-i', iso])).stdout.toString();
    assert.match(ls, /\s865 .*text\.txt/, 'text.txt must be stored compressed');
    const { kernel, proc } = await mountIso(iso);
    try {
      const keys = ['type', 'size', 'sha'] as const;
      assert.deepEqual(project(await walkKernel(proc, '/mnt'), [...keys]), project(walkHost(src), [...keys]));
      // Reads at odd offsets across block boundaries.
      const fd = await proc.open('/mnt/text.txt', 0);
      const want = readFileSync(join(src, 'text.txt'));
      for (const [off, len] of [[32_760, 20], [65_530, 40_000], [259_990, 100]] as const) {
        const b = new Uint8Array(len);
        const got = await proc.pread(fd, b, off);
        assert.deepEqual(b.subarray(0, got), new Uint8Array(want.subarray(off, off + len)));
      }
      await proc.close(fd);
    } finally {
      await kernel.halt();
    }
    // Damage the compressed data of text.txt (its extent is in isoinfo's listing).
    const m = /\[\s*(\d+) 00\]\s+text\.txt/.exec(ls)!;
    const img = new Uint8Array(readFileSync(iso));
    img[Number(m[1]) * 2048 + 200] ^= 0x55;
    const d = await mountIso(img);
    try {
      await assert.rejects(readAll(d.proc, '/mnt/text.txt', 260_000), { code: 'EIO' });
      assert.equal(new TextDecoder().decode(await readAll(d.proc, '/mnt/small.txt', 4)), 'tiny');
    } finally {
      await d.kernel.halt();
    }
    // A block table entry pointing far past the stored data, and a header that lies about the size.
    for (const [off, bytes] of [[16 + 4, [0xf0, 0xff, 0xff, 0xff]], [8, [0xff, 0xff, 0xff, 0x7f]], [13, [30]]] as const) {
      const img2 = new Uint8Array(readFileSync(iso));
      img2.set(bytes, Number(m[1]) * 2048 + off);
      const e = await mountIso(img2);
      try {
        await assert.rejects(readAll(e.proc, '/mnt/text.txt', 260_000), { code: 'EIO' });
      } finally {
        await e.kernel.halt();
      }
    }
  } finally {
    await t.cleanup();
  }
});
