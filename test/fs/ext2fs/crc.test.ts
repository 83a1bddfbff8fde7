/**
 * The checksums against published check values (CRC-32C of "123456789" is
 * 0xE3069283 with the usual inversions; CRC-16/ARC of it is 0xBB3D) and the
 * slicing path against the byte-at-a-time path.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { crc16, crc32c } from '../../../src/fs/ext2fs/crc.js';

const digits = new TextEncoder().encode('123456789');

test('crc32c matches the CRC-32C check value', () => {
  assert.equal((crc32c(0xffffffff, digits) ^ 0xffffffff) >>> 0, 0xe3069283);
});

test('crc32c gives the same result for any split of the input', () => {
  const data = new Uint8Array(1000).map((_, i) => (i * 131 + 7) & 0xff);
  const whole = crc32c(0x12345678, data);
  for (const cut of [0, 1, 7, 8, 9, 333, 999, 1000]) assert.equal(crc32c(crc32c(0x12345678, data, 0, cut), data, cut), whole, `cut ${cut}`);
});

test('crc16 matches the CRC-16/ARC check value', () => {
  assert.equal(crc16(0, digits), 0xbb3d);
});

test('crc32cU32 equals crc32c over the little-endian bytes', async () => {
  const { crc32cU32 } = await import('../../../src/fs/ext2fs/crc.js');
  for (const v of [0, 1, 0x12345678, 0xffffffff]) {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, v, true);
    assert.equal(crc32cU32(0xabcdef01, v), crc32c(0xabcdef01, b));
  }
});
