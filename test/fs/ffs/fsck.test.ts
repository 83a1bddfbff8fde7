/**
 * The checker: clean on images from makefs and from our newfs, and each kind
 * of deliberate damage below is reported with a line naming it. The damage is
 * made with the on-disk declarations; the undamaged image is the control.
 */

import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryDevice } from '../../../src/dev/blockdev.js';
import { parseOptions } from '../../../src/vfs/types.js';
import { ffs } from '../../../src/fs/ffs/index.js';
import { fsckFfs } from '../../../src/fs/ffs/fsck.js';
import { findSuperblock, type FsGeom } from '../../../src/fs/ffs/geom.js';
import type { FfsNode } from '../../../src/fs/ffs/ffs.js';
import { SUPERBLOCK, CG, CSUM, DIRECT, DINODE1, DINODE2 } from '../../../src/fs/ffs/layout.js';
import { services, mountBytes, pattern } from './helpers.js';

interface Base {
  bytes: Uint8Array;
  g: FsGeom;
  ino: Map<string, number>;
  node: Map<string, FfsNode['d']>;
}

const bases = new Map<number, Base>();

async function build(version: 1 | 2): Promise<Base> {
  const dev = MemoryDevice.zeroed(8 << 20);
  await ffs.newfs!(dev, { options: parseOptions(`version=${version}`) }, services);
  const m = await mountBytes(dev.bytes, false);
  const root = await m.vget(m.rootKey);
  const t = services.now();
  const n = (type: 'reg' | 'dir') => ({ type, mode: 0o644, uid: 0, gid: 0, time: t });
  const a = await m.vget(await root.create('a', n('reg')));
  await a.write(pattern(1500, 1), 0, t);
  const b = await m.vget(await root.create('b', n('reg')));
  await b.write(pattern(40000, 2), 0, t);
  const d = await m.vget(await root.mkdir('d', n('dir')));
  const e = await m.vget(await d.create('e', n('reg')));
  await e.write(pattern(100, 3), 0, t);
  await root.symlink('s', 'a', { ...n('reg'), type: 'lnk' });
  await d.link('hard', a, t);
  await m.unmount();
  const found = await findSuperblock(async (o, l) => dev.bytes.subarray(o, o + l), dev.bytes.length);
  if ('reasons' in found) throw new Error('no superblock');
  const m2 = await mountBytes(dev.bytes, true);
  const ino = new Map<string, number>();
  const node = new Map<string, FfsNode['d']>();
  for (const [name, dir] of [['a', root], ['b', root], ['d', root], ['e', d]] as const) {
    const k = (await dir.lookup(name))!;
    ino.set(name, k);
    node.set(name, ((await m2.vget(k)) as FfsNode).d);
  }
  return { bytes: dev.bytes, g: found.geom, ino, node };
}

before(async () => {
  bases.set(1, await build(1));
  bases.set(2, await build(2));
});

function inodeOff(g: FsGeom, ino: number): number {
  return g.inoToFsba(ino) * g.fsize + g.inoToFsbo(ino) * g.isize;
}
function patchInode(g: FsGeom, img: Uint8Array, ino: number, f: Record<string, number | number[]>): void {
  (g.ufs2 ? DINODE2 : DINODE1).encode(img, inodeOff(g, ino), g.le, f as never);
}
function cgOff(g: FsGeom, c: number): number {
  return g.cgtod(c) * g.fsize;
}
function cgHeader(g: FsGeom, img: Uint8Array, c: number) {
  return CG.decode(img, cgOff(g, c), g.le);
}
function flipFree(g: FsGeom, img: Uint8Array, frag: number): void {
  const c = g.dtog(frag);
  const h = cgHeader(g, img, c);
  const rel = frag - g.cgbase(c);
  img[cgOff(g, c) + h.freeoff + (rel >> 3)]! ^= 1 << (rel & 7);
}
/** Byte offset of directory `dir`'s first chunk. */
function dirOff(g: FsGeom, d: { db: number[] }): number {
  return d.db[0]! * g.fsize;
}

type Damage = (b: Base, img: Uint8Array) => void;
const damages: Array<[string, Damage, RegExp]> = [
  ['superblock magic', (b, img) => SUPERBLOCK.encode(img, b.g.sbloc, b.g.le, { magic: 0 }), /superblock/],
  ['superblock block size', (b, img) => SUPERBLOCK.encode(img, b.g.sbloc, b.g.le, { bsize: 12345 }), /superblock/],
  ['cylinder-group magic', (b, img) => CG.encode(img, cgOff(b.g, 0), b.g.le, { magic: 0x1234 }), /cg 0: bad magic/],
  ['block pointer out of range', (b, img) => {
    const db = [...b.node.get('b')!.db];
    db[1] = b.g.size + 100;
    patchInode(b.g, img, b.ino.get('b')!, { db });
  }, /address \d+ out of range/],
  ['block claimed twice', (b, img) => {
    const db = [...b.node.get('e')!.db];
    db[0] = b.node.get('b')!.db[0]!;
    patchInode(b.g, img, b.ino.get('e')!, { db });
  }, /claimed by inodes/],
  ['block pointing into metadata', (b, img) => {
    const db = [...b.node.get('e')!.db];
    db[0] = b.g.cgimin(0);
    patchInode(b.g, img, b.ino.get('e')!, { db });
  }, /is file-system metadata/],
  ['used frag marked free', (b, img) => flipFree(b.g, img, b.node.get('b')!.db[2]!), /used frags marked free/],
  ['free frag marked used', (b, img) => {
    const h = cgHeader(b.g, img, 0);
    flipFree(b.g, img, h.ndblk - 1);
  }, /free frags marked used/],
  ['wrong link count', (b, img) => patchInode(b.g, img, b.ino.get('b')!, { nlink: 3 }), /inode \d+: link count 3, found 1/],
  ['entry naming a free inode', (b, img) => {
    // 'e' is the third entry of d's first chunk: after '.' (12) and '..' (12).
    DIRECT.encode(img, dirOff(b.g, b.node.get('d')!) + 24, b.g.le, { ino: b.g.ipg - 1 });
  }, /names unallocated inode/],
  ['bad record length', (b, img) => DIRECT.encode(img, dirOff(b.g, b.node.get('d')!) + 12, b.g.le, { reclen: 7 }), /bad entry at offset 12/],
  ["wrong '..'", (b, img) => DIRECT.encode(img, dirOff(b.g, b.node.get('d')!) + 12, b.g.le, { ino: b.ino.get('d')! }), /'\.\.' names inode/],
  ['wrong entry type', (b, img) => DIRECT.encode(img, dirOff(b.g, b.node.get('d')!) + 24, b.g.le, { type: 4 }), /has type 4/],
  ['cg free-block count', (b, img) => {
    const h = cgHeader(b.g, img, 0);
    CG.encode(img, cgOff(b.g, 0), b.g.le, { cs_nbfree: h.cs_nbfree + 1 });
  }, /cg 0: free block count/],
  ['cg fragment summary', (b, img) => {
    const h = cgHeader(b.g, img, 0);
    const frsum = [...h.frsum];
    frsum[3] = frsum[3]! + 2;
    CG.encode(img, cgOff(b.g, 0), b.g.le, { frsum });
  }, /frsum\[3\]/],
  ['cluster summary', (b, img) => {
    const h = cgHeader(b.g, img, 0);
    const at = cgOff(b.g, 0) + h.clustersumoff + 4;
    new DataView(img.buffer).setInt32(at, new DataView(img.buffer).getInt32(at, b.g.le) + 5, b.g.le);
  }, /cluster summary\[1\]/],
  ['summary area', (b, img) => CSUM.encode(img, b.g.csaddr * b.g.fsize, b.g.le, { nifree: 1 }), /summary area/],
  ['superblock totals', (b, img) => SUPERBLOCK.encode(img, b.g.sbloc, b.g.le, b.g.ufs2 ? { cs_nifree: 3 } : { old_cs_nifree: 3 }), /superblock: total nifree/],
  ['block count', (b, img) => patchInode(b.g, img, b.ino.get('b')!, { blocks: 2 }), /block count 2, counted/],
  ['inode map', (b, img) => {
    const ino = b.ino.get('b')!;
    const c = b.g.inoToCg(ino);
    const h = cgHeader(b.g, img, c);
    const i = ino % b.g.ipg;
    img[cgOff(b.g, c) + h.iusedoff + (i >> 3)]! &= ~(1 << (i & 7));
  }, /allocated .* but free in cg/],
  ['bad file type', (b, img) => patchInode(b.g, img, b.ino.get('e')!, { mode: 0o170644 }), /bad file type/],
  ['unreferenced inode', (b, img) => {
    // Make a free (initialised) inode look allocated and in use.
    const ino = 2 * b.g.inopb - 1;
    patchInode(b.g, img, ino, { mode: 0o100644, nlink: 1 });
    const c = b.g.inoToCg(ino);
    const h = cgHeader(b.g, img, c);
    const i = ino % b.g.ipg;
    img[cgOff(b.g, c) + h.iusedoff + (i >> 3)]! |= 1 << (i & 7);
  }, /not in any directory/],
  ['superblock copy disagreeing', (b, img) => SUPERBLOCK.encode(img, b.g.cgsblock(b.g.ncg - 1) * b.g.fsize, b.g.le, { fpg: 8 }), /copy in cg \d+ disagrees on fpg/],
  ['unclean file system', (b, img) => SUPERBLOCK.encode(img, b.g.sbloc, b.g.le, { clean: 0 }), /clean flag/],
];

test('the undamaged images are clean', async () => {
  for (const b of bases.values()) assert.deepEqual(await fsckFfs(b.bytes), []);
});

for (const [name, damage, want] of damages) {
  test(`checker catches: ${name}`, async () => {
    for (const [v, b] of bases) {
      const img = b.bytes.slice();
      damage(b, img);
      const problems = await fsckFfs(img);
      assert.ok(problems.some((p) => want.test(p)), `UFS${v}: ${want} not in:\n${problems.join('\n')}`);
    }
  });
}

test('a damaged primary superblock: the checker and a read-only mount use a copy; read-write is refused', async () => {
  for (const [v, b] of bases) {
    const img = b.bytes.slice();
    SUPERBLOCK.encode(img, b.g.sbloc, b.g.le, { magic: 0 });
    const problems = await fsckFfs(img);
    assert.equal(problems.length, 1, problems.join('\n'));
    assert.match(problems[0]!, /primary superblock unusable; checked with the copy at byte \d+/);
    await assert.rejects(mountBytes(img, false), { code: 'EROFS' });
    const m = await mountBytes(img, true);
    const root = await m.vget(m.rootKey);
    const e = await m.vget((await (await m.vget((await root.lookup('d'))!)).lookup('e'))!);
    const buf = new Uint8Array(100);
    assert.equal(await e.read(buf, 0), 100);
    assert.deepEqual(buf, pattern(100, 3), `UFS${v}`);
  }
});
