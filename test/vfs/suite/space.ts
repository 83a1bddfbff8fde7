/**
 * statvfs, sync and a full file system (NetBSD t_vfsops tstatvfs/tsync and
 * t_full fillfs): numbers that are consistent and move with the data,
 * ENOSPC when the space runs out, and a file system that is still usable —
 * and consistent for the profile's checker — after it was full.
 */

import assert from 'node:assert/strict';
import { O_CREAT, O_RDWR, O_WRONLY } from '../../../src/vfs/fcntl.js';
import { dec, fails, pattern, readFile, sameBytes, tcase, touch, writeFile, type Case } from './util.js';

export const cases: Case[] = [
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

  tcase('statvfs: free space goes down as data is written and comes back when it is removed', async ({ proc }) => {
    const before = await proc.statvfs('.');
    const size = 2 * 1024 * 1024;
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

  tcase('sync: data and names written before sync read back after it', async ({ proc }) => {
    await proc.mkdir('d');
    await writeFile(proc, 'd/f', pattern(300_000, 2));
    await proc.sync();
    await proc.sync();
    sameBytes(await readFile(proc, 'd/f'), pattern(300_000, 2), 'after sync');
    const fd = await proc.open('d/f', O_RDWR);
    await proc.fsync(fd);
    await proc.close(fd);
  }),

  tcase('full: writing until ENOSPC, then the file system is still usable', async ({ proc }) => {
    const chunk = pattern(1024 * 1024, 3);
    const fd = await proc.open('filler', O_WRONLY | O_CREAT, 0o644);
    let written = 0;
    let full = false;
    for (let i = 0; i < 4096 && !full; i++) {
      try {
        const n = await proc.write(fd, chunk);
        written += n;
        if (n < chunk.length) full = true;
      } catch (e) {
        assert.equal((e as { code?: string }).code, 'ENOSPC', String(e));
        full = true;
      }
    }
    assert.ok(full, 'the file system filled up');
    await fails(proc.write(fd, chunk), 'ENOSPC');
    await proc.close(fd);
    const st = await proc.stat('filler');
    assert.ok(st.size >= written, 'the size covers what was written');
    // What was written is intact.
    const head = await readFile(proc, 'filler');
    sameBytes(head.subarray(0, chunk.length), chunk, 'first chunk');
    sameBytes(head.subarray(written - chunk.length, written), chunk, 'last whole chunk');
    await proc.unlink('filler');
    await proc.sync();
    // Usable again: new files and directories.
    await proc.mkdir('after');
    await writeFile(proc, 'after/f', pattern(1024 * 1024, 4));
    sameBytes(await readFile(proc, 'after/f'), pattern(1024 * 1024, 4), 'written after ENOSPC');
  }, { size: 8 * 1024 * 1024 }),

  tcase('full: small files fill the last free space, then cleanup', async ({ proc }) => {
    // Fill nearly everything with one big file, leave about 512 KiB, then fill that with small files.
    const chunk = pattern(1024 * 1024, 5);
    const fd = await proc.open('big', O_WRONLY | O_CREAT, 0o644);
    let written = 0;
    for (let i = 0; i < 4096; i++) {
      try {
        const n = await proc.write(fd, chunk);
        written += n;
        if (n < chunk.length) break;
      } catch (e) {
        assert.equal((e as { code?: string }).code, 'ENOSPC', String(e));
        break;
      }
    }
    await proc.close(fd);
    await proc.truncate('big', Math.max(0, written - 512 * 1024));
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
    await proc.unlink('big');
    await writeFile(proc, 'ok', 'usable');
    assert.equal(dec(await readFile(proc, 'ok')), 'usable');
  }, { size: 8 * 1024 * 1024 }),
];
