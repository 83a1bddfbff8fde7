/**
 * The heavy multi-extent acceptance check, kept out of the regular suite
 * (xorriso writes the whole 4.4 GiB image, about a minute and 4.4 GiB of
 * temporary disk). Run it by hand:
 *
 *   node --import tsx test/fs/cd9660/multiextent-4g.ts
 *
 * It makes a sparse 4.7 GB file with marks near the start, around each 4 GiB
 * extent boundary and at the end, builds an ISO with
 * `xorriso -as mkisofs -R -J -iso-level 3` (a multi-extent file, ECMA-119
 * §6.5.1), mounts it through the kernel and compares every byte of the file
 * with the source file, and its Rock Ridge attributes with lstat. Exits 1 on
 * any difference.
 */

import assert from 'node:assert/strict';
import { closeSync, lstatSync, mkdirSync, openSync, readSync, truncateSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { run, tempDir } from '../../../src/testing/tools.js';
import { mountIso } from './util.js';
import { O_RDONLY } from '../../../src/vfs/fcntl.js';

const SIZE = 4_700_000_000;
const MARKS = [0, 4096, 0xfffff800 - 3, 0xfffff800, 0xfffff800 + 5, 2 * 0xfffff800 - 7, SIZE - 4];

async function main(): Promise<void> {
  const t = await tempDir('cd9660-4g-');
  try {
    const src = join(t.path, 'src');
    mkdirSync(src);
    const file = join(src, 'huge.bin');
    const fd = openSync(file, 'w');
    truncateSync(file, SIZE);
    for (const m of MARKS) writeSync(fd, Buffer.from(`M${m}`.slice(0, Math.min(12, SIZE - m))), 0, undefined, m);
    closeSync(fd);
    const iso = join(t.path, 'big.iso');
    const t0 = Date.now();
    await run('xorriso', ['-as', 'mkisofs', '-R', '-J', '-iso-level', '3', '-o', iso, src]);
    console.log(`xorriso: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    const listing = (await run('isoinfo', ['-l', '-i', iso])).stdout.toString();
    assert.ok((listing.match(/HUGE\.BIN/gi) ?? []).length >= 2, 'the ISO must hold a multi-extent file');

    const { kernel, proc } = await mountIso(iso);
    try {
      const st = await proc.stat('/mnt/huge.bin');
      const host = lstatSync(file);
      assert.equal(st.size, SIZE);
      assert.equal(st.mode & 0o7777, host.mode & 0o7777);
      assert.equal(st.mtime.sec, Math.floor(host.mtimeMs / 1000));
      const kfd = await proc.open('/mnt/huge.bin', O_RDONLY);
      const hfd = openSync(file, 'r');
      const CH = 8 * 1024 * 1024;
      const a = new Uint8Array(CH), b = new Uint8Array(CH);
      const t1 = Date.now();
      for (let off = 0; off < SIZE; off += CH) {
        const n = await proc.pread(kfd, a, off);
        const m = readSync(hfd, b, 0, CH, off);
        assert.equal(n, m, `length at ${off}`);
        if (Buffer.compare(a.subarray(0, n), b.subarray(0, m)) !== 0) throw new Error(`content differs in chunk at ${off}`);
      }
      // Reads that straddle an extent boundary.
      for (const m of MARKS) {
        const x = new Uint8Array(64), y = new Uint8Array(64);
        const at = Math.max(0, m - 30);
        const n = await proc.pread(kfd, x, at);
        readSync(hfd, y, 0, 64, at);
        assert.deepEqual(x.subarray(0, n), y.subarray(0, n), `mark ${m}`);
      }
      console.log(`read 4.7 GB through the kernel in ${((Date.now() - t1) / 1000).toFixed(1)} s: identical`);
      closeSync(hfd);
      await proc.close(kfd);
    } finally {
      await kernel.halt();
    }
  } finally {
    await t.cleanup();
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
