// The commands that change images (cp in, mkdir, mv, ln, chmod, chown, touch, rm), checked by the real
// tools: e2fsck -fn and debugfs for ext4 (also inside an MBR disk), fsck.fat -n and mtools for FAT.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile, readFile, mkdir } from '../../src/testing/hostfs.js';
import { join } from 'node:path';
import { run, tempDir } from '../../src/testing/tools.js';
import { makeDisk, makeExt, makeFat, makeTree, rump } from './helpers.js';

let dir: string;
let cleanup: () => Promise<void>;

before(async () => {
  ({ path: dir, cleanup } = await tempDir('rump-rw-'));
  await makeTree(join(dir, 'tree'));
  await mkdir(join(dir, 'in/sub'), { recursive: true });
  await writeFile(join(dir, 'in/one.txt'), 'one\n');
  await writeFile(join(dir, 'in/sub/two.txt'), 'two\n');
});
after(() => cleanup());

const debugfs = async (img: string, req: string) => (await run('debugfs', ['-R', req, img])).stdout.toString('utf8');

/** The bytes of partition 1 of a disk, as its own image (for the checkers). */
async function partition1(disk: string): Promise<string> {
  const parts = JSON.parse((await run('sfdisk', ['--json', disk])).stdout.toString('utf8')) as { partitiontable: { partitions: { start: number; size: number }[] } };
  const p = parts.partitiontable.partitions[0]!;
  const out = `${disk}.p1`;
  await writeFile(out, (await readFile(disk)).subarray(p.start * 512, (p.start + p.size) * 512));
  return out;
}

async function changeImage(img: string, ext: boolean): Promise<void> {
  const ok = async (args: string[], stdin?: string) => {
    const r = await rump(args, stdin !== undefined ? { stdin } : {});
    assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
    assert.equal(r.stderr, '');
  };
  await ok(['mkdir', '-p', `${img}:/a/b/c`]);
  await ok(['mkdir', `${img}:/a/plain`]);
  await ok(['cp', join(dir, 'in/one.txt'), `${img}:/a/b/c`]);
  await ok(['cp', '-', `${img}:/a/stdin.txt`], 'from stdin\n');
  await ok(['cp', '-r', join(dir, 'in'), `${img}:/a/tree`]);
  await ok(['mv', `${img}:/a/stdin.txt`, `${img}:/a/moved.txt`]);
  await ok(['mv', `${img}:/a/tree/one.txt`, `${img}:/a/plain`]);
  await ok(['touch', '-d', '2022-02-03T04:05:06Z', `${img}:/a/new`]);
  await ok(['rm', '-r', `${img}:/home`]);
  await ok(['rm', `${img}:/etc/hostname`]);
  if (ext) {
    await ok(['ln', '-s', 'moved.txt', `${img}:/a/sym`]);
    await ok(['ln', `${img}:/a/moved.txt`, `${img}:/a/hard`]);
    await ok(['chmod', '640', `${img}:/a/moved.txt`]);
    await ok(['chmod', 'u+x,o-r', `${img}:/a/b/c/one.txt`]);
    await ok(['chown', '1000:100', `${img}:/a/moved.txt`]);
    // Names come from the image's own /etc/passwd (root:x:0:0 in the test tree), not the host's.
    await ok(['chown', 'root:', `${img}:/a/b`]);
    const bad = await rump(['chown', 'nosuchuser', `${img}:/a/b`]);
    assert.equal(bad.stderr, "rump: chown: invalid user: 'nosuchuser' (not in the image's /etc/passwd)\n");
  }
  // Errors on the way: the format and status of every failure.
  const missing = await rump(['rm', `${img}:/nope`]);
  assert.equal(missing.code, 1);
  assert.equal(missing.stderr, `rump: rm: ${img}:/nope: No such file or directory\n`);
  const notEmpty = await rump(['rm', '-d', `${img}:/a`]);
  assert.equal(notEmpty.code, 1);
  assert.match(notEmpty.stderr, /: Directory not empty\n$/);
  // Our own view afterwards.
  const ls = await rump(['ls', `${img}:/a`]);
  assert.deepEqual(ls.out.trim().split('\n'), ext ? ['b', 'hard', 'moved.txt', 'new', 'plain', 'sym', 'tree'] : ['b', 'moved.txt', 'new', 'plain', 'tree']);
}

test('ext4: changes made by rump pass e2fsck and read back through debugfs', async () => {
  const img = await makeExt(dir, join(dir, 'tree'), 'ext4');
  await changeImage(img, true);
  await run('e2fsck', ['-fn', img]);
  assert.equal(await debugfs(img, 'cat /a/moved.txt'), 'from stdin\n');
  assert.equal(await debugfs(img, 'cat /a/b/c/one.txt'), 'one\n');
  assert.equal(await debugfs(img, 'cat /a/tree/sub/two.txt'), 'two\n');
  assert.equal(await debugfs(img, 'cat /a/plain/one.txt'), 'one\n');
  const st = await debugfs(img, 'stat /a/moved.txt');
  assert.match(st, /Mode:\s+0640/);
  assert.match(st, /User:\s+1000\s+Group:\s+100/);
  assert.match(st, /Links: 2/);
  assert.match(await debugfs(img, 'stat /a/b/c/one.txt'), /Mode:\s+0740/);
  assert.match(await debugfs(img, 'stat /a/sym'), /Fast link dest: "moved.txt"/);
  assert.match(await debugfs(img, 'stat /a/new'), /mtime: 0x61fb5472/);
  assert.match((await run('debugfs', ['-R', 'ls /home', img])).stderr, /File not found/);
});

test('ext4 inside an MBR disk: changes land in the partition, e2fsck clean', async () => {
  const fs = await makeExt(dir, join(dir, 'tree'), 'ext4');
  const disk = await makeDisk(dir, 'mbr-rw.img', 'dos', [fs]);
  await changeImage(disk, true);
  const p = await partition1(disk);
  await run('e2fsck', ['-fn', p]);
  assert.equal(await debugfs(p, 'cat /a/moved.txt'), 'from stdin\n');
});

test('FAT: changes made by rump pass fsck.fat and read back through mtools', async () => {
  const img = await makeFat(dir, join(dir, 'tree'), 'fat-rw.img');
  await changeImage(img, false);
  await run('fsck.fat', ['-n', img]);
  const env = { MTOOLS_SKIP_CHECK: '1' };
  assert.equal((await run('mtype', ['-i', img, '::/a/moved.txt'], { env })).stdout.toString(), 'from stdin\n');
  assert.equal((await run('mtype', ['-i', img, '::/a/tree/sub/two.txt'], { env })).stdout.toString(), 'two\n');
  const mdir = (await run('mdir', ['-b', '-i', img, '::/a'], { env })).stdout.toString();
  for (const n of ['b', 'moved.txt', 'new', 'plain', 'tree']) assert.match(mdir, new RegExp(`::/a/${n.replace('.', '\\.')}`, 'i'));
  const top = (await run('mdir', ['-b', '-i', img, '::/'], { env })).stdout.toString();
  assert.doesNotMatch(top, /home/i);
  // Image to image: an ext4 tree into this FAT image (two kernels, one command).
  const ext4 = await makeExt(dir, join(dir, 'tree'), 'ext4');
  const cp = await rump(['cp', '-r', `${ext4}:/home/user`, `${img}:/fromext`]);
  assert.equal(cp.code, 0, cp.stderr);
  await run('fsck.fat', ['-n', img]);
  assert.equal((await run('mtype', ['-i', img, '::/fromext/docs/readme.txt'], { env })).stdout.toString(), 'read me\n');
  assert.ok((await run('mtype', ['-i', img, '::/fromext/big.bin'], { env })).stdout.equals(await readFile(join(dir, 'tree/home/user/big.bin'))));
});

test('ext4: cp -rp into an image keeps modes, owners and times; cp -r applies the umask and takes the time of the copy', async () => {
  const img = await makeExt(dir, join(dir, 'tree'), 'ext4');
  const src = join(dir, 'attrs');
  await mkdir(join(src, 'd'), { recursive: true });
  await writeFile(join(src, 'd/run.sh'), '#!/bin/sh\n');
  await writeFile(join(src, 'big.bin'), Buffer.alloc(3 * 1024 * 1024 + 5, 0x61));
  const { chmod, chown, utimes } = await import('node:fs/promises');
  // chown first: the host's chown clears setuid, root's too.
  await chown(join(src, 'd/run.sh'), 1234, 567);
  await chmod(join(src, 'd/run.sh'), 0o4751);
  await chmod(join(src, 'big.bin'), 0o666);
  const when = new Date('2020-01-02T03:04:05Z');
  for (const f of ['d/run.sh', 'big.bin']) await utimes(join(src, f), when, when);
  for (const [flags, to] of [['-rp', '/kept'], ['-r', '/plain']] as const) {
    const r = await rump(['cp', flags, src, `${img}:${to}`]);
    assert.equal(r.code, 0, r.stderr);
  }
  await run('e2fsck', ['-fn', img]);
  // A small file goes in one putfile request, a large one by the separate calls: both alike.
  const kept = await debugfs(img, 'stat /kept/d/run.sh');
  assert.match(kept, /Mode:\s+04751/);
  assert.match(kept, /User:\s+1234\s+Group:\s+567/);
  assert.match(kept, /mtime: 0x5e0d5da5/);
  const big = await debugfs(img, 'stat /kept/big.bin');
  assert.match(big, /Mode:\s+0666/);
  assert.match(big, /mtime: 0x5e0d5da5/);
  assert.match(big, /Size: 3145733/);
  const plain = await debugfs(img, 'stat /plain/d/run.sh');
  assert.match(plain, /Mode:\s+0751/);
  assert.match(plain, /User:\s+0\s+Group:\s+0/);
  assert.doesNotMatch(plain, /mtime: 0x5e0d5da5/);
  assert.match(await debugfs(img, 'stat /plain/big.bin'), /Mode:\s+0644/);
  assert.equal(await debugfs(img, 'cat /plain/d/run.sh'), '#!/bin/sh\n');
});

test('FAT: cp -r of a tree whose names FAT refuses: each refused file reported with its path, every other file copied', async () => {
  const img = await makeFat(dir, join(dir, 'tree'), 'fat-names.img');
  const src = join(dir, 'names');
  await mkdir(join(src, 'sub'), { recursive: true });
  // Small files in one batch with refused names among them, then a directory, then more.
  const files = ['a1.txt', 'bad:one.txt', 'a2.txt', 'what?.txt', 'a3.txt', 'sub/b1.txt', 'sub/bad*two.txt', 'sub/b2.txt'];
  for (const f of files) await writeFile(join(src, f), `${f}\n`);
  const r = await rump(['cp', '-r', src, `${img}:/names`]);
  assert.equal(r.code, 1, r.stderr);
  for (const bad of ['bad:one.txt', 'what?.txt', 'sub/bad*two.txt']) assert.match(r.stderr, new RegExp(`${join(src, bad).replace(/[?*.]/g, '\\$&')}: Invalid argument`));
  assert.equal(r.stderr.trim().split('\n').length, 3, r.stderr);
  await run('fsck.fat', ['-n', img]);
  const env = { MTOOLS_SKIP_CHECK: '1' };
  for (const f of files.filter((f) => !/[:?*]/.test(f))) assert.equal((await run('mtype', ['-i', img, `::/names/${f}`], { env })).stdout.toString(), `${f}\n`);
});
