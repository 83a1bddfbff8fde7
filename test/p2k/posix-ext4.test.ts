/**
 * POSIX behaviour of an ext4 image through rump mount, judged by the in-kernel ext4 driver: the same image is
 * loop-mounted by Linux (the oracle) and rump-mounted with allow_other,default_permissions, and the same
 * scripts run on both — as root and as an unprivileged user (nobody): permissions, sticky directories, rename
 * and unlink rules, long names, and which of atime/mtime/ctime every call changes on the file and its directory.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import { join } from 'node:path';
import { run, tempDir, requireTool } from '../../src/testing/tools.js';
import { withMount, sh, mustSh, modulePath } from './helpers.js';

const EXT2FS = modulePath('../../src/fs/ext2fs/index');

/** Root's part: the layout every later step relies on. */
const SETUP = `
set -e
cd "$1"
mkdir pub priv open own
chmod 1777 pub; chmod 700 priv; chmod 777 open; chown 65534:65534 own
echo root > pub/rootfile; chmod 644 pub/rootfile
echo secret > priv/secret
echo v > open/victim
echo t > times-file; mkdir times-dir
`;

/** Runs as nobody: each line is an operation and its outcome. */
const AS_USER = `
t() { if out=$("$@" 2>&1); then echo "ok $*"; else echo "fail $* :: $(echo "$out" | sed -e 's/.*: //' | tail -n 1)"; fi; }
cd "$1"
t cat pub/rootfile
t ls priv
t touch priv/x
t touch pub/mine
t stat -c '%U:%G %a' pub/mine
t sh -c 'echo more >> pub/rootfile'
t rm -f pub/rootfile
t mv pub/rootfile pub/r2
t mv pub/mine pub/mine2
t rm -f open/victim
t touch own/file
t mkdir own/sub
t chmod 2777 own
t stat -c '%a' own
t chmod 700 pub/rootfile
t chown 65534 pub/mine2
t chgrp 0 pub/mine2
t touch -d @1000000000 pub/mine2
t touch -d @1000000000 pub/rootfile
t touch pub/rootfile
t ln pub/rootfile pub/hard
t ln -s pub/rootfile pub/sym
t mkdir pub/d
t rmdir pub/d
t sh -c "touch pub/$(printf 'n%.0s' $(seq 1 255))"
t sh -c "touch pub/$(printf 'n%.0s' $(seq 1 256))"
t sh -c "mkdir pub/$(printf 'm%.0s' $(seq 1 256))"
t rm -rf own/sub own/file
`;

/**
 * Root: for each call, which times change (a m c) on the file and on its directory. Times are compared as
 * nanosecond counts before and after; a short sleep lets the clock move.
 */
const TIMES = `
cd "$1"
st() { stat -c '%X.%x %Y.%y %Z.%z' "$1" | sed -e 's/ [0-9]*\\.[0-9-]* [0-9:]*\\.\\([0-9]*\\) +0000/.\\1/g'; }
snap() { F=$(stat -c '%x|%y|%z' "$1" 2>/dev/null); D=$(stat -c '%x|%y|%z' "$2"); }
diffs() { # $1 before, $2 after -> letters of the fields that changed
  r=""; i=1; for k in a m c; do b=$(echo "$1" | cut -d'|' -f$i); a=$(echo "$2" | cut -d'|' -f$i); [ "$b" != "$a" ] && r="$r$k"; i=$((i+1)); done; echo "\${r:--}"; }
step() { name="$1"; f="$2"; d="$3"; shift 3; snap "$f" "$d"; F0="$F"; D0="$D"; sleep 0.02; "$@" >/dev/null 2>&1; echo "$name exit=$?"; snap "$f" "$d"; echo "  file $(diffs "$F0" "$F") dir $(diffs "$D0" "$D")"; }
step create times-dir/f times-dir touch times-dir/f
step write times-dir/f times-dir sh -c 'echo data >> times-dir/f'
step read times-dir/f times-dir cat times-dir/f
step truncate times-dir/f times-dir truncate -s 2 times-dir/f
step truncate-same times-dir/f times-dir truncate -s 2 times-dir/f
step chmod times-dir/f times-dir chmod 600 times-dir/f
step chown times-dir/f times-dir chown 1:1 times-dir/f
step utimes-now times-dir/f times-dir touch times-dir/f
step link times-dir/f times-dir ln times-dir/f times-dir/g
step unlink-one times-dir/f times-dir rm times-dir/g
step rename-in-dir times-dir times-dir mv times-dir/f times-dir/h
step renamed-file-ctime times-dir/h times-dir mv times-dir/h times-dir/h2
step rename-back times-dir times-dir mv times-dir/h2 times-dir/f
step mkdir times-dir/sub times-dir mkdir times-dir/sub
step rmdir times-dir times-dir rmdir times-dir/sub
step symlink times-dir times-dir ln -s f times-dir/s
step readlink times-dir/s times-dir readlink times-dir/s
step readdir times-dir times-dir ls times-dir
step open-trunc times-dir/f times-dir sh -c ': > times-dir/f'
`;

async function runAll(root: string): Promise<{ user: string; times: string }> {
  await mustSh('sh', ['-c', SETUP, 'sh', root]);
  const user = await sh('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'sh', '-c', AS_USER, 'sh', root]);
  const times = await sh('sh', ['-c', TIMES, 'sh', root]);
  return { user: user.out, times: times.out };
}

test('ext4 through rump mount follows the in-kernel ext4 driver: permissions, names, rename/unlink rules, times', async () => {
  requireTool('mke2fs');
  requireTool('setpriv');
  const dir = await tempDir('p2k-posix-');
  try {
    await fs.chmod(dir.path, 0o755); // nobody must reach the oracle's mount point
    const img = join(dir.path, 'a.img');
    await run('mke2fs', ['-q', '-F', '-t', 'ext4', img, '32M']);
    await fs.copyFile(img, join(dir.path, 'b.img'));
    const kmnt = join(dir.path, 'kernel');
    await fs.mkdir(kmnt);
    // The oracle: Linux's ext4 on a loop device, strictatime so every read updates atime as POSIX says.
    await mustSh('mount', ['-o', 'loop,strictatime', img, kmnt]);
    let want: { user: string; times: string };
    try {
      await fs.chmod(kmnt, 0o755);
      want = await runAll(kmnt);
    } finally {
      await sh('umount', [kmnt]);
    }
    const got = await withMount({
      image: join(dir.path, 'b.img'), type: 'ext4',
      options: { rw: true, allow_other: true, default_permissions: true, attr_timeout: 0, entry_timeout: 0, negative_timeout: 0, componentModules: [EXT2FS] },
    }, async (mnt) => {
      await fs.chmod(mnt, 0o755);
      return runAll(mnt);
    });
    assert.equal(got.user, want.user);
    // Every call changes the same times as on ext4, line by line.
    assert.equal(got.times, want.times);
    assert.match(want.times, /^read exit=0\n  file a dir -$/m, 'strictatime: a read updates atime');
  } finally {
    await sh('umount', ['-l', join(dir.path, 'kernel')]);
    await dir.cleanup();
  }
});
