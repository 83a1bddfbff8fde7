/**
 * Access checks for unprivileged users (t_vnops access_simple, t_unpriv
 * owner/dirperms/times): owner, group and other bits, supplementary groups,
 * root's rights, search permission on the path, write permission on the
 * directory for create/remove/rename, sticky directories, who may chmod and
 * chown, setgid directory inheritance, and setuid/setgid cleared by a write
 * from someone other than root.
 */

import assert from 'node:assert/strict';
import { F_OK, O_CREAT, O_RDONLY, O_RDWR, O_TRUNC, O_WRONLY, R_OK, W_OK, X_OK } from '../../../src/vfs/fcntl.js';
import { OLD, assertTsAfter, assertTsEq, enc, fails, names, readFile, tcase, touch, writeFile, dec, type Case } from './util.js';

const PERM: { requires: ['permissions'] } = { requires: ['permissions'] };

export const cases: Case[] = [
  tcase('access: owner, group and other bits decide, in that order', async ({ proc, user }) => {
    await proc.chmod('.', 0o755);
    await writeFile(proc, 'f', 'secret');
    await proc.chown('f', 100, 200);
    const owner = user(100, 999);
    const member = user(101, 200);
    const other = user(102, 300);
    await proc.chmod('f', 0o640);
    assert.equal(dec(await readFile(owner, 'f')), 'secret');
    assert.equal(dec(await readFile(member, 'f')), 'secret');
    await fails(other.open('f', O_RDONLY), 'EACCES');
    await fails(member.open('f', O_WRONLY), 'EACCES');
    await owner.close(await owner.open('f', O_RDWR));
    // The owner class applies even when it grants less than group or other.
    await proc.chmod('f', 0o066);
    await fails(owner.open('f', O_RDONLY), 'EACCES');
    await member.close(await member.open('f', O_RDWR));
    await other.close(await other.open('f', O_RDWR));
    await proc.chmod('f', 0o606);
    await fails(member.open('f', O_RDONLY), 'EACCES', 'group class is used for a member even when other allows');
  }, PERM),

  tcase('access: supplementary groups grant group access', async ({ proc, user }) => {
    await writeFile(proc, 'f', 'g');
    await proc.chown('f', 100, 555);
    await proc.chmod('f', 0o640);
    await fails(user(101, 1, [1]).open('f', O_RDONLY), 'EACCES');
    const u = user(101, 1, [1, 7, 555]);
    assert.equal(dec(await readFile(u, 'f')), 'g');
  }, PERM),

  tcase('access: access(2) answers for R_OK, W_OK, X_OK and F_OK', async ({ proc, user }) => {
    await touch(proc, 'f');
    await proc.chmod('f', 0o754);
    await proc.chown('f', 100, 200);
    const o = user(100, 1);
    const g = user(101, 200);
    const x = user(102, 1);
    await o.access('f', R_OK | W_OK | X_OK);
    await g.access('f', R_OK | X_OK);
    await fails(g.access('f', W_OK), 'EACCES');
    await x.access('f', R_OK);
    await fails(x.access('f', X_OK), 'EACCES');
    await x.access('f', F_OK);
    await fails(x.access('nothing', F_OK), 'ENOENT');
  }, PERM),

  tcase('access: root reads and writes anything but executes only with some x bit', async ({ proc }) => {
    await writeFile(proc, 'f', 'r');
    await proc.chown('f', 100, 100);
    await proc.chmod('f', 0o000);
    assert.equal(dec(await readFile(proc, 'f')), 'r');
    await proc.close(await proc.open('f', O_WRONLY));
    await proc.access('f', R_OK | W_OK);
    await fails(proc.access('f', X_OK), 'EACCES');
    await proc.chmod('f', 0o001);
    await proc.access('f', X_OK);
    await proc.mkdir('d', 0o000);
    await proc.access('d', R_OK | W_OK | X_OK);
    await touch(proc, 'd/inside');
  }, PERM),

  tcase('access: every directory on the path needs search permission', async ({ proc, user }) => {
    await proc.mkdir('a', 0o755);
    await proc.mkdir('a/b', 0o755);
    await writeFile(proc, 'a/b/f', 'x');
    await proc.chmod('a/b/f', 0o644);
    const u = user(1000, 1000);
    assert.equal(dec(await readFile(u, 'a/b/f')), 'x');
    await proc.chmod('a', 0o644);
    await fails(u.stat('a/b/f'), 'EACCES');
    await fails(u.open('a/b/f', O_RDONLY), 'EACCES');
    await fails(u.chdir('a'), 'EACCES');
    await u.stat('a');
    await proc.chmod('a', 0o711);
    assert.equal(dec(await readFile(u, 'a/b/f')), 'x');
    await fails(u.readdir('a'), 'EACCES');
  }, PERM),

  tcase('access: creating and removing need write and search on the directory', async ({ proc, user }) => {
    await proc.mkdir('d', 0o755);
    await proc.chown('d', 0, 0);
    const u = user(1000, 1000);
    await fails(u.open('d/f', O_WRONLY | O_CREAT, 0o644), 'EACCES');
    await fails(u.mkdir('d/sub'), 'EACCES');
    await touch(proc, 'd/root-file');
    await proc.chmod('d/root-file', 0o666);
    await fails(u.unlink('d/root-file'), 'EACCES');
    await fails(u.rename('d/root-file', 'd/x'), 'EACCES');
    await proc.chmod('d', 0o777);
    await touch(u, 'd/f');
    assert.equal((await proc.stat('d/f')).uid, 1000);
    assert.equal((await proc.stat('d/f')).gid, 1000);
    await u.unlink('d/root-file');
    await u.mkdir('d/sub');
    await proc.chmod('d', 0o333);
    await fails(u.readdir('d'), 'EACCES');
    await u.rmdir('d/sub');
  }, PERM),

  tcase('access: renaming a directory to another parent needs write on the directory itself', async ({ proc, user }) => {
    await proc.umask(0);
    await proc.mkdir('p1', 0o777);
    await proc.mkdir('p2', 0o777);
    await proc.mkdir('p1/d', 0o555);
    await proc.chown('p1/d', 1000, 1000);
    const u = user(1000, 1000);
    await fails(u.rename('p1/d', 'p2/d'), 'EACCES');
    await u.rename('p1/d', 'p1/e');
    await u.chmod('p1/e', 0o755);
    await u.rename('p1/e', 'p2/e');
    assert.deepEqual(await names(proc, 'p2'), ['e']);
  }, PERM),

  tcase('access: sticky directories let only the owners remove or rename', async ({ proc, user }) => {
    await proc.umask(0);
    await proc.mkdir('tmp', 0o1777);
    const alice = user(1001, 100);
    const bob = user(1002, 100);
    const dirOwner = user(1003, 100);
    await proc.chown('tmp', 1003, 100);
    await writeFile(alice, 'tmp/a', 'alice');
    await alice.chmod('tmp/a', 0o666);
    await fails(bob.unlink('tmp/a'), 'EPERM');
    await fails(bob.rename('tmp/a', 'tmp/b'), 'EPERM');
    await touch(bob, 'tmp/bobs');
    await fails(bob.rename('tmp/bobs', 'tmp/a'), 'EPERM', 'replacing another user\'s file');
    // Writing the file is still allowed by its mode.
    const fd = await bob.open('tmp/a', O_WRONLY);
    await bob.write(fd, enc('B'));
    await bob.close(fd);
    await dirOwner.rename('tmp/a', 'tmp/a2');
    await alice.rename('tmp/a2', 'tmp/a');
    await alice.unlink('tmp/a');
    await touch(bob, 'tmp/b2');
    await proc.unlink('tmp/b2');
    await alice.mkdir('tmp/adir');
    await fails(bob.rmdir('tmp/adir'), 'EPERM');
    await dirOwner.rmdir('tmp/adir');
  }, PERM),

  tcase('access: only the owner or root may chmod; others get EPERM', async ({ proc, user }) => {
    await touch(proc, 'f');
    await proc.chown('f', 1000, 1000);
    const owner = user(1000, 1000);
    const other = user(1001, 1000);
    await owner.chmod('f', 0o600);
    await fails(other.chmod('f', 0o666), 'EPERM');
    assert.equal((await proc.stat('f')).mode & 0o7777, 0o600);
    await proc.chmod('f', 0o644);
    assert.equal((await proc.stat('f')).mode & 0o7777, 0o644);
  }, PERM),

  tcase('access: a non-member owner cannot set setgid on a file (the bit is dropped)', async ({ proc, user }) => {
    await touch(proc, 'f');
    await proc.chown('f', 1000, 2000);
    const u = user(1000, 1000);
    await u.chmod('f', 0o2755);
    assert.equal((await proc.stat('f')).mode & 0o7777, 0o755);
    const member = user(1000, 1000, [1000, 2000]);
    await member.chmod('f', 0o2755);
    assert.equal((await proc.stat('f')).mode & 0o7777, 0o2755);
  }, PERM),

  tcase('access: chown by a user: never to another uid, only to own groups', async ({ proc, user }) => {
    await touch(proc, 'f');
    await proc.chown('f', 1000, 1000);
    const u = user(1000, 1000, [1000, 3000]);
    await fails(u.chown('f', 1001, -1), 'EPERM');
    await fails(u.chown('f', -1, 4000), 'EPERM');
    await u.chown('f', -1, 3000);
    assert.equal((await proc.stat('f')).gid, 3000);
    await u.chown('f', 1000, 1000);
    const stranger = user(1001, 3000, [3000]);
    await fails(stranger.chown('f', -1, 3000), 'EPERM');
  }, PERM),

  tcase('access: utimens to explicit times needs ownership; to now needs write access', async ({ proc, user }) => {
    await touch(proc, 'f');
    await proc.chown('f', 1000, 1000);
    await proc.chmod('f', 0o646);
    const owner = user(1000, 1000);
    const writer = user(1001, 1001);
    const reader = user(1002, 1000);
    await owner.utimens('f', OLD, OLD);
    assertTsEq((await proc.stat('f')).mtime, OLD, 'owner set explicit time');
    await fails(writer.utimens('f', OLD, OLD), 'EPERM');
    await writer.utimens('f', 'now', 'now');
    assertTsAfter((await proc.stat('f')).mtime, OLD, 'a writer sets now');
    await fails(reader.utimens('f', 'now', 'now'), 'EACCES');
  }, PERM),

  tcase('access: a setgid directory passes its group on, and setgid to subdirectories', async ({ proc, user }) => {
    await proc.umask(0);
    await proc.mkdir('shared', 0o2777);
    await proc.chown('shared', 0, 4242);
    await proc.chmod('shared', 0o2777);
    const u = user(1000, 1000);
    await touch(u, 'shared/f');
    await u.mkdir('shared/sub');
    const f = await proc.stat('shared/f');
    const sub = await proc.stat('shared/sub');
    assert.equal(f.gid, 4242);
    assert.equal(f.uid, 1000);
    assert.equal(sub.gid, 4242);
    assert.ok(sub.mode & 0o2000, 'a new subdirectory is setgid too');
    assert.equal(f.mode & 0o2000, 0);
    await proc.mkdir('plain', 0o777);
    await touch(u, 'plain/f');
    assert.equal((await proc.stat('plain/f')).gid, 1000);
  }, PERM),

  tcase('access: a write by a non-owner clears setuid and setgid', async ({ proc, user }) => {
    await writeFile(proc, 'prog', 'binary');
    await proc.chown('prog', 1000, 1000);
    await proc.chmod('prog', 0o6777);
    const u = user(1001, 1001);
    const fd = await u.open('prog', O_WRONLY);
    await u.write(fd, enc('X'));
    await u.close(fd);
    assert.equal((await proc.stat('prog')).mode & 0o7777, 0o777);
  }, PERM),

  tcase('access: a write by root keeps setuid', async ({ proc }) => {
    await writeFile(proc, 'prog', 'binary');
    await proc.chmod('prog', 0o4755);
    await writeFile(proc, 'prog', 'new');
    assert.equal((await proc.stat('prog')).mode & 0o7777, 0o4755);
  }, PERM),

  tcase('access: truncate needs write permission; O_TRUNC on a read-only open too', async ({ proc, user }) => {
    await writeFile(proc, 'f', 'data');
    await proc.chmod('f', 0o644);
    const u = user(1000, 1000);
    await fails(u.truncate('f', 0), 'EACCES');
    await fails(u.open('f', O_RDONLY | O_TRUNC), 'EACCES');
    assert.equal((await proc.stat('f')).size, 4);
    await proc.chmod('f', 0o666);
    await u.truncate('f', 1);
    assert.equal((await proc.stat('f')).size, 1);
  }, PERM),

  tcase('access: files a user creates belong to the user; umask applies', async ({ proc, user }) => {
    await proc.chmod('.', 0o777);
    const u = user(1234, 5678);
    await u.umask(0o077);
    await touch(u, 'mine', 0o666);
    const st = await proc.stat('mine');
    assert.deepEqual([st.uid, st.gid, st.mode & 0o777], [1234, 5678, 0o600]);
    await u.symlink('mine', 'mylink');
    const l = await proc.lstat('mylink');
    assert.deepEqual([l.uid, l.gid], [1234, 5678]);
  }, { requires: ['permissions', 'symlinks'] }),

  tcase('access: descriptors keep the rights they were opened with', async ({ proc, user }) => {
    await writeFile(proc, 'f', 'abc');
    await proc.chmod('f', 0o666);
    const u = user(1000, 1000);
    const fd = await u.open('f', O_RDWR);
    await proc.chmod('f', 0o600);
    await u.pwrite(fd, enc('Z'), 0);
    const buf = new Uint8Array(3);
    await u.pread(fd, buf, 0);
    assert.equal(dec(buf), 'Zbc');
    await u.close(fd);
    await fails(u.open('f', O_RDONLY), 'EACCES');
    const rd = await proc.open('f', O_RDONLY);
    await fails(proc.write(rd, enc('x')), 'EBADF');
    await proc.close(rd);
  }, PERM),

  tcase('access: only root mounts and unmounts', async ({ user, mnt }) => {
    const u = user(1000, 1000);
    await fails(u.unmount(mnt), 'EPERM');
    await fails(u.mount('tmpfs', mnt), 'EPERM');
  }, { readsOnly: true }),
];
