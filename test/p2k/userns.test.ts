/**
 * What works without root, verified rather than claimed: an unprivileged user (nobody) inside a user and
 * mount namespace (`unshare -Urm`) mounts with rump mount when it can open a FUSE device node. Our own device
 * node (c 10 229, mode 0666, in a temporary directory) stands in for a distribution's world-usable /dev/fuse,
 * so the host's /dev/fuse is left alone. The kernel runs in a worker (see docs/fuse.md for the process server).
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import { join } from 'node:path';
import { tempDir, requireTool } from '../../src/testing/tools.js';
import { sh, modulePath, nodeArgs } from './helpers.js';

test('nobody in a user namespace mounts, writes, lists and unmounts', async () => {
  requireTool('unshare');
  requireTool('setpriv');
  const dir = await tempDir('p2k-userns-');
  try {
    await fs.chmod(dir.path, 0o755);
    const dev = join(dir.path, 'fuse');
    await sh('mknod', [dev, 'c', '10', '229']).then((r) => assert.equal(r.code, 0, r.out));
    await fs.chmod(dev, 0o666);
    const mnt = join(dir.path, 'm');
    await fs.mkdir(mnt);
    await fs.chmod(mnt, 0o777);
    const mountTs = modulePath('../../src/p2k/mount');
    const script = join(dir.path, 't.mjs');
    await fs.writeFile(script, `
      const { rumpMount, rumpUmount } = await import(${JSON.stringify(mountTs)});
      const fs = await import('node:fs/promises');
      const mnt = ${JSON.stringify(mnt)};
      await rumpMount({ mountpoint: mnt, type: 'tmpfs', options: { rw: true, isolation: 'worker' } });
      try {
        await fs.mkdir(mnt + '/d');
        await fs.writeFile(mnt + '/d/hello', 'from a user namespace');
        console.log(JSON.stringify({ list: await fs.readdir(mnt + '/d'), text: await fs.readFile(mnt + '/d/hello', 'utf8') }));
      } finally {
        await rumpUmount(mnt);
      }
    `, { mode: 0o644 });
    const r = await sh('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'env', `HOME=${dir.path}`, `RUMP_FUSE_DEVICE=${dev}`,
      'unshare', '-Urm', process.execPath, ...nodeArgs(), script], { cwd: dir.path, timeoutMs: 60_000 });
    assert.equal(r.code, 0, r.out);
    const last = r.out.trim().split('\n').pop()!;
    assert.deepEqual(JSON.parse(last), { list: ['hello'], text: 'from a user namespace' });
    // The mount lived in the namespace only: nothing is left in ours.
    const mounts = await fs.readFile('/proc/self/mounts', 'utf8');
    assert.equal(mounts.includes(mnt), false);
    // And without a usable device node (this host's /dev/fuse is root's, 0600) the same user cannot mount.
    const denied = await sh('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'unshare', '-Urm', 'sh', '-c', 'exec 3<>/dev/fuse'], { cwd: dir.path });
    const mode = (await fs.stat('/dev/fuse')).mode & 0o777;
    if ((mode & 0o006) !== 0o006) assert.notEqual(denied.code, 0);
  } finally {
    await dir.cleanup();
  }
});
