/**
 * File I/O (NetBSD tests/fs/vfs t_io: holywrite, extendfile,
 * extendfile_append, overwrite512, overwrite64k, overwrite_trunc,
 * shrinkfile, read_after_unlink, wrrd_after_unlink), plus offsets, append,
 * dup'ed descriptors, sparse files and large transfers. Expected contents
 * come from a plain byte-array model of the file kept beside it.
 */

import assert from 'node:assert/strict';
import { O_APPEND, O_CREAT, O_RDONLY, O_RDWR, O_TRUNC, O_WRONLY, SEEK_CUR, SEEK_END, SEEK_SET } from '../../../src/vfs/fcntl.js';
import type { SyscallApi } from '../../../src/vfs/syscalls.js';
import { capSize, dec, enc, fails, pattern, readFd, readFile, sameBytes, tcase, writeFile, type Case } from './util.js';

/** A file's expected contents, grown and cut like the real one. */
class Model {
  bytes = new Uint8Array(0);
  write(data: Uint8Array, off: number): void {
    if (off + data.length > this.bytes.length) {
      const b = new Uint8Array(off + data.length);
      b.set(this.bytes);
      this.bytes = b;
    }
    this.bytes.set(data, off);
  }
  truncate(size: number): void {
    const b = new Uint8Array(size);
    b.set(this.bytes.subarray(0, Math.min(size, this.bytes.length)));
    this.bytes = b;
  }
}

async function pwriteAll(p: SyscallApi, fd: number, data: Uint8Array, off: number): Promise<void> {
  let done = 0;
  while (done < data.length) {
    const n = await p.pwrite(fd, data.subarray(done), off + done);
    assert.ok(n > 0);
    done += n;
  }
}

async function overwriteAt(p: SyscallApi, boundary: number): Promise<void> {
  // A file of three "boundary" units; overwrite each boundary with a span crossing it.
  const m = new Model();
  const fd = await p.open('ow', O_RDWR | O_CREAT, 0o644);
  const base = pattern(boundary * 3, 7);
  await pwriteAll(p, fd, base, 0);
  m.write(base, 0);
  let seed = 100;
  for (const at of [boundary - 1, boundary, boundary + 1, 2 * boundary - 3, 1, 0]) {
    for (const len of [1, 2, 511, 512, 513, boundary]) {
      const d = pattern(len, seed++);
      await pwriteAll(p, fd, d, at);
      m.write(d, at);
    }
  }
  sameBytes(await readFd(p, fd), m.bytes, `overwrites around ${boundary}`);
  await p.close(fd);
}

export const cases: Case[] = [
  tcase('io: a write with a hole reads back zeros in the hole (holywrite)', async ({ proc }) => {
    const fd = await proc.open('h', O_RDWR | O_CREAT, 0o644);
    await pwriteAll(proc, fd, enc('start'), 0);
    await pwriteAll(proc, fd, enc('end'), 100_000);
    const all = await readFd(proc, fd);
    assert.equal(all.length, 100_003);
    assert.equal(dec(all.subarray(0, 5)), 'start');
    assert.ok(all.subarray(5, 100_000).every((b) => b === 0), 'hole reads as zeros');
    assert.equal(dec(all.subarray(100_000)), 'end');
    await proc.close(fd);
  }),

  tcase('io: sparse files take less space than their size', async (ctx) => {
    const { proc } = ctx;
    const off = capSize(ctx, 8 * 1024 * 1024);
    const fd = await proc.open('s', O_RDWR | O_CREAT, 0o644);
    await pwriteAll(proc, fd, enc('x'), off);
    const st = await proc.fstat(fd);
    await proc.close(fd);
    assert.equal(st.size, off + 1);
    assert.ok(st.blocks * 512 < off / 2, `blocks ${st.blocks} for one written byte at ${off}`);
  }, { requires: ['sparse'] }),

  tcase('io: extending a file by writes past the end (extendfile)', async ({ proc }) => {
    const m = new Model();
    const fd = await proc.open('e', O_RDWR | O_CREAT, 0o644);
    let off = 0;
    for (let i = 0; i < 40; i++) {
      const d = pattern(i * 97 + 1, i);
      await pwriteAll(proc, fd, d, off);
      m.write(d, off);
      off += d.length + (i % 5 === 0 ? 3000 : 0);
    }
    sameBytes(await readFd(proc, fd), m.bytes, 'extended file');
    await proc.close(fd);
  }),

  tcase('io: extending with O_APPEND writes at the end whatever the offset (extendfile_append)', async ({ proc }) => {
    await writeFile(proc, 'a', 'base');
    const fd = await proc.open('a', O_WRONLY | O_APPEND);
    await proc.lseek(fd, 0, SEEK_SET);
    await proc.write(fd, enc('-one'));
    await proc.pwrite(fd, enc('-two'), 0);
    assert.equal(await proc.lseek(fd, 0, SEEK_CUR), 12);
    await proc.close(fd);
    assert.equal(dec(await readFile(proc, 'a')), 'base-one-two');
  }),

  tcase('io: two appenders interleave without losing data', async ({ proc, kernel }) => {
    const other = kernel.newProc();
    await other.chdir('/mnt');
    const a = await proc.open('log', O_WRONLY | O_CREAT | O_APPEND, 0o644);
    const b = await other.open('log', O_WRONLY | O_APPEND);
    const writes: Promise<number>[] = [];
    for (let i = 0; i < 50; i++) {
      writes.push(proc.write(a, enc('A'.repeat(100))));
      writes.push(other.write(b, enc('B'.repeat(100))));
    }
    await Promise.all(writes);
    await proc.close(a);
    await other.close(b);
    await other.exit();
    const all = dec(await readFile(proc, 'log'));
    assert.equal(all.length, 10_000);
    assert.equal(all.replace(/A/g, '').length, 5000);
    for (let i = 0; i < all.length; i += 100) assert.ok(/^(A{100}|B{100})$/.test(all.slice(i, i + 100)), `record at ${i}`);
  }),

  tcase('io: overwrites across 512-byte boundaries (overwrite512)', async ({ proc }) => {
    await overwriteAt(proc, 512);
  }),

  tcase('io: overwrites across 64 KiB boundaries (overwrite64k)', async ({ proc }) => {
    await overwriteAt(proc, 65536);
  }),

  tcase('io: overwrite after truncate reads the new data only (overwrite_trunc)', async ({ proc }) => {
    await writeFile(proc, 'f', pattern(100_000, 1));
    const fd = await proc.open('f', O_RDWR | O_TRUNC);
    assert.equal((await proc.fstat(fd)).size, 0);
    await proc.write(fd, enc('short'));
    await proc.close(fd);
    assert.equal(dec(await readFile(proc, 'f')), 'short');
  }),

  tcase('io: shrinking then growing reads zeros where old data was (shrinkfile)', async (ctx) => {
    const { proc } = ctx;
    const m = new Model();
    await writeFile(proc, 'f', pattern(200_000, 3));
    m.write(pattern(200_000, 3), 0);
    // Growing right after a cut into the middle of a block must not bring the cut bytes back.
    for (const want of [150_000, 65_537, 100_000, 65_536, 4097, 9000, 513, 1, 700, 0, 70_000, 1_000_000, 3, 5000]) {
      const size = capSize(ctx, want);
      await proc.truncate('f', size);
      m.truncate(size);
      assert.equal((await proc.stat('f')).size, size);
      sameBytes(await readFile(proc, 'f'), m.bytes, `after truncate to ${size}`);
    }
  }),

  tcase('io: ftruncate grows with a hole and needs a writable descriptor', async ({ proc }) => {
    await writeFile(proc, 'f', 'abc');
    const fd = await proc.open('f', O_RDWR);
    await proc.ftruncate(fd, 10);
    const all = await readFd(proc, fd);
    assert.deepEqual([...all], [97, 98, 99, 0, 0, 0, 0, 0, 0, 0]);
    await proc.close(fd);
    const rd = await proc.open('f', O_RDONLY);
    await fails(proc.ftruncate(rd, 0), 'EINVAL');
    await proc.close(rd);
    await fails(proc.truncate('f', -1), 'EINVAL');
  }),

  tcase('io: reading an unlinked open file (read_after_unlink)', async ({ proc }) => {
    const data = pattern(70_000, 9);
    await writeFile(proc, 'f', data);
    const fd = await proc.open('f', O_RDONLY);
    await proc.unlink('f');
    sameBytes(await readFd(proc, fd), data, 'data after unlink');
    await proc.close(fd);
  }),

  tcase('io: writing then reading an unlinked open file (wrrd_after_unlink)', async ({ proc, caps }) => {
    const fd = await proc.open('f', O_RDWR | O_CREAT, 0o644);
    await proc.unlink('f');
    const data = pattern(100_000, 4);
    await pwriteAll(proc, fd, data, 0);
    sameBytes(await readFd(proc, fd), data, 'data written after unlink');
    const before = await proc.statvfs('.');
    await proc.close(fd);
    const after = await proc.statvfs('.');
    if (caps.readonly !== true) assert.ok(after.bfree >= before.bfree, 'closing the last descriptor frees the blocks');
  }),

  tcase('io: read and write follow the file offset; lseek SET/CUR/END', async ({ proc }) => {
    const fd = await proc.open('f', O_RDWR | O_CREAT, 0o644);
    await proc.write(fd, enc('0123456789'));
    assert.equal(await proc.lseek(fd, 0, SEEK_CUR), 10);
    assert.equal(await proc.lseek(fd, 2, SEEK_SET), 2);
    const b = new Uint8Array(3);
    assert.equal(await proc.read(fd, b), 3);
    assert.equal(dec(b), '234');
    assert.equal(await proc.lseek(fd, -2, SEEK_END), 8);
    assert.equal(await proc.read(fd, b), 2);
    assert.equal(await proc.read(fd, b), 0, 'end of file');
    assert.equal(await proc.lseek(fd, 5, SEEK_END), 15);
    await proc.write(fd, enc('X'));
    assert.equal((await proc.fstat(fd)).size, 16);
    await fails(proc.lseek(fd, -100, SEEK_SET), 'EINVAL');
    await fails(proc.lseek(fd, 0, 7), 'EINVAL');
    // pread/pwrite leave the offset alone.
    await proc.lseek(fd, 1, SEEK_SET);
    await proc.pread(fd, b, 5);
    await proc.pwrite(fd, enc('p'), 0);
    assert.equal(await proc.lseek(fd, 0, SEEK_CUR), 1);
    await proc.close(fd);
    const all = await readFile(proc, 'f');
    assert.equal(dec(all.subarray(0, 10)), 'p123456789');
    assert.deepEqual([...all.subarray(10, 15)], [0, 0, 0, 0, 0]);
  }),

  tcase('io: dup shares the offset; separate opens do not', async ({ proc }) => {
    await writeFile(proc, 'f', 'abcdef');
    const a = await proc.open('f', O_RDONLY);
    const b = await proc.dup(a);
    const c = await proc.open('f', O_RDONLY);
    const one = new Uint8Array(1);
    await proc.read(a, one);
    await proc.read(b, one);
    assert.equal(dec(one), 'b');
    await proc.read(c, one);
    assert.equal(dec(one), 'a');
    const d = await proc.dup2(a, 40);
    assert.equal(d, 40);
    await proc.read(40, one);
    assert.equal(dec(one), 'c');
    await proc.close(a);
    await proc.read(b, one);
    assert.equal(dec(one), 'd');
    for (const fd of [b, c, 40]) await proc.close(fd);
    await fails(proc.close(a), 'EBADF');
  }),

  tcase('io: access modes: reading a write-only and writing a read-only descriptor is EBADF', async ({ proc }) => {
    await writeFile(proc, 'f', 'x');
    const w = await proc.open('f', O_WRONLY);
    await fails(proc.read(w, new Uint8Array(1)), 'EBADF');
    await proc.close(w);
    const r = await proc.open('f', O_RDONLY);
    await fails(proc.write(r, enc('y')), 'EBADF');
    await fails(proc.pwrite(r, enc('y'), 0), 'EBADF');
    await proc.close(r);
    assert.equal(dec(await readFile(proc, 'f')), 'x');
  }),

  tcase('io: a 4 MiB file in large and odd-sized transfers', async (ctx) => {
    const { proc } = ctx;
    const data = pattern(capSize(ctx, 4 * 1024 * 1024 + 333), 5);
    const fd = await proc.open('big', O_RDWR | O_CREAT, 0o644);
    let off = 0;
    const sizes = [1, 4096, 65536, 1048576, 12345, 511];
    for (let i = 0; off < data.length; i++) {
      const n = Math.min(sizes[i % sizes.length]!, data.length - off);
      await pwriteAll(proc, fd, data.subarray(off, off + n), off);
      off += n;
    }
    assert.equal((await proc.fstat(fd)).size, data.length);
    sameBytes(await readFd(proc, fd), data, 'big file');
    const mid = new Uint8Array(100_000);
    const at = data.length >> 1;
    const n = await proc.pread(fd, mid, at);
    assert.equal(n, Math.min(100_000, data.length - at));
    sameBytes(mid.subarray(0, n), data.subarray(at, at + n), 'middle');
    await proc.close(fd);
  }),

  tcase('io: a zero-length write changes nothing; reads past the end return 0', async ({ proc }) => {
    await writeFile(proc, 'f', 'abc');
    const fd = await proc.open('f', O_RDWR);
    assert.equal(await proc.pwrite(fd, new Uint8Array(0), 100), 0);
    assert.equal((await proc.fstat(fd)).size, 3);
    assert.equal(await proc.pread(fd, new Uint8Array(10), 3), 0);
    assert.equal(await proc.pread(fd, new Uint8Array(10), 1000), 0);
    assert.equal(await proc.pread(fd, new Uint8Array(10), 1), 2);
    await proc.close(fd);
  }),

  tcase('io: fsync of a written file succeeds and keeps the data', async ({ proc }) => {
    const fd = await proc.open('f', O_RDWR | O_CREAT, 0o644);
    await proc.write(fd, pattern(50_000, 2));
    await proc.fsync(fd);
    sameBytes(await readFd(proc, fd), pattern(50_000, 2), 'after fsync');
    await proc.close(fd);
  }),

  tcase('io: writes past the largest file size are EFBIG', async ({ proc, kernel, mnt, caps }) => {
    const mp = kernel.mounts.find((m) => m.path === mnt);
    assert.ok(mp, 'the mount is in the table');
    const max = caps.maxFileSize ?? mp.maxFileSize;
    const fd = await proc.open('f', O_RDWR | O_CREAT, 0o644);
    await fails(proc.pwrite(fd, enc('x'), max), 'EFBIG');
    await fails(proc.ftruncate(fd, max + 1), 'EFBIG');
    assert.equal((await proc.fstat(fd)).size, 0);
    await proc.close(fd);
  }),

  tcase('io: pieces at block-map boundaries (direct, indirect, double indirect) read back, holes as zeros', async (ctx) => {
    const { proc } = ctx;
    // Boundaries of ext2/ffs block maps for 1, 2 and 4 KiB blocks, and FAT cluster-chain lengths.
    const KiB = 1024;
    const offsets = [0, 12 * KiB, 48 * KiB, 96 * KiB, 268 * KiB, 1036 * KiB, 4 * 1024 * KiB + 48 * KiB, 16 * 1024 * KiB + 200 * KiB, 64 * 1024 * KiB + 268 * KiB]
      .map((o) => capSize(ctx, o))
      .filter((o, i, all) => all.indexOf(o) === i);
    const m = new Model();
    const fd = await proc.open('map', O_RDWR | O_CREAT, 0o644);
    for (const [i, off] of offsets.entries()) {
      const piece = pattern(3000, 50 + i);
      const at = Math.max(0, off - 1500);
      await pwriteAll(proc, fd, piece, at);
      m.write(piece, at);
    }
    await proc.close(fd);
    const check = async (when: string): Promise<void> => {
      const rfd = await proc.open('map', O_RDONLY);
      assert.equal((await proc.fstat(rfd)).size, m.bytes.length, `size ${when}`);
      for (const off of offsets) {
        const at = Math.max(0, off - 4000);
        const len = Math.min(8000, m.bytes.length - at);
        const buf = new Uint8Array(len);
        assert.equal(await proc.pread(rfd, buf, at), len);
        sameBytes(buf, m.bytes.subarray(at, at + len), `around ${off} ${when}`);
      }
      await proc.close(rfd);
    };
    await check('before remount');
    if (ctx.profile.component.needsDevice) {
      await proc.sync();
      await ctx.remount();
      await check('after remount');
    }
    await proc.truncate('map', capSize(ctx, 300 * KiB));
    m.truncate(capSize(ctx, 300 * KiB));
    await proc.truncate('map', capSize(ctx, 5 * 1024 * KiB));
    m.truncate(capSize(ctx, 5 * 1024 * KiB));
    sameBytes(await readFile(proc, 'map'), m.bytes, 'after cut and regrow');
  }, { requires: ['sparse'] }),
];
