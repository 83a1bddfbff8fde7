// The read-only commands (info, ls, cat, stat, df, find, tar, cp out) on ext2/ext4 images made by
// mke2fs -d, FAT images made by mkfs.fat + mcopy, and both inside MBR and GPT disks made by sfdisk.
// The oracle is the host tree the real tools were given; every image must be byte-identical after.

import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, readlink, lstat, mkdir, stat, writeFile } from '../../src/testing/hostfs.js';
import { join } from 'node:path';
import { run, tempDir } from '../../src/testing/tools.js';
import { makeDisk, makeExt, makeFat, makeTree, rump, sha256, TREE_FILES } from './helpers.js';


let dir: string;
let cleanup: () => Promise<void>;
const tree = () => join(dir, 'tree');
const images = new Map<string, { path: string; fat: boolean; label: string }>();

before(async () => {
  ({ path: dir, cleanup } = await tempDir('rump-ro-'));
  await makeTree(tree());
  const ext2 = await makeExt(dir, tree(), 'ext2');
  const ext4 = await makeExt(dir, tree(), 'ext4');
  const fat = await makeFat(dir, tree());
  images.set('ext2', { path: ext2, fat: false, label: 'Text2' });
  images.set('ext4', { path: ext4, fat: false, label: 'Text4' });
  images.set('fat', { path: fat, fat: true, label: 'TFAT' });
  images.set('mbr+ext4', { path: await makeDisk(dir, 'mbr.img', 'dos', [ext4]), fat: false, label: 'Text4' });
  images.set('gpt+fat', { path: await makeDisk(dir, 'gpt.img', 'gpt', [fat]), fat: true, label: 'TFAT' });
});

after(() => cleanup());

// The images are independent: their checks run side by side (the tools' waits overlap).
describe('read-only commands', { concurrency: true }, () => {
for (const name of ['ext2', 'ext4', 'fat', 'mbr+ext4', 'gpt+fat']) {
  test(`read-only commands on ${name}`, async () => {
    const { path: img, fat, label } = images.get(name)!;
    const hash = await sha256(img);

    const ls = await rump(['ls', `${img}:/etc`]);
    assert.equal(ls.code, 0, ls.stderr);
    const want = fat ? ['hostname', 'passwd'] : ['hostname', 'passwd', 'passwd.hard'];
    assert.deepEqual(ls.out.trim().split('\n'), want);
    const root = await rump(['ls', '-a', img]);
    assert.ok(root.out.split('\n').includes('__proto__'), root.out);
    assert.ok(root.out.split('\n').includes('..'));

    // cat of every file at once: the concatenation, byte for byte.
    const cat = await rump(['cat', ...[...TREE_FILES.keys()].map((p) => `${img}:${p}`)]);
    assert.equal(cat.code, 0, cat.stderr);
    const expected = Buffer.concat(await Promise.all([...TREE_FILES.keys()].map((p) => readFile(join(tree(), p)))));
    assert.ok(cat.stdout.equals(expected), 'cat output differs from the files');

    const st = await rump(['stat', '--json', `${img}:/etc/hostname`, `${img}:/home/user/big.bin`]);
    assert.equal(st.code, 0, st.stderr);
    const [sj, big] = JSON.parse(st.out) as { size: number; mode: string; type: string; mtime: string }[];
    assert.equal(sj!.type, 'reg');
    assert.equal(sj!.size, 'anykernel\n'.length);
    assert.equal(big!.size, 300_000);
    if (!fat) {
      assert.equal(sj!.mode, '0600');
      assert.equal(sj!.mtime, '2021-03-04T05:06:07.000Z');
    }

    const df = await rump(['df', '--json', img]);
    assert.equal(df.code, 0, df.stderr);
    const dj = JSON.parse(df.out) as { size: number; used: number; available: number; type: string };
    assert.equal(dj.type, fat ? 'msdosfs' : 'ext2fs');
    assert.ok(dj.size > 8 * 1024 * 1024 && dj.size <= 16 * 1024 * 1024, String(dj.size));
    assert.ok(dj.used >= 300_000 && dj.available > 0);

    const info = await rump(['info', '--json', img]);
    assert.equal(info.code, 0, info.stderr);
    const ij = JSON.parse(info.out) as { entries: { fs: { label?: string; type: string } | null }[]; scheme: string | null };
    const withFs = ij.entries.filter((e) => e.fs);
    assert.equal(withFs.length, 1);
    assert.equal(withFs[0]!.fs!.label?.trim(), label);
    assert.equal(ij.scheme, name.startsWith('mbr') ? 'mbr' : name.startsWith('gpt') ? 'gpt' : null);

    const find = await rump(['find', img, '-name', '*.txt']);
    assert.equal(find.out, `${img}:/home/user/docs/readme.txt\n`);
    const findDirs = await rump(['find', `${img}:/home`, '-type', 'd']);
    assert.deepEqual(findDirs.out.trim().split('\n'), [`${img}:/home`, `${img}:/home/user`, `${img}:/home/user/docs`]);

    // tar: extracted by the real tar, compared with the tree.
    const tarOut = await rump(['tar', img]);
    assert.equal(tarOut.code, 0, tarOut.stderr);
    const x = join(dir, `x-${name}`);
    await mkdir(x);
    await run('tar', ['-x', '-f', '-', '-C', x], { input: tarOut.stdout });
    for (const p of TREE_FILES.keys()) assert.deepEqual(await readFile(join(x, p)), await readFile(join(tree(), p)), `tar ${p}`);
    if (!fat) {
      assert.equal(await readlink(join(x, 'home/passwd-link')), '../etc/passwd');
      assert.equal((await stat(join(x, 'etc/passwd'))).ino, (await stat(join(x, 'etc/passwd.hard'))).ino, 'hard link kept in tar');
    }

    // cp -rp IMAGE:/ out makes out a copy of the root.
    const out = join(dir, `out-${name}`);
    const cp = await rump(['cp', '-rp', `${img}:/`, out]);
    assert.equal(cp.code, 0, cp.stderr);
    for (const p of TREE_FILES.keys()) assert.deepEqual(await readFile(join(out, p)), await readFile(join(tree(), p)), `cp ${p}`);
    if (!fat) {
      assert.equal(await readlink(join(out, 'home/passwd-link')), '../etc/passwd');
      const h = await lstat(join(out, 'etc/hostname'));
      assert.equal(h.mode & 0o7777, 0o600);
      assert.equal(h.mtime.toISOString(), '2021-03-04T05:06:07.000Z');
      assert.equal((await lstat(join(out, 'home/user/docs'))).mode & 0o7777, 0o750);
      assert.equal((await stat(join(out, 'etc/passwd'))).ino, (await stat(join(out, 'etc/passwd.hard'))).ino);
    }

    assert.equal(await sha256(img), hash, 'the image changed');
  });
}
});

test('a disk with two file systems needs -p; -p picks one; a wrong -p is a clear error', async () => {
  const disk = await makeDisk(dir, 'two.img', 'dos', [images.get('ext4')!.path, images.get('fat')!.path]);
  const hash = await sha256(disk);
  const none = await rump(['ls', disk]);
  assert.equal(none.code, 1);
  assert.match(none.stderr, /^rump: ls: .*two\.img: has 2 file systems, in partitions 1 \(ext4\), 2 \(FAT16\): choose one with -p N\n$/);
  // -t picks among the partitions by type (aliases included) when -p is absent.
  const byType = await rump(['ls', '-t', 'vfat', `${disk}:/etc`]);
  assert.equal(byType.code, 0, byType.stderr);
  assert.deepEqual(byType.out.trim().split('\n'), ['hostname', 'passwd']);
  const lsJson = JSON.parse((await rump(['ls', '--json', '-t', 'ext4', `${disk}:/etc`])).out) as { name: string; type: string; nlink: number }[];
  assert.deepEqual(lsJson.map((e) => [e.name, e.type, e.nlink]), [['hostname', 'reg', 1], ['passwd', 'reg', 2], ['passwd.hard', 'reg', 2]]);
  const p2 = await rump(['cat', '-p', '2', `${disk}:/etc/hostname`]);
  assert.equal(p2.code, 0, p2.stderr);
  assert.equal(p2.out, 'anykernel\n');
  const p1 = await rump(['df', '--json', '-p', '1', disk]);
  assert.equal((JSON.parse(p1.out) as { type: string }).type, 'ext2fs');
  const p9 = await rump(['ls', '-p', '9', disk]);
  assert.equal(p9.code, 1);
  assert.match(p9.stderr, /two\.img: has no partition 9 \(it has 1, 2\)/);
  const info = await rump(['info', disk]);
  assert.match(info.out, /MBR partition table/);
  assert.match(info.out, /ext4/);
  assert.match(info.out, /FAT16/);
  assert.equal(await sha256(disk), hash);
});

test('a GPT disk whose primary header is damaged is read through its backup header', async () => {
  const disk = join(dir, 'gpt-bad.img');
  const bytes = await readFile(images.get('gpt+fat')!.path);
  bytes[512 + 60]! ^= 0xff; // inside the disk GUID: the header CRC no longer matches
  await writeFile(disk, bytes);
  const r = await rump(['cat', `${disk}:/etc/hostname`]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.out, 'anykernel\n');
  // sfdisk agrees that the primary is bad and the backup good.
  const sf = await run('sfdisk', ['--verify', disk], { allowFail: true });
  assert.match(sf.stdout.toString() + sf.stderr, /primary GPT header.*corrupt|backup GPT table.*used|The primary GPT table is corrupt/i);
});

test('read-only commands leave an unclean journaled ext4 image byte-identical', async () => {
  const img = await makeExt(dir, tree(), 'ext4');
  // Mark the journal as needing recovery, as a crash would leave it.
  await run('debugfs', ['-w', '-R', 'feature needs_recovery', img]);
  const hash = await sha256(img);
  for (const args of [['ls', '-lR', img], ['cat', `${img}:/etc/passwd`], ['stat', `${img}:/etc`], ['df', img], ['tar', img], ['find', img], ['info', img]]) {
    const r = await rump(args);
    assert.ok(r.code === 0 || r.code === 1, `${args[0]}: ${r.stderr}`);
    assert.doesNotMatch(r.stderr, /internal error/);
  }
  assert.equal(await sha256(img), hash);
});
