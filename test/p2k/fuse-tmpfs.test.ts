/**
 * rump mount of a tmpfs served by a sandboxed kernel, used through host system calls at the mount point.
 * The oracle is the host kernel's own file system: each scenario runs on a host temporary directory and on
 * the FUSE mount, and what the host observes (contents, types, modes, link counts, errors) must agree;
 * cp -a, tar and rsync move a tree in and out and diff compares.
 */

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { tempDir } from '../../src/testing/tools.js';
import { withMount, openMount, mustSh, sh, modulePath, type TestMount } from './helpers.js';

const RW = { type: 'tmpfs', options: { rw: true } } as const;

/** One mount serves the tests that leave it usable; each works in a directory of its own. */
let shared: TestMount;
before(async () => {
  shared = await openMount(RW);
});
after(async () => {
  await shared?.close();
});
async function area(name: string): Promise<string> {
  const d = join(shared.mnt, name);
  await fs.mkdir(d);
  return d;
}

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (e) {
    return (e as { code?: string }).code ?? String(e);
  }
}

/** A sequence of system calls with outcomes recorded, run the same way on the oracle and on the mount. */
async function scenario(root: string): Promise<unknown[]> {
  const r: unknown[] = [];
  const p = (x: string): string => join(root, x);
  await fs.mkdir(p('d'));
  await fs.mkdir(p('d/e'), { mode: 0o700 });
  await fs.writeFile(p('d/f'), 'hello');
  await fs.appendFile(p('d/f'), ', world');
  r.push(await fs.readFile(p('d/f'), 'utf8'));
  r.push(await code(fs.mkdir(p('d'))));
  r.push(await code(fs.rmdir(p('d'))));
  r.push(await code(fs.readFile(p('nope'))));
  r.push(await code(fs.open(p('d/f'), 'wx')));
  r.push(await code(fs.readFile(p('d'))));
  r.push(await code(fs.unlink(p('d/e'))));
  r.push(await code(fs.writeFile(p('n'.repeat(255)), '')), await code(fs.writeFile(p('n'.repeat(256)), '')));
  r.push(await code(fs.mkdir(p('m'.repeat(256)))), await code(fs.rename(p('n'.repeat(255)), p('o'.repeat(256)))));
  await fs.unlink(p('n'.repeat(255)));
  await fs.symlink('f', p('d/sym'));
  r.push(await fs.readlink(p('d/sym')), await fs.readFile(p('d/sym'), 'utf8'));
  await fs.link(p('d/f'), p('d/hard'));
  const st = await fs.stat(p('d/f'));
  const hst = await fs.stat(p('d/hard'));
  r.push(st.nlink, st.ino === hst.ino, st.size);
  await fs.chmod(p('d/f'), 0o640);
  await fs.chown(p('d/f'), 1234, 5678);
  const s2 = await fs.lstat(p('d/f'));
  r.push(s2.mode.toString(8), s2.uid, s2.gid);
  await fs.utimes(p('d/f'), new Date(1_000_000_000_123), new Date(1_500_000_000_456));
  const s3 = await fs.stat(p('d/f'));
  r.push(s3.mtimeMs, s3.atimeMs);
  await fs.truncate(p('d/f'), 3);
  r.push(await fs.readFile(p('d/f'), 'utf8'));
  await fs.truncate(p('d/f'), 10000);
  r.push((await fs.stat(p('d/f'))).size, (await fs.readFile(p('d/f'))).subarray(3).every((b) => b === 0));
  // rename: a file over a file, a directory to a new name, a directory into a non-empty directory fails
  await fs.writeFile(p('d/g'), 'G');
  await fs.rename(p('d/g'), p('d/hard'));
  r.push(await fs.readFile(p('d/hard'), 'utf8'), (await fs.stat(p('d/f'))).nlink);
  await fs.mkdir(p('d/e/x'));
  await fs.writeFile(p('d/e/x/y'), 'deep');
  await fs.rename(p('d/e'), p('d/E'));
  r.push(await fs.readFile(p('d/E/x/y'), 'utf8'), await code(fs.stat(p('d/e'))));
  await fs.mkdir(p('full'));
  await fs.writeFile(p('full/z'), '');
  r.push(await code(fs.rename(p('d/E'), p('full'))));
  r.push(await code(fs.rename(p('d'), p('d/E/x/inside'))));
  // an open file keeps working after its name is gone
  const h = await fs.open(p('d/f'), 'r+');
  await fs.unlink(p('d/f'));
  await h.write('XYZ', 0);
  const buf = Buffer.alloc(3);
  await h.read(buf, 0, 3, 0);
  r.push(buf.toString(), (await h.stat()).nlink);
  await h.close();
  r.push((await fs.readdir(p('d'))).sort(), (await fs.readdir(p('d'), { withFileTypes: true })).map((e) => `${e.name}:${e.isDirectory() ? 'd' : e.isSymbolicLink() ? 'l' : 'f'}`).sort());
  await fs.rm(p('d'), { recursive: true });
  r.push(await code(fs.stat(p('d'))), (await fs.readdir(root)).sort());
  // Last: a name that is not UTF-8 (Latin-1 "café"): stored as given on the host, refused (EILSEQ) by the mount.
  const latin = Buffer.concat([Buffer.from(p('caf')), Buffer.from([0xe9])]);
  r.push(await code(fs.writeFile(latin, '')));
  return r;
}

test('host system calls on the mount behave as on a host directory', async () => {
  const oracle = await tempDir('p2k-oracle-');
  try {
    const want = await scenario(oracle.path);
    const got = await scenario(await area('scenario'));
    // The one intended difference, last: a name that is not UTF-8.
    assert.equal(want.pop(), 'ok');
    assert.equal(got.pop(), 'EILSEQ');
    assert.deepEqual(got, want);
  } finally {
    await oracle.cleanup();
  }
});

/** Extended attributes through the xattr system calls (python's os.*xattr), outcomes compared with the host. */
const XATTR_SCRIPT = `
import os, sys, errno
d = sys.argv[1]
f = os.path.join(d, 'xf')
open(f, 'w').close()
out = []
def t(name, fn):
    try:
        r = fn()
        out.append(f'{name} ok {r!r}')
    except OSError as e:
        out.append(f'{name} {errno.errorcode[e.errno]}')
t('get-missing', lambda: os.getxattr(f, 'user.a'))
t('set', lambda: os.setxattr(f, 'user.a', b'value-1'))
t('get', lambda: os.getxattr(f, 'user.a'))
t('set-create-existing', lambda: os.setxattr(f, 'user.a', b'x', os.XATTR_CREATE))
t('set-replace-missing', lambda: os.setxattr(f, 'user.b', b'x', os.XATTR_REPLACE))
t('set-big', lambda: os.setxattr(f, 'user.big', bytes(range(256)) * 8))
t('get-big', lambda: len(os.getxattr(f, 'user.big')))
t('list', lambda: sorted(os.listxattr(f)))
t('remove', lambda: os.removexattr(f, 'user.a'))
t('remove-missing', lambda: os.removexattr(f, 'user.a'))
t('list-after', lambda: sorted(os.listxattr(f)))
with open(f, 'w') as h:
    h.write('data after a capability check')
t('read', lambda: open(f).read())
print('\\n'.join(out))
`;

test('extended attributes behave as on the host', async () => {
  const oracle = await tempDir('p2k-xattr-');
  try {
    const want = await mustSh('python3', ['-c', XATTR_SCRIPT, oracle.path]);
    const got = await mustSh('python3', ['-c', XATTR_SCRIPT, await area('xattr')]);
    assert.equal(got, want);
    assert.match(want, /get ok b'value-1'/);
  } finally {
    await oracle.cleanup();
  }
});

test('large files: 12 MiB written in one stream and read back, random access, statfs', async () => {
  {
    const mnt = await area('large');
    const data = randomBytes(12 * 1024 * 1024 + 12345);
    await fs.writeFile(join(mnt, 'big'), data);
    const back = await fs.readFile(join(mnt, 'big'));
    assert.equal(createHash('sha256').update(back).digest('hex'), createHash('sha256').update(data).digest('hex'));
    const h = await fs.open(join(mnt, 'big'), 'r');
    const b = Buffer.alloc(100);
    await h.read(b, 0, 100, 9_333_333);
    await h.close();
    assert.deepEqual(b, data.subarray(9_333_333, 9_333_433));
    // dd through the page cache with O_DIRECT off, and cmp as the oracle for the bytes
    await fs.writeFile(join(mnt, 'copy-src'), data.subarray(0, 5_000_000));
    await mustSh('dd', [`if=${join(mnt, 'copy-src')}`, `of=${join(mnt, 'copy-dst')}`, 'bs=1M', 'status=none']);
    await mustSh('cmp', [join(mnt, 'copy-src'), join(mnt, 'copy-dst')]);
    const df = await mustSh('stat', ['-f', '-c', '%T %S %b', mnt]);
    assert.match(df, /^fuseblk|^fuse/);
    await fs.rm(mnt, { recursive: true });
  }
});

/** A host tree with nested directories, modes, symlinks, a hard link, an empty file and odd names. */
async function makeTree(root: string, files: number): Promise<void> {
  for (let i = 0; i < files; i++) {
    const dir = join(root, `dir${i % 17}`, `sub${i % 5}`);
    await fs.mkdir(dir, { recursive: true });
    await fs.writeFile(join(dir, `file${i}.txt`), `content of ${i}\n`.repeat(i % 50));
  }
  await fs.writeFile(join(root, 'empty'), '');
  await fs.writeFile(join(root, 'exec.sh'), '#!/bin/sh\necho hi\n', { mode: 0o755 });
  await fs.writeFile(join(root, '__proto__'), 'proto');
  await fs.writeFile(join(root, 'sp ace & ünï'), 'odd');
  await fs.symlink('dir1/sub1/file1.txt', join(root, 'link'));
  await fs.symlink('/nonexistent/target', join(root, 'dangling'));
  await fs.link(join(root, 'exec.sh'), join(root, 'exec-hardlink'));
  await fs.mkdir(join(root, 'private'), { mode: 0o700 });
  await fs.utimes(join(root, 'empty'), new Date(1e12), new Date(1.2e12));
}

test('cp -a, tar and rsync move a tree in and out unchanged', async () => {
  const src = await tempDir('p2k-src-');
  const out = await tempDir('p2k-out-');
  try {
    await makeTree(src.path, 60);
    {
      const mnt = await area('trees');
      await mustSh('cp', ['-a', src.path + '/.', join(mnt, 'cp')]);
      await mustSh('diff', ['-r', '--no-dereference', src.path, join(mnt, 'cp')]);
      // metadata: modes, sizes, link targets, mtimes and hard links as find prints them
      const listing = (d: string, time = '%T@'): Promise<string> => mustSh('find', ['.', '-printf', `%P %y %m %s %l ${time} %n\n`], { cwd: d })
        // directory sizes differ between file systems
        .then((s) => s.split('\n').map((l) => l.replace(/^(.* d \d+) \d+ /, '$1 - ')).sort().join('\n'));
      assert.equal(await listing(join(mnt, 'cp')), await listing(src.path), 'cp -a');
      // tar out of the mount, tar into the mount
      await mustSh('tar', ['-C', join(mnt, 'cp'), '-cf', join(out.path, 't.tar'), '.']);
      await fs.mkdir(join(out.path, 'x'));
      await mustSh('tar', ['-C', join(out.path, 'x'), '-xpf', join(out.path, 't.tar')]);
      await mustSh('diff', ['-r', '--no-dereference', src.path, join(out.path, 'x')]);
      await fs.mkdir(join(mnt, 'tarred'));
      await mustSh('tar', ['-C', join(mnt, 'tarred'), '-xpf', join(out.path, 't.tar')]);
      // tar keeps whole seconds
      assert.equal(await listing(join(mnt, 'tarred'), '%Ts'), await listing(src.path, '%Ts'), 'tar -x');
      await mustSh('rsync', ['-aH', src.path + '/', join(mnt, 'rsynced') + '/']);
      assert.equal(await listing(join(mnt, 'rsynced')), await listing(src.path), 'rsync -aH');
      // du over every file (directory sizes differ between file systems, so only files are compared)
      const files = new Set((await mustSh('find', ['.', '-type', 'f'], { cwd: src.path })).trim().split('\n'));
      const du = async (d: string): Promise<string> => (await mustSh('du', ['-ab', '--apparent-size', '.'], { cwd: d }))
        .trim().split('\n').filter((l) => files.has(l.split('\t')[1]!)).sort().join('\n');
      assert.equal(await du(join(mnt, 'cp')), await du(src.path), 'du');
      await mustSh('rm', ['-rf', join(mnt, 'cp'), join(mnt, 'tarred'), join(mnt, 'rsynced')]);
      assert.deepEqual(await fs.readdir(mnt), []);
    }
  } finally {
    await src.cleanup();
    await out.cleanup();
  }
});

// More entries than the bridge fetches per getdents call (DIRENT_BATCH, 512) and than one READDIR reply holds.
const WIDE = 700;
test(`a directory of ${WIDE} entries lists completely, with and without attributes`, async () => {
  {
    const mnt = await area('wide');
    const names = new Set<string>();
    for (let i = 0; i < WIDE; i++) names.add(`entry-${i}-${'x'.repeat(i % 200)}`);
    const list = [...names];
    // eight creators at a time: the mount serves requests concurrently
    await Promise.all(Array.from({ length: 8 }, async (_, k) => {
      for (let i = k; i < list.length; i += 8) await fs.writeFile(join(mnt, list[i]!), '');
    }));
    assert.deepEqual(new Set(await fs.readdir(mnt)), names);
    const ls = await mustSh('ls', ['-la', mnt]);
    assert.equal(ls.trim().split('\n').length, WIDE + 3); // total, '.', '..'
    const find = await mustSh('find', [mnt, '-type', 'f']);
    assert.equal(find.trim().split('\n').length, WIDE);
    await mustSh('rm', ['-rf', mnt]);
  }
});

test('the kernel server killed: calls answer EIO, never hang, and umount still works', async () => {
  await withMount(RW, async (mnt, pid) => {
    await fs.writeFile(join(mnt, 'f'), 'data');
    const kids = (await sh('pgrep', ['-P', String(pid)])).out.trim().split('\n').filter(Boolean).map(Number);
    assert.ok(kids.length >= 1, 'the daemon has a kernel server child');
    for (const k of kids) process.kill(k, 'SIGKILL');
    // Names not cached by the host: each must fail with EIO (the test's own timeout catches a hang).
    for (let i = 0; i < 3; i++) {
      const c = await code(fs.stat(join(mnt, `absent-${i}`)));
      if (c === 'EIO') break;
      // the death may not be noticed before the first call comes back
      await new Promise((res) => setTimeout(res, 100));
    }
    assert.equal(await code(fs.readFile(join(mnt, 'new-name'))), 'EIO');
    assert.equal(await code(fs.writeFile(join(mnt, 'g'), 'x')), 'EIO');
    assert.equal(await code(fs.readdir(join(mnt))), 'EIO');
  });
});

test('a driver spinning on a hostile structure: the watchdog kills the server and the caller gets EIO', async () => {
  const loopfs = modulePath('./fixtures/loopfs');
  await withMount({ type: 'loopfs', options: { rw: true, timeoutMs: 1500, componentModules: [loopfs] } }, async (mnt) => {
    await fs.writeFile(join(mnt, 'fine'), 'ok');
    assert.equal(await code(fs.stat(join(mnt, 'loop'))), 'EIO');
    assert.equal(await code(fs.readFile(join(mnt, 'other'))), 'EIO');
    assert.equal(await code(fs.mkdir(join(mnt, 'dir'))), 'EIO');
  });
});
