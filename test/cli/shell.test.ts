// rump shell in batch mode (-c and standard input), and rump server + RUMP_SERVER clients + halt.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from '../../src/testing/hostfs.js';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { run, tempDir } from '../../src/testing/tools.js';
import { main } from '../../src/cli/main.js';
import { COMPONENTS, makeExt, makeTree, rump, sha256 } from './helpers.js';

let dir: string;
let cleanup: () => Promise<void>;
let ext4: string;

before(async () => {
  ({ path: dir, cleanup } = await tempDir('rump-sh-'));
  await makeTree(join(dir, 'tree'));
  ext4 = await makeExt(dir, join(dir, 'tree'), 'ext4');
});
after(() => cleanup());

test('shell -c: cd, ls, cat, stat, pwd, get; read-only unless -w', async () => {
  const hash = await sha256(ext4);
  const out = join(dir, 'got.txt');
  const r = await rump(['shell', ext4, '-c', `cd /etc; pwd; ls; cat passwd; get hostname "${out}"; stat hostname; mkdir /x; cd /nope`]);
  assert.equal(r.code, 1);
  const lines = r.out.split('\n');
  assert.equal(lines[0], '/etc');
  assert.deepEqual(lines.slice(1, 4), ['hostname', 'passwd', 'passwd.hard']);
  assert.equal(lines[4], 'root:x:0:0:root:/root:/bin/sh');
  assert.match(r.out, /File: .*ext4\.img:\/etc\/hostname/);
  assert.equal(await readFile(out, 'utf8'), 'anykernel\n');
  assert.match(r.stderr, /^rump: mkdir: .*ext4\.img:\/x: Read-only file system\n/m);
  assert.match(r.stderr, /^rump: cd: .*ext4\.img:\/nope: No such file or directory\n/m);
  assert.equal(await sha256(ext4), hash);
});

test('shell -w with commands on standard input: put, mkdir, rm, mv; e2fsck clean after', async () => {
  const img = join(dir, 'rw.img');
  await writeFile(img, await readFile(ext4));
  const src = join(dir, 'put-me.txt');
  await writeFile(src, 'put\n');
  const script = [`mkdir -p /new/dir`, `cd /new`, `put "${src}" dir`, `mv dir/put-me.txt dir/moved.txt`, `rm -r /home`, `ls dir`, `help`, `exit`, `ls /`].join('\n');
  const r = await rump(['shell', '-w', img], { stdin: script + '\n' });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.out, /^moved\.txt$/m);
  assert.match(r.out, /commands:/);
  await run('e2fsck', ['-fn', img]);
  assert.equal((await run('debugfs', ['-R', 'cat /new/dir/moved.txt', img])).stdout.toString(), 'put\n');
  assert.match((await run('debugfs', ['-R', 'ls /home', img])).stderr, /File not found/);
});

test('rump server --disk ... --listen; RUMP_SERVER clients see /mnt/KEY; rump halt stops it', async () => {
  const sock = join(dir, 'kernel.sock');
  const err = new PassThrough();
  let errText = '';
  err.on('data', (b: Buffer) => (errText += b.toString()));
  let stop!: () => void;
  const stopped = new Promise<void>((r) => (stop = r));
  const server = main(
    ['server', '--disk', `img0=${ext4},ro`, '--listen', `unix://${sock}`, '--isolation', 'worker', '--component', COMPONENTS],
    { stdin: Readable.from([]), stdout: new PassThrough(), stderr: err, env: {} },
    { stop: stopped },
  );
  for (let i = 0; i < 200 && !errText.includes('listening'); i++) await new Promise((r) => setTimeout(r, 25));
  assert.match(errText, /mounted on \/mnt\/img0 read-only/);
  const env = { RUMP_SERVER: `unix://${sock}` };
  const ls = await rump(['ls', '/mnt/img0/etc'], { env });
  assert.equal(ls.code, 0, ls.stderr);
  assert.deepEqual(ls.out.trim().split('\n'), ['hostname', 'passwd', 'passwd.hard']);
  const cat = await rump(['cat', '/mnt/img0/etc/hostname', '/mnt/img0/nope'], { env });
  assert.equal(cat.out, 'anykernel\n');
  assert.equal(cat.stderr, 'rump: cat: /mnt/img0/nope: No such file or directory\n');
  const cp = await rump(['cp', ':/mnt/img0/etc/passwd', join(dir, 'from-server')], { env });
  assert.equal(cp.code, 0, cp.stderr);
  assert.equal(await readFile(join(dir, 'from-server'), 'utf8'), 'root:x:0:0:root:/root:/bin/sh\n');
  const halt = await rump(['halt'], { env });
  assert.equal(halt.code, 0, halt.stderr);
  let timer: NodeJS.Timeout | undefined;
  const done = await Promise.race([server, new Promise<string>((r) => (timer = setTimeout(() => r('still running'), 10_000)))]);
  clearTimeout(timer);
  stop();
  assert.equal(done, 0, 'the server ends after halt');
});
