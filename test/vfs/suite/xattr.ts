/**
 * Extended attributes: set/get/list/remove, the create and replace flags,
 * size limits, namespaces and who may touch them, and that they follow the
 * file through renames and hard links.
 */

import assert from 'node:assert/strict';
import { enc, dec, fails, failsOneOf, tcase, touch, type Case } from './util.js';

const X: { requires: ['xattr'] } = { requires: ['xattr'] };

export const cases: Case[] = [
  tcase('xattr: set, get, list and remove', async ({ proc }) => {
    await touch(proc, 'f');
    assert.deepEqual(await proc.listxattr('f'), []);
    await proc.setxattr('f', 'user.one', enc('1'));
    await proc.setxattr('f', 'user.two', enc('second value'));
    await proc.setxattr('f', 'user.empty', new Uint8Array(0));
    assert.equal(dec(await proc.getxattr('f', 'user.one')), '1');
    assert.equal(dec(await proc.getxattr('f', 'user.two')), 'second value');
    assert.equal((await proc.getxattr('f', 'user.empty')).length, 0);
    assert.deepEqual((await proc.listxattr('f')).sort(), ['user.empty', 'user.one', 'user.two']);
    await proc.removexattr('f', 'user.one');
    await fails(proc.getxattr('f', 'user.one'), 'ENODATA');
    await fails(proc.removexattr('f', 'user.one'), 'ENODATA');
    assert.deepEqual((await proc.listxattr('f')).sort(), ['user.empty', 'user.two']);
  }, X),

  tcase('xattr: create and replace flags', async ({ proc }) => {
    await touch(proc, 'f');
    await fails(proc.setxattr('f', 'user.a', enc('x'), { replace: true }), 'ENODATA');
    await proc.setxattr('f', 'user.a', enc('x'), { create: true });
    await fails(proc.setxattr('f', 'user.a', enc('y'), { create: true }), 'EEXIST');
    await proc.setxattr('f', 'user.a', enc('z'), { replace: true });
    assert.equal(dec(await proc.getxattr('f', 'user.a')), 'z');
    await proc.setxattr('f', 'user.a', enc('longer value now'));
    assert.equal(dec(await proc.getxattr('f', 'user.a')), 'longer value now');
  }, X),

  tcase('xattr: values up to a few KiB, binary, and names like __proto__', async ({ proc }) => {
    await touch(proc, 'f');
    const bin = new Uint8Array(2000).map((_, i) => i & 255);
    await proc.setxattr('f', 'user.bin', bin);
    assert.deepEqual([...(await proc.getxattr('f', 'user.bin'))], [...bin]);
    await proc.setxattr('f', 'user.__proto__', enc('p'));
    assert.equal(dec(await proc.getxattr('f', 'user.__proto__')), 'p');
    await fails(proc.getxattr('f', 'user.constructor'), 'ENODATA');
    await fails(proc.setxattr('f', 'user.huge', new Uint8Array(65537)), 'E2BIG');
    await fails(proc.setxattr('f', `user.${'n'.repeat(251)}`, enc('x')), 'ERANGE');
  }, X),

  tcase('xattr: attributes follow renames and hard links, and go with the file', async ({ proc, caps }) => {
    await touch(proc, 'f');
    await proc.setxattr('f', 'user.k', enc('v'));
    await proc.rename('f', 'g');
    assert.equal(dec(await proc.getxattr('g', 'user.k')), 'v');
    if (caps.hardlinks !== false) {
      await proc.link('g', 'h');
      assert.equal(dec(await proc.getxattr('h', 'user.k')), 'v');
      await proc.unlink('h');
    }
    await proc.unlink('g');
    await touch(proc, 'g');
    await fails(proc.getxattr('g', 'user.k'), 'ENODATA');
  }, X),

  tcase('xattr: directories carry them too; unprivileged users need write access for user.*', async ({ proc, user }) => {
    await proc.mkdir('d', 0o755);
    await proc.setxattr('d', 'user.dir', enc('yes'));
    assert.equal(dec(await proc.getxattr('d', 'user.dir')), 'yes');
    await touch(proc, 'f');
    await proc.chmod('f', 0o644);
    const u = user(1000, 1000);
    await proc.setxattr('f', 'user.a', enc('root'));
    assert.equal(dec(await u.getxattr('f', 'user.a')), 'root');
    await fails(u.setxattr('f', 'user.a', enc('mine')), 'EACCES');
    await fails(u.removexattr('f', 'user.a'), 'EACCES');
    await fails(u.setxattr('f', 'trusted.a', enc('x')), 'EPERM');
    await proc.setxattr('f', 'trusted.secret', enc('s'));
    await fails(u.getxattr('f', 'trusted.secret'), 'ENODATA');
    assert.ok(!(await u.listxattr('f')).includes('trusted.secret'));
    assert.ok((await proc.listxattr('f')).includes('trusted.secret'));
    await failsOneOf(proc.setxattr('f', 'nonamespace', enc('x')), ['EOPNOTSUPP', 'ENOTSUP', 'EINVAL']);
  }, { requires: ['xattr', 'permissions'] }),
];
