/**
 * Attributes and timestamps (t_vnops attrs, t_unpriv times): what stat
 * reports after each call, and which calls change which times — a new file
 * and its directory, write, truncate, read, chmod/chown, link/unlink,
 * rename, utimens with explicit, 'now' and omitted times.
 */

import assert from 'node:assert/strict';
import { O_CREAT, O_RDONLY, O_RDWR, O_TRUNC, O_WRONLY } from '../../../src/vfs/fcntl.js';
import {
  OLD, age, assertTsAfter, assertTsEq, enc, fails, isReg, tcase, tick, touch, tsCmp, writeFile, type Case,
} from './util.js';
import type { Timespec } from '../../../src/vfs/types.js';

const T1: Timespec = { sec: 1_234_567_890, nsec: 123_456_789 };
const T2: Timespec = { sec: 1_500_000_000, nsec: 999_999_999 };

/** What a format keeps of a time: `t` cut to the profile's resolution. */
function truncTo(t: Timespec, resNs: number): Timespec {
  if (resNs <= 1) return t;
  const total = BigInt(t.sec) * 1_000_000_000n + BigInt(t.nsec);
  const cut = total - (total % BigInt(resNs));
  return { sec: Number(cut / 1_000_000_000n), nsec: Number(cut % 1_000_000_000n) };
}

export const cases: Case[] = [
  tcase('attrs: a new file has the requested mode, the creator as owner, size 0, one link', async ({ proc }) => {
    await proc.umask(0o022);
    await touch(proc, 'f', 0o640);
    const st = await proc.stat('f');
    assert.ok(isReg(st));
    assert.equal(st.mode & 0o7777, 0o640);
    assert.equal(st.uid, 0);
    assert.equal(st.gid, 0);
    assert.equal(st.size, 0);
    assert.equal(st.nlink, 1);
    assert.ok(st.blksize > 0);
    const fd = await proc.open('f', O_RDONLY);
    const fst = await proc.fstat(fd);
    await proc.close(fd);
    assert.equal(fst.ino, st.ino);
    assert.equal(fst.dev, st.dev);
  }, { requires: ['permissions'] }),

  tcase('attrs: a new node takes one time for atime, mtime and ctime, and gives it to its directory', async ({ proc, caps }) => {
    await proc.mkdir('d');
    await age(proc, 'd');
    await touch(proc, 'd/f');
    const f = await proc.stat('d/f');
    const d = await proc.stat('d');
    assertTsEq(f.mtime, f.ctime, 'file mtime = ctime');
    if (caps.atime !== false) assertTsEq(f.atime, f.mtime, 'file atime = mtime');
    assertTsAfter(d.mtime, OLD, 'directory mtime');
    assertTsEq(d.mtime, truncTo(f.mtime, caps.timeResolutionNs ?? 1), 'directory mtime = file time');
    await proc.mkdir('d/sub');
    assertTsEq((await proc.stat('d/sub')).mtime, (await proc.stat('d/sub')).ctime, 'directory mtime = ctime');
  }),

  tcase('attrs: utimens stores explicit times to the format resolution', async ({ proc, caps }) => {
    await touch(proc, 'f');
    await proc.utimens('f', T1, T2);
    const st = await proc.stat('f');
    const res = caps.timeResolutionNs ?? 1;
    assertTsEq(st.mtime, truncTo(T2, res), 'mtime');
    if (caps.atime !== false) assertTsEq(st.atime, truncTo(T1, res), 'atime');
  }),

  tcase('attrs: utimens with nanoseconds keeps them exactly', async ({ proc }) => {
    await touch(proc, 'f');
    await proc.utimens('f', { sec: 1, nsec: 1 }, { sec: 2_000_000_000, nsec: 999_999_999 });
    const st = await proc.stat('f');
    assertTsEq(st.atime, { sec: 1, nsec: 1 }, 'atime');
    assertTsEq(st.mtime, { sec: 2_000_000_000, nsec: 999_999_999 }, 'mtime');
  }, { requires: ['atime'] }),

  tcase("attrs: utimens 'omit' leaves a time, 'now' sets the current time", async ({ proc, caps, kernel }) => {
    await touch(proc, 'f');
    await proc.utimens('f', T1, T1);
    await proc.utimens('f', 'omit', T2);
    let st = await proc.stat('f');
    const res = caps.timeResolutionNs ?? 1;
    if (caps.atime !== false) assertTsEq(st.atime, truncTo(T1, res), 'atime omitted');
    assertTsEq(st.mtime, truncTo(T2, res), 'mtime set');
    const before = kernel.services.now();
    await proc.utimens('f', 'omit', 'now');
    st = await proc.stat('f');
    assert.ok(tsCmp(st.mtime, truncTo(before, res)) >= 0, 'mtime now');
    await fails(proc.utimens('f', { sec: 0, nsec: 1_000_000_000 }, 'omit'), 'EINVAL');
    await fails(proc.utimens('f', { sec: 0, nsec: -1 }, 'omit'), 'EINVAL');
  }),

  tcase('attrs: futimens works on an open descriptor', async ({ proc, caps }) => {
    const fd = await proc.open('f', O_RDWR | O_CREAT, 0o644);
    await proc.futimens(fd, T1, T2);
    const st = await proc.fstat(fd);
    await proc.close(fd);
    assertTsEq(st.mtime, truncTo(T2, caps.timeResolutionNs ?? 1), 'mtime');
  }),

  tcase('times: write changes mtime and ctime, not atime', async (ctx) => {
    const { proc, caps } = ctx;
    await writeFile(proc, 'f', 'x');
    await age(proc, 'f');
    const c0 = (await proc.stat('f')).ctime;
    await tick(ctx);
    const fd = await proc.open('f', O_WRONLY);
    await proc.write(fd, enc('more'));
    await proc.close(fd);
    const st = await proc.stat('f');
    assertTsAfter(st.mtime, OLD, 'mtime');
    if (caps.atime !== false) assertTsEq(st.atime, OLD, 'atime');
    assertTsAfter(st.ctime, c0, 'ctime');
  }, { requires: ['permissions'] }),

  tcase('times: write changes mtime (every format)', async ({ proc }) => {
    await writeFile(proc, 'f', 'x');
    await age(proc, 'f');
    const fd = await proc.open('f', O_WRONLY);
    await proc.pwrite(fd, enc('y'), 0);
    await proc.close(fd);
    assertTsAfter((await proc.stat('f')).mtime, OLD, 'mtime after write');
  }),

  tcase('times: read changes atime only', async (ctx) => {
    const { proc } = ctx;
    await writeFile(proc, 'f', 'contents');
    await age(proc, 'f');
    const c0 = (await proc.stat('f')).ctime;
    await tick(ctx);
    const fd = await proc.open('f', O_RDONLY);
    await proc.read(fd, new Uint8Array(4));
    await proc.close(fd);
    const st = await proc.stat('f');
    assertTsAfter(st.atime, OLD, 'atime');
    assertTsEq(st.mtime, OLD, 'mtime');
    assertTsEq(st.ctime, c0, 'ctime');
  }, { requires: ['atime', 'permissions'] }),

  tcase('times: opening, stat and readdir change no time', async (ctx) => {
    const { proc, caps } = ctx;
    await proc.mkdir('d');
    await touch(proc, 'd/f');
    await age(proc, 'd/f');
    await proc.utimens('d', OLD, OLD);
    const c0 = (await proc.stat('d/f')).ctime;
    await tick(ctx);
    const fd = await proc.open('d/f', O_RDWR);
    await proc.close(fd);
    await proc.stat('d/f');
    const st = await proc.stat('d/f');
    assertTsEq(st.mtime, OLD, 'mtime');
    if (caps.atime !== false) assertTsEq(st.atime, OLD, 'atime');
    assertTsEq(st.ctime, c0, 'ctime');
    assertTsEq((await proc.stat('d')).mtime, OLD, 'dir mtime');
  }, { requires: ['permissions'] }),

  tcase('times: truncate changes mtime and ctime, also to the same size', async (ctx) => {
    const { proc } = ctx;
    await writeFile(proc, 'f', 'abcdef');
    await age(proc, 'f');
    let c0 = (await proc.stat('f')).ctime;
    await tick(ctx);
    await proc.truncate('f', 3);
    let st = await proc.stat('f');
    assertTsAfter(st.mtime, OLD, 'mtime after shrink');
    assertTsAfter(st.ctime, c0, 'ctime after shrink');
    await age(proc, 'f');
    c0 = (await proc.stat('f')).ctime;
    await tick(ctx);
    const fd = await proc.open('f', O_WRONLY | O_TRUNC);
    await proc.close(fd);
    st = await proc.stat('f');
    assertTsAfter(st.mtime, OLD, 'mtime after O_TRUNC');
    assertTsAfter(st.ctime, c0, 'ctime after O_TRUNC');
  }, { requires: ['permissions'] }),

  tcase('times: chmod and chown change ctime only', async (ctx) => {
    const { proc } = ctx;
    await touch(proc, 'f');
    await age(proc, 'f');
    let c0 = (await proc.stat('f')).ctime;
    await tick(ctx);
    await proc.chmod('f', 0o600);
    let st = await proc.stat('f');
    assertTsAfter(st.ctime, c0, 'ctime after chmod');
    assertTsEq(st.mtime, OLD, 'mtime after chmod');
    assertTsEq(st.atime, OLD, 'atime after chmod');
    c0 = st.ctime;
    await tick(ctx);
    await proc.chown('f', 5, 6);
    st = await proc.stat('f');
    assertTsAfter(st.ctime, c0, 'ctime after chown');
    assertTsEq(st.mtime, OLD, 'mtime after chown');
  }, { requires: ['permissions', 'atime'] }),

  tcase('times: utimens sets ctime to now', async (ctx) => {
    const { proc } = ctx;
    await touch(proc, 'f');
    const c0 = (await proc.stat('f')).ctime;
    await tick(ctx);
    await proc.utimens('f', OLD, OLD);
    assertTsAfter((await proc.stat('f')).ctime, c0, 'ctime');
  }, { requires: ['permissions'] }),

  tcase('times: create and unlink change the directory mtime and ctime', async (ctx) => {
    const { proc } = ctx;
    await proc.mkdir('d');
    await age(proc, 'd');
    let c0 = (await proc.stat('d')).ctime;
    await tick(ctx);
    await touch(proc, 'd/f');
    let st = await proc.stat('d');
    assertTsAfter(st.mtime, OLD, 'dir mtime after create');
    assertTsAfter(st.ctime, c0, 'dir ctime after create');
    await age(proc, 'd');
    c0 = (await proc.stat('d')).ctime;
    await tick(ctx);
    await proc.unlink('d/f');
    st = await proc.stat('d');
    assertTsAfter(st.mtime, OLD, 'dir mtime after unlink');
    assertTsAfter(st.ctime, c0, 'dir ctime after unlink');
  }, { requires: ['permissions'] }),

  tcase('times: mkdir and rmdir change the parent mtime', async ({ proc }) => {
    await proc.mkdir('p');
    await age(proc, 'p');
    await proc.mkdir('p/c');
    assertTsAfter((await proc.stat('p')).mtime, OLD, 'after mkdir');
    await age(proc, 'p');
    await proc.rmdir('p/c');
    assertTsAfter((await proc.stat('p')).mtime, OLD, 'after rmdir');
  }),

  tcase('times: link changes the file ctime and the directory mtime; unlink the file ctime', async (ctx) => {
    const { proc } = ctx;
    await touch(proc, 'f');
    await proc.mkdir('d');
    await age(proc, 'd');
    await age(proc, 'f');
    let c0 = (await proc.stat('f')).ctime;
    await tick(ctx);
    await proc.link('f', 'd/g');
    let st = await proc.stat('f');
    assertTsAfter(st.ctime, c0, 'file ctime after link');
    assertTsEq(st.mtime, OLD, 'file mtime after link');
    assertTsAfter((await proc.stat('d')).mtime, OLD, 'dir mtime after link');
    c0 = st.ctime;
    await tick(ctx);
    await proc.unlink('d/g');
    st = await proc.stat('f');
    assertTsAfter(st.ctime, c0, 'file ctime after unlink');
    assertTsEq(st.mtime, OLD, 'file mtime after unlink');
  }, { requires: ['hardlinks', 'permissions'] }),

  tcase('times: rename changes both directories and the moved file ctime, not its mtime', async (ctx) => {
    const { proc, caps } = ctx;
    await proc.mkdir('a');
    await proc.mkdir('b');
    await touch(proc, 'a/f');
    await age(proc, 'a');
    await age(proc, 'b');
    await age(proc, 'a/f');
    const c0 = (await proc.stat('a/f')).ctime;
    await tick(ctx);
    await proc.rename('a/f', 'b/f');
    assertTsAfter((await proc.stat('a')).mtime, OLD, 'source dir mtime');
    assertTsAfter((await proc.stat('b')).mtime, OLD, 'target dir mtime');
    const st = await proc.stat('b/f');
    assertTsEq(st.mtime, OLD, 'file mtime');
    if (caps.permissions !== false) assertTsAfter(st.ctime, c0, 'file ctime');
  }),

  tcase('times: a rename within one directory changes its mtime', async ({ proc }) => {
    await touch(proc, 'f');
    await proc.utimens('.', OLD, OLD);
    await proc.rename('f', 'g');
    assertTsAfter((await proc.stat('.')).mtime, OLD, 'dir mtime');
  }),

  tcase('attrs: chmod keeps setuid, setgid and sticky bits for root; fchmod works', async ({ proc }) => {
    await touch(proc, 'f');
    for (const m of [0o4755, 0o2755, 0o1777, 0o7777, 0o0, 0o644]) {
      await proc.chmod('f', m);
      assert.equal((await proc.stat('f')).mode & 0o7777, m, m.toString(8));
    }
    const fd = await proc.open('f', O_RDONLY);
    await proc.fchmod(fd, 0o600);
    await proc.close(fd);
    assert.equal((await proc.stat('f')).mode & 0o7777, 0o600);
    await proc.mkdir('d');
    await proc.chmod('d', 0o1733);
    assert.equal((await proc.stat('d')).mode & 0o7777, 0o1733);
  }, { requires: ['permissions'] }),

  tcase('attrs: chown by root sets uid and gid; -1 leaves each alone', async ({ proc }) => {
    await touch(proc, 'f');
    await proc.chown('f', 1000, 2000);
    let st = await proc.stat('f');
    assert.deepEqual([st.uid, st.gid], [1000, 2000]);
    await proc.chown('f', -1, 3000);
    st = await proc.stat('f');
    assert.deepEqual([st.uid, st.gid], [1000, 3000]);
    await proc.chown('f', 4000, -1);
    st = await proc.stat('f');
    assert.deepEqual([st.uid, st.gid], [4000, 3000]);
    const fd = await proc.open('f', O_RDONLY);
    await proc.fchown(fd, 7, 8);
    await proc.close(fd);
    st = await proc.stat('f');
    assert.deepEqual([st.uid, st.gid], [7, 8]);
  }, { requires: ['permissions'] }),

  tcase('attrs: chown clears setuid and group-executable setgid', async ({ proc }) => {
    await touch(proc, 'f');
    await proc.chmod('f', 0o6755);
    await proc.chown('f', 1, 1);
    assert.equal((await proc.stat('f')).mode & 0o7777, 0o755);
    await proc.chmod('f', 0o2745);
    await proc.chown('f', 2, 2);
    assert.equal((await proc.stat('f')).mode & 0o7777, 0o2745, 'setgid without group execute is mandatory locking: kept');
  }, { requires: ['permissions'] }),

  tcase('attrs: lchown changes the symlink, chown its target', async ({ proc }) => {
    await touch(proc, 'f');
    await proc.symlink('f', 'l');
    await proc.lchown('l', 11, 12);
    const l = await proc.lstat('l');
    assert.deepEqual([l.uid, l.gid], [11, 12]);
    const f = await proc.stat('f');
    assert.deepEqual([f.uid, f.gid], [0, 0]);
    await proc.chown('l', 21, 22);
    const f2 = await proc.stat('f');
    assert.deepEqual([f2.uid, f2.gid], [21, 22]);
  }, { requires: ['permissions', 'symlinks'] }),

  tcase('attrs: special files keep their type, mode and device number', async ({ proc }) => {
    await proc.mknod('fifo', 0o010640);
    await proc.mknod('sock', 0o140600);
    await proc.mknod('chr', 0o020600, (1 << 8) | 3);
    await proc.mknod('blk', 0o060600, (8 << 8) | 1);
    const types = new Map((await proc.readdir('.')).map((e) => [e.name, e.type]));
    assert.deepEqual([...types].sort(), [['blk', 'blk'], ['chr', 'chr'], ['fifo', 'fifo'], ['sock', 'sock']]);
    assert.equal((await proc.stat('fifo')).mode, 0o010640);
    assert.equal((await proc.stat('sock')).mode, 0o140600);
    const c = await proc.stat('chr');
    assert.equal(c.mode, 0o020600);
    assert.equal(c.rdev, (1 << 8) | 3);
    assert.equal((await proc.stat('blk')).rdev, (8 << 8) | 1);
    await proc.rename('fifo', 'fifo2');
    await proc.unlink('sock');
    assert.equal((await proc.stat('fifo2')).mode, 0o010640);
  }, { requires: ['specialFiles'] }),

  tcase('attrs: only root makes device nodes', async ({ user }) => {
    const u = user(1000, 1000);
    await fails(u.mknod('/tmp-not-used', 0o020600, 1), 'EPERM');
  }, { requires: ['specialFiles'] }),

  tcase('attrs: directory size and blocks are consistent with contents', async ({ proc }) => {
    await proc.mkdir('d');
    const empty = await proc.stat('d');
    for (let i = 0; i < 200; i++) await touch(proc, `d/file-with-a-long-name-${i}`);
    const full = await proc.stat('d');
    assert.ok(full.size >= empty.size, 'a directory does not shrink as entries are added');
    assert.ok(full.size > 0);
  }),

  tcase('attrs: the file size follows writes, and blocks cover the data', async ({ proc, caps }) => {
    await writeFile(proc, 'f', new Uint8Array(10_000).fill(1));
    const st = await proc.stat('f');
    assert.equal(st.size, 10_000);
    assert.ok(st.blocks * 512 >= 10_000, `blocks ${st.blocks} cover 10000 bytes`);
    if (caps.sparse !== false) assert.ok(st.blocks * 512 < 10_000 + 64 * 1024, 'no wildly oversized allocation');
  }),
];
