/**
 * The read-only bodies: checks over a fixed tree (FIXTURE) that only read.
 * On a writable file system the body first makes the tree through the system
 * calls (and, for a component with a device, remounts read-only so the reads
 * come from the image); a read-only component (ISO 9660) joins by making its
 * image from the same tree — `writeFixtureToHost` lays it out in a host
 * directory for xorriso/genisoimage — and setting `fixture: true` on its profile.
 */

import assert from 'node:assert/strict';
import { mkdir, symlink, writeFile as hostWriteFile } from '../../../src/testing/hostfs.js';
import { join } from 'node:path';
import { O_DIRECTORY, O_RDONLY } from '../../../src/vfs/fcntl.js';
import type { FsTestContext } from '../../../src/testing/fsapply.js';
import type { SyscallApi } from '../../../src/vfs/syscalls.js';
import type { FsCapabilities } from '../../../src/vfs/types.js';
import { FIXTURE, FIXTURE_BIG, FIXTURE_LONG_NAME, FIXTURE_MANY, type FixtureEntry } from '../../../src/testing/fixture.js';
import { enc, fails, failsOneOf, isDir, isLnk, isReg, names, pattern, readFile, sameBytes, tcase, type Case } from './util.js';

export type { FixtureEntry } from '../../../src/testing/fixture.js';
export { FIXTURE } from '../../../src/testing/fixture.js';

const LONG_NAME = FIXTURE_LONG_NAME;
const BIG = FIXTURE_BIG;
const MANY = FIXTURE_MANY;

/**
 * The tree for a component with these capabilities, parents before children; file contents are
 * pattern(size, seed). The big file and the long name shrink to fit small formats; symlinks are left
 * out where the format has none.
 */
export function fixtureFor(caps: FsCapabilities): FixtureEntry[] {
  const big = Math.min(BIG, Math.floor((caps.maxFileSize ?? Infinity) * 0.9));
  const longName = LONG_NAME.slice(0, caps.nameMax ?? 255);
  return FIXTURE.filter((e) => caps.symlinks !== false || e.kind !== 'symlink').map((e) => {
    if (e.path === 'big.bin' && e.kind === 'file') return { ...e, size: big };
    if (e.path === LONG_NAME) return { ...e, path: longName };
    return e;
  });
}

/** Lays the tree for a component with `caps` out under `dir` on the host, for tools that build read-only images. */
export async function writeFixtureToHost(dir: string, caps: FsCapabilities): Promise<void> {
  for (const e of fixtureFor(caps)) {
    const p = join(dir, e.path);
    if (e.kind === 'dir') await mkdir(p, { recursive: true });
    else if (e.kind === 'file') await hostWriteFile(p, pattern(e.size, e.seed));
    else await symlink(e.target, p);
  }
}

/** Makes the tree through the system calls, relative to the process's cwd. */
export async function makeFixture(p: SyscallApi, caps: FsCapabilities): Promise<void> {
  for (const e of fixtureFor(caps)) {
    if (e.kind === 'dir') await p.mkdir(e.path, 0o755);
    else if (e.kind === 'symlink') await p.symlink(e.target, e.path);
    else {
      const fd = await p.open(e.path, 0o1 | 0o100, 0o644);
      const data = pattern(e.size, e.seed);
      for (let off = 0; off < data.length; ) off += await p.pwrite(fd, data.subarray(off), off);
      await p.close(fd);
    }
  }
}

/** Makes the tree where the file system is writable; returns the tree to expect. */
async function prepare(ctx: FsTestContext): Promise<FixtureEntry[]> {
  if (ctx.caps.readonly !== true) {
    await makeFixture(ctx.proc, ctx.caps);
    await ctx.proc.sync();
    if (ctx.profile.component.needsDevice) await ctx.remount({ readonly: true });
  }
  return fixtureFor(ctx.caps);
}

function childrenOf(dir: string, tree: readonly FixtureEntry[]): string[] {
  const prefix = dir === '.' ? '' : `${dir}/`;
  return tree
    .filter((e) => e.path.startsWith(prefix) && !e.path.slice(prefix.length).includes('/'))
    .map((e) => e.path.slice(prefix.length))
    .sort();
}

const RO = { readsOnly: true, fixture: true } as const;

export const cases: Case[] = [
  tcase('fixture: every directory lists exactly its entries', async (ctx) => {
    const tree = await prepare(ctx);
    for (const d of ['.', ...tree.filter((e) => e.kind === 'dir').map((e) => e.path)]) {
      assert.deepEqual(await names(ctx.proc, d), childrenOf(d, tree), d);
    }
  }, RO),

  tcase('fixture: types, sizes and link counts', async (ctx) => {
    const tree = await prepare(ctx);
    for (const e of tree) {
      const st = await ctx.proc.lstat(e.path);
      if (e.kind === 'dir') {
        assert.ok(isDir(st), e.path);
        if (ctx.caps.hardlinks !== false) {
          const subdirs = tree.filter((x) => x.kind === 'dir' && x.path.startsWith(`${e.path}/`) && !x.path.slice(e.path.length + 1).includes('/')).length;
          assert.equal(st.nlink, 2 + subdirs, `${e.path} nlink`);
        }
      } else if (e.kind === 'file') {
        assert.ok(isReg(st), e.path);
        assert.equal(st.size, e.size, `${e.path} size`);
        assert.equal(st.nlink, 1, `${e.path} nlink`);
      } else {
        assert.ok(isLnk(st), e.path);
        assert.equal(st.size, e.target.length, `${e.path} size`);
      }
    }
  }, RO),

  tcase('fixture: every file reads back exactly, whole and at odd offsets', async (ctx) => {
    const tree = await prepare(ctx);
    const p = ctx.proc;
    for (const e of tree) {
      if (e.kind !== 'file') continue;
      const want = pattern(e.size, e.seed);
      sameBytes(await readFile(p, e.path), want, e.path);
    }
    const big = tree.find((e) => e.path === 'big.bin');
    assert.ok(big && big.kind === 'file');
    const fd = await p.open('big.bin', O_RDONLY);
    const want = pattern(big.size, big.seed);
    const end = big.size;
    for (const [off, len] of [[0, 1], [1, 4095], [2047, 2], [4096, 65536], [end - 101, 100], [end - 1, 10], [end >> 1, 300_001], [end, 5]] as const) {
      const buf = new Uint8Array(len);
      const n = await p.pread(fd, buf, off);
      const exp = want.subarray(off, off + len);
      assert.equal(n, exp.length, `pread ${off}+${len}`);
      sameBytes(buf.subarray(0, n), exp, `pread ${off}+${len}`);
    }
    await p.close(fd);
  }, RO),

  tcase('fixture: lookups through . and .., and failures', async (ctx) => {
    await prepare(ctx);
    const p = ctx.proc;
    const leaf = (await p.stat('dir1/nested/deeper/leaf.txt')).ino;
    assert.equal((await p.stat('dir1/./nested/../nested/deeper/./leaf.txt')).ino, leaf);
    assert.equal((await p.stat('many/../dir1/nested/deeper/../../nested/deeper/leaf.txt')).ino, leaf);
    assert.equal((await p.stat('dir1/nested/..')).ino, (await p.stat('dir1')).ino);
    assert.equal((await p.stat('dir1/..')).ino, (await p.stat('.')).ino);
    await p.chdir('dir1/nested/deeper');
    assert.equal((await p.stat('../../../README.txt')).size, 57);
    await p.chdir('/mnt');
    await fails(p.stat('dir1/missing'), 'ENOENT');
    await fails(p.stat('README.txt/x'), 'ENOTDIR');
    await fails(p.stat('README.txt/'), 'ENOTDIR');
    await fails(p.open('dir1', O_RDONLY | O_DIRECTORY).then((fd) => p.close(fd)).then(() => p.open('empty', O_DIRECTORY)), 'ENOTDIR');
    await fails(p.stat('x'.repeat(256)), 'ENAMETOOLONG');
  }, RO),

  tcase('fixture: symbolic links read and resolve', async (ctx) => {
    await prepare(ctx);
    const p = ctx.proc;
    assert.equal(await p.readlink('link-to-readme'), 'README.txt');
    sameBytes(await readFile(p, 'link-to-readme'), pattern(57, 1), 'through the link');
    assert.equal((await p.stat('dir1/link-up/deeper/leaf.txt')).size, 5000);
    await fails(p.stat('dangling'), 'ENOENT');
    assert.ok(isLnk(await p.lstat('dangling')));
  }, { ...RO, requires: ['symlinks'] }),

  tcase('fixture: a large directory in small getdents batches', async (ctx) => {
    await prepare(ctx);
    const p = ctx.proc;
    const fd = await p.open('many', O_RDONLY | O_DIRECTORY);
    const seen: string[] = [];
    for (;;) {
      const b = await p.getdents(fd, 3);
      if (b.length === 0) break;
      for (const e of b) {
        if (e.name === '.' || e.name === '..') continue;
        assert.equal(e.type, 'reg');
        seen.push(e.name);
      }
    }
    await p.close(fd);
    assert.equal(seen.length, MANY);
    assert.equal(new Set(seen).size, MANY);
    for (let i = 0; i < MANY; i += 41) {
      const name = `many/entry-${String(i).padStart(3, '0')}`;
      sameBytes(await readFile(p, name), pattern(10 + i, 100 + i), name);
    }
  }, RO),

  tcase('fixture: on a read-only mount nothing can change', async (ctx) => {
    const tree = await prepare(ctx);
    const p = ctx.proc;
    const ro = ctx.caps.readonly === true || ctx.profile.component.needsDevice;
    if (!ro) {
      // tmpfs cannot be remounted with its contents: the tree stays writable; check it is.
      await p.unlink('empty');
      return;
    }
    await fails(p.open('new', 0o1 | 0o100, 0o644), 'EROFS');
    await fails(p.mkdir('dir1/x'), 'EROFS');
    await fails(p.unlink('README.txt'), 'EROFS');
    await fails(p.rmdir('emptydir'), 'EROFS');
    await fails(p.rename('README.txt', 'x'), 'EROFS');
    await fails(p.open('README.txt', 0o2), 'EROFS');
    await fails(p.truncate('big.bin', 0), 'EROFS');
    await failsOneOf(p.chmod('README.txt', 0o600), ['EROFS']);
    await fails(p.symlink('a', 'b'), 'EROFS');
    if (ctx.caps.xattr !== false) await fails(p.setxattr('README.txt', 'user.x', enc('1')), 'EROFS');
    assert.deepEqual(await names(p, '.'), childrenOf('.', tree));
  }, RO),
];
