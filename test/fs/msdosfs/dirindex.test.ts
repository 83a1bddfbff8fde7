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
import type { Proc } from '../../../src/vfs/proc.js';
import { fsckFat, mountImage, mtoolsExtract, readAll } from './helpers.js';

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
