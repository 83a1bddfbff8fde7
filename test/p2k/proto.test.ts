/**
 * The FUSE structure declarations against the C compiler's view of <linux/fuse.h>: every declared field's
 * offset and every structure's size must agree with offsetof/sizeof, so no hand-computed offset can drift.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run, tempDir, requireTool } from '../../src/testing/tools.js';
import * as P from '../../src/p2k/fuse/proto.js';
import { struct } from '../../src/p2k/fuse/struct.js';
import { DirBuffer } from '../../src/p2k/fuse/session.js';

/** Our declaration, the C struct it mirrors, and whether we declare all of it (else only a prefix). */
const DECLS: [{ size: number; rows: readonly (readonly [string, string])[]; offsets: ReadonlyMap<string, number> }, string, 'full' | 'prefix'][] = [
  [P.inHeader, 'fuse_in_header', 'full'],
  [P.outHeader, 'fuse_out_header', 'full'],
  [P.attr, 'fuse_attr', 'full'],
  [P.entryOutHead, 'fuse_entry_out', 'prefix'],
  [P.attrOutHead, 'fuse_attr_out', 'prefix'],
  [P.kstatfs, 'fuse_kstatfs', 'full'],
  [P.forgetIn, 'fuse_forget_in', 'full'],
  [P.forgetOne, 'fuse_forget_one', 'full'],
  [P.batchForgetIn, 'fuse_batch_forget_in', 'full'],
  [P.getattrIn, 'fuse_getattr_in', 'full'],
  [P.mknodIn, 'fuse_mknod_in', 'full'],
  [P.mkdirIn, 'fuse_mkdir_in', 'full'],
  [P.renameIn, 'fuse_rename_in', 'full'],
  [P.rename2In, 'fuse_rename2_in', 'full'],
  [P.linkIn, 'fuse_link_in', 'full'],
  [P.setattrIn, 'fuse_setattr_in', 'full'],
  [P.openIn, 'fuse_open_in', 'full'],
  [P.createIn, 'fuse_create_in', 'full'],
  [P.openOut, 'fuse_open_out', 'full'],
  [P.releaseIn, 'fuse_release_in', 'full'],
  [P.flushIn, 'fuse_flush_in', 'full'],
  [P.readIn, 'fuse_read_in', 'full'],
  [P.writeIn, 'fuse_write_in', 'full'],
  [P.writeOut, 'fuse_write_out', 'full'],
  [P.fsyncIn, 'fuse_fsync_in', 'full'],
  [P.setxattrIn, 'fuse_setxattr_in', 'prefix'], // the compat layout: FUSE_COMPAT_SETXATTR_IN_SIZE below
  [P.getxattrIn, 'fuse_getxattr_in', 'full'],
  [P.getxattrOut, 'fuse_getxattr_out', 'full'],
  [P.accessIn, 'fuse_access_in', 'full'],
  [P.interruptIn, 'fuse_interrupt_in', 'full'],
  [P.initIn, 'fuse_init_in', 'prefix'],
  [P.initOut, 'fuse_init_out', 'full'],
  [P.direntHead, 'fuse_dirent', 'full'],
];

test('struct declarations match <linux/fuse.h> as compiled by gcc', async () => {
  const gcc = requireTool('gcc');
  const dir = await tempDir('p2k-proto-');
  try {
    const lines: string[] = ['#include <stdio.h>', '#include <stddef.h>', '#include <linux/fuse.h>', 'int main(void) {'];
    const expected: string[] = [];
    for (const [s, c, mode] of DECLS) {
      lines.push(`printf("${c} %zu\\n", sizeof(struct ${c}));`);
      expected.push(`${c} ${mode === 'full' ? s.size : 'skip'}`);
      for (const [field, type] of s.rows) {
        if (type === 'pad32' && !/^(padding|dummy|unused\d?|spare\d)$/.test(field)) continue;
        if (/^(spare|unused)\d$/.test(field)) continue; // C arrays: covered by sizeof
        lines.push(`printf("${c}.${field} %zu\\n", offsetof(struct ${c}, ${field}));`);
        expected.push(`${c}.${field} ${s.offsets.get(field)}`);
      }
    }
    lines.push(`printf("FUSE_COMPAT_SETXATTR_IN_SIZE %d\\n", FUSE_COMPAT_SETXATTR_IN_SIZE);`);
    expected.push(`FUSE_COMPAT_SETXATTR_IN_SIZE ${P.setxattrIn.size}`);
    for (const [name, value] of Object.entries(P.Op)) {
      lines.push(`printf("FUSE_${name} %d\\n", FUSE_${name});`);
      expected.push(`FUSE_${name} ${value}`);
    }
    for (const [name, value] of Object.entries(P.Init)) {
      lines.push(`printf("FUSE_${name} %ld\\n", (long)(FUSE_${name}));`);
      expected.push(`FUSE_${name} ${value}`);
    }
    for (const [name, value] of Object.entries(P.FATTR)) {
      lines.push(`printf("FATTR_${name} %d\\n", FATTR_${name});`);
      expected.push(`FATTR_${name} ${value}`);
    }
    lines.push('return 0; }');
    const src = join(dir.path, 'offsets.c');
    await writeFile(src, lines.join('\n'));
    const bin = join(dir.path, 'offsets');
    await run(gcc, ['-o', bin, src]);
    const out = (await run(bin, [])).stdout.toString().trim().split('\n');
    assert.equal(out.length, expected.length);
    for (let i = 0; i < out.length; i++) {
      if (expected[i]!.endsWith(' skip')) continue;
      assert.equal(out[i], expected[i]);
    }
    // The composite replies: entry_out and attr_out are our heads plus a fuse_attr.
    assert.ok(out.includes(`fuse_entry_out ${P.ENTRY_OUT_SIZE}`));
    assert.ok(out.includes(`fuse_attr_out ${P.ATTR_OUT_SIZE}`));
  } finally {
    await dir.cleanup();
  }
});

test('struct encode/decode round-trips, including 64-bit request ids', () => {
  const s = struct('t', [['a', 'u32'], ['b', 'u64'], ['c', 'u64n'], ['d', 'i32'], ['e', 'pad32'], ['f', 'u16']] as const);
  const dv = new DataView(new ArrayBuffer(s.size + 4));
  s.encode(dv, 4, { a: 0xffffffff, b: 2 ** 40 + 5, c: 0xfedcba9876543210n, d: -38, f: 7 });
  assert.deepEqual(s.decode(dv, 4), { a: 0xffffffff, b: 2 ** 40 + 5, c: 0xfedcba9876543210n, d: -38, f: 7 });
  assert.equal(s.offsets.get('f'), 28);
});

test('DirBuffer lays out fuse_dirent records 8-byte aligned and stops when full', () => {
  const b = new DirBuffer(64, false);
  assert.ok(b.add('a', 5, 8, 1)); // 24 + 1 -> 32
  assert.equal(b.add('abcdefghi', 6, 4, 2), false); // 24 + 9 -> 40 more: 72 > 64
  assert.equal(b.length, 32);
  const dv = new DataView(b.buf.buffer);
  assert.deepEqual(P.direntHead.decode(dv, 0), { ino: 5, off: 1, namelen: 1, type: 8 });
  assert.equal(String.fromCharCode(b.buf[24]!), 'a');
  assert.equal(b.fits(8), true); // 24 + 8 = 32 fits exactly
  assert.ok(b.add('12345678', 7, 8, 3));
  assert.equal(b.length, 64);
  assert.equal(b.add('x', 8, 8, 4), false);
  const plus = new DirBuffer(4096, true);
  assert.ok(plus.add('name', 9, 8, 1));
  assert.equal(plus.length, P.recAlign(P.ENTRY_OUT_SIZE + P.direntHead.size + 4));
});
