/**
 * The less common paths, each against a real-tool oracle: journal replay
 * (a transaction and a revoke written with debugfs' journal commands;
 * e2fsck's own replay is the oracle), checksum failures naming the structure
 * (and the `nocsum` option), nanosecond and post-2038 timestamps set with
 * debugfs, inline data, and 64 KiB blocks.
 */

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { copyFile, readFile, writeFile, mkdir } from '../../../src/testing/hostfs.js';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { readImage, run, tempDir } from '../../../src/testing/tools.js';
import { compareTree, debugfs, fsck, makeTree, mke2fs, mountImage, readAll, resolve, uncleanImage } from './helpers.js';

const work = await tempDir('ext2fs-special-');
after(() => work.cleanup());
const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

async function smallTree(name: string, o: Parameters<typeof makeTree>[1]): Promise<string> {
  const p = join(work.path, name);
  await mkdir(p);
  await makeTree(p, o);
  return p;
}

for (const v3 of [false, true]) test(`an unclean journal${v3 ? ' (checksum v3, 1 KiB blocks)' : ''} is replayed in memory for a read-only mount; the image is not written`, async () => {
  const img = await uncleanImage(work.path, v3);
  const bytes = await readImage(img);
  const before = sha(bytes);
  const log: string[] = [];
  const m = await mountImage(bytes, { readonly: true, log });
  const f = await resolve(m, '/f');
  const g = await resolve(m, '/g');
  const ours = [(await readAll(f, f.getattr().size)).toString(), (await readAll(g, g.getattr().size)).toString()];
  await m.unmount();
  assert.equal(sha(bytes), before, 'image unchanged');
  assert.ok(log.some((l) => /journal replayed in memory/.test(l)));
  // Oracle: e2fsck replays a copy.
  const copy = join(work.path, 'replayed.img');
  await copyFile(img, copy);
  await run('e2fsck', ['-fy', copy], { okCodes: [1] });
  const theirs = [(await debugfs(copy, 'cat /f')), (await debugfs(copy, 'cat /g'))];
  assert.deepEqual(ours, theirs);
  assert.deepEqual(ours, ['new f', 'old g']);
});

test('an unclean journal is replayed on disk for a read-write mount, leaving a clean file system', async () => {
  const img = await uncleanImage(work.path);
  const bytes = await readImage(img);
  const m = await mountImage(bytes, { readonly: false });
  const f = await resolve(m, '/f');
  assert.equal((await readAll(f, f.getattr().size)).toString(), 'new f');
  await m.unmount();
  await writeFile(img, bytes);
  assert.doesNotMatch((await run('dumpe2fs', ['-h', img])).stdout.toString(), /needs_recovery/);
  await fsck(img);
  assert.equal(await debugfs(img, 'cat /f'), 'new f');
  assert.equal(await debugfs(img, 'cat /g'), 'old g');
});

test('checksum mismatches answer EIO naming the structure; nocsum relaxes; a bad superblock refuses the mount', async () => {
  const dir = join(work.path, 'ctree');
  await mkdir(dir);
  await writeFile(join(dir, 'f'), 'x');
  const img = join(work.path, 'csum.img');
  const clean = await mke2fs(img, 'ext4', '16M', ['-b', '4096'], dir);
  const loc = await debugfs(img, 'imap /f');
  const blk = Number(/located at block (\d+)/.exec(loc)![1]);
  const off = parseInt(/offset 0x([0-9a-f]+)/.exec(loc)![1]!, 16);
  const bad = clean.slice();
  bad[blk * 4096 + off + 8]! ^= 0xff; // i_atime
  const log: string[] = [];
  const m = await mountImage(bad, { log });
  const root = await m.vget(m.rootKey);
  const ino = (await root.lookup('f'))!;
  await assert.rejects(m.vget(ino), (e: { code: string; detail: string }) => e.code === 'EIO' && /inode \d+: checksum/.test(e.detail));
  const m2 = await mountImage(bad, { options: 'nocsum' });
  assert.equal((await m2.vget(ino)).getattr().size, 1);
  const sb = clean.slice();
  sb[1024 + 0x30]! ^= 1; // s_wtime
  await assert.rejects(mountImage(sb), (e: { code: string; detail: string }) => e.code === 'EFTYPE' && /superblock: checksum/.test(e.detail));
  await mountImage(sb, { options: 'nocsum' });
  // A directory block: the root's first block.
  const rb = Number((await debugfs(img, 'bmap / 0')).trim());
  const dirbad = clean.slice();
  dirbad[rb * 4096 + 30]! ^= 0xff;
  const m3 = await mountImage(dirbad);
  await assert.rejects((await m3.vget(m3.rootKey)).lookup('f'), (e: { code: string; detail: string }) => e.code === 'EIO' && /directory inode 2 block 0/.test(e.detail));
  // A block bitmap, found when allocating.
  const bb = Number(/Block bitmap at (\d+)/.exec((await run('dumpe2fs', [img])).stdout.toString())![1]);
  const bmbad = clean.slice();
  bmbad[bb * 4096 + 4000]! ^= 0x01;
  const m4 = await mountImage(bmbad, { readonly: false });
  const root4 = await m4.vget(m4.rootKey);
  const f4 = await m4.vget(await Promise.resolve(root4.create('new', { type: 'reg', mode: 0o644, uid: 0, gid: 0, time: { sec: 1, nsec: 0 } })).catch(() => m4.rootKey));
  await assert.rejects(async () => f4.write(new Uint8Array(4096), 0, { sec: 1, nsec: 0 }), (e: { code: string; detail: string }) => e.code === 'EIO' && /group 0: block bitmap checksum/.test(e.detail));
});

test('nanosecond and post-2038 timestamps set with debugfs read back as debugfs shows them', async () => {
  const dir = join(work.path, 'ttree');
  await mkdir(dir);
  await writeFile(join(dir, 'f'), 'x');
  await writeFile(join(dir, 'g'), 'y');
  const img = join(work.path, 'time.img');
  await mke2fs(img, 'ext4', '8M', [], dir);
  await run('debugfs', ['-w', '-R', `sif /f mtime_extra ${(123456789 << 2) | 1}`, img]);
  await run('debugfs', ['-w', '-R', 'sif /g mtime 0x7fffffff', img]);
  await run('debugfs', ['-w', '-R', `sif /g mtime_extra ${999999999 * 4}`, img]);
  const m = await mountImage(await readImage(img));
  for (const name of ['f', 'g']) {
    const stat = await debugfs(img, `stat /${name}`);
    const [, hi, lo] = /mtime: 0x([0-9a-f]+):([0-9a-f]+)/.exec(stat)!;
    const extra = parseInt(lo!, 16);
    const want = { sec: (parseInt(hi!, 16) | 0) + (extra & 3) * 2 ** 32, nsec: extra >>> 2 };
    assert.deepEqual((await resolve(m, `/${name}`)).getattr().mtime, want, name);
  }
  assert.equal((await resolve(m, '/f')).getattr().mtime.nsec, 123456789);
  assert.ok((await resolve(m, '/f')).getattr().mtime.sec > 2 ** 32);
});

test('inline data: small files and directories kept in the inode read back', async () => {
  const tree = await smallTree('itree', { files: 200, bigDir: 20, sizes: [0, 1, 30, 59, 60, 100, 150, 3000], noSparse: true, hugeSparse: false });
  const img = join(work.path, 'inline.img');
  await mke2fs(img, 'ext4', '16M', ['-O', 'inline_data'], tree);
  assert.match(await debugfs(img, 'stat /d1/f1.dat'), /Flags: 0x10000000|Size of inline data/);
  const m = await mountImage(await readImage(img));
  await compareTree(m, tree);
});

test('64 KiB blocks', async () => {
  const tree = await smallTree('btree', { files: 60, bigDir: 50, noSparse: true, hugeSparse: false });
  const img = join(work.path, 'big.img');
  await mke2fs(img, 'ext4', '128M', ['-b', '65536'], tree);
  const bytes = await readImage(img);
  const m = await mountImage(bytes);
  await compareTree(m, tree);
  // And writing on it.
  const w = await mountImage(bytes, { readonly: false });
  const root = await w.vget(w.rootKey);
  const now = { sec: 1700000000, nsec: 5 };
  for (let i = 0; i < 200; i++) await root.create(`n${i}`, { type: 'reg', mode: 0o644, uid: 0, gid: 0, time: now });
  await w.unmount();
  await writeFile(img, bytes);
  await fsck(img);
});

test('journal checksums (v3): a bad data block is not replayed, a bad descriptor ends the log', async () => {
  const img = await uncleanImage(work.path, true);
  const clean = await readImage(img);
  const jblock = async (l: number): Promise<number> => Number((await debugfs(img, `bmap <8> ${l}`)).trim());
  const readF = async (bytes: Uint8Array, log: string[]): Promise<string> => {
    const m = await mountImage(bytes, { log });
    const f = await resolve(m, '/f');
    return (await readAll(f, f.getattr().size)).toString();
  };
  const data = clean.slice();
  data[(await jblock(2)) * 1024 + 100]! ^= 0xff; // first data block of transaction 1 (/f's new content)
  const log1: string[] = [];
  assert.equal(await readF(data, log1), 'old f');
  assert.ok(log1.some((l) => /fails its checksum; not replayed/.test(l)), log1.join('\n'));
  const desc = clean.slice();
  desc[(await jblock(1)) * 1024 + 40]! ^= 0xff; // the descriptor block
  const log2: string[] = [];
  assert.equal(await readF(desc, log2), 'old f');
  assert.ok(log2.some((l) => /descriptor block \d+ of transaction 1 fails its checksum/.test(l)), log2.join('\n'));
  assert.equal(await readF(clean.slice(), []), 'new f');
});
