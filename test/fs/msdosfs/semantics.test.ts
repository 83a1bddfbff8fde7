/**
 * What FAT cannot do is answered, not faked: forbidden characters EINVAL, symlinks and hard links
 * EOPNOTSUPP, chown EPERM unless it matches the mount's owner, EFBIG beyond 4 GiB - 1, ENOSPC when the
 * fixed FAT12/16 root directory is full; mount options uid/gid/mask/dirmask/tz; the read-only attribute;
 * the dirty flag set while mounted read-write and cleared at unmount; short names mtools agrees with.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryDevice } from '../../../src/dev/blockdev.js';
import { parseOptions } from '../../../src/vfs/types.js';
import { O_CREAT, O_RDONLY, O_WRONLY } from '../../../src/vfs/fcntl.js';
import { newfsMsdos } from '../../../src/fs/msdosfs/newfs.js';
import { fsckFat, mountImage, mtoolsExtract, MTOOLS_ENV } from './helpers.js';
import { readImage, run, tempDir } from '../../../src/testing/tools.js';
import { readFile, writeFile } from '../../../src/testing/hostfs.js';
import { msdosfs } from '../../../src/fs/msdosfs/index.js';
import { join } from 'node:path';

const services = { now: () => ({ sec: 1700000000, nsec: 0 }), log: () => undefined, random: (b: Uint8Array) => b.fill(1), monotonic: () => 0n };

async function fresh(fat: 12 | 16 | 32): Promise<Uint8Array> {
  const dev = MemoryDevice.zeroed(fat === 32 ? 34 * 1024 * 1024 : fat === 16 ? 16 * 1024 * 1024 : 4 * 1024 * 1024);
  await newfsMsdos(dev, { options: parseOptions({ fat }) }, services);
  return dev.bytes;
}

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (e) {
    return String((e as { code?: string }).code);
  }
}

test('unsupported operations and names are refused with the right errno', async () => {
  const { kernel, proc, host } = await mountImage(await fresh(16), { options: 'uid=1000,gid=100,mask=644,dirmask=755' });
  for (const bad of ['a:b', 'a*b', 'what?', 'x<y', 'pipe|', 'back\\slash', 'quote"', 'tab\tname', 'trailing.', 'trailing ']) {
    assert.equal(await code(proc.open(`/mnt/${bad}`, O_CREAT | O_WRONLY, 0o644)), 'EINVAL', bad);
  }
  const fd = await proc.open('/mnt/file.txt', O_CREAT | O_WRONLY, 0o644);
  await proc.close(fd);
  assert.equal(await code(proc.symlink('file.txt', '/mnt/link')), 'EOPNOTSUPP');
  assert.equal(await code(proc.link('/mnt/file.txt', '/mnt/hard')), 'EOPNOTSUPP');
  assert.equal(await code(proc.mknod('/mnt/fifo', 0o010644)), 'EOPNOTSUPP');
  assert.equal(await code(proc.chown('/mnt/file.txt', 0, 0)), 'EPERM');
  assert.equal(await code(proc.chown('/mnt/file.txt', 1000, 100)), 'ok');
  const st = await proc.stat('/mnt/file.txt');
  assert.equal(st.uid, 1000);
  assert.equal(st.gid, 100);
  assert.equal(st.mode & 0o777, 0o644);
  assert.equal((await proc.stat('/mnt')).mode & 0o777, 0o755);
  // The read-only attribute is the write bits.
  await proc.chmod('/mnt/file.txt', 0o444);
  assert.equal((await proc.stat('/mnt/file.txt')).mode & 0o777, 0o444);
  await proc.chmod('/mnt/file.txt', 0o644);
  // 4 GiB - 1 is the largest file.
  const fd2 = await proc.open('/mnt/big', O_CREAT | O_WRONLY, 0o644);
  assert.equal(await code(proc.pwrite(fd2, new Uint8Array(1), 0xffffffff)), 'EFBIG');
  await proc.close(fd2);
  // Case-insensitive, case-preserving.
  assert.equal((await proc.stat('/mnt/FILE.TXT')).ino, st.ino);
  assert.deepEqual((await proc.readdir('/mnt')).map((e) => e.name).sort(), ['big', 'file.txt']);
  assert.equal(await code(proc.mkdir('/mnt/File.Txt')), 'EEXIST');
  await kernel.halt();
  await fsckFat(host.fileBytes('image')!);
});

test('FAT12/16: a full root directory is ENOSPC; FAT32 and subdirectories grow, and shrink again', async () => {
  const { kernel, proc, host } = await mountImage(await fresh(12));
  let made = 0;
  let err = 'ok';
  for (let i = 0; i < 600 && err === 'ok'; i++) {
    err = await code(proc.mkdir(`/mnt/D${i}`));
    if (err === 'ok') made++;
  }
  assert.equal(err, 'ENOSPC');
  assert.equal(made, 512);
  // A subdirectory grows past one cluster, then shrinks when emptied.
  await proc.mkdir('/mnt/D0/many');
  for (let i = 0; i < 300; i++) await proc.mkdir(`/mnt/D0/many/a long directory name ${i}`);
  const grown = (await proc.stat('/mnt/D0/many')).size;
  for (let i = 0; i < 300; i++) await proc.rmdir(`/mnt/D0/many/a long directory name ${i}`);
  const shrunk = (await proc.stat('/mnt/D0/many')).size;
  assert.ok(grown > shrunk, `${grown} > ${shrunk}`);
  await kernel.halt();
  await fsckFat(host.fileBytes('image')!);
});

test('the dirty flag is set while mounted read-write and cleared at unmount; a read-only mount writes nothing', async () => {
  for (const fat of [16, 32] as const) {
    const img = await fresh(fat);
    const off = fat === 32 ? 65 : 37;
    const copy = img.slice();
    // FAT[1]'s clean-shutdown bit (0x8000 on FAT16, 0x08000000 on FAT32: its byte is the last of the entry).
    const fat1 = fat === 16 ? 2 + 1 : 4 + 3;
    const fatOff = new DataView(img.buffer, img.byteOffset).getUint16(14, true) * 512 + fat1;
    const bit = fat === 16 ? 0x80 : 0x08;
    assert.equal(img[fatOff]! & bit, bit);
    const { kernel, host } = await mountImage(img);
    assert.equal(host.fileBytes('image')![off]! & 1, 1);
    assert.equal(host.fileBytes('image')![fatOff]! & bit, 0);
    await kernel.halt();
    assert.equal(host.fileBytes('image')![off]! & 1, 0);
    assert.equal(host.fileBytes('image')![fatOff]! & bit, bit);
    await fsckFat(host.fileBytes('image')!);
    const ro = await mountImage(copy, { readonly: true });
    await ro.proc.readdir('/mnt');
    await ro.kernel.halt();
    assert.deepEqual(ro.host.fileBytes('image'), copy);
  }
});

test('times: tz= shifts what is stored; mtime has 2 s resolution', async () => {
  const a = await mountImage(await fresh(16));
  await a.proc.close(await a.proc.open('/mnt/t', O_CREAT | O_WRONLY, 0o644));
  await a.proc.utimens('/mnt/t', { sec: 1700000001, nsec: 0 }, { sec: 1700000001, nsec: 0 });
  assert.equal((await a.proc.stat('/mnt/t')).mtime.sec, 1700000000);
  await a.kernel.halt();
  const b = await mountImage(a.host.fileBytes('image')!, { readonly: true, options: 'tz=60' });
  assert.equal((await b.proc.stat('/mnt/t')).mtime.sec, 1700000000 - 3600);
  await b.kernel.halt();
});

test('short names are generated as mtools expects (~N tails, NT case flags) and long names survive', async () => {
  const { kernel, proc, host } = await mountImage(await fresh(16));
  const names = ['readme.txt', 'README.TXT2', 'Long File Name.text', 'Long File Name.texts', 'lower', 'MiXeD', 'ñandú.txt', 'a.b.c.d', '.hidden'];
  for (const n of names) {
    const fd = await proc.open(`/mnt/${n}`, O_CREAT | O_WRONLY, 0o644);
    await proc.write(fd, new TextEncoder().encode(n));
    await proc.close(fd);
  }
  await kernel.halt();
  const img = host.fileBytes('image')!;
  await fsckFat(img);
  const tree = await mtoolsExtract(img);
  for (const n of names) assert.equal(tree.get(n)?.toString(), n, n);
  const t = await tempDir('msdosfs-sn-');
  try {
    const p = join(t.path, 'i.img');
    await writeFile(p, img);
    const out = (await run('mdir', ['-i', p, '::/'], { env: MTOOLS_ENV })).stdout.toString();
    assert.match(out, /LONGFI~1 TEX/);
    assert.match(out, /LONGFI~2 TEX/);
  } finally {
    await t.cleanup();
  }
  const r = await mountImage(img, { readonly: true });
  const fd = await r.proc.open('/mnt/LONGFI~1.TEX', O_RDONLY);
  await r.proc.close(fd);
  await r.kernel.halt();
});

test('a whole-disk image with an MBR mounts its FAT partition (sfdisk + mkfs.fat --offset + mcopy)', async () => {
  const t = await tempDir('msdosfs-mbr-');
  try {
    const p = join(t.path, 'disk.img');
    await writeFile(p, new Uint8Array(40 * 1024 * 1024));
    await run('sfdisk', ['-q', p], { input: 'label: dos\nstart=2048, type=e\n' });
    await run('mkfs.fat', ['-F', '16', '--offset', '2048', p, String(39 * 1024)]);
    const f = join(t.path, 'In Partition.txt');
    await writeFile(f, 'inside');
    await run('mcopy', ['-i', `${p}@@1M`, f, '::/'], { env: MTOOLS_ENV });
    const bytes = await readImage(p);
    const probe = await msdosfs.probe!(new MemoryDevice(bytes, { readonly: true }));
    assert.equal(probe?.variant, 'FAT16');
    const { kernel, proc } = await mountImage(bytes, { readonly: true });
    const fd = await proc.open('/mnt/in partition.TXT', O_RDONLY);
    const buf = new Uint8Array(16);
    const n = await proc.read(fd, buf);
    assert.equal(new TextDecoder().decode(buf.subarray(0, n)), 'inside');
    await proc.close(fd);
    await kernel.halt();
  } finally {
    await t.cleanup();
  }
});

test('random unaligned preads and pwrites agree with a shadow copy, after remount and in mtools', async () => {
  let s = 12345;
  const rnd = (n: number) => {
    s = (s * 1103515245 + 12345) >>> 0;
    return s % n;
  };
  const shadow = new Uint8Array(300000);
  let size = 0;
  const a = await mountImage(await fresh(32));
  const fd = await a.proc.open('/mnt/random io.bin', O_CREAT | O_WRONLY, 0o644);
  for (let i = 0; i < 200; i++) {
    const off = rnd(250000);
    const len = 1 + rnd(i % 10 === 0 ? 40000 : 1500);
    const data = new Uint8Array(len).map(() => rnd(256));
    await a.proc.pwrite(fd, data, off);
    shadow.set(data, off);
    size = Math.max(size, off + len);
  }
  await a.proc.close(fd);
  const rfd = await a.proc.open('/mnt/random io.bin', O_RDONLY);
  for (let i = 0; i < 200; i++) {
    const off = rnd(size);
    const buf = new Uint8Array(1 + rnd(5000));
    const n = await a.proc.pread(rfd, buf, off);
    assert.equal(n, Math.min(buf.length, size - off));
    assert.deepEqual(buf.subarray(0, n), shadow.subarray(off, off + n), `pread at ${off}`);
  }
  await a.proc.close(rfd);
  await a.kernel.halt();
  const img = a.host.fileBytes('image')!;
  await fsckFat(img);
  const tree = await mtoolsExtract(img);
  assert.ok(tree.get('random io.bin')!.equals(Buffer.from(shadow.subarray(0, size))));
});
