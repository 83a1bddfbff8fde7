/**
 * Permissions through the mount for an unprivileged user (nobody), with `allow_other,default_permissions`
 * (the host kernel checks) and with `allow_other` alone (the served kernel checks, a process per caller).
 * The oracle is the host kernel on a host directory with the same setup: each operation's outcome must agree.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import { join } from 'node:path';
import { tempDir, requireTool } from '../../src/testing/tools.js';
import { withMount, sh } from './helpers.js';

const NOBODY = 65534;

/** Root prepares the directory: a sticky world-writable one, a private one, files of root's. */
async function setup(root: string): Promise<void> {
  await fs.chmod(root, 0o755);
  await fs.mkdir(join(root, 'pub'));
  await fs.chmod(join(root, 'pub'), 0o1777);
  await fs.mkdir(join(root, 'priv'), { mode: 0o700 });
  await fs.writeFile(join(root, 'pub', 'rootfile'), 'root data\n');
  await fs.chmod(join(root, 'pub', 'rootfile'), 0o644);
  await fs.writeFile(join(root, 'priv', 'secret'), 'secret\n');
  await fs.mkdir(join(root, 'open'));
  await fs.chmod(join(root, 'open'), 0o777);
  await fs.writeFile(join(root, 'open', 'victim'), 'v\n');
}

/** Each line: an operation as nobody and its outcome (the shell's message without the path). */
const SCRIPT = `
t() { if out=$("$@" 2>&1); then echo "ok $*"; else echo "fail $* :: $(echo "$out" | sed -e 's/.*: //' | tail -n 1)"; fi; }
cd "$1"
t cat pub/rootfile
t ls priv
t cat priv/secret
t touch priv/new
t touch pub/mine
t stat -c '%u:%g %a' pub/mine
t sh -c 'echo x >> pub/rootfile'
t rm -f pub/rootfile
t mv pub/rootfile pub/renamed
t mkdir pub/mydir
t chmod 600 pub/mine
t stat -c '%a' pub/mine
t chmod 600 pub/rootfile
t chown 0 pub/mine
t touch -d @1000000000 pub/mine
t touch -d @1000000000 pub/rootfile
t touch pub/rootfile
t rm -f open/victim
t ln -s target pub/sym
t ln pub/rootfile pub/hard
t sh -c 'echo new > open/created'
t stat -c '%u:%g' open/created
t sh -c "touch pub/$(printf 'n%.0s' $(seq 1 256))"
`;

async function asNobody(root: string): Promise<string[]> {
  const r = await sh('setpriv', ['--reuid', String(NOBODY), '--regid', String(NOBODY), '--clear-groups', 'sh', '-c', SCRIPT, 'sh', root]);
  return r.out.trim().split('\n');
}

for (const mode of ['allow_other,default_permissions', 'allow_other'] as const) {
  test(`an unprivileged user through ${mode} meets the host kernel's permission rules`, async () => {
    requireTool('setpriv');
    const oracle = await tempDir('p2k-perm-');
    try {
      await setup(oracle.path);
      const want = await asNobody(oracle.path);
      const got = await withMount(
        { type: 'tmpfs', options: { rw: true, allow_other: true, default_permissions: mode.includes('default') } },
        async (mnt) => {
          await setup(mnt);
          return asNobody(mnt);
        },
      );
      assert.deepEqual(got, want);
      assert.ok(want.some((l) => l.startsWith('fail touch priv/new')), 'the oracle denies something');
    } finally {
      await oracle.cleanup();
    }
  });
}
