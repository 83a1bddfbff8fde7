/**
 * Writing: a generated tree copied into fresh and pre-populated images through
 * the driver, then judged by the real tools — e2fsck -fn must be clean and
 * debugfs must extract the same tree. Also hashed directories that grow and
 * shrink, extent trees that grow in depth, exhaustion (ENOSPC) and orphans.
 */

import assert from 'node:assert/strict';
import { writeFile } from '../../../src/testing/hostfs.js';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { tempDir } from '../../../src/testing/tools.js';
import { compareTree, compareWithDebugfs, copyIn, debugfs, fsck, indexDirs, mke2fs, mountImage, resolve, services, sharedTree } from './helpers.js';

const work = await tempDir('ext2fs-write-');
after(async () => {
  await work.cleanup();
  await (await sharedTree()).cleanup();
});
const opts = { files: 200, bigDir: 300, hugeSparse: false, noSparse: true };
const t = () => services().now();

for (const [type, extra] of [['ext4', []], ['ext2', []], ['ext3', []], ['ext4', ['-b', '1024', '-O', '^metadata_csum,^64bit']]] as const) {
  test(`a tree written into a fresh ${type} ${extra.join(' ')} image passes e2fsck and reads back through debugfs`, async () => {
    const tree = await sharedTree(opts);
    const img = join(work.path, `fresh-${type}-${extra.length}.img`);
    const bytes = await mke2fs(img, type, '64M', [...extra]);
    const m = await mountImage(bytes, { readonly: false });
    const n = await copyIn(m, tree.path);
    assert.ok(n > 500, `copied ${n}`);
    await m.sync();
    await m.unmount();
    await writeFile(img, bytes);
    await fsck(img);
    await compareWithDebugfs(img, tree.path);
    const m2 = await mountImage(bytes);
    await compareTree(m2, tree.path);
  });
}

test('a tree written into a pre-populated image with hashed directories; the index survives growth and shrinking', async () => {
  const tree = await sharedTree(opts);
  const img = join(work.path, 'prepop.img');
  await mke2fs(img, 'ext4', '64M', [], tree.path);
  const bytes = await indexDirs(img);
  const m = await mountImage(bytes, { readonly: false });
  const root = await m.vget(m.rootKey);
  await root.mkdir('copy', { type: 'dir', mode: 0o755, uid: 0, gid: 0, time: t() });
  await copyIn(m, tree.path, '/copy');
  const wide = await resolve(m, '/wide');
  for (let i = 0; i < 300; i += 2) {
    const name = `entry-with-a-longish-name-${i}`;
    const key = (await wide.lookup(name))!;
    await wide.remove(name, await m.vget(key), t());
    await (await m.vget(key)).inactive!();
  }
  // Enough new names to split leaves: the index must stay (not be dropped).
  for (let i = 0; i < 1500; i++) await wide.create(`new-${i}`, { type: 'reg', mode: 0o644, uid: 0, gid: 0, time: t() });
  await m.sync();
  await m.unmount();
  await writeFile(img, bytes);
  await fsck(img);
  const ls = await debugfs(img, 'ls -l /wide');
  assert.equal((ls.match(/^\s*[1-9]\d*\s.*entry-with-a-longish-name-/gm) ?? []).length, 150);
  assert.equal((ls.match(/ new-\d+/g) ?? []).length, 1500);
  assert.match(await debugfs(img, 'htree /wide'), /Root node dump/);
  assert.match(await debugfs(img, 'stat /wide'), /Flags: 0x[0-9a-f]*1[0-9a-f]{3}\b/, 'index flag kept');
  const m2 = await mountImage(bytes);
  const w2 = await resolve(m2, '/wide');
  assert.equal(await w2.lookup('entry-with-a-longish-name-2'), null);
  assert.ok((await w2.lookup('entry-with-a-longish-name-3')) !== null);
  for (let i = 0; i < 1500; i += 7) assert.ok((await w2.lookup(`new-${i}`)) !== null, `new-${i}`);
});

test('a fragmented file grows its extent tree to depth 2 and shrinks back, e2fsck clean', async () => {
  const img = join(work.path, 'deep.img');
  const bytes = await mke2fs(img, 'ext4', '16M', ['-b', '1024']);
  const m = await mountImage(bytes, { readonly: false });
  const root = await m.vget(m.rootKey);
  const f = await m.vget(await root.create('frag', { type: 'reg', mode: 0o644, uid: 0, gid: 0, time: t() }));
  const g = await m.vget(await root.create('other', { type: 'reg', mode: 0o644, uid: 0, gid: 0, time: t() }));
  const blk = Buffer.alloc(1024);
  // Interleaving two files' blocks keeps every extent of `frag` one block long.
  for (let i = 0; i < 400; i++) {
    blk.fill(i & 0xff);
    blk.writeUInt32LE(i, 0);
    await f.write(blk, i * 2048, t());
    await g.write(blk, i * 1024, t());
  }
  await m.sync();
  await writeFile(img, bytes);
  await fsck(img);
  const ex = await debugfs(img, 'ex /frag');
  assert.match(ex, /^\s*2\/\s*2/m, 'a level-2 node exists');
  const dump = await run2(img, 'cat /frag');
  for (let i = 0; i < 400; i++) {
    assert.equal(dump.readUInt32LE(i * 2048), i);
    if (i < 399) assert.equal(dump[i * 2048 + 1024], 0, 'holes read as zeros');
  }
  await f.setattr({ size: 2048 * 10 });
  await m.sync();
  await m.unmount();
  await writeFile(img, bytes);
  await fsck(img);
  const ex2 = await debugfs(img, 'ex /frag');
  assert.match(ex2, /^\s*0\/\s*1/m, 'depth 1 after shrinking');
  assert.doesNotMatch(ex2, /^\s*2\/\s*2/m);
});

async function run2(img: string, cmd: string): Promise<Buffer> {
  const { run } = await import('../../../src/testing/tools.js');
  return (await run('debugfs', ['-R', cmd, img])).stdout;
}

test('running out of blocks and of inodes answers ENOSPC and leaves a consistent file system', async () => {
  const img = join(work.path, 'full.img');
  const bytes = await mke2fs(img, 'ext4', '2M', ['-N', '64']);
  const m = await mountImage(bytes, { readonly: false });
  const root = await m.vget(m.rootKey);
  const f = await m.vget(await root.create('big', { type: 'reg', mode: 0o644, uid: 0, gid: 0, time: t() }));
  const chunk = Buffer.alloc(65536, 7);
  let off = 0;
  await assert.rejects(async () => {
    for (;;) {
      await f.write(chunk, off, t());
      off += chunk.length;
    }
  }, { code: 'ENOSPC' });
  await assert.rejects(async () => {
    for (let i = 0; ; i++) await root.create(`n${i}`, { type: 'reg', mode: 0o644, uid: 0, gid: 0, time: t() });
  }, { code: 'ENOSPC' });
  await m.sync();
  await m.unmount();
  await writeFile(img, bytes);
  await fsck(img);
});

test('a create, mkdir or symlink that fails for want of space leaves no inode behind: e2fsck clean', async () => {
  for (const kind of ['create', 'mkdir', 'symlink'] as const) {
    const img = join(work.path, `full-${kind}.img`);
    const bytes = await mke2fs(img, 'ext4', '2M', ['-N', '512']);
    const m = await mountImage(bytes, { readonly: false });
    const root = await m.vget(m.rootKey);
    const f = await m.vget(await root.create('big', { type: 'reg', mode: 0o644, uid: 0, gid: 0, time: t() }));
    const chunk = Buffer.alloc(65536, 7);
    await assert.rejects(async () => {
      for (let off = 0; ; off += chunk.length) await f.write(chunk, off, t());
    }, { code: 'ENOSPC' });
    // Names long enough that the root directory's block fills within a few dozen entries: a create then needs
    // a new directory block; a directory and a long symlink need a block of their own at once.
    const node = { uid: 0, gid: 0, time: t() };
    let made = 0;
    await assert.rejects(async () => {
      for (let i = 0; ; i++) {
        const name = `${'x'.repeat(200)}${i}`;
        if (kind === 'create') await root.create(name, { ...node, type: 'reg', mode: 0o644 });
        else if (kind === 'mkdir') await root.mkdir(name, { ...node, type: 'dir', mode: 0o755 });
        else await root.symlink(name, 'y'.repeat(100), { ...node, type: 'lnk', mode: 0o777 });
        made++;
      }
    }, { code: 'ENOSPC' });
    if (kind === 'create') assert.ok(made > 0, 'some files were made before the directory had to grow');
    await m.sync();
    await m.unmount();
    await writeFile(img, bytes);
    await fsck(img);
  }
});

test('a file unlinked while open is an orphan: freed on inactive, or by the next read-write mount', async () => {
  const img = join(work.path, 'orphan.img');
  const bytes = await mke2fs(img, 'ext4', '16M', []);
  const m = await mountImage(bytes, { readonly: false });
  const root = await m.vget(m.rootKey);
  const before = (await m.statvfs()).bfree;
  const f = await m.vget(await root.create('o', { type: 'reg', mode: 0o644, uid: 0, gid: 0, time: t() }));
  await f.write(Buffer.alloc(1024 * 1024, 1), 0, t());
  await root.remove('o', f, t());
  await m.sync();
  // The system stops here, before the last close: the image has an orphan.
  const crashed = bytes.slice();
  assert.match(await debugfs((await writeFile(img, crashed), img), 'stats'), /First orphan inode:\s+\d+/);
  const m2 = await mountImage(crashed, { readonly: false });
  assert.equal((await m2.statvfs()).bfree, before);
  await m2.unmount();
  await writeFile(img, crashed);
  await fsck(img);
  // And without the crash: inactive() frees it.
  await f.inactive!();
  await m.sync();
  assert.equal((await m.statvfs()).bfree, before);
  await m.unmount();
  await writeFile(img, bytes);
  await fsck(img);
});

test('extended attributes written in the inode and in a block read back through debugfs', async () => {
  const img = join(work.path, 'xattr.img');
  const bytes = await mke2fs(img, 'ext4', '16M', []);
  const m = await mountImage(bytes, { readonly: false });
  const root = await m.vget(m.rootKey);
  const f = await m.vget(await root.create('x', { type: 'reg', mode: 0o644, uid: 0, gid: 0, time: t() }));
  await f.setxattr!('user.small', Buffer.from('tiny'), {});
  await f.setxattr!('user.large', Buffer.alloc(700, 0x61), {});
  await f.setxattr!('trusted.t', Buffer.from('tt'), {});
  await f.removexattr!('trusted.t');
  await m.sync();
  await m.unmount();
  await writeFile(img, bytes);
  await fsck(img);
  const list = await debugfs(img, 'ea_list /x');
  assert.match(list, /user\.small.*tiny/);
  assert.match(list, /user\.large/);
  assert.doesNotMatch(list, /trusted\.t/);
  assert.ok((await run2(img, 'ea_get /x user.large')).toString().includes(`"${'a'.repeat(700)}"`));
});

test('writing past 4 GiB, into inline files and inline directories keeps e2fsck clean', async () => {
  const dir = join(work.path, 'inl-tree');
  const { mkdir } = await import('node:fs/promises');
  await mkdir(join(dir, 'd'), { recursive: true });
  await writeFile(join(dir, 'd', 'a'), 'a');
  await writeFile(join(dir, 'small'), 'tiny');
  const img = join(work.path, 'inl.img');
  const bytes = await mke2fs(img, 'ext4', '16M', ['-O', 'inline_data', '-b', '4096'], dir);
  const m = await mountImage(bytes, { readonly: false });
  const d = await resolve(m, '/d');
  for (let i = 0; i < 30; i++) await d.create(`entry-${i}`, { type: 'reg', mode: 0o600, uid: 1, gid: 2, time: t() });
  const small = await resolve(m, '/small');
  await small.write(Buffer.from('-grown-well-beyond-the-sixty-bytes-of-the-inode-block-map-area-'), 4, t());
  const root = await m.vget(m.rootKey);
  const huge = await m.vget(await root.create('huge', { type: 'reg', mode: 0o644, uid: 0, gid: 0, time: t() }));
  await huge.write(Buffer.from('far away'), 5 * 1024 ** 3, t());
  await m.unmount();
  await writeFile(img, bytes);
  await fsck(img);
  assert.equal((await run2(img, 'cat /small')).toString(), 'tiny-grown-well-beyond-the-sixty-bytes-of-the-inode-block-map-area-');
  assert.match(await debugfs(img, 'ls /d'), /entry-29/);
  assert.match(await debugfs(img, 'stat /huge'), /Size: 5368709128/);
  const m2 = await mountImage(bytes);
  const h = await resolve(m2, '/huge');
  const b = Buffer.alloc(8);
  await h.read(b, 5 * 1024 ** 3);
  assert.equal(b.toString(), 'far away');
});

test('blocks freed below the allocator\'s search hint are found again: fill, delete the first files, fill again', async () => {
  const img = join(work.path, 'refill.img');
  const bytes = await mke2fs(img, 'ext4', '4M', ['-N', '1024']);
  const m = await mountImage(bytes, { readonly: false });
  const root = await m.vget(m.rootKey);
  const chunk = Buffer.alloc(16384, 5);
  const fill = async (prefix: string): Promise<number> => {
    let n = 0;
    try {
      for (;; n++) {
        const f = await m.vget(await root.create(`${prefix}${n}`, { type: 'reg', mode: 0o644, uid: 0, gid: 0, time: t() }));
        await f.write(chunk, 0, t());
      }
    } catch (e) {
      assert.equal((e as { code?: string }).code, 'ENOSPC');
    }
    return n;
  };
  const first = await fill('a');
  assert.ok(first > 20, `wrote ${first} files`);
  // The earliest files hold the lowest blocks of their group: freeing them must move the hint back down.
  for (let i = 0; i < 10; i++) {
    const vp = await m.vget((await root.lookup(`a${i}`))!);
    await root.remove(`a${i}`, vp, t());
    await vp.inactive?.();
  }
  const again = await fill('b');
  assert.ok(again >= 9, `refilled ${again} files after freeing 10`);
  await m.sync();
  await m.unmount();
  await writeFile(img, bytes);
  await fsck(img);
});
