/**
 * Read-only mounts (NetBSD t_ro) and persistence across remounts: every
 * mutating call answers EROFS while reads work, and what was written before
 * an unmount is there after the next mount (for components with a device).
 */

import assert from 'node:assert/strict';
import { O_APPEND, O_CREAT, O_RDONLY, O_RDWR, O_TRUNC, O_WRONLY } from '../../../src/vfs/fcntl.js';
import type { SyscallApi } from '../../../src/vfs/syscalls.js';
import type { FsCapabilities } from '../../../src/vfs/types.js';
import { OLD, capSize, dec, enc, fails, names, pattern, readFile, sameBytes, tcase, writeFile, type Case } from './util.js';

/** Every mutating call on names in `dir` (which must hold file 'f', directory 'd' and, if supported, symlink 'l'). */
async function expectAllRofs(p: SyscallApi, dir: string, caps: FsCapabilities, hasTree: boolean): Promise<void> {
  const at = (n: string): string => `${dir}/${n}`;
  await fails(p.open(at('new'), O_WRONLY | O_CREAT, 0o644), 'EROFS', 'create');
  await fails(p.mkdir(at('newdir')), 'EROFS', 'mkdir');
  if (caps.symlinks !== false) await fails(p.symlink('x', at('newlink')), 'EROFS', 'symlink');
  if (caps.specialFiles !== false) await fails(p.mknod(at('newfifo'), 0o010644), 'EROFS', 'mknod');
  await fails(p.chmod(dir, 0o700), 'EROFS', 'chmod dir');
  await fails(p.chown(dir, 1, 1), 'EROFS', 'chown dir');
  await fails(p.utimens(dir, OLD, OLD), 'EROFS', 'utimens dir');
  await fails(p.access(dir, 2), 'EROFS', 'access W_OK');
  if (!hasTree) return;
  await fails(p.open(at('f'), O_WRONLY), 'EROFS', 'open for writing');
  await fails(p.open(at('f'), O_RDWR), 'EROFS', 'open read-write');
  await fails(p.open(at('f'), O_WRONLY | O_APPEND), 'EROFS', 'open for append');
  await fails(p.open(at('f'), O_RDONLY | O_TRUNC), 'EROFS', 'O_TRUNC');
  await fails(p.truncate(at('f'), 0), 'EROFS', 'truncate');
  await fails(p.unlink(at('f')), 'EROFS', 'unlink');
  await fails(p.rmdir(at('d')), 'EROFS', 'rmdir');
  await fails(p.rename(at('f'), at('g')), 'EROFS', 'rename');
  await fails(p.rename(at('d'), at('e')), 'EROFS', 'rename dir');
  if (caps.hardlinks !== false) await fails(p.link(at('f'), at('g')), 'EROFS', 'link');
  await fails(p.chmod(at('f'), 0o600), 'EROFS', 'chmod');
  await fails(p.chown(at('f'), 1, 1), 'EROFS', 'chown');
  await fails(p.utimens(at('f'), OLD, OLD), 'EROFS', 'utimens');
  await fails(p.utimens(at('f'), 'now', 'now'), 'EROFS', 'utimens now');
  if (caps.xattr !== false) await fails(p.setxattr(at('f'), 'user.x', enc('v')), 'EROFS', 'setxattr');
}

export const cases: Case[] = [
  tcase('readonly: a file system mounted read-only refuses every mutating call', async ({ proc, caps }) => {
    const s = await proc.statvfs('.');
    assert.equal((s.flag ?? 0) & 1, 1, 'statvfs says read-only');
    await expectAllRofs(proc, '.', caps, false);
    await proc.stat('.');
    await proc.readdir('.');
  }, { readonly: true, readsOnly: true }),

  tcase('readonly: remounted read-only, the tree reads and every change is EROFS; read-write again, it changes', async (ctx) => {
    const { proc, caps } = ctx;
    await writeFile(proc, 'f', 'kept');
    await proc.mkdir('d');
    if (caps.symlinks !== false) await proc.symlink('f', 'l');
    await ctx.remount({ readonly: true });
    await expectAllRofs(proc, '.', caps, true);
    assert.equal(dec(await readFile(proc, 'f')), 'kept');
    // A read on a read-only mount changes no time (and does not fail trying to).
    const before = await proc.stat('f');
    await readFile(proc, 'f');
    assert.deepEqual((await proc.stat('f')).atime, before.atime);
    const fd = await proc.open('f', O_RDONLY);
    await proc.fsync(fd);
    await proc.close(fd);
    await proc.sync();
    await ctx.remount({ readonly: false });
    await writeFile(proc, 'f', 'changed');
    await proc.rename('f', 'g');
    assert.equal(dec(await readFile(proc, 'g')), 'changed');
  }, { persistent: true }),

  tcase('persistence: files, directories, links and attributes survive a remount', async (ctx) => {
    const { proc, caps } = ctx;
    await proc.mkdir('dir');
    await proc.mkdir('dir/sub');
    await writeFile(proc, 'dir/small', 'small file');
    const bigSize = capSize(ctx, 700_000);
    const hole = capSize(ctx, 3_000_000);
    await writeFile(proc, 'dir/sub/big', pattern(bigSize, 6));
    const holey = await proc.open('holey', O_RDWR | O_CREAT, 0o644);
    await proc.pwrite(holey, enc('tail'), hole);
    await proc.close(holey);
    if (caps.symlinks !== false) await proc.symlink('dir/small', 'link');
    if (caps.hardlinks !== false) await proc.link('dir/small', 'hard');
    if (caps.permissions !== false) {
      await proc.chmod('dir/small', 0o600);
      await proc.chown('dir/small', 123, 456);
    }
    await proc.utimens('dir/small', { sec: 1_300_000_000, nsec: 0 }, { sec: 1_400_000_000, nsec: 0 });
    const before = await proc.stat('dir/small');
    await proc.sync();
    await ctx.remount();
    assert.deepEqual(await names(proc, 'dir'), ['small', 'sub']);
    assert.equal(dec(await readFile(proc, 'dir/small')), 'small file');
    sameBytes(await readFile(proc, 'dir/sub/big'), pattern(bigSize, 6), 'big file');
    const h = await readFile(proc, 'holey');
    assert.equal(h.length, hole + 4);
    assert.ok(h.subarray(0, hole).every((b) => b === 0));
    assert.equal(dec(h.subarray(hole)), 'tail');
    const after = await proc.stat('dir/small');
    assert.equal(after.ino, before.ino);
    assert.equal(after.mode, before.mode);
    assert.equal(after.uid, before.uid);
    assert.equal(after.gid, before.gid);
    assert.deepEqual(after.mtime, before.mtime);
    if (caps.symlinks !== false) assert.equal(await proc.readlink('link'), 'dir/small');
    if (caps.hardlinks !== false) assert.equal((await proc.stat('hard')).nlink, 2);
  }, { persistent: true }),

  tcase('persistence: removals and renames survive a remount', async (ctx) => {
    const { proc } = ctx;
    for (let i = 0; i < 30; i++) await writeFile(proc, `f${i}`, `${i}`);
    await proc.mkdir('d');
    for (let i = 0; i < 30; i += 3) await proc.unlink(`f${i}`);
    for (let i = 1; i < 30; i += 3) await proc.rename(`f${i}`, `d/g${i}`);
    await ctx.remount();
    const top = await names(proc, '.');
    assert.deepEqual(top, ['d', ...Array.from({ length: 10 }, (_, k) => `f${k * 3 + 2}`)].sort());
    assert.equal((await names(proc, 'd')).length, 10);
    assert.equal(dec(await readFile(proc, 'd/g4')), '4');
  }, { persistent: true }),

  tcase('persistence: a file unlinked while open is gone after close and remount', async (ctx) => {
    const { proc } = ctx;
    const before = await proc.statvfs('.');
    await writeFile(proc, 'f', pattern(capSize(ctx, 1024 * 1024), 8));
    const fd = await proc.open('f', O_RDONLY);
    await proc.unlink('f');
    await proc.close(fd);
    await ctx.remount();
    assert.deepEqual(await names(proc, '.'), []);
    const after = await proc.statvfs('.');
    assert.equal(after.bfree, before.bfree, 'the orphan was freed');
  }, { persistent: true }),

  tcase('mount: unmount is EBUSY while a process is inside or a directory is open', async ({ proc, kernel, mnt }) => {
    const admin = kernel.newProc();
    await fails(admin.unmount(mnt), 'EBUSY', 'cwd inside');
    await proc.chdir('/');
    const fd = await proc.open(mnt, O_RDONLY);
    await fails(admin.unmount(mnt), 'EBUSY', 'open directory');
    await proc.close(fd);
    await proc.chdir(mnt);
    await fails(admin.unmount('/'), 'EINVAL', 'the root is not a mount to unmount here');
    await admin.exit();
  }, { readsOnly: true }),

  tcase('mount: an unmounted and remounted file system answers again', async (ctx) => {
    const { proc } = ctx;
    await writeFile(proc, 'before', 'x');
    await ctx.remount();
    await ctx.remount({ readonly: true });
    await ctx.remount();
    const st = await proc.statvfs('.');
    assert.equal((st.flag ?? 0) & 1, 0);
    await writeFile(proc, 'after', 'y');
    assert.equal(dec(await readFile(proc, 'after')), 'y');
  }),

  tcase('persistence: a directory churned by many adds and removes reads back after a remount', async (ctx) => {
    const { proc, caps } = ctx;
    await proc.mkdir('churn');
    const live = new Set<string>();
    const max = Math.min(caps.nameMax ?? 255, 40);
    for (let round = 0; round < 6; round++) {
      for (let i = 0; i < 60; i++) {
        const name = `r${round}-${'n'.repeat(i % max)}-${i}`.slice(0, max);
        if (live.has(name)) continue;
        await writeFile(proc, `churn/${name}`, name);
        live.add(name);
      }
      let k = 0;
      for (const name of [...live]) if (k++ % 3 !== round % 3) {
        await proc.unlink(`churn/${name}`);
        live.delete(name);
      }
    }
    await proc.sync();
    await ctx.remount();
    assert.deepEqual(await names(proc, 'churn'), [...live].sort());
    for (const name of live) assert.equal(dec(await readFile(proc, `churn/${name}`)), name);
    for (const name of live) await proc.unlink(`churn/${name}`);
    await proc.rmdir('churn');
  }, { persistent: true }),
];
