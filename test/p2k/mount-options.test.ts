/**
 * rumpMount's choices before FUSE: probing the type when none is given, a partition of an MBR image, read-only
 * by default, failures that leave nothing mounted (an unrecognised image, a missing partition), and the
 * foreground mode.
 * Images come from mke2fs and sfdisk; the partitioned image is checked by e2fsck afterwards.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { run, tempDir, requireTool } from '../../src/testing/tools.js';
import { rumpMount } from '../../src/p2k/mount.js';
import { spawn } from 'node:child_process';
import { withMount, isMounted, modulePath, nodeArgs, sh } from './helpers.js';

const EXT2FS = modulePath('../../src/fs/ext2fs/index');

test('type probed, MBR partition chosen, read-only by default; failures leave nothing mounted', async () => {
  requireTool('sfdisk');
  requireTool('mke2fs');
  const dir = await tempDir('p2k-opts-');
  try {
    // An MBR disk: partition 1 (1 MiB..) empty, partition 2 holds ext2 made by mke2fs.
    const part = join(dir.path, 'part.img');
    const seed = join(dir.path, 'seed');
    await fs.mkdir(seed);
    await fs.writeFile(join(seed, 'in-partition-2'), 'yes\n');
    await run('mke2fs', ['-q', '-F', '-t', 'ext2', '-d', seed, part, '8M']);
    const disk = join(dir.path, 'disk.img');
    await fs.writeFile(disk, new Uint8Array(20 * 1024 * 1024));
    await run('sfdisk', ['-q', disk], { input: 'label: dos\nstart=2048, size=4096, type=83\nstart=8192, size=16384, type=83\n' });
    const h = await fs.open(disk, 'r+');
    await h.write(await fs.readFile(part), 0, undefined, 8192 * 512);
    await h.close();

    await withMount({ image: disk, partition: 2, options: { componentModules: [EXT2FS] } }, async (mnt) => {
      assert.equal(await fs.readFile(join(mnt, 'in-partition-2'), 'utf8'), 'yes\n');
      await assert.rejects(fs.writeFile(join(mnt, 'x'), 'y'), { code: 'EROFS' });
      const line = (await fs.readFile('/proc/self/mounts', 'utf8')).split('\n').find((l) => l.split(' ')[1] === mnt);
      assert.match(line ?? '', / fuse\.rump ro,/);
    });
    const fsck = await run('e2fsck', ['-fn', part], { allowFail: true });
    assert.equal(fsck.code, 0);

    const mnt = join(dir.path, 'mnt');
    await fs.mkdir(mnt);
    await assert.rejects(rumpMount({ image: disk, partition: 3, mountpoint: mnt, options: { componentModules: [EXT2FS] } }), { code: 'ENXIO' });
    const junk = join(dir.path, 'junk.img');
    await fs.writeFile(junk, randomBytes(1024 * 1024));
    await assert.rejects(rumpMount({ image: junk, mountpoint: mnt, options: { componentModules: [EXT2FS] } }), { code: 'EFTYPE' });
    await assert.rejects(rumpMount({ image: join(dir.path, 'absent.img'), mountpoint: mnt }), { code: 'ENOENT' });
    assert.equal(await isMounted(mnt), false);
  } finally {
    await dir.cleanup();
  }
});

test('foreground: the call lasts as long as the mount; SIGTERM unmounts and ends it', async () => {
  const dir = await tempDir('p2k-fg-');
  try {
    const mnt = join(dir.path, 'mnt');
    await fs.mkdir(mnt);
    const script = join(dir.path, 'fg.mjs');
    await fs.writeFile(script, `
      const { rumpMount } = await import(${JSON.stringify(modulePath('../../src/p2k/mount'))});
      await rumpMount({ mountpoint: ${JSON.stringify(mnt)}, type: 'tmpfs', options: { rw: true }, foreground: true });
      console.log('foreground ended');
    `);
    const child = spawn(process.execPath, [...nodeArgs(), script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (b: Buffer) => { out += b.toString(); });
    child.stderr.on('data', (b: Buffer) => { out += b.toString(); });
    const exited = new Promise<number | null>((res) => child.on('exit', (code) => res(code)));
    try {
      for (let i = 0; i < 300 && !(await isMounted(mnt)); i++) await new Promise((r) => setTimeout(r, 50));
      assert.ok(await isMounted(mnt), `mounted in the foreground: ${out}`);
      await fs.writeFile(join(mnt, 'f'), 'fg');
      assert.equal(await fs.readFile(join(mnt, 'f'), 'utf8'), 'fg');
      child.kill('SIGTERM');
      assert.equal(await exited, 0);
      assert.match(out, /foreground ended/);
      assert.equal(await isMounted(mnt), false);
    } finally {
      if (await isMounted(mnt)) await sh('umount', ['-l', mnt]);
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  } finally {
    await dir.cleanup();
  }
});
