/**
 * WAPBL: a makefs image given an end-of-partition journal in the on-disk
 * format of NetBSD's vfs_wapbl.c (commit headers, a block-list record with
 * logged data). A non-empty log mounts read-only with the logged blocks seen
 * in place of the device's; read-write is refused with a message naming the
 * journal; an empty log mounts read-write as usual. No NetBSD tool here makes
 * such logs, so the log is laid out by this test from the format's tables.
 */

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, writeFile } from '../../../src/testing/hostfs.js';
import { join } from 'node:path';
import { tempDir } from '../../../src/testing/tools.js';
import { findSuperblock } from '../../../src/fs/ffs/geom.js';
import { fsckFfs } from '../../../src/fs/ffs/fsck.js';
import type { FfsNode } from '../../../src/fs/ffs/ffs.js';
import {
  SUPERBLOCK, WAPBL_WC_HEADER, WAPBL_WC_HEADER_TYPE, WAPBL_WC_BLOCKLIST, WAPBL_WC_BLOCKS, WAPBL_WC_REVOCATIONS, FS_DOWAPBL,
  UFS_WAPBL_JOURNALLOC_END_PARTITION,
} from '../../../src/fs/ffs/layout.js';
import { makefsImage, mountBytes, readAll } from './helpers.js';

const LOG_BYTES = 64 * 1024;
const LB = 512;
let tmp: { path: string; cleanup: () => Promise<void> };
let base: Uint8Array;

before(async () => {
  tmp = await tempDir('ffs-wapbl-');
  const src = join(tmp.path, 'src');
  await mkdir(src);
  await writeFile(join(src, 'small'), 'before\n');
  await writeFile(join(src, 'other'), 'other\n');
  base = await makefsImage(src, 2, false, 2);
});
after(() => tmp.cleanup());

/**
 * The image followed by a log. `records` are [daddr in sectors, data] blocks to log
 * (one BLOCKS record), `revoke` sectors revoked afterwards; `empty` writes headers only.
 */
async function journaled(records: Array<[number, Uint8Array]>, revoke: number[] = [], empty = false): Promise<Uint8Array> {
  const img = new Uint8Array(base.length + LOG_BYTES);
  img.set(base);
  const f = await findSuperblock(async (o, l) => img.subarray(o, o + l), base.length);
  if ('reasons' in f) throw new Error('no superblock');
  const g = f.geom;
  const logAt = base.length;
  SUPERBLOCK.encode(img, g.sbloc, g.le, {
    flags: g.sb.flags | FS_DOWAPBL,
    journal_version: 1,
    journal_location: UFS_WAPBL_JOURNALLOC_END_PARTITION,
    journallocs: [logAt / LB, LOG_BYTES / LB, LB, 0],
  });
  const log = img.subarray(logAt);
  const circOff = 2 * LB;
  let off = circOff;
  if (!empty) {
    // A BLOCKS record: one log block of list, then the data of each listed block.
    const dataLen = records.reduce((n, [, d]) => n + d.length, 0);
    WAPBL_WC_BLOCKLIST.encode(log, off, g.le, { type: WAPBL_WC_BLOCKS, len: LB + dataLen, blkcount: records.length });
    const dv = new DataView(log.buffer, log.byteOffset);
    records.forEach(([daddr, d], i) => {
      dv.setBigInt64(off + 16 + i * 16, BigInt(daddr), g.le);
      dv.setInt32(off + 16 + i * 16 + 12, d.length, g.le);
    });
    off += LB;
    for (const [, d] of records) {
      log.set(d, off);
      off += d.length;
    }
    if (revoke.length) {
      WAPBL_WC_BLOCKLIST.encode(log, off, g.le, { type: WAPBL_WC_REVOCATIONS, len: LB, blkcount: revoke.length });
      revoke.forEach((daddr, i) => {
        dv.setBigInt64(off + 16 + i * 16, BigInt(daddr), g.le);
        dv.setInt32(off + 16 + i * 16 + 12, LB, g.le);
      });
      off += LB;
    }
  }
  const hdr = {
    type: WAPBL_WC_HEADER_TYPE, len: 0, generation: 2, version: 1, log_dev_bshift: 9, fs_dev_bshift: 9,
    head: empty ? 0 : off, tail: empty ? 0 : circOff, circ_off: circOff, circ_size: LOG_BYTES - circOff,
  };
  WAPBL_WC_HEADER.encode(log, 0, g.le, hdr);
  // The older header of the pair: a lower generation, and an empty log.
  WAPBL_WC_HEADER.encode(log, LB, g.le, { ...hdr, generation: 1, head: 0, tail: 0 });
  return img;
}

async function sectorOf(img: Uint8Array, name: string): Promise<number> {
  const m = await mountBytes(img, true);
  const k = (await (await m.vget(m.rootKey)).lookup(name))!;
  const n = (await m.vget(k)) as FfsNode;
  return (n.d.db[0]! * n.m.g.fsize) / 512;
}

test('a non-empty journal: read-only mount sees the logged blocks; read-write is refused', async () => {
  const sector = await sectorOf(base, 'small');
  const logged = new Uint8Array(LB);
  logged.set(new TextEncoder().encode('after!\n'));
  const img = await journaled([[sector, logged]]);
  const before = img.slice();
  await assert.rejects(mountBytes(img, false), (e: { code?: string; detail?: string }) => e.code === 'EROFS' && /WAPBL/.test(e.detail ?? ''));
  const m = await mountBytes(img, true);
  const root = await m.vget(m.rootKey);
  const small = await m.vget((await root.lookup('small'))!);
  assert.equal(new TextDecoder().decode(await readAll(small)), 'after!\n');
  const other = await m.vget((await root.lookup('other'))!);
  assert.equal(new TextDecoder().decode(await readAll(other)), 'other\n');
  assert.deepEqual(img, before, 'the image is not written');
  assert.ok((await fsckFfs(img)).some((p) => /WAPBL journal holds 1 logged sectors/.test(p)));
});

test('a revoked block is not replayed', async () => {
  const sector = await sectorOf(base, 'small');
  const logged = new Uint8Array(LB).fill(0x41);
  const img = await journaled([[sector, logged]], [sector]);
  const m = await mountBytes(img, true);
  const small = await m.vget((await (await m.vget(m.rootKey)).lookup('small'))!);
  assert.equal(new TextDecoder().decode(await readAll(small)), 'before\n');
});

test('an empty journal mounts read-write', async () => {
  const img = await journaled([], [], true);
  const m = await mountBytes(img, false);
  await m.unmount();
  assert.deepEqual(await fsckFfs(img), []);
});

test('a journal record with a hostile length is EFTYPE', async () => {
  const sector = await sectorOf(base, 'small');
  const img = await journaled([[sector, new Uint8Array(LB)]]);
  const f = await findSuperblock(async (o, l) => img.subarray(o, o + l), img.length);
  if ('reasons' in f) throw new Error();
  WAPBL_WC_BLOCKLIST.encode(img, base.length + 2 * LB, f.geom.le, { len: 0x7fffff00 });
  await assert.rejects(mountBytes(img, true), { code: 'EFTYPE' });
});
