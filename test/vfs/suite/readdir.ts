/**
 * Directory reading (t_vnops read_directory and the readdir-while-changing
 * cases): '.' and '..' with the right inode numbers, d_type, completeness
 * in small batches, and entries neither added nor removed during a walk
 * seen exactly once while others come and go.
 */

import assert from 'node:assert/strict';
import { O_DIRECTORY, O_RDONLY, SEEK_SET } from '../../../src/vfs/fcntl.js';
import type { Dirent } from '../../../src/vfs/syscalls.js';
import { fails, tcase, touch, type Case } from './util.js';
import type { SyscallApi } from '../../../src/vfs/syscalls.js';

async function walk(p: SyscallApi, dir: string, batch: number, between?: (round: number) => Promise<void>): Promise<Dirent[]> {
  const fd = await p.open(dir, O_RDONLY | O_DIRECTORY);
  const out: Dirent[] = [];
  try {
    for (let round = 0; round < 100_000; round++) {
      const ents = await p.getdents(fd, batch);
      if (ents.length === 0) return out;
      out.push(...ents);
      if (between) await between(round);
    }
    assert.fail('getdents never reached the end');
  } finally {
    await p.close(fd);
  }
}

export const cases: Case[] = [
  tcase("readdir: '.' and '..' come first-class with the right inode numbers", async ({ proc }) => {
    await proc.mkdir('d');
    await proc.mkdir('d/sub');
    const ents = await walk(proc, 'd/sub', 100);
    const dot = ents.find((e) => e.name === '.');
    const dotdot = ents.find((e) => e.name === '..');
    assert.ok(dot && dotdot, 'both present');
    assert.equal(dot.ino, (await proc.stat('d/sub')).ino);
    assert.equal(dotdot.ino, (await proc.stat('d')).ino);
    assert.equal(dot.type, 'dir');
    assert.equal(dotdot.type, 'dir');
    assert.equal(ents.length, 2);
  }),

  tcase('readdir: types and inode numbers of entries match stat', async ({ proc, caps }) => {
    await touch(proc, 'file');
    await proc.mkdir('dir');
    if (caps.symlinks !== false) await proc.symlink('file', 'link');
    const ents = (await walk(proc, '.', 100)).filter((e) => e.name !== '.' && e.name !== '..');
    for (const e of ents) {
      const st = await proc.lstat(e.name);
      assert.equal(e.ino, st.ino, `${e.name} ino`);
      const want = e.name === 'file' ? 'reg' : e.name === 'dir' ? 'dir' : 'lnk';
      assert.equal(e.type, want, `${e.name} type`);
    }
    assert.equal(ents.length, caps.symlinks !== false ? 3 : 2);
  }),

  tcase('readdir: batches of one entry list everything exactly once', async ({ proc }) => {
    await proc.mkdir('d');
    for (let i = 0; i < 150; i++) await touch(proc, `d/e${i}`);
    const ents = await walk(proc, 'd', 1);
    const seen = ents.map((e) => e.name).filter((n) => n !== '.' && n !== '..');
    assert.equal(seen.length, 150);
    assert.equal(new Set(seen).size, 150);
  }),

  tcase('readdir: entries untouched during a walk are seen exactly once while others are added and removed', async ({ proc, kernel }) => {
    await proc.mkdir('d');
    const stable = new Set<string>();
    for (let i = 0; i < 300; i++) {
      await touch(proc, `d/s${i}`);
      stable.add(`s${i}`);
      if (i % 3 === 0) await touch(proc, `d/t${i}`);
    }
    const other = kernel.newProc();
    await other.chdir('/mnt/d');
    const ents = await walk(proc, 'd', 10, async (round) => {
      for (let j = 0; j < 4; j++) {
        const victim = `t${(round * 12 + j * 3) % 300}`;
        await other.unlink(victim).catch((e: { code?: string }) => {
          if (e.code !== 'ENOENT') throw e;
        });
      }
      if (round < 40) await touch(other, `new${round}`);
    });
    await other.exit();
    const count = new Map<string, number>();
    for (const e of ents) count.set(e.name, (count.get(e.name) ?? 0) + 1);
    for (const s of stable) assert.equal(count.get(s), 1, `${s} seen ${count.get(s) ?? 0} times`);
    for (const [n, c] of count) assert.ok(c === 1, `${n} seen ${c} times`);
  }),

  tcase('readdir: rewinding with lseek(0) restarts the listing', async ({ proc }) => {
    await proc.mkdir('d');
    for (let i = 0; i < 20; i++) await touch(proc, `d/f${i}`);
    const fd = await proc.open('d', O_RDONLY | O_DIRECTORY);
    const first: string[] = [];
    for (;;) {
      const b = await proc.getdents(fd, 7);
      if (b.length === 0) break;
      first.push(...b.map((e) => e.name));
    }
    assert.deepEqual(await proc.getdents(fd, 7), []);
    await proc.lseek(fd, 0, SEEK_SET);
    const again: string[] = [];
    for (;;) {
      const b = await proc.getdents(fd, 100);
      if (b.length === 0) break;
      again.push(...b.map((e) => e.name));
    }
    await proc.close(fd);
    assert.deepEqual(again.sort(), first.sort());
    assert.equal(first.length, 22);
  }),

  tcase('readdir: a file opened as a directory, and a directory read without permission', async ({ proc }) => {
    await touch(proc, 'f');
    const fd = await proc.open('f', O_RDONLY);
    await fails(proc.getdents(fd), 'ENOTDIR');
    await proc.close(fd);
    await fails(proc.getdents(999), 'EBADF');
  }),

  tcase('readdir: a directory emptied and refilled lists only the new names', async ({ proc }) => {
    await proc.mkdir('d');
    for (let i = 0; i < 100; i++) await touch(proc, `d/old${i}`);
    for (let i = 0; i < 100; i++) await proc.unlink(`d/old${i}`);
    for (let i = 0; i < 10; i++) await touch(proc, `d/new${i}`);
    const got = (await proc.readdir('d')).map((e) => e.name).sort();
    assert.deepEqual(got, Array.from({ length: 10 }, (_, i) => `new${i}`).sort());
  }),
];
