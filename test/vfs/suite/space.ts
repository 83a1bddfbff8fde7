/**
 * statvfs, sync and a full file system (NetBSD t_vfsops tstatvfs/tsync and
 * t_full fillfs): numbers that are consistent and move with the data,
 * ENOSPC when the space runs out, and a file system that is still usable —
 * and consistent for the profile's checker — after it was full.
 */

import assert from 'node:assert/strict';
import { O_CREAT, O_RDWR, O_WRONLY } from '../../../src/vfs/fcntl.js';
import { capSize, dec, exists, fails, pattern, readFile, sameBytes, tcase, touch, writeFile, type Case } from './util.js';
import type { SyscallApi } from '../../../src/vfs/syscalls.js';

/**
 * Writes `chunk` after `chunk` into files `${prefix}0`, `${prefix}1`... (a new file whenever one reaches the
 * format's largest size) until ENOSPC. Returns each file with the bytes written to it.
 */
async function fillUp(proc: SyscallApi, prefix: string, chunk: Uint8Array): Promise<[string, number][]> {
  const files: [string, number][] = [];
  for (let k = 0; k < 100_000; k++) {
    const name = `${prefix}${k}`;
    let fd: number;
    try {
      fd = await proc.open(name, O_WRONLY | O_CREAT, 0o644);
    } catch (e) {
      assert.equal((e as { code?: string }).code, 'ENOSPC', String(e));
      return files;
    }
    let written = 0;
    let why = '';
    try {
      for (let i = 0; i < 100_000 && !why; i++) {
        try {
          // A short write means the file or the file system is at its end: the next write says which.
          const n = await proc.write(fd, chunk);
          written += n;
          assert.ok(n > 0, 'write made no progress without an error');
        } catch (e) {
          why = String((e as { code?: string }).code);
          assert.ok(why === 'ENOSPC' || why === 'EFBIG', String(e));
        }
      }
    } finally {
      await proc.close(fd);
    }
    files.push([name, written]);
    if (why !== 'EFBIG') return files;
  }
  assert.fail('the file system never filled up');
}

export const cases: Case[] = [
  tcase('statvfs: consistent numbers and the read-only flag on any mount', async ({ proc, caps, mnt }) => {
    const s = await proc.statvfs(mnt);
    assert.ok(s.bsize > 0 && s.frsize > 0, 'block sizes');
    assert.ok(s.blocks > 0 && s.bfree <= s.blocks && s.bavail <= s.bfree, 'block counts');
    assert.ok(s.ffree <= s.files && s.favail <= s.ffree, 'inode counts');
    assert.equal((s.flag ?? 0) & 1, caps.readonly === true ? 1 : 0, 'ST_RDONLY');
    await proc.sync();
    assert.equal((await proc.statvfs(`${mnt}/.`)).fsid, s.fsid);
  }, { readsOnly: true }),

  tcase('statvfs: the numbers are consistent', async ({ proc, caps }) => {
    const s = await proc.statvfs('.');
    assert.ok(s.bsize > 0 && s.frsize > 0, 'block sizes');
    assert.ok(s.blocks > 0, 'blocks');
    assert.ok(s.bfree <= s.blocks, 'bfree <= blocks');
    assert.ok(s.bavail <= s.bfree, 'bavail <= bfree');
    assert.ok(s.ffree <= s.files, 'ffree <= files');
    assert.ok(s.favail <= s.ffree, 'favail <= ffree');
    assert.equal(s.namemax, caps.nameMax ?? 255);
    assert.equal(s.flag ?? 0, 0, 'not read-only');
    const fd = await proc.open('.', 0);
    assert.deepEqual(await proc.fstatvfs(fd), s);
    await proc.close(fd);
    await proc.mkdir('sub');
    assert.equal((await proc.statvfs('sub')).fsid, s.fsid, 'same file system below');
    assert.notEqual((await proc.statvfs('/')).fsid, s.fsid, 'another file system above');
  }),

  tcase('statvfs: free space goes down as data is written and comes back when it is removed', async (ctx) => {
    const { proc } = ctx;
    const before = await proc.statvfs('.');
    const size = capSize(ctx, 2 * 1024 * 1024);
    await writeFile(proc, 'f', pattern(size, 1));
    await proc.sync();
    const during = await proc.statvfs('.');
    const used = (before.bfree - during.bfree) * before.frsize;
    assert.ok(used >= size, `${used} bytes used for ${size} bytes of data`);
    assert.ok(used <= size * 1.25 + 256 * 1024, `${used} bytes used for ${size} bytes of data (overhead)`);
    await proc.unlink('f');
    await proc.sync();
    const after = await proc.statvfs('.');
    assert.equal(after.bfree, before.bfree, 'all blocks freed');
  }),

  tcase('statvfs: free inodes go down with each file and come back', async ({ proc }) => {
    const before = await proc.statvfs('.');
    for (let i = 0; i < 20; i++) await touch(proc, `f${i}`);
    await proc.sync();
    const during = await proc.statvfs('.');
    if (before.files > 0) assert.ok(before.ffree - during.ffree >= 20 || during.files !== before.files, 'inodes used');
    for (let i = 0; i < 20; i++) await proc.unlink(`f${i}`);
    await proc.sync();
    assert.equal((await proc.statvfs('.')).ffree, before.ffree);
  }),

  tcase('sync: data and names written before sync read back after it', async (ctx) => {
    const { proc } = ctx;
    const size = capSize(ctx, 300_000);
    await proc.mkdir('d');
    await writeFile(proc, 'd/f', pattern(size, 2));
    await proc.sync();
    await proc.sync();
    sameBytes(await readFile(proc, 'd/f'), pattern(size, 2), 'after sync');
    const fd = await proc.open('d/f', O_RDWR);
    await proc.fsync(fd);
    await proc.close(fd);
  }),

  tcase('full: writing until ENOSPC, then the file system is still usable', async (ctx) => {
    const { proc } = ctx;
    const chunk = pattern(capSize(ctx, 1024 * 1024), 3);
    const files = await fillUp(proc, 'filler', chunk);
    await fails(writeFile(proc, 'one-more', chunk), 'ENOSPC');
    // What was written is intact.
    for (const [name, len] of files) {
      assert.ok((await proc.stat(name)).size >= len, `${name} covers what was written`);
    }
    const [firstName] = files[0]!;
    const head = await readFile(proc, firstName);
    sameBytes(head.subarray(0, chunk.length), chunk, 'first chunk');
    for (const [name] of files) await proc.unlink(name);
    if (await exists(proc, 'one-more')) await proc.unlink('one-more');
    await proc.sync();
    // Usable again: new files and directories.
    await proc.mkdir('after');
    const again = pattern(capSize(ctx, 1024 * 1024), 4);
    await writeFile(proc, 'after/f', again);
    sameBytes(await readFile(proc, 'after/f'), again, 'written after ENOSPC');
  }, { size: 8 * 1024 * 1024 }),

  tcase('full: small files fill the last free space, then cleanup', async (ctx) => {
    const { proc } = ctx;
    // Fill nearly everything with big files, free about 512 KiB, then fill that with small files.
    const files = await fillUp(proc, 'big', pattern(capSize(ctx, 1024 * 1024), 5));
    let toFree = 512 * 1024;
    for (const [name, len] of files.reverse()) {
      if (toFree <= 0) break;
      const cut = Math.min(len, toFree);
      await proc.truncate(name, len - cut);
      toFree -= cut;
    }
    await proc.mkdir('d');
    let n = 0;
    let failed = '';
    for (; n < 5000; n++) {
      try {
        await writeFile(proc, `d/f${n}`, pattern(3000, n));
      } catch (e) {
        failed = String((e as { code?: string }).code);
        break;
      }
    }
    assert.equal(failed, 'ENOSPC', `stopped after ${n} files`);
    assert.ok(n >= 20, `only ${n} small files fit in 512 KiB`);
    for (let i = 0; i < n; i += Math.max(1, Math.floor(n / 20))) sameBytes(await readFile(proc, `d/f${i}`), pattern(3000, i), `file ${i}`);
    // A partially made last file may exist: remove everything there is.
    for (const e of await proc.readdir('d')) await proc.unlink(`d/${e.name}`);
    await proc.rmdir('d');
    for (const [name] of files) await proc.unlink(name);
    await writeFile(proc, 'ok', 'usable');
    assert.equal(dec(await readFile(proc, 'ok')), 'usable');
  }, { size: 8 * 1024 * 1024 }),
];
