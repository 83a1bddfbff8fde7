/**
 * UFS2 extended attributes, read where present: an attribute area laid out
 * with the struct extattr declaration in a file's ext block; the driver lists
 * and reads it, the checker counts its block, and removing the file frees it.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryDevice } from '../../../src/dev/blockdev.js';
import { parseOptions } from '../../../src/vfs/types.js';
import { ffs } from '../../../src/fs/ffs/index.js';
import { fsckFfs } from '../../../src/fs/ffs/fsck.js';
import type { FfsNode } from '../../../src/fs/ffs/ffs.js';
import { DINODE2, EXTATTR, EXTATTR_NAMESPACE_USER, EXTATTR_NAMESPACE_SYSTEM } from '../../../src/fs/ffs/layout.js';
import { services, mountBytes } from './helpers.js';

function area(attrs: Array<[number, string, Uint8Array]>): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const [ns, name, value] of attrs) {
    const nb = new TextEncoder().encode(name);
    const base = Math.ceil((EXTATTR.size + nb.length) / 8) * 8;
    const len = Math.ceil((base + value.length) / 8) * 8;
    const rec = new Uint8Array(len);
    EXTATTR.encode(rec, 0, true, { length: len, namespace: ns, contentpadlen: len - base - value.length, namelength: nb.length });
    rec.set(nb, EXTATTR.size);
    rec.set(value, base);
    parts.push(rec);
  }
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

test('UFS2: attributes in the extattr area are listed and read; the area is freed with the file', async () => {
  const dev = MemoryDevice.zeroed(8 << 20);
  await ffs.newfs!(dev, { options: parseOptions('version=2') }, services);
  const img = dev.bytes;
  let m = await mountBytes(img, false);
  const root = await m.vget(m.rootKey);
  const t = services.now();
  const k = await root.create('x', { type: 'reg', mode: 0o644, uid: 0, gid: 0, time: t });
  await (await m.vget(k)).write(new Uint8Array(100).fill(1), 0, t);
  const n = (await m.vget(k)) as FfsNode;
  const g = n.m.g;
  const frag = n.d.db[0]!;
  await m.unmount();
  // Turn the file's one data fragment into its extattr area.
  const ea = area([
    [EXTATTR_NAMESPACE_USER, 'comment', new TextEncoder().encode('hello from the ext area')],
    [EXTATTR_NAMESPACE_SYSTEM, 'acl', new Uint8Array([1, 2, 3])],
  ]);
  img.set(ea, frag * g.fsize);
  const at = g.inoToFsba(k) * g.fsize + g.inoToFsbo(k) * g.isize;
  DINODE2.encode(img, at, g.le, { size: 0, db: new Array(12).fill(0), extsize: ea.length, extb: [frag, 0] });
  assert.deepEqual(await fsckFfs(img), [], 'ext block counted by the checker');
  m = await mountBytes(img, false);
  const x = await m.vget(k);
  assert.deepEqual((await x.listxattr!()).sort(), ['system.acl', 'user.comment']);
  assert.equal(new TextDecoder().decode((await x.getxattr!('user.comment'))!), 'hello from the ext area');
  assert.deepEqual(await x.getxattr!('system.acl'), new Uint8Array([1, 2, 3]));
  assert.equal(await x.getxattr!('user.absent'), null);
  const r = await m.vget(m.rootKey);
  await r.remove('x', x, t);
  await x.inactive!();
  await m.unmount();
  assert.deepEqual(await fsckFfs(img), [], 'area freed with the file');
});
