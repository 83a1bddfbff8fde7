/**
 * Symbolic and hard links (t_vnops symlink_zerolen, symlink_long,
 * symlink_root, lstat_symlink, and link counts): creation rules, lstat
 * versus stat, relative and absolute targets, dangling links, and hard-link
 * counts through link and unlink.
 */

import assert from 'node:assert/strict';
import { AT_SYMLINK_NOFOLLOW, O_CREAT, O_RDONLY, O_WRONLY } from '../../../src/vfs/fcntl.js';
import { dec, exists, fails, isDir, isLnk, isReg, names, readFile, tcase, touch, writeFile, OLD, assertTsEq, type Case } from './util.js';

export const cases: Case[] = [
  tcase('symlink: an empty target is ENOENT and makes nothing', async ({ proc }) => {
    await fails(proc.symlink('', 'empty'), 'ENOENT');
    assert.equal(await exists(proc, 'empty'), false);
  }, { requires: ['symlinks'] }),

  tcase('symlink: targets of 1 to 1023 bytes are kept exactly; 1024 is ENAMETOOLONG', async ({ proc }) => {
    for (const len of [1, 2, 60, 61, 255, 256, 511, 512, 1000, 1023]) {
      const target = 'a/'.repeat(len >> 1) + (len & 1 ? 'b' : '');
      assert.equal(target.length, len);
      await proc.symlink(target, `l${len}`);
      assert.equal(await proc.readlink(`l${len}`), target, `length ${len}`);
      assert.equal((await proc.lstat(`l${len}`)).size, len);
    }
    await fails(proc.symlink('x'.repeat(1024), 'too'), 'ENAMETOOLONG');
    assert.equal(await exists(proc, 'too'), false);
  }, { requires: ['symlinks'] }),

  tcase("symlink: a link to '/' resolves to the root", async ({ proc }) => {
    await proc.symlink('/', 'rootlink');
    const st = await proc.stat('rootlink');
    assert.ok(isDir(st));
    assert.equal(st.ino, (await proc.stat('/')).ino);
    assert.equal(st.dev, (await proc.stat('/')).dev);
    assert.ok((await proc.readdir('rootlink/')).some((e) => e.name === 'mnt'));
    assert.equal((await proc.stat('rootlink/mnt/rootlink')).ino, st.ino);
  }, { requires: ['symlinks'] }),

  tcase('symlink: lstat describes the link, stat its target', async ({ proc }) => {
    await writeFile(proc, 'target', 'twelve bytes');
    await proc.symlink('target', 'link');
    const l = await proc.lstat('link');
    const s = await proc.stat('link');
    assert.ok(isLnk(l));
    assert.ok(isReg(s));
    assert.equal(l.size, 6);
    assert.equal(s.size, 12);
    assert.notEqual(l.ino, s.ino);
    assert.equal(s.ino, (await proc.stat('target')).ino);
    assert.equal(dec(await readFile(proc, 'link')), 'twelve bytes');
    assert.equal((await proc.readdir('.')).find((e) => e.name === 'link')?.type, 'lnk');
  }, { requires: ['symlinks'] }),

  tcase('symlink: relative targets resolve from the directory holding the link', async ({ proc }) => {
    await proc.mkdir('a');
    await proc.mkdir('a/b');
    await writeFile(proc, 'a/file', 'in a');
    await proc.symlink('../file', 'a/b/up');
    await proc.symlink('b/up', 'a/chain');
    assert.equal(dec(await readFile(proc, 'a/b/up')), 'in a');
    assert.equal(dec(await readFile(proc, 'a/chain')), 'in a');
    await proc.symlink('/mnt/a', 'abs');
    assert.equal(dec(await readFile(proc, 'abs/file')), 'in a');
    await proc.symlink('a/b', 'dirlink');
    assert.deepEqual(await names(proc, 'dirlink'), ['up']);
    assert.equal((await proc.stat('dirlink/..')).ino, (await proc.stat('a')).ino, "'..' after a symlink is the target's parent");
  }, { requires: ['symlinks'] }),

  tcase('symlink: a dangling link: lstat works, stat is ENOENT, O_CREAT creates the target', async ({ proc }) => {
    await proc.symlink('missing', 'dangling');
    assert.ok(isLnk(await proc.lstat('dangling')));
    await fails(proc.stat('dangling'), 'ENOENT');
    const fd = await proc.open('dangling', O_WRONLY | O_CREAT, 0o644);
    await proc.close(fd);
    assert.ok(isReg(await proc.stat('missing')));
    assert.deepEqual(await names(proc, '.'), ['dangling', 'missing']);
  }, { requires: ['symlinks'] }),

  tcase('symlink: unlink removes the link, not the target; rmdir of a link to a directory is ENOTDIR', async ({ proc }) => {
    await proc.mkdir('d');
    await proc.symlink('d', 'dl');
    await fails(proc.rmdir('dl'), 'ENOTDIR');
    await proc.unlink('dl');
    assert.ok(isDir(await proc.stat('d')));
    await touch(proc, 'f');
    await proc.symlink('f', 'fl');
    await proc.unlink('fl');
    assert.ok(await exists(proc, 'f'));
  }, { requires: ['symlinks'] }),

  tcase('symlink: readlink of a non-link is EINVAL; of a missing path ENOENT', async ({ proc }) => {
    await touch(proc, 'f');
    await proc.mkdir('d');
    await fails(proc.readlink('f'), 'EINVAL');
    await fails(proc.readlink('d'), 'EINVAL');
    await fails(proc.readlink('none'), 'ENOENT');
  }, { requires: ['symlinks'] }),

  tcase('symlink: utimens with AT_SYMLINK_NOFOLLOW changes the link, not the target', async ({ proc }) => {
    await touch(proc, 'f');
    await proc.symlink('f', 'l');
    const before = await proc.stat('f');
    await proc.utimens('l', OLD, OLD, AT_SYMLINK_NOFOLLOW);
    assertTsEq((await proc.lstat('l')).mtime, OLD, 'link mtime');
    assertTsEq((await proc.stat('f')).mtime, before.mtime, 'target mtime');
    await proc.utimens('l', OLD, OLD);
    assertTsEq((await proc.stat('f')).mtime, OLD, 'target mtime after following');
  }, { requires: ['symlinks'] }),

  tcase('symlink: special names and non-ASCII targets are stored as given', async ({ proc }) => {
    for (const t of ['.', '..', '../..', '///', 'ünï/cödé', ' space ', '__proto__']) {
      const name = `l-${Buffer.from(t).toString('hex')}`;
      await proc.symlink(t, name);
      assert.equal(await proc.readlink(name), t);
    }
  }, { requires: ['symlinks'] }),

  tcase('link: hard links share the inode and count links', async ({ proc }) => {
    await writeFile(proc, 'a', 'shared');
    await proc.link('a', 'b');
    await proc.mkdir('d');
    await proc.link('a', 'd/c');
    const sa = await proc.stat('a');
    assert.equal(sa.nlink, 3);
    assert.equal((await proc.stat('b')).ino, sa.ino);
    assert.equal((await proc.stat('d/c')).ino, sa.ino);
    await writeFile(proc, 'b', 'changed');
    assert.equal(dec(await readFile(proc, 'd/c')), 'changed');
    await proc.unlink('a');
    assert.equal((await proc.stat('b')).nlink, 2);
    await proc.unlink('d/c');
    assert.equal((await proc.stat('b')).nlink, 1);
    assert.equal(dec(await readFile(proc, 'b')), 'changed');
  }, { requires: ['hardlinks'] }),

  tcase('link: directories cannot be linked; a missing source is ENOENT; EEXIST over a name', async ({ proc }) => {
    await proc.mkdir('d');
    await touch(proc, 'f');
    await fails(proc.link('d', 'd2'), 'EPERM');
    await fails(proc.link('none', 'x'), 'ENOENT');
    await fails(proc.link('f', 'f'), 'EEXIST');
    await fails(proc.link('f', 'd'), 'EEXIST');
    await fails(proc.link('f', 'nodir/x'), 'ENOENT');
    await fails(proc.link('f', '/dev/f'), 'EXDEV');
  }, { requires: ['hardlinks'] }),

  tcase('link: a hard link to a symlink links the symlink itself', async ({ proc }) => {
    await touch(proc, 'f');
    await proc.symlink('f', 'l');
    await proc.link('l', 'l2');
    assert.ok(isLnk(await proc.lstat('l2')));
    assert.equal((await proc.lstat('l2')).ino, (await proc.lstat('l')).ino);
    assert.equal((await proc.lstat('l')).nlink, 2);
    assert.equal((await proc.stat('f')).nlink, 1);
  }, { requires: ['hardlinks', 'symlinks'] }),

  tcase('link: a file unlinked while open keeps its data until closed', async ({ proc }) => {
    await writeFile(proc, 'f', 'still here');
    await proc.link('f', 'g');
    const fd = await proc.open('f', O_RDONLY);
    await proc.unlink('f');
    await proc.unlink('g');
    const buf = new Uint8Array(10);
    assert.equal(await proc.pread(fd, buf, 0), 10);
    assert.equal(dec(buf), 'still here');
    assert.equal((await proc.fstat(fd)).nlink, 0);
    await proc.close(fd);
    assert.deepEqual(await names(proc, '.'), []);
  }, { requires: ['hardlinks'] }),
];
