// toyfs, test first: each step of docs/writing-a-driver.md starts with one of these tests.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Kernel } from '../../../src/kern/kernel.js';
import { MemoryDevice } from '../../../src/dev/blockdev.js';
import { O_CREAT, O_RDONLY, O_WRONLY } from '../../../src/vfs/fcntl.js';
import { newfs, toyfs } from '../../../src/fs/toyfs/index.js';
import { fsckToyfs } from '../../../src/fs/toyfs/fsck.js';
import { BLOCK, INODE_SIZE, ROOT_INO } from '../../../src/fs/toyfs/layout.js';

/** Step 1: a fresh toyfs mounts, and its root holds nothing. */
test('newfs makes an empty file system that mounts and checks clean', async () => {
  const dev = MemoryDevice.zeroed(1024 * 1024);
  await newfs(dev);
  assert.deepEqual(fsckToyfs(dev.bytes), []);
  const k = await Kernel.boot({ components: [toyfs] });
  await k.etfs.register('/dev/toy0', dev);
  const p = k.newProc();
  await p.mount('toyfs', '/mnt', { source: '/dev/toy0' });
  assert.deepEqual(await p.readdir('/mnt'), []);
  assert.equal((await p.stat('/mnt')).mode, 0o40755);
  await k.halt();
  assert.deepEqual(fsckToyfs(dev.bytes), []);
});

/** Step 2: what is written is there after unmount and mount. */
test('files and directories survive a remount', async () => {
  const dev = MemoryDevice.zeroed(1024 * 1024);
  await newfs(dev);
  for (const round of [1, 2]) {
    const k = await Kernel.boot({ components: [toyfs] });
    await k.etfs.register('/dev/toy0', dev);
    const p = k.newProc();
    await p.mount('toyfs', '/mnt', { source: '/dev/toy0' });
    if (round === 1) {
      await p.mkdir('/mnt/docs');
      const fd = await p.open('/mnt/docs/hello.txt', O_CREAT | O_WRONLY, 0o644);
      await p.write(fd, new TextEncoder().encode('hello, toyfs\n'));
      await p.close(fd);
    } else {
      const fd = await p.open('/mnt/docs/hello.txt', O_RDONLY);
      const buf = new Uint8Array(100);
      const n = await p.read(fd, buf);
      await p.close(fd);
      assert.equal(new TextDecoder().decode(buf.subarray(0, n)), 'hello, toyfs\n');
      assert.equal((await p.stat('/mnt/docs')).nlink, 2);
      assert.equal((await p.stat('/mnt')).nlink, 3);
    }
    await k.halt();
    assert.deepEqual(fsckToyfs(dev.bytes), []);
  }
});

/** Step 3: a hostile image is refused at mount (EFTYPE) or answers EIO later — never a crash. */
test('a corrupt superblock is EFTYPE, a corrupt directory entry is EIO with a diagnostic', async () => {
  const dev = MemoryDevice.zeroed(256 * 1024);
  await newfs(dev);
  const bad = dev.bytes.slice();
  bad[8] = 0xff; // block count beyond the device
  bad[9] = 0xff;
  const k = await Kernel.boot({ components: [toyfs] });
  await k.etfs.register('/dev/bad', bad);
  const p = k.newProc();
  await assert.rejects(p.mount('toyfs', '/mnt', { source: '/dev/bad' }), { code: 'EFTYPE' });

  // The root's first entry points at an inode past the table.
  const rootInode = 3 * BLOCK + ROOT_INO * INODE_SIZE;
  const rootBlock = new DataView(dev.bytes.buffer).getUint32(rootInode + 44, true);
  new DataView(dev.bytes.buffer).setUint32(rootBlock * BLOCK, 0xfffffff0, true);
  await k.etfs.register('/dev/toy0', dev, { readonly: true });
  await p.mount('toyfs', '/mnt', { source: '/dev/toy0', readonly: true });
  await assert.rejects(p.readdir('/mnt'), { code: 'EIO' });
  assert.ok(k.consoleLines.some((l) => l.includes('toyfs: directory 1: bad entry')));
  await k.halt();
});

/** Step 4: the checker is an oracle that can fail — it sees damage. */
test('the checker finds a wrong link count, a leaked block and a wrong free count', async () => {
  const dev = MemoryDevice.zeroed(256 * 1024);
  await newfs(dev);
  const img = dev.bytes;
  const rootInode = 3 * BLOCK + ROOT_INO * INODE_SIZE;
  const damaged1 = img.slice();
  damaged1[rootInode + 2] = 7; // nlink
  assert.match(fsckToyfs(damaged1).join('\n'), /inode 1: link count 7, found 2/);
  const damaged2 = img.slice();
  damaged2[BLOCK + 20] = 0xff; // blocks marked used that nothing holds
  assert.match(fsckToyfs(damaged2).join('\n'), /bitmap says used, it is free/);
  const damaged3 = img.slice();
  damaged3[24] ^= 1; // free-block count
  assert.match(fsckToyfs(damaged3).join('\n'), /free blocks, bitmap has/);
});
