// rump mkfs: a new image of the requested size, made by the component's newfs and filled from a
// host directory; checked by fsck.fat + mtools (FAT) and by sleuthkit + the FFS checker (FFS).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, writeFile, stat, symlink, link, utimes, chmod } from '../../src/testing/hostfs.js';
import { join } from 'node:path';
import { run, tempDir } from '../../src/testing/tools.js';
import { rump } from './helpers.js';

let dir: string;
let cleanup: () => Promise<void>;
const env = { MTOOLS_SKIP_CHECK: '1' };

before(async () => {
  ({ path: dir, cleanup } = await tempDir('rump-mkfs-'));
  // A tree FAT can hold (no links), and one with links, modes and times for FFS.
  const plain = join(dir, 'plain');
  await mkdir(join(plain, 'docs/deeper'), { recursive: true });
  await writeFile(join(plain, 'hello.txt'), 'hello\n');
  await writeFile(join(plain, 'docs/deeper/data.bin'), Buffer.alloc(70_000, 0x5a));
  const rich = join(dir, 'rich');
  await mkdir(join(rich, 'etc'), { recursive: true });
  await writeFile(join(rich, 'etc/passwd'), 'root:x:0:0\n');
  await link(join(rich, 'etc/passwd'), join(rich, 'etc/passwd.hard'));
  await symlink('etc/passwd', join(rich, 'pw'));
  await chmod(join(rich, 'etc/passwd'), 0o640);
  await utimes(join(rich, 'etc/passwd'), new Date('2019-09-09T09:09:09Z'), new Date('2019-09-09T09:09:09Z'));
});
after(() => cleanup());

test('mkfs -t msdosfs --size --from makes an image fsck.fat accepts, with the files mtools reads', async () => {
  const img = join(dir, 'new-fat.img');
  const r = await rump(['mkfs', '-t', 'msdosfs', '--size', '16m', '-L', 'NEWFAT', '--from', join(dir, 'plain'), img]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal((await stat(img)).size, 16 * 1024 * 1024);
  await run('fsck.fat', ['-n', img]);
  assert.equal((await run('mtype', ['-i', img, '::/hello.txt'], { env })).stdout.toString(), 'hello\n');
  assert.ok((await run('mtype', ['-i', img, '::/docs/deeper/data.bin'], { env })).stdout.equals(Buffer.alloc(70_000, 0x5a)));
  assert.match((await run('mlabel', ['-s', '-i', img, '::'], { env })).stdout.toString(), /NEWFAT/);
  // And our own reading of it.
  const cat = await rump(['cat', `${img}:/hello.txt`]);
  assert.equal(cat.out, 'hello\n');
});

test('mkfs -t ffs --from keeps modes, times, symlinks and hard links (sleuthkit and the FFS checker agree)', async () => {
  const img = join(dir, 'new-ffs.img');
  const r = await rump(['mkfs', '-t', 'ffs', '--size', '16m', '--from', join(dir, 'rich'), img]);
  assert.equal(r.code, 0, r.stderr);
  const fsck = await rump(['fsck', '-t', 'ffs', '-n', img]);
  assert.equal(fsck.code, 0, fsck.out + fsck.stderr);
  const fls = (await run('fls', ['-r', '-p', '-f', 'ufs', img])).stdout.toString();
  for (const p of ['etc/passwd', 'etc/passwd.hard', 'pw']) assert.match(fls, new RegExp(`\\t${p.replace('.', '\\.')}\\n`));
  const ino = (p: string) => Number(new RegExp(`(\\d+):\\t${p.replace('.', '\\.')}\\n`).exec(fls)![1]);
  assert.equal(ino('etc/passwd'), ino('etc/passwd.hard'), 'hard link kept');
  assert.equal((await run('icat', ['-f', 'ufs', img, String(ino('etc/passwd'))])).stdout.toString(), 'root:x:0:0\n');
  const st = JSON.parse((await rump(['stat', '--json', `${img}:/etc/passwd`, `${img}:/pw`])).out) as { mode: string; mtime: string; nlink: number; target?: string }[];
  assert.equal(st[0]!.mode, '0640');
  assert.equal(st[0]!.mtime, '2019-09-09T09:09:09.000Z');
  assert.equal(st[0]!.nlink, 2);
  assert.equal(st[1]!.target, 'etc/passwd');
});

test('mkfs -t ext4 --from: e2fsck finds it clean; debugfs sees modes, times, symlinks and hard links', async () => {
  const img = join(dir, 'new-ext4.img');
  const r = await rump(['mkfs', '-t', 'ext4', '--size', '16m', '-L', 'fromdir', '--from', join(dir, 'rich'), img]);
  assert.equal(r.code, 0, r.stderr);
  await run('e2fsck', ['-fn', img]);
  const dumpe2fs = (await run('dumpe2fs', ['-h', img])).stdout.toString();
  assert.match(dumpe2fs, /Filesystem volume name:\s+fromdir/);
  assert.match(dumpe2fs, /Filesystem features:.*extent/);
  const debugfs = async (req: string) => (await run('debugfs', ['-R', req, img])).stdout.toString();
  assert.equal(await debugfs('cat /etc/passwd'), 'root:x:0:0\n');
  const st = await debugfs('stat /etc/passwd');
  assert.match(st, /Mode:\s+0640/);
  assert.match(st, /Links: 2/);
  assert.match(st, /mtime: 0x5d7616b5/);
  assert.match(await debugfs('stat /pw'), /Fast link dest: "etc\/passwd"/);
  const ino = (text: string) => /Inode: (\d+)/.exec(text)![1];
  assert.equal(ino(await debugfs('stat /etc/passwd.hard')), ino(st));
});

test('mkfs errors: unknown type, no size for a missing file, bad size', async () => {
  const a = await rump(['mkfs', '-t', 'nosuchfs', '--size', '1m', join(dir, 'x.img')]);
  assert.equal(a.code, 1);
  assert.match(a.stderr, /^rump: mkfs: unknown file-system type 'nosuchfs'/);
  const b = await rump(['mkfs', '-t', 'msdosfs', join(dir, 'missing.img')]);
  assert.equal(b.code, 1);
  assert.match(b.stderr, /missing\.img does not exist: give --size/);
  const c = await rump(['mkfs', '-t', 'msdosfs', '--size', '12q', join(dir, 'y.img')]);
  assert.equal(c.code, 1);
  assert.match(c.stderr, /bad size '12q'/);
});

test('mkfs -t msdosfs --from a tree with links: each link is reported with why, the rest is made, exit 1', async () => {
  const img = join(dir, 'rich-fat.img');
  const r = await rump(['mkfs', '-t', 'msdosfs', '--size', '16m', '--from', join(dir, 'rich'), img]);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /pw: Operation not supported \(msdosfs: FAT has no symbolic links\)/);
  // Whichever of the two names the host lists first is the file; the other is the refused link.
  const refused = /etc\/(passwd(?:\.hard)?): Operation not supported \(msdosfs: FAT has no hard links\)/.exec(r.stderr);
  assert.ok(refused, r.stderr);
  const kept = refused[1] === 'passwd' ? 'passwd.hard' : 'passwd';
  await run('fsck.fat', ['-n', img]);
  assert.equal((await run('mtype', ['-i', img, `::/etc/${kept}`], { env })).stdout.toString(), 'root:x:0:0\n');
});
