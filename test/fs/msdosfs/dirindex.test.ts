/**
 * The per-directory name index (folded names and short aliases, plus the cache of names exactly as looked
 * up) stays right through rename, unlink, rmdir and re-creation in any spelling, and in a directory of
 * thousands of entries; fsck.fat and mtools agree with what the kernel shows afterwards.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryDevice } from '../../../src/dev/blockdev.js';
import { parseOptions } from '../../../src/vfs/types.js';
import { O_CREAT, O_WRONLY } from '../../../src/vfs/fcntl.js';
import { newfsMsdos } from '../../../src/fs/msdosfs/newfs.js';
import { msdosfs } from '../../../src/fs/msdosfs/index.js';
import type { Proc } from '../../../src/vfs/proc.js';
import { fsckFat, mountImage, mtoolsExtract, mtoolsImage, readAll } from './helpers.js';

const services = { now: () => ({ sec: 1700000000, nsec: 0 }), log: () => undefined, random: (b: Uint8Array) => b.fill(1), monotonic: () => 0n };

async function fresh(): Promise<Uint8Array> {
  const dev = MemoryDevice.zeroed(34 * 1024 * 1024);
  await newfsMsdos(dev, { options: parseOptions({ fat: 32 }) }, services);
  return dev.bytes;
}

async function put(p: Proc, path: string, text: string): Promise<void> {
  const fd = await p.open(path, O_CREAT | O_WRONLY, 0o644);
  await p.write(fd, Buffer.from(text));
  await p.close(fd);
}

async function errno(x: Promise<unknown>): Promise<string> {
  try {
    await x;
    return 'ok';
  } catch (e) {
    return String((e as { code?: string }).code);
  }
}

test('lookups in any spelling follow rename, unlink, rmdir and re-creation', async () => {
  const a = await mountImage(await fresh());
  const p = a.proc;
  await p.mkdir('/mnt/Dir', 0o755);
  await put(p, '/mnt/Dir/Some Long Name.txt', 'one');
  // Looked up in several spellings (each one remembered), and by its short alias.
  for (const n of ['Some Long Name.txt', 'SOME LONG NAME.TXT', 'some long name.txt', 'SOMELO~1.TXT', 'somelo~1.txt']) {
    assert.equal((await readAll(p, `/mnt/dir/${n}`)).toString(), 'one', n);
  }
  await p.rename('/mnt/DIR/some long NAME.txt', '/mnt/dir/Other.txt');
  for (const n of ['Some Long Name.txt', 'SOME LONG NAME.TXT', 'SOMELO~1.TXT']) assert.equal(await errno(p.stat(`/mnt/Dir/${n}`)), 'ENOENT', n);
  assert.equal((await readAll(p, '/mnt/Dir/OTHER.TXT')).toString(), 'one');
  assert.equal((await readAll(p, '/mnt/Dir/other.txt')).toString(), 'one');
  // A new file under the old name, spelled differently: the old spellings find the new file.
  await put(p, '/mnt/Dir/SOME long name.TXT', 'two');
  for (const n of ['Some Long Name.txt', 'SOME LONG NAME.TXT', 'some long name.txt']) {
    assert.equal((await readAll(p, `/mnt/Dir/${n}`)).toString(), 'two', n);
  }
  assert.deepEqual((await p.readdir('/mnt/Dir')).map((e) => e.name).filter((n) => n !== '.' && n !== '..').sort(), ['Other.txt', 'SOME long name.TXT']);
  // Unlink through one spelling: every spelling is gone.
  await p.unlink('/mnt/dir/some LONG name.txt');
  for (const n of ['Some Long Name.txt', 'SOME long name.TXT', 'SOMELO~1.TXT']) assert.equal(await errno(p.stat(`/mnt/Dir/${n}`)), 'ENOENT', n);
  // Rename over an existing file (spelled differently from how it was created and looked up).
  await put(p, '/mnt/Dir/victim.c', 'victim');
  assert.equal((await readAll(p, '/mnt/Dir/VICTIM.C')).toString(), 'victim');
  await p.rename('/mnt/Dir/Other.txt', '/mnt/Dir/Victim.C');
  assert.equal((await readAll(p, '/mnt/Dir/victim.c')).toString(), 'one');
  assert.equal(await errno(p.stat('/mnt/Dir/other.txt')), 'ENOENT');
  // Directories: rmdir through another spelling, then a file where it was.
  await p.mkdir('/mnt/Dir/Sub Dir', 0o755);
  assert.equal((await p.stat('/mnt/dir/SUB DIR')).mode & 0o170000, 0o040000);
  await p.rmdir('/mnt/DIR/sub dir');
  assert.equal(await errno(p.stat('/mnt/Dir/Sub Dir')), 'ENOENT');
  await put(p, '/mnt/Dir/sub dir', 'file now');
  assert.equal((await p.stat('/mnt/Dir/SUB DIR')).mode & 0o170000, 0o100000);
  // Many spellings of one name: all answer, whatever the cache keeps of them.
  let spelled = 0;
  for (let m = 0; m < 256; m++) {
    const n = [...'victim.c'].map((c, i) => (m >> i) & 1 ? c.toUpperCase() : c).join('');
    if ((await readAll(p, `/mnt/Dir/${n}`)).toString() === 'one') spelled++;
  }
  assert.equal(spelled, 256);
  await a.kernel.halt();
  const img = a.host.fileBytes('image')!;
  await fsckFat(img);
  const tree = await mtoolsExtract(img);
  assert.equal(tree.get('Dir/Victim.C')?.toString() ?? tree.get('Dir/victim.c')?.toString(), 'one');
  assert.equal(tree.get('Dir/sub dir')?.toString(), 'file now');
  assert.equal([...tree.keys()].filter((k) => k.startsWith('Dir/')).length, 2);
});

test('a directory of 3000 entries: creates, lookups and removals stay consistent', async () => {
  const a = await mountImage(await fresh());
  const p = a.proc;
  await p.mkdir('/mnt/big', 0o755);
  const n = 3000;
  for (let i = 0; i < n; i++) await put(p, `/mnt/big/Entry number ${i}.dat`, `${i}`);
  for (let i = 0; i < n; i += 7) assert.equal((await readAll(p, `/mnt/big/ENTRY NUMBER ${i}.DAT`)).toString(), `${i}`);
  for (let i = 0; i < n; i += 2) await p.unlink(`/mnt/big/entry number ${i}.dat`);
  for (let i = 0; i < n; i += 3) {
    const want = i % 2 ? `${i}` : 'ENOENT';
    const got = await readAll(p, `/mnt/big/Entry number ${i}.dat`).then((b) => b.toString(), (e: { code?: string }) => String(e.code));
    assert.equal(got, want, `entry ${i}`);
  }
  // Re-create some removed names: the free slots are reused.
  for (let i = 0; i < n; i += 10) await put(p, `/mnt/big/entry NUMBER ${i}.dat`, `again ${i}`);
  const names = (await p.readdir('/mnt/big')).map((e) => e.name).filter((x) => x !== '.' && x !== '..');
  assert.equal(names.length, n / 2 + n / 10);
  await a.kernel.halt();
  const img = a.host.fileBytes('image')!;
  await fsckFat(img);
  const tree = await mtoolsExtract(img);
  assert.equal(tree.get('big/entry NUMBER 20.dat')?.toString(), 'again 20');
  assert.equal(tree.get('big/Entry number 21.dat')?.toString(), '21');
  assert.equal([...tree.keys()].filter((k) => k.startsWith('big/')).length, n / 2 + n / 10);
});

test('an entry in the first slot of a root directory is indexed once (FAT12, FAT16, FAT32 without a label)', async () => {
  for (const fat of [12, 16, 32] as const) {
    const a = await mountImage(await mtoolsImage(fat, fat === 32 ? 34 * 1024 : fat === 16 ? 16384 : 2048));
    const p = a.proc;
    try {
      // A plain short name needs no long-name slot: it takes slot 0 of the empty root.
      await p.mkdir('/mnt/D', 0o755);
      assert.equal((await p.stat('/mnt')).nlink, 3, `FAT${fat}: the root counts its one subdirectory once`);
      await put(p, '/mnt/F.TXT', 'f');
      assert.deepEqual((await p.readdir('/mnt')).map((e) => e.name).filter((n) => n !== '.' && n !== '..').sort(), ['D', 'F.TXT']);
      await p.rmdir('/mnt/D');
      assert.equal((await p.stat('/mnt')).nlink, 2, `FAT${fat}: and none once it is gone`);
    } finally {
      await a.kernel.halt();
    }
    await fsckFat(a.host.fileBytes('image')!);
  }
});

test('a 255-character name across three 512-byte clusters, written with none of its blocks in memory', async () => {
  const dev = MemoryDevice.zeroed(4 * 1024 * 1024);
  await newfsMsdos(dev, { options: parseOptions({ fat: 16, spc: 1 }) }, services);
  const mp = await msdosfs.mount(dev, { readonly: false, options: new Map() }, services);
  const now = services.now();
  const root = await mp.vget(mp.rootKey);
  const sub = await mp.vget(await root.mkdir('sub', { type: 'dir', mode: 0o755, uid: 0, gid: 0, time: now }));
  // '.', '..', then 21 slots per name: the third name's slots 44..64 span clusters 2, 3 and 4 of the directory.
  const names = ['a', 'b', 'c'].map((ch) => ch.repeat(255));
  for (const n of names.slice(0, 2)) await sub.create(n, { type: 'reg', mode: 0o644, uid: 0, gid: 0, time: now });
  // Enough room, and the blocks out of the buffer cache (written back, then dropped); the index stays.
  const pad = await sub.create('PAD', { type: 'reg', mode: 0o644, uid: 0, gid: 0, time: now });
  for (let i = 0; i < 40; i++) await sub.create(`P${i}`, { type: 'reg', mode: 0o644, uid: 0, gid: 0, time: now });
  // An entry after the hole keeps the directory from shrinking when PAD and P* go.
  await sub.create('Z', { type: 'reg', mode: 0o644, uid: 0, gid: 0, time: now });
  const padNode = await mp.vget(pad);
  for (let i = 0; i < 40; i++) await sub.remove(`P${i}`, await mp.vget((await sub.lookup(`P${i}`))!), now);
  await sub.remove('PAD', padNode, now);
  await mp.sync();
  (mp as unknown as { bio: { purge(): void } }).bio.purge();
  await sub.create(names[2]!, { type: 'reg', mode: 0o644, uid: 0, gid: 0, time: now });
  await mp.unmount();
  await fsckFat(dev.bytes);
  const got = await mtoolsExtract(dev.bytes);
  for (const n of [...names, 'Z']) assert.ok(got.has(`sub/${n}`), `sub/${n.slice(0, 8)}... (${[...got.keys()].map((k) => k.slice(0, 12)).join(', ')})`);
});
