/**
 * rename(2) in every legal and illegal combination (t_vnops rename_dir,
 * rename_dotdot, rename_reg_nodir and the renamerace tests): files over
 * files, directories over empty and non-empty directories, type mismatches,
 * moves into a directory's own subtree, and '..' kept right (checked by the
 * inode of 'dir/..' and by link counts).
 */

import assert from 'node:assert/strict';
import { O_RDONLY } from '../../../src/vfs/fcntl.js';
import { exists, fails, failsOneOf, names, readFile, readFd, tcase, touch, writeFile, dec, type Case } from './util.js';

export const cases: Case[] = [
  tcase('rename: a file within a directory', async ({ proc }) => {
    await writeFile(proc, 'a', 'content');
    const ino = (await proc.stat('a')).ino;
    await proc.rename('a', 'b');
    assert.equal(await exists(proc, 'a'), false);
    assert.equal((await proc.stat('b')).ino, ino);
    assert.equal(dec(await readFile(proc, 'b')), 'content');
    assert.deepEqual(await names(proc, '.'), ['b']);
  }),

  tcase('rename: a file to another directory', async ({ proc }) => {
    await proc.mkdir('d1');
    await proc.mkdir('d2');
    await writeFile(proc, 'd1/f', 'x');
    await proc.rename('d1/f', 'd2/g');
    assert.deepEqual(await names(proc, 'd1'), []);
    assert.deepEqual(await names(proc, 'd2'), ['g']);
    assert.equal(dec(await readFile(proc, 'd2/g')), 'x');
  }),

  tcase('rename: a file over an existing file replaces it', async ({ proc }) => {
    await writeFile(proc, 'a', 'new');
    await writeFile(proc, 'b', 'old contents');
    const ino = (await proc.stat('a')).ino;
    await proc.rename('a', 'b');
    assert.equal((await proc.stat('b')).ino, ino);
    assert.equal(dec(await readFile(proc, 'b')), 'new');
    assert.deepEqual(await names(proc, '.'), ['b']);
  }),

  tcase('rename: a replaced file stays readable through an open descriptor', async ({ proc }) => {
    await writeFile(proc, 'a', 'new');
    await writeFile(proc, 'b', 'victim');
    const fd = await proc.open('b', O_RDONLY);
    await proc.rename('a', 'b');
    assert.equal(dec(await readFd(proc, fd)), 'victim');
    assert.equal((await proc.fstat(fd)).nlink, 0);
    await proc.close(fd);
    assert.equal(dec(await readFile(proc, 'b')), 'new');
  }),

  tcase('rename: over a hard link of another file drops one link', async ({ proc }) => {
    await touch(proc, 'a');
    await touch(proc, 'b');
    await proc.link('b', 'b2');
    assert.equal((await proc.stat('b')).nlink, 2);
    await proc.rename('a', 'b');
    assert.equal((await proc.stat('b2')).nlink, 1);
  }, { requires: ['hardlinks'] }),

  tcase('rename: two names of one file is a no-op that keeps both', async ({ proc }) => {
    await writeFile(proc, 'a', 'x');
    await proc.link('a', 'b');
    await proc.rename('a', 'b');
    assert.deepEqual(await names(proc, '.'), ['a', 'b']);
    assert.equal((await proc.stat('a')).nlink, 2);
    await proc.rename('a', 'a');
    assert.deepEqual(await names(proc, '.'), ['a', 'b']);
  }, { requires: ['hardlinks'] }),

  tcase('rename: a file onto itself changes nothing', async ({ proc }) => {
    await writeFile(proc, 'a', 'x');
    await proc.rename('a', 'a');
    assert.equal(dec(await readFile(proc, 'a')), 'x');
    await proc.mkdir('d');
    await proc.rename('d', 'd');
    assert.deepEqual(await names(proc, '.'), ['a', 'd']);
  }),

  tcase('rename: a directory within its parent keeps its contents and nlink', async ({ proc }) => {
    await proc.mkdir('d');
    await proc.mkdir('d/sub');
    await writeFile(proc, 'd/f', 'in d');
    const before = (await proc.stat('.')).nlink;
    await proc.rename('d', 'e');
    assert.deepEqual(await names(proc, 'e'), ['f', 'sub']);
    assert.equal(dec(await readFile(proc, 'e/f')), 'in d');
    assert.equal((await proc.stat('.')).nlink, before);
    assert.equal((await proc.stat('e')).nlink, 3);
  }),

  tcase("rename: a directory to another parent updates '..' and both parents' link counts", async ({ proc, caps }) => {
    await proc.mkdir('p1');
    await proc.mkdir('p2');
    await proc.mkdir('p1/d');
    await touch(proc, 'p1/d/f');
    await proc.rename('p1/d', 'p2/d');
    const p1 = await proc.stat('p1');
    const p2 = await proc.stat('p2');
    assert.equal((await proc.stat('p2/d/..')).ino, p2.ino, "'..' of the moved directory is its new parent");
    if (caps.hardlinks !== false) {
      assert.equal(p1.nlink, 2);
      assert.equal(p2.nlink, 3);
    }
    // '..' resolves through the driver too, not only through a name cache.
    await proc.chdir('p2/d');
    assert.equal((await proc.stat('..')).ino, p2.ino);
    assert.equal(await proc.getcwd(), '/mnt/p2/d');
    await touch(proc, '../sibling');
    await proc.chdir('/mnt');
    assert.deepEqual(await names(proc, 'p2'), ['d', 'sibling']);
  }),

  tcase("rename: '..' survives a remount after a directory moved", async (ctx) => {
    const { proc } = ctx;
    await proc.mkdir('a');
    await proc.mkdir('b');
    await proc.mkdir('a/c');
    await proc.rename('a/c', 'b/c');
    await proc.sync();
    await ctx.remount();
    assert.equal((await proc.stat('b/c/..')).ino, (await proc.stat('b')).ino);
    await proc.rmdir('b/c');
    await proc.rmdir('b');
  }, { persistent: true }),

  tcase('rename: a directory over an empty directory replaces it', async ({ proc, caps }) => {
    await proc.mkdir('src');
    await touch(proc, 'src/f');
    await proc.mkdir('p');
    await proc.mkdir('p/dst');
    const ino = (await proc.stat('src')).ino;
    await proc.rename('src', 'p/dst');
    assert.equal((await proc.stat('p/dst')).ino, ino);
    assert.deepEqual(await names(proc, 'p/dst'), ['f']);
    assert.equal((await proc.stat('p/dst/..')).ino, (await proc.stat('p')).ino);
    if (caps.hardlinks !== false) {
      assert.equal((await proc.stat('p')).nlink, 3);
      assert.equal((await proc.stat('.')).nlink, 3);
    }
  }),

  tcase('rename: a directory over a non-empty directory is ENOTEMPTY (or EEXIST)', async ({ proc }) => {
    await proc.mkdir('a');
    await proc.mkdir('b');
    await touch(proc, 'b/keep');
    await failsOneOf(proc.rename('a', 'b'), ['ENOTEMPTY', 'EEXIST']);
    assert.deepEqual(await names(proc, 'b'), ['keep']);
    assert.ok(await exists(proc, 'a'));
  }),

  tcase('rename: a directory over a file is ENOTDIR, a file over a directory EISDIR', async ({ proc }) => {
    await proc.mkdir('d');
    await touch(proc, 'f');
    await fails(proc.rename('d', 'f'), 'ENOTDIR');
    await fails(proc.rename('f', 'd'), 'EISDIR');
    await failsOneOf(proc.rename('f', 'd/'), ['EISDIR', 'ENOTDIR']);
    assert.deepEqual(await names(proc, '.'), ['d', 'f']);
  }),

  tcase('rename: a file with a trailing slash on either side is ENOTDIR', async ({ proc }) => {
    await touch(proc, 'f');
    await fails(proc.rename('f/', 'g'), 'ENOTDIR');
    await fails(proc.rename('f', 'g/'), 'ENOTDIR');
    await proc.mkdir('d');
    await proc.rename('d/', 'e/');
    assert.deepEqual(await names(proc, '.'), ['e', 'f']);
  }),

  tcase('rename: a directory into its own subtree is EINVAL', async ({ proc }) => {
    await proc.mkdir('a');
    await proc.mkdir('a/b');
    await proc.mkdir('a/b/c');
    await fails(proc.rename('a', 'a/b/c/a'), 'EINVAL');
    await fails(proc.rename('a', 'a/x'), 'EINVAL');
    await fails(proc.rename('a/b', 'a/b/c/d'), 'EINVAL');
    await failsOneOf(proc.rename('a', 'a/b/c'), ['EINVAL', 'ENOTEMPTY']);
    assert.deepEqual(await names(proc, 'a/b'), ['c']);
  }),

  tcase("rename: '.' and '..' cannot be renamed or be the target", async ({ proc }) => {
    await proc.mkdir('d');
    await touch(proc, 'f');
    await failsOneOf(proc.rename('d/.', 'x'), ['EINVAL', 'EBUSY']);
    await failsOneOf(proc.rename('d/..', 'x'), ['EINVAL', 'EBUSY', 'ENOTEMPTY']);
    await failsOneOf(proc.rename('f', 'd/.'), ['EINVAL', 'EBUSY', 'EISDIR', 'EEXIST']);
    await failsOneOf(proc.rename('f', 'd/..'), ['EINVAL', 'EBUSY', 'EISDIR', 'EEXIST']);
    assert.deepEqual(await names(proc, '.'), ['d', 'f']);
  }),

  tcase('rename: a missing source is ENOENT; a missing target directory ENOENT', async ({ proc }) => {
    await touch(proc, 'f');
    await fails(proc.rename('nothing', 'x'), 'ENOENT');
    await fails(proc.rename('f', 'nodir/x'), 'ENOENT');
    await fails(proc.rename('f', 'f/x'), 'ENOTDIR');
  }),

  tcase('rename: a too-long target name is ENAMETOOLONG and leaves the source', async ({ proc }) => {
    await touch(proc, 'f');
    await fails(proc.rename('f', 'x'.repeat(256)), 'ENAMETOOLONG');
    assert.ok(await exists(proc, 'f'));
  }),

  tcase('rename: across mounts is EXDEV', async ({ proc, mnt }) => {
    await touch(proc, 'f');
    await fails(proc.rename('f', '/dev/f'), 'EXDEV');
    await fails(proc.rename(`${mnt}/f`, '/f'), 'EXDEV');
    assert.ok(await exists(proc, 'f'));
  }),

  tcase('rename: the mount root itself is EBUSY', async ({ proc, mnt }) => {
    await proc.mkdir('d');
    await failsOneOf(proc.rename(mnt, '/elsewhere'), ['EBUSY', 'EXDEV', 'EINVAL']);
    await failsOneOf(proc.rename('d', mnt), ['EBUSY', 'EXDEV', 'EINVAL', 'ENOTEMPTY']);
  }),

  tcase('rename: a symlink moves as a link, not its target', async ({ proc }) => {
    await writeFile(proc, 't', 'x');
    await proc.symlink('t', 'l');
    await proc.rename('l', 'm');
    assert.equal(await proc.readlink('m'), 't');
    assert.equal(dec(await readFile(proc, 't')), 'x');
    assert.deepEqual(await names(proc, '.'), ['m', 't']);
  }, { requires: ['symlinks'] }),

  tcase('rename: a chain of renames keeps every file exactly once', async ({ proc }) => {
    await proc.mkdir('a');
    await proc.mkdir('b');
    for (let i = 0; i < 50; i++) await writeFile(proc, `a/f${i}`, `${i}`);
    for (let i = 0; i < 50; i++) await proc.rename(`a/f${i}`, i % 2 ? `b/g${i}` : `a/h${i}`);
    for (let i = 1; i < 50; i += 2) await proc.rename(`b/g${i}`, `a/h${i}`);
    const got = await names(proc, 'a');
    assert.deepEqual(got, Array.from({ length: 50 }, (_, i) => `h${i}`).sort());
    for (let i = 0; i < 50; i += 7) assert.equal(dec(await readFile(proc, `a/h${i}`)), `${i}`);
    assert.deepEqual(await names(proc, 'b'), []);
  }),

  tcase('rename: concurrent renames of one directory leave a consistent tree', async ({ proc, kernel }) => {
    await proc.mkdir('x');
    await proc.mkdir('p');
    const other = kernel.newProc();
    await other.chdir('/mnt');
    const ops: Promise<unknown>[] = [];
    for (let i = 0; i < 40; i++) {
      ops.push(proc.rename('x', 'p/x').catch(() => undefined));
      ops.push(other.rename('p/x', 'x').catch(() => undefined));
    }
    await Promise.all(ops);
    const top = await names(proc, '.');
    const inP = await names(proc, 'p');
    const count = top.filter((n) => n === 'x').length + inP.filter((n) => n === 'x').length;
    assert.equal(count, 1, 'exactly one x');
    const where = top.includes('x') ? 'x' : 'p/x';
    const parent = top.includes('x') ? '.' : 'p';
    assert.equal((await proc.stat(`${where}/..`)).ino, (await proc.stat(parent)).ino);
    await other.exit();
  }),
];
