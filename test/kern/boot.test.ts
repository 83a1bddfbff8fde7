// Boot, root file system, processes and the generic system-call rules, without any component.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Kernel } from '../../src/kern/kernel.js';
import { O_CREAT, O_RDWR, O_RDONLY, O_WRONLY, O_EXCL, O_TRUNC, O_APPEND, O_DIRECTORY, O_NOFOLLOW } from '../../src/vfs/fcntl.js';

const enc = new TextEncoder();
const dec = new TextDecoder();

test('boot makes /dev and /mnt and halts', async () => {
  const k = await Kernel.boot();
  const p = k.newProc();
  const names = (await p.readdir('/')).map((d) => d.name).sort();
  assert.deepEqual(names, ['dev', 'mnt']);
  await k.halt();
});

test('files in the root file system: create, write, read, stat, rename, unlink', async () => {
  const k = await Kernel.boot();
  const p = k.newProc();
  const fd = await p.open('/f', O_CREAT | O_RDWR, 0o644);
  assert.equal(await p.write(fd, enc.encode('hello')), 5);
  assert.equal(await p.lseek(fd, 0, 0), 0);
  const buf = new Uint8Array(10);
  assert.equal(await p.read(fd, buf), 5);
  assert.equal(dec.decode(buf.subarray(0, 5)), 'hello');
  await p.close(fd);
  const st = await p.stat('/f');
  assert.equal(st.size, 5);
  assert.equal(st.mode, 0o100644);
  await assert.rejects(p.open('/f', O_CREAT | O_EXCL | O_RDWR), { code: 'EEXIST', syscall: 'open', path: '/f' });
  await p.rename('/f', '/mnt/g');
  await assert.rejects(p.stat('/f'), { code: 'ENOENT' });
  assert.equal((await p.stat('/mnt/g')).size, 5);
  await p.unlink('/mnt/g');
  await assert.rejects(p.unlink('/mnt/g'), { code: 'ENOENT' });
  await k.halt();
});

test('path lookup: dots, trailing slashes, symlinks, ELOOP, ENAMETOOLONG, ENOTDIR', async () => {
  const k = await Kernel.boot();
  const p = k.newProc();
  await p.mkdir('/a');
  await p.mkdir('/a/b');
  await p.symlink('/a/b', '/l');
  await p.symlink('b', '/a/rel');
  await p.symlink('loop2', '/loop1');
  await p.symlink('loop1', '/loop2');
  assert.equal((await p.stat('/l')).ino, (await p.stat('/a/b')).ino);
  assert.equal((await p.stat('/a/rel/../rel/.')).ino, (await p.stat('/a/b')).ino);
  assert.equal((await p.lstat('/l')).mode & 0o170000, 0o120000);
  assert.equal((await p.stat('/l/')).ino, (await p.stat('/a/b')).ino);
  assert.equal((await p.stat('/../../a')).ino, (await p.stat('/a')).ino);
  await assert.rejects(p.stat('/loop1'), { code: 'ELOOP' });
  await assert.rejects(p.stat('/' + 'x'.repeat(256)), { code: 'ENAMETOOLONG' });
  await assert.rejects(p.stat('/a'.repeat(600)), { code: 'ENAMETOOLONG' });
  const fd = await p.open('/file', O_CREAT | O_WRONLY);
  await p.close(fd);
  await assert.rejects(p.stat('/file/'), { code: 'ENOTDIR' });
  await assert.rejects(p.stat('/file/x'), { code: 'ENOTDIR' });
  await assert.rejects(p.open('/l', O_RDONLY | O_NOFOLLOW), { code: 'ELOOP' });
  await assert.rejects(p.open('/file', O_RDONLY | O_DIRECTORY), { code: 'ENOTDIR' });
  await p.chdir('/a/b');
  assert.equal(await p.getcwd(), '/a/b');
  await p.chdir('..');
  assert.equal(await p.getcwd(), '/a');
  await k.halt();
});

test('permissions for an unprivileged process', async () => {
  const k = await Kernel.boot();
  const root = k.newProc();
  await root.mkdir('/home', 0o755);
  await root.mkdir('/home/u', 0o700);
  await root.chown('/home/u', 1000, 1000);
  const u = k.newProc({ uid: 1000, gid: 1000 });
  const o = k.newProc({ uid: 1001, gid: 1001 });
  const fd = await u.open('/home/u/f', O_CREAT | O_WRONLY, 0o600);
  await u.close(fd);
  await assert.rejects(o.stat('/home/u/f'), { code: 'EACCES' });
  await assert.rejects(o.mkdir('/home/x'), { code: 'EACCES' });
  await assert.rejects(u.chown('/home/u/f', 1001, -1), { code: 'EPERM' });
  await assert.rejects(o.mount('rumpfs', '/mnt'), { code: 'EPERM' });
  const st = await u.stat('/home/u/f');
  assert.equal(st.uid, 1000);
  assert.equal(st.mode & 0o777, 0o600 & ~0o022);
  await k.halt();
});

test('O_TRUNC, O_APPEND, dup and fork share offsets', async () => {
  const k = await Kernel.boot();
  const p = k.newProc();
  let fd = await p.open('/f', O_CREAT | O_WRONLY);
  await p.write(fd, enc.encode('0123456789'));
  await p.close(fd);
  fd = await p.open('/f', O_WRONLY | O_APPEND);
  await p.pwrite(fd, enc.encode('ab'), 0);
  const fd2 = await p.dup(fd);
  await p.write(fd2, enc.encode('cd'));
  assert.equal(await p.lseek(fd, 0, 1), 14);
  const child = p.fork();
  await child.write(fd, enc.encode('e'));
  assert.equal(await p.lseek(fd, 0, 1), 15);
  await child.exit();
  await p.close(fd);
  await p.close(fd2);
  assert.equal((await p.stat('/f')).size, 15);
  fd = await p.open('/f', O_WRONLY | O_TRUNC);
  await p.close(fd);
  assert.equal((await p.stat('/f')).size, 0);
  await k.halt();
});
