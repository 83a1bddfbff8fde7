/**
 * Directory creation and removal (t_vnops dir_simple, dir_notempty,
 * dir_rmdirdotdot, create_exist): link counts, ENOTEMPTY, EEXIST, rmdir of
 * '.' and '..', removing the cwd, and deep trees.
 */

import assert from 'node:assert/strict';
import { O_CREAT, O_DIRECTORY, O_EXCL, O_RDONLY, O_RDWR, O_WRONLY } from '../../../src/vfs/fcntl.js';
import { exists, fails, failsOneOf, isDir, names, tcase, touch, writeFile, type Case } from './util.js';

export const cases: Case[] = [
  tcase('dirs: mkdir, stat and rmdir', async ({ proc }) => {
    await proc.mkdir('d', 0o755);
    const st = await proc.stat('d');
    assert.ok(isDir(st));
    assert.equal(st.nlink, 2);
    await proc.rmdir('d');
    await fails(proc.stat('d'), 'ENOENT');
    await fails(proc.rmdir('d'), 'ENOENT');
  }),

  tcase('dirs: link counts follow subdirectories', async ({ proc }) => {
    const base = (await proc.stat('.')).nlink;
    await proc.mkdir('p');
    assert.equal((await proc.stat('.')).nlink, base + 1);
    for (let i = 0; i < 5; i++) await proc.mkdir(`p/s${i}`);
    await touch(proc, 'p/file');
    assert.equal((await proc.stat('p')).nlink, 7);
    await proc.rmdir('p/s0');
    assert.equal((await proc.stat('p')).nlink, 6);
    for (let i = 1; i < 5; i++) await proc.rmdir(`p/s${i}`);
    assert.equal((await proc.stat('p')).nlink, 2);
  }, { requires: ['hardlinks'] }),

  tcase('dirs: rmdir of a non-empty directory is ENOTEMPTY', async ({ proc }) => {
    await proc.mkdir('d');
    await touch(proc, 'd/f');
    await fails(proc.rmdir('d'), 'ENOTEMPTY');
    await proc.unlink('d/f');
    await proc.mkdir('d/sub');
    await fails(proc.rmdir('d'), 'ENOTEMPTY');
    await proc.rmdir('d/sub');
    await proc.rmdir('d');
    assert.equal(await exists(proc, 'd'), false);
  }),

  tcase("dirs: rmdir of '.' is EINVAL, of '..' ENOTEMPTY or EINVAL, of the mount root EBUSY", async ({ proc, mnt }) => {
    await proc.mkdir('d');
    await proc.chdir('d');
    await fails(proc.rmdir('.'), 'EINVAL');
    await failsOneOf(proc.rmdir('..'), ['ENOTEMPTY', 'EINVAL']);
    await fails(proc.rmdir(`${mnt}/d/.`), 'EINVAL');
    await proc.chdir('/');
    await failsOneOf(proc.rmdir(mnt), ['EBUSY', 'ENOTEMPTY']);
    assert.ok(isDir(await proc.stat(`${mnt}/d`)));
  }),

  tcase('dirs: a removed cwd and its removed parent are ENOENT to enter', async ({ proc, mnt }) => {
    await proc.mkdir('test');
    await proc.chdir('test');
    await proc.mkdir('subtest');
    await proc.chdir('subtest');
    await proc.rmdir(`${mnt}/test/subtest`);
    await proc.rmdir(`${mnt}/test`);
    await fails(proc.chdir('..'), 'ENOENT');
    await fails(proc.open('new', O_WRONLY | O_CREAT, 0o644), 'ENOENT');
    await fails(proc.mkdir('newdir'), 'ENOENT');
    const st = await proc.stat('.');
    assert.equal(st.nlink, 0);
    await proc.chdir(mnt);
    assert.deepEqual(await names(proc, '.'), []);
  }),

  tcase('dirs: a removed directory open for reading lists nothing', async ({ proc }) => {
    await proc.mkdir('d');
    const fd = await proc.open('d', O_RDONLY | O_DIRECTORY);
    await proc.rmdir('d');
    const ents = (await proc.getdents(fd)).filter((e) => e.name !== '.' && e.name !== '..');
    assert.deepEqual(ents, []);
    await proc.close(fd);
  }),

  tcase('dirs: EEXIST for every way of creating over an existing name', async ({ proc, caps }) => {
    await proc.mkdir('d');
    await touch(proc, 'f');
    await fails(proc.mkdir('d'), 'EEXIST');
    await fails(proc.mkdir('f'), 'EEXIST');
    await fails(proc.open('f', O_WRONLY | O_CREAT | O_EXCL, 0o644), 'EEXIST');
    await fails(proc.open('d', O_WRONLY | O_CREAT | O_EXCL, 0o644), 'EEXIST');
    await fails(proc.mkdir('.'), 'EEXIST');
    await fails(proc.mkdir('..'), 'EEXIST');
    await fails(proc.mkdir('d/'), 'EEXIST');
    if (caps.symlinks !== false) {
      await fails(proc.symlink('x', 'f'), 'EEXIST');
      await fails(proc.symlink('x', 'd'), 'EEXIST');
    }
    if (caps.hardlinks !== false) await fails(proc.link('f', 'd'), 'EEXIST');
    if (caps.specialFiles !== false) await fails(proc.mknod('f', 0o010644), 'EEXIST');
  }),

  tcase('dirs: open(O_CREAT) on an existing directory is EISDIR, writing a directory EISDIR', async ({ proc }) => {
    await proc.mkdir('d');
    await fails(proc.open('d', O_WRONLY | O_CREAT, 0o644), 'EISDIR');
    await fails(proc.open('d', O_RDWR), 'EISDIR');
    const fd = await proc.open('d', O_RDONLY);
    await fails(proc.read(fd, new Uint8Array(10)), 'EISDIR');
    await proc.close(fd);
    await fails(proc.unlink('d'), 'EISDIR');
  }),

  tcase('dirs: rmdir of a file is ENOTDIR, unlink of a missing file ENOENT', async ({ proc }) => {
    await touch(proc, 'f');
    await fails(proc.rmdir('f'), 'ENOTDIR');
    await fails(proc.unlink('missing'), 'ENOENT');
    await fails(proc.rmdir('missing'), 'ENOENT');
  }),

  tcase('dirs: a deep tree (64 levels) can be made, walked and removed', async ({ proc }) => {
    let p = '';
    for (let i = 0; i < 64; i++) {
      p += (p ? '/' : '') + `l${i}`;
      await proc.mkdir(p);
    }
    await writeFile(proc, `${p}/leaf`, 'deep');
    assert.equal((await proc.stat(`${p}/leaf`)).size, 4);
    await proc.chdir(p);
    assert.ok((await proc.getcwd()).endsWith('/l62/l63'));
    await proc.chdir('/mnt');
    await proc.unlink(`${p}/leaf`);
    for (let i = 63; i >= 0; i--) {
      await proc.rmdir(p);
      p = p.slice(0, Math.max(0, p.lastIndexOf('/')));
    }
    assert.deepEqual(await names(proc, '.'), []);
  }),

  tcase('dirs: mkdir mode is masked by the umask', async ({ proc }) => {
    await proc.umask(0o027);
    await proc.mkdir('d', 0o777);
    assert.equal((await proc.stat('d')).mode & 0o777, 0o750);
    await proc.umask(0);
    await proc.mkdir('e', 0o705);
    assert.equal((await proc.stat('e')).mode & 0o777, 0o705);
    await touch(proc, 'e/f', 0o666);
    assert.equal((await proc.stat('e/f')).mode & 0o777, 0o666);
  }, { requires: ['permissions'] }),

  tcase('dirs: racing mkdir and rmdir of one name leave either nothing or an empty directory (rmdirrace)', async ({ proc, kernel, caps }) => {
    const other = kernel.newProc();
    await other.chdir('/mnt');
    const base = (await proc.stat('.')).nlink;
    const ops: Promise<unknown>[] = [];
    const ignore = (codes: string[]) => (e: { code?: string }) => {
      if (!codes.includes(String(e.code))) throw e;
    };
    for (let i = 0; i < 60; i++) {
      ops.push(proc.mkdir('race').catch(ignore(['EEXIST'])));
      ops.push(other.rmdir('race').catch(ignore(['ENOENT'])));
    }
    await Promise.all(ops);
    await other.exit();
    const present = (await names(proc, '.')).includes('race');
    if (caps.hardlinks !== false) assert.equal((await proc.stat('.')).nlink, base + (present ? 1 : 0), 'parent link count');
    if (present) {
      assert.deepEqual(await names(proc, 'race'), []);
      await proc.rmdir('race');
    }
    assert.deepEqual(await names(proc, '.'), []);
  }),

  tcase('dirs: of two racing exclusive creates exactly one wins', async ({ proc, kernel }) => {
    const other = kernel.newProc();
    await other.chdir('/mnt');
    for (let round = 0; round < 20; round++) {
      const results = await Promise.allSettled([
        proc.open(`f${round}`, O_WRONLY | O_CREAT | O_EXCL, 0o644),
        other.open(`f${round}`, O_WRONLY | O_CREAT | O_EXCL, 0o644),
      ]);
      const won = results.filter((r) => r.status === 'fulfilled');
      assert.equal(won.length, 1, `round ${round}`);
      const lost = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
      assert.equal((lost.reason as { code?: string }).code, 'EEXIST');
      if (results[0]!.status === 'fulfilled') await proc.close(results[0].value);
      else await other.close((results[1] as PromiseFulfilledResult<number>).value);
    }
    await other.exit();
    assert.equal((await names(proc, '.')).length, 20);
  }),
];
