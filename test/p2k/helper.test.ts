/**
 * mount.rump as mount(8) runs it: `mount -t rump ...` and an fstab line, checked through /proc/mounts and host
 * system calls; plain umount(8) also ends the daemon. The helper is installed as /sbin/mount.rump for the test
 * (a wrapper running this source tree) and removed afterwards unless it was there before.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../../src/testing/tools.js';
import { parseRumpOptions } from '../../src/p2k/options.js';
import { isMounted, mustSh, sh, modulePath, nodeArgs } from './helpers.js';

test('parseRumpOptions splits FUSE, mount(8) and driver options', () => {
  assert.deepEqual(parseRumpOptions('ro,type=ext4,allow_other,defaults,noauto,uid=1000,x-systemd.automount,nocsum,attr_timeout=2.5,partition=2'), {
    type: 'ext4', partition: 2,
    options: { rw: false, allow_other: true, attr_timeout: 2.5, fsOptions: 'uid=1000,nocsum' },
  });
  assert.deepEqual(parseRumpOptions('rw,default_permissions,isolation=worker,watchdog=5000'), {
    options: { rw: true, default_permissions: true, isolation: 'worker', timeoutMs: 5000 },
  });
  assert.throws(() => parseRumpOptions('type=../../x'), { code: 'EINVAL' });
  assert.throws(() => parseRumpOptions('partition=0'), { code: 'EINVAL' });
  assert.throws(() => parseRumpOptions('isolation=none'), { code: 'EINVAL' });
});

const HELPER = '/sbin/mount.rump';
const MARK = '# anykernel p2k test helper';

async function installHelper(): Promise<boolean> {
  if (existsSync(HELPER)) {
    const text = await fs.readFile(HELPER, 'utf8').catch(() => '');
    if (!text.includes(MARK)) return false; // a real installation: use it
  }
  const script = modulePath('../../src/p2k/mount-helper');
  const args = [...nodeArgs(), script].map((a) => `'${a}'`).join(' ');
  await fs.writeFile(HELPER, `#!/bin/sh\n${MARK}\nexec '${process.execPath}' ${args} "$@"\n`, { mode: 0o755 });
  return true;
}

async function daemonGone(mnt: string): Promise<void> {
  // After a plain umount the daemon syncs, halts its kernel and exits: its state file goes last.
  const { tmpdir } = await import('node:os');
  const state = join(tmpdir(), 'anykernel-p2k', encodeURIComponent(mnt) + '.json');
  for (let i = 0; i < 300 && existsSync(state); i++) await new Promise((r) => setTimeout(r, 50));
  assert.equal(existsSync(state), false, 'the daemon finished');
}

test('mount -t rump and an fstab line mount through the helper; umount(8) unmounts', async () => {
  const installed = await installHelper();
  const dir = await tempDir('p2k-helper-');
  const mnt = join(dir.path, 'mnt');
  await fs.mkdir(mnt);
  try {
    await mustSh('mount', ['-t', 'rump', '-o', 'rw,type=tmpfs,attr_timeout=0.5', 'none', mnt]);
    const line = (await fs.readFile('/proc/self/mounts', 'utf8')).split('\n').find((l) => l.split(' ')[1] === mnt);
    assert.ok(line, 'mounted');
    assert.match(line!, /^\S+ \S+ fuse\.rump rw,nosuid,nodev/);
    await fs.writeFile(join(mnt, 'hello'), 'world');
    assert.equal(await fs.readFile(join(mnt, 'hello'), 'utf8'), 'world');
    await mustSh('umount', [mnt]);
    assert.equal(await isMounted(mnt), false);
    await daemonGone(mnt);

    const fstab = join(dir.path, 'fstab');
    await fs.writeFile(fstab, `# test\nnone ${mnt} rump ro,type=tmpfs,noauto 0 0\n`);
    await mustSh('mount', ['-T', fstab, mnt]);
    const line2 = (await fs.readFile('/proc/self/mounts', 'utf8')).split('\n').find((l) => l.split(' ')[1] === mnt);
    assert.match(line2 ?? '', / fuse\.rump ro,/);
    await assert.rejects(fs.writeFile(join(mnt, 'x'), 'y'), { code: 'EROFS' });
    assert.deepEqual(await fs.readdir(mnt), []);
    await mustSh('umount', [mnt]);
    await daemonGone(mnt);

    // A failing mount reports through mount(8)'s exit status, leaving nothing mounted.
    const bad = await sh('mount', ['-t', 'rump', '-o', 'type=nosuchfs', join(dir.path, 'fstab'), mnt]);
    assert.notEqual(bad.code, 0);
    assert.match(bad.out, /mount\.rump/);
    assert.equal(await isMounted(mnt), false);
  } finally {
    if (await isMounted(mnt)) await sh('umount', ['-l', mnt]);
    if (installed) await fs.rm(HELPER, { force: true });
    await dir.cleanup();
  }
});
