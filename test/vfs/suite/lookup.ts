/**
 * Path lookup (NetBSD tests/fs/vfs t_vnops lookup_simple/lookup_complex and
 * more): '.', '..', '..' out of and back into the mount, trailing slashes,
 * ENOTDIR, ENAMETOOLONG at 256-byte names and 1024-byte paths, ELOOP.
 */

import assert from 'node:assert/strict';
import { O_CREAT, O_DIRECTORY, O_EXCL, O_NOFOLLOW, O_RDONLY, O_WRONLY } from '../../../src/vfs/fcntl.js';
import { fails, isDir, tcase, touch, writeFile, type Case } from './util.js';

export const cases: Case[] = [
  tcase('lookup: simple file and directory lookups agree on the inode', async ({ proc }) => {
    await proc.mkdir('dir');
    await touch(proc, 'dir/file');
    const a = await proc.stat('dir/file');
    const b = await proc.stat('/mnt/dir/file');
    const c = await proc.stat('./dir/./file');
    assert.equal(a.ino, b.ino);
    assert.equal(a.ino, c.ino);
    assert.equal(a.dev, b.dev);
    await fails(proc.stat('dir/nofile'), 'ENOENT');
    await fails(proc.stat('nodir/file'), 'ENOENT');
  }),

  tcase('lookup: complex paths with . and .. resolve to the same inode', async ({ proc }) => {
    await proc.mkdir('a');
    await proc.mkdir('a/b');
    await proc.mkdir('a/b/c');
    await touch(proc, 'a/b/c/f');
    const want = (await proc.stat('a/b/c/f')).ino;
    for (const p of ['a/b/../b/c/f', 'a/./b/c/../c/f', 'a/b/c/../../b/c/./f', './a//b///c/f', 'a/b/c/../../../a/b/c/f']) {
      assert.equal((await proc.stat(p)).ino, want, p);
    }
    assert.equal((await proc.stat('a/b/..')).ino, (await proc.stat('a')).ino);
    assert.equal((await proc.stat('a/b/c/../..')).ino, (await proc.stat('a')).ino);
  }),

  tcase("lookup: '..' of the mount root leaves the mount, and comes back", async ({ proc, mnt }) => {
    const root = await proc.stat('.');
    const above = await proc.stat('..');
    assert.notEqual(root.dev, above.dev, "'..' of the mount root is on the file system above");
    assert.equal(above.ino, (await proc.stat('/')).ino);
    const back = await proc.stat(`..${mnt}`);
    assert.equal(back.ino, root.ino);
    assert.equal(back.dev, root.dev);
    await proc.mkdir('d');
    assert.equal((await proc.stat(`d/../..${mnt}/d`)).ino, (await proc.stat('d')).ino);
    await proc.chdir('d');
    assert.equal(await proc.getcwd(), `${mnt}/d`);
    await proc.chdir('../..');
    assert.equal(await proc.getcwd(), '/');
  }),

  tcase('lookup: a trailing slash needs a directory', async ({ proc }) => {
    await proc.mkdir('d');
    await touch(proc, 'f');
    assert.ok(isDir(await proc.stat('d/')));
    assert.ok(isDir(await proc.stat('d//')));
    await fails(proc.stat('f/'), 'ENOTDIR');
    await fails(proc.open('f/', O_RDONLY), 'ENOTDIR');
    await fails(proc.stat('nothing/'), 'ENOENT');
    await proc.rmdir('d/');
    assert.ok(!(await proc.readdir('.')).some((e) => e.name === 'd'));
  }),

  tcase('lookup: a file used as a directory is ENOTDIR', async ({ proc }) => {
    await touch(proc, 'f');
    await fails(proc.stat('f/x'), 'ENOTDIR');
    await fails(proc.open('f/x', O_WRONLY | O_CREAT, 0o644), 'ENOTDIR');
    await fails(proc.mkdir('f/x'), 'ENOTDIR');
    await fails(proc.chdir('f'), 'ENOTDIR');
    await fails(proc.open('f', O_RDONLY | O_DIRECTORY), 'ENOTDIR');
    await fails(proc.readdir('f'), 'ENOTDIR');
  }),

  tcase('lookup: a 255-byte name works, 256 bytes is ENAMETOOLONG', async ({ proc, caps }) => {
    const max = caps.nameMax ?? 255;
    const ok = 'n'.repeat(max);
    await writeFile(proc, ok, 'x');
    assert.equal((await proc.stat(ok)).size, 1);
    assert.ok((await proc.readdir('.')).some((e) => e.name === ok));
    const long = 'n'.repeat(256);
    await fails(proc.open(long, O_WRONLY | O_CREAT, 0o644), 'ENAMETOOLONG');
    await fails(proc.stat(long), 'ENAMETOOLONG');
    await fails(proc.mkdir(long), 'ENAMETOOLONG');
    await fails(proc.stat(`${long}/x`), 'ENAMETOOLONG');
  }),

  tcase('lookup: names are measured in UTF-8 bytes', async ({ proc, caps }) => {
    // 'é' is two bytes: 127 of them make 254 bytes (fits), 128 make 256 (does not).
    const max = caps.nameMax ?? 255;
    const fits = 'é'.repeat(Math.floor(max / 2));
    await touch(proc, fits);
    assert.ok((await proc.readdir('.')).some((e) => e.name === fits));
    await fails(proc.open('é'.repeat(128), O_WRONLY | O_CREAT, 0o644), 'ENAMETOOLONG');
  }),

  tcase('lookup: paths of 1024 bytes or more are ENAMETOOLONG, 1023 is fine', async ({ proc, mnt }) => {
    await proc.mkdir('d');
    await touch(proc, 'd/f');
    const head = `${mnt}/`;
    const tail = 'd/f';
    let filler = './'.repeat(Math.floor((1023 - head.length - tail.length) / 2));
    filler += '/'.repeat(1023 - head.length - tail.length - filler.length);
    const p1023 = head + filler + tail;
    assert.equal(p1023.length, 1023);
    assert.equal((await proc.stat(p1023)).ino, (await proc.stat('d/f')).ino);
    await fails(proc.stat('/' + p1023), 'ENAMETOOLONG');
    await fails(proc.open('/' + p1023, O_RDONLY), 'ENAMETOOLONG');
    await fails(proc.stat('x'.repeat(4096)), 'ENAMETOOLONG');
  }),

  tcase('lookup: symlink loops are ELOOP, 32 links are followed', async ({ proc }) => {
    await proc.symlink('loop2', 'loop1');
    await proc.symlink('loop1', 'loop2');
    await fails(proc.stat('loop1'), 'ELOOP');
    await fails(proc.open('loop1', O_RDONLY), 'ELOOP');
    await proc.symlink('self', 'self');
    await fails(proc.stat('self'), 'ELOOP');
    await fails(proc.stat('self/x'), 'ELOOP');
    assert.ok((await proc.lstat('self')).nlink >= 1);
    await touch(proc, 'target');
    let prev = 'target';
    for (let i = 0; i < 32; i++) {
      await proc.symlink(prev, `c${i}`);
      prev = `c${i}`;
    }
    assert.equal((await proc.stat('c31')).ino, (await proc.stat('target')).ino);
    await proc.symlink('c31', 'c32');
    await fails(proc.stat('c32'), 'ELOOP');
  }, { requires: ['symlinks'] }),

  tcase('lookup: O_NOFOLLOW and lstat do not follow the last component', async ({ proc }) => {
    await writeFile(proc, 'f', 'data');
    await proc.symlink('f', 'l');
    await fails(proc.open('l', O_RDONLY | O_NOFOLLOW), 'ELOOP');
    const fd = await proc.open('l', O_RDONLY);
    await proc.close(fd);
    await fails(proc.open('l', O_WRONLY | O_CREAT | O_EXCL, 0o644), 'EEXIST');
  }, { requires: ['symlinks'] }),

  tcase('lookup: empty path is ENOENT', async ({ proc }) => {
    await fails(proc.stat(''), 'ENOENT');
    await fails(proc.open('', O_RDONLY), 'ENOENT');
    await fails(proc.mkdir(''), 'ENOENT');
  }, { readsOnly: true }),

  tcase("lookup: the mount root: '.', '..', '/mnt/.', and a missing name (read-only safe)", async ({ proc, mnt }) => {
    const root = await proc.stat(mnt);
    assert.ok(isDir(root));
    assert.equal((await proc.stat('.')).ino, root.ino);
    assert.equal((await proc.stat(`${mnt}/.`)).ino, root.ino);
    assert.equal((await proc.stat(`${mnt}/./.`)).ino, root.ino);
    assert.equal((await proc.stat(`${mnt}/..`)).ino, (await proc.stat('/')).ino);
    assert.equal((await proc.stat(`${mnt}/../${mnt.slice(1)}`)).dev, root.dev);
    await fails(proc.stat(`${mnt}/definitely-not-here`), 'ENOENT');
    await fails(proc.stat(`${mnt}/definitely-not-here/x`), 'ENOENT');
    const fd = await proc.open(mnt, O_RDONLY | O_DIRECTORY);
    const ents = await proc.getdents(fd, 100);
    await proc.close(fd);
    assert.ok(ents.some((e) => e.name === '.'), "'.' is listed");
    assert.ok(ents.some((e) => e.name === '..'), "'..' is listed");
  }, { readsOnly: true }),

  tcase('lookup: chdir and relative paths follow the cwd', async ({ proc, mnt }) => {
    await proc.mkdir('x');
    await proc.mkdir('x/y');
    await proc.chdir('x/y');
    assert.equal(await proc.getcwd(), `${mnt}/x/y`);
    await touch(proc, 'here');
    await proc.chdir('..');
    assert.ok((await proc.stat('y/here')).nlink >= 1);
    const fd = await proc.open('y', O_RDONLY | O_DIRECTORY);
    await proc.fchdir(fd);
    await proc.close(fd);
    assert.equal(await proc.getcwd(), `${mnt}/x/y`);
  }),
];
