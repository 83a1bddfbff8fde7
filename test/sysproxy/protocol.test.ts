/**
 * The frame layout of docs/sysproxy.md, byte for byte, and the decoder's
 * refusal of hostile frames: impossible lengths, unknown kinds, bad flags,
 * JSON that does not parse, trailing bytes. Frames split across stream
 * chunks at every boundary reassemble to the same messages.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeFrame, encodeFrame, encodeJoined, FrameReader, Kind, lengthPrefix, MAX_FRAME, MessageReader, ProtocolError, type Message } from '../../src/sysproxy/protocol.js';
import { checkArgs, checkResult, SYSCALL_OPS } from '../../src/sysproxy/ops.js';

test('a call frame is laid out as the document says', () => {
  const data = new Uint8Array([9, 8, 7]);
  const f = encodeJoined({ kind: Kind.Call, id: 0x01020304, json: { op: 'write', p: 1, a: [3] }, data });
  const json = '{"op":"write","p":1,"a":[3]}';
  const want = [
    3, 1, 0, 0, // kind Call, flags: data follows, reserved
    4, 3, 2, 1, // id, little-endian
    json.length, 0, 0, 0,
    ...new TextEncoder().encode(json),
    9, 8, 7,
  ];
  assert.deepEqual([...f], want);
  assert.deepEqual([...lengthPrefix(f.length)], [f.length, 0, 0, 0]);
  const m = decodeFrame(f);
  assert.equal(m.kind, Kind.Call);
  assert.equal(m.id, 0x01020304);
  assert.deepEqual(m.json, { op: 'write', p: 1, a: [3] });
  assert.deepEqual([...m.data!], [9, 8, 7]);
  // The payload is a view into the frame, not a copy.
  assert.equal(m.data!.buffer, f.buffer);
});

test('a frame without data has no flag and no payload; an empty payload keeps its flag', () => {
  const f = encodeJoined({ kind: Kind.Result, id: 1, json: { r: null } });
  assert.equal(f[1], 0);
  assert.equal(decodeFrame(f).data, undefined);
  const g = encodeJoined({ kind: Kind.Result, id: 1, json: { r: 0 }, data: new Uint8Array(0) });
  assert.equal(g[1], 1);
  assert.deepEqual(decodeFrame(g).data, new Uint8Array(0));
});

test('hostile frames are protocol errors, never anything else', () => {
  const good = encodeJoined({ kind: Kind.Result, id: 5, json: { r: 1 } });
  const bad: [string, Uint8Array][] = [
    ['short', good.subarray(0, 5)],
    ['kind 0', Uint8Array.from(good, (b, i) => (i === 0 ? 0 : b))],
    ['kind 200', Uint8Array.from(good, (b, i) => (i === 0 ? 200 : b))],
    ['unknown flag', Uint8Array.from(good, (b, i) => (i === 1 ? 6 : b))],
    ['reserved set', Uint8Array.from(good, (b, i) => (i === 2 ? 1 : b))],
    ['json length past the end', Uint8Array.from(good, (b, i) => (i === 8 ? 200 : b))],
    ['json length huge', Uint8Array.from(good, (b, i) => (i === 11 ? 0xff : b))],
    ['json does not parse', Uint8Array.from(good, (b, i) => (i === 12 ? 0x7b : i === 13 ? 0x7b : b))],
    ['invalid utf-8', Uint8Array.from(good, (b, i) => (i === 13 ? 0xff : b))],
    ['trailing bytes without the data flag', new Uint8Array([...good, 1, 2])],
  ];
  for (const [what, f] of bad) assert.throws(() => decodeFrame(f), ProtocolError, what);
  const reader = new FrameReader(() => assert.fail('no frame expected'));
  assert.throws(() => reader.push(lengthPrefix(MAX_FRAME + 1)), ProtocolError);
  assert.throws(() => new FrameReader(() => undefined).push(lengthPrefix(3)), ProtocolError);
});

test('frames split across stream chunks at every boundary reassemble to the same messages', () => {
  const msgs = [
    { kind: Kind.Call, id: 1, json: { op: 'stat', p: 1, a: ['/a'] } },
    { kind: Kind.Result, id: 2, json: { r: 3 }, data: new Uint8Array([1, 2, 3]) },
    { kind: Kind.Error, id: 3, json: { code: 'ENOENT', syscall: 'stat', path: '/a' } },
  ];
  const stream: number[] = [];
  for (const m of msgs) {
    const parts = encodeFrame(m);
    const len = parts.reduce((n, p) => n + p.length, 0);
    stream.push(...lengthPrefix(len));
    for (const p of parts) stream.push(...p);
  }
  const bytes = Uint8Array.from(stream);
  for (let cut = 0; cut <= bytes.length; cut++) {
    for (const step of [1, 7, bytes.length]) {
      const got: unknown[] = [];
      const r = new FrameReader((f) => {
        const m = decodeFrame(f);
        got.push({ kind: m.kind, id: m.id, json: m.json, ...(m.data ? { data: new Uint8Array(m.data) } : {}) });
      });
      r.push(bytes.subarray(0, cut));
      for (let at = cut; at < bytes.length; at += step) r.push(bytes.subarray(at, Math.min(bytes.length, at + step)));
      assert.deepEqual(got, msgs, `cut at ${cut}, step ${step}`);
    }
  }
});

test('arguments and results are checked against the operation table', () => {
  const open = SYSCALL_OPS.get('open')!;
  assert.equal(checkArgs(open, ['/x', 0]), null);
  assert.equal(checkArgs(open, ['/x', 0, 0o644]), null);
  assert.notEqual(checkArgs(open, ['/x']), null);
  assert.notEqual(checkArgs(open, [1, 0]), null);
  assert.notEqual(checkArgs(open, ['/x', 1.5]), null);
  assert.notEqual(checkArgs(open, ['/x', 0, 0, 0]), null);
  assert.notEqual(checkArgs(open, { 0: '/x' }), null);
  const utimens = SYSCALL_OPS.get('utimens')!;
  assert.equal(checkArgs(utimens, ['/x', 'now', { sec: 1, nsec: 2 }]), null);
  assert.notEqual(checkArgs(utimens, ['/x', 'later', 'now']), null);
  const stat = { dev: 1, ino: 2, mode: 0o100644, nlink: 1, uid: 0, gid: 0, rdev: 0, size: 5, blksize: 4096, blocks: 8, atime: { sec: 1, nsec: 0 }, mtime: { sec: 1, nsec: 0 }, ctime: { sec: 1, nsec: 0 } };
  assert.equal(checkResult('stat', stat, undefined), true);
  assert.equal(checkResult('stat', { ...stat, size: '5' }, undefined), false);
  assert.equal(checkResult('stat', { ...stat, mtime: null }, undefined), false);
  assert.equal(checkResult('bytes', 3, 3), true);
  assert.equal(checkResult('bytes', 3, 2), false);
  assert.equal(checkResult('dirents', [{ name: 'a', ino: 1, type: 'reg' }], undefined), true);
  assert.equal(checkResult('dirents', [{ name: 'a', ino: 1, type: 'door' }], undefined), false);
  assert.equal(checkResult('void', null, undefined), true);
  assert.equal(checkResult('void', 1, undefined), false);
});

test('the stream message reader places a payload straight into the named buffer, at every chunk boundary', () => {
  const payload = Uint8Array.from({ length: 300 }, (_, i) => (i * 13) & 0xff);
  const msgs = [
    { kind: Kind.Result, id: 1, json: { r: 1 } },
    { kind: Kind.Result, id: 2, json: { r: payload.length }, data: payload },
    { kind: Kind.Result, id: 3, json: { r: 5 }, data: payload.subarray(0, 5) },
  ];
  const stream: number[] = [];
  for (const m of msgs) {
    const f = encodeJoined(m);
    stream.push(...lengthPrefix(f.length), ...f);
  }
  const bytes = Uint8Array.from(stream);
  for (let cut = 0; cut <= bytes.length; cut += 3) {
    const target = new Uint8Array(400);
    const got: Message[] = [];
    const r = new MessageReader((m) => got.push(m));
    // id 2 lands in `target`; id 3 asks for a buffer too small, so it is reassembled instead.
    r.placer = (id) => (id === 2 ? target : id === 3 ? new Uint8Array(2) : null);
    r.push(bytes.subarray(0, cut));
    for (let at = cut; at < bytes.length; at += 11) r.push(bytes.subarray(at, Math.min(bytes.length, at + 11)));
    assert.equal(got.length, 3, `cut ${cut}`);
    assert.deepEqual(got.map((m) => [m.id, m.json]), msgs.map((m) => [m.id, m.json]));
    assert.equal(got[0]!.data, undefined);
    assert.equal(got[1]!.data!.buffer, target.buffer, 'payload not placed');
    assert.deepEqual([...target.subarray(0, 300)], [...payload]);
    assert.deepEqual([...got[2]!.data!], [...payload.subarray(0, 5)]);
  }
  const bad = new MessageReader(() => undefined);
  assert.throws(() => bad.push(Uint8Array.from([...lengthPrefix(14), 3, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 2])), ProtocolError);
});
