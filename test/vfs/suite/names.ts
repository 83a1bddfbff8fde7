/**
 * Names and numbers of files (t_vnops create_many, create_nonalphanum,
 * create_nametoolong, rename_nametoolong): thousands of files in one
 * directory, names made of punctuation and non-ASCII, names like
 * `__proto__`, case (in)sensitivity, and too-long names.
 */

import assert from 'node:assert/strict';
import { O_CREAT, O_EXCL, O_RDONLY, O_WRONLY } from '../../../src/vfs/fcntl.js';
import { dec, exists, fails, failsOneOf, names, readFile, tcase, touch, writeFile, type Case } from './util.js';

/** Punctuation every file system here accepts (FAT forbids only "*\/:<>?\\| and control characters). */
const PORTABLE = ['a b', 'dash-name', 'under_score', 'semi;colon', 'comma,name', 'paren(s)', 'brace{x}', 'br[ack]et', "quote'", 'at@sign',
  'hash#', 'dollar$', 'percent%', 'caret^', 'amp&', 'plus+', 'eq=', 'tilde~', 'back`tick', 'bang!', '.hidden', '...dots', 'x.y.z'];
/** Characters only POSIX file systems accept. */
const POSIX_ONLY = ['colon:name', 'star*', 'quest?', 'lt<gt>', 'pipe|', 'back\\slash', 'dq"', 'tab\there', 'new\nline', '\x01ctl'];
const UNICODE = ['ünïcödé', '日本語のファイル', 'emoji-😀', 'Ελληνικά', 'עברית', 'mixed-Ωmega'];
const JS_NAMES = ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'prototype', 'valueOf'];

export const cases: Case[] = [
  tcase('names: 1000 files in one directory are all listed and reachable', async ({ proc }) => {
    await proc.mkdir('many');
    const N = 1000;
    for (let i = 0; i < N; i++) {
      const fd = await proc.open(`many/file-${i}`, O_WRONLY | O_CREAT | O_EXCL, 0o644);
      await proc.close(fd);
    }
    const got = await names(proc, 'many');
    assert.equal(got.length, N);
    assert.deepEqual(got, Array.from({ length: N }, (_, i) => `file-${i}`).sort());
    for (let i = 0; i < N; i += 97) assert.ok(await exists(proc, `many/file-${i}`));
    for (let i = 0; i < N; i += 2) await proc.unlink(`many/file-${i}`);
    assert.equal((await names(proc, 'many')).length, N / 2);
    await fails(proc.stat('many/file-0'), 'ENOENT');
    assert.ok(await exists(proc, 'many/file-1'));
  }),

  tcase('names: 300 subdirectories, each with a file', async ({ proc, caps }) => {
    for (let i = 0; i < 300; i++) {
      await proc.mkdir(`d${i}`);
      await writeFile(proc, `d${i}/f`, `${i}`);
    }
    assert.equal((await names(proc, '.')).length, 300);
    if (caps.hardlinks !== false) assert.equal((await proc.stat('.')).nlink, 302);
    for (let i = 0; i < 300; i += 37) assert.equal(dec(await readFile(proc, `d${i}/f`)), `${i}`);
  }),

  tcase('names: punctuation, dots and spaces round-trip', async ({ proc }) => {
    for (const n of PORTABLE) await writeFile(proc, n, n);
    assert.deepEqual(await names(proc, '.'), [...PORTABLE].sort());
    for (const n of PORTABLE) assert.equal(dec(await readFile(proc, n)), n, n);
    for (const n of PORTABLE) await proc.unlink(n);
    assert.deepEqual(await names(proc, '.'), []);
  }),

  tcase('names: non-ASCII names round-trip', async ({ proc }) => {
    for (const n of UNICODE) {
      await writeFile(proc, n, n);
      await proc.mkdir(`dir-${n}`);
    }
    const want = [...UNICODE, ...UNICODE.map((n) => `dir-${n}`)].sort();
    assert.deepEqual(await names(proc, '.'), want);
    for (const n of UNICODE) assert.equal(dec(await readFile(proc, n)), n, n);
  }),

  tcase('names: POSIX-only characters round-trip (EINVAL on case-insensitive formats)', async ({ proc, caps }) => {
    for (const n of POSIX_ONLY) {
      if (caps.caseInsensitive) {
        await failsOneOf(proc.open(n, O_WRONLY | O_CREAT, 0o644), ['EINVAL'], JSON.stringify(n));
        continue;
      }
      await writeFile(proc, n, n);
    }
    if (caps.caseInsensitive) return;
    assert.deepEqual(await names(proc, '.'), [...POSIX_ONLY].sort());
    for (const n of POSIX_ONLY) assert.equal(dec(await readFile(proc, n)), n, JSON.stringify(n));
  }),

  tcase('names: JavaScript property names are ordinary file names', async ({ proc }) => {
    for (const n of JS_NAMES) await writeFile(proc, n, `is ${n}`);
    await proc.mkdir('d');
    await fails(proc.stat('d/__proto__'), 'ENOENT');
    await fails(proc.stat('d/constructor'), 'ENOENT');
    assert.deepEqual(await names(proc, '.'), [...JS_NAMES, 'd'].sort());
    for (const n of JS_NAMES) assert.equal(dec(await readFile(proc, n)), `is ${n}`);
    await proc.rename('__proto__', 'd/__proto__');
    assert.deepEqual(await names(proc, 'd'), ['__proto__']);
  }),

  tcase('names: case matters on case-sensitive formats, and only there', async ({ proc, caps }) => {
    await writeFile(proc, 'Name', 'upper');
    if (caps.caseInsensitive) {
      // One file, whatever the spelling; the name keeps the case it was created with.
      await fails(proc.open('NAME', O_WRONLY | O_CREAT | O_EXCL, 0o644), 'EEXIST');
      assert.equal(dec(await readFile(proc, 'nAmE')), 'upper');
      assert.deepEqual(await names(proc, '.'), ['Name']);
      return;
    }
    await writeFile(proc, 'name', 'lower');
    assert.deepEqual(await names(proc, '.'), ['Name', 'name']);
    assert.equal(dec(await readFile(proc, 'Name')), 'upper');
    assert.equal(dec(await readFile(proc, 'name')), 'lower');
    await fails(proc.stat('NAME'), 'ENOENT');
  }),

  tcase('names: too-long names fail for every call that makes a name', async ({ proc, caps }) => {
    const long = 'L'.repeat(256);
    await touch(proc, 'f');
    await proc.mkdir('d');
    await proc.mkdir('d2');
    await fails(proc.open(long, O_WRONLY | O_CREAT, 0o644), 'ENAMETOOLONG');
    await fails(proc.mkdir(long), 'ENAMETOOLONG');
    await fails(proc.rename('f', long), 'ENAMETOOLONG');
    await fails(proc.rename('d', `d2/${long}`), 'ENAMETOOLONG');
    if (caps.symlinks !== false) await fails(proc.symlink('f', long), 'ENAMETOOLONG');
    if (caps.hardlinks !== false) await fails(proc.link('f', long), 'ENAMETOOLONG');
    await fails(proc.open(long, O_RDONLY), 'ENAMETOOLONG');
    assert.deepEqual(await names(proc, '.'), ['d', 'd2', 'f']);
    assert.deepEqual(await names(proc, 'd2'), []);
  }),

  tcase('names: a name of exactly nameMax bytes in every call', async ({ proc, caps }) => {
    const max = 'M'.repeat(caps.nameMax ?? 255);
    await proc.mkdir(max);
    await writeFile(proc, `${max}/${max}`, 'deep');
    await proc.rename(`${max}/${max}`, `${max}/x`);
    await proc.rename(`${max}/x`, `${max}/${max}`);
    assert.equal(dec(await readFile(proc, `${max}/${max}`)), 'deep');
    assert.deepEqual(await names(proc, max), [max]);
  }),

  tcase('names: slashes and NUL cannot be in a name', async ({ proc }) => {
    await fails(proc.open('a\0b', O_WRONLY | O_CREAT, 0o644), 'EINVAL');
    await fails(proc.open('nodir/b', O_WRONLY | O_CREAT, 0o644), 'ENOENT');
    assert.deepEqual(await names(proc, '.'), []);
  }),
];
