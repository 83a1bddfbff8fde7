// Error format and exit status, foreign formats named, the same answers whatever the isolation,
// and the watchdog: a driver stuck in a loop gets the server killed and the CLI says so.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile, truncate } from '../../src/testing/hostfs.js';
import { join } from 'node:path';
import { run, tempDir } from '../../src/testing/tools.js';
import { makeExt, makeTree, rump, sha256, sibling } from './helpers.js';

let dir: string;
let cleanup: () => Promise<void>;
let ext4: string;
const SPINFS = sibling('./fixtures/spinfs');

before(async () => {
  ({ path: dir, cleanup } = await tempDir('rump-err-'));
  await makeTree(join(dir, 'tree'));
  ext4 = await makeExt(dir, join(dir, 'tree'), 'ext4');
});
after(() => cleanup());

test('errors read "rump: CMD: IMAGE:PATH: message" and exit 1; good arguments still run', async () => {
  const r = await rump(['cat', `${ext4}:/etc/x`, `${ext4}:/etc/hostname`]);
  assert.equal(r.code, 1);
  assert.equal(r.stderr, `rump: cat: ${ext4}:/etc/x: No such file or directory\n`);
  assert.equal(r.out, 'anykernel\n');
  const isDir = await rump(['cat', `${ext4}:/etc`]);
  assert.equal(isDir.stderr, `rump: cat: ${ext4}:/etc: Is a directory\n`);
  const notDir = await rump(['ls', `${ext4}:/etc/passwd/x`]);
  assert.equal(notDir.stderr, `rump: ls: ${ext4}:/etc/passwd/x: Not a directory\n`);
  const noImage = await rump(['ls', join(dir, 'nope.img')]);
  assert.equal(noImage.code, 1);
  assert.equal(noImage.stderr, `rump: ls: ${join(dir, 'nope.img')}: No such file or directory\n`);
  const mem = await rump(['ls', '--memlimit', 'lots', ext4]);
  assert.equal(mem.code, 1);
  assert.equal(mem.stderr, "rump: ls: bad --memlimit 'lots' (MiB, at least 16)\n");
  const tmo = await rump(['cat', '--timeout', 'soon', `${ext4}:/etc/passwd`]);
  assert.equal(tmo.stderr, "rump: cat: bad --timeout 'soon' (seconds, or 500ms, 2m)\n");
  const ro = await rump(['ls', '--bogus', ext4]);
  assert.equal(ro.code, 1);
  assert.match(ro.stderr, /unknown option '--bogus'/);
});

test('foreign and unknown formats are named, not mounted', async () => {
  const swap = join(dir, 'swap.img');
  await writeFile(swap, '');
  await truncate(swap, 4 * 1024 * 1024);
  await run('mkswap', [swap]);
  const r = await rump(['ls', swap]);
  assert.equal(r.code, 1);
  assert.equal(r.stderr, `rump: ls: ${swap}: swap is not supported: no component can mount it\n`);
  const info = await rump(['info', swap]);
  assert.match(info.out, /swap \(not supported\)/);
  const junk = join(dir, 'junk.img');
  await writeFile(junk, Buffer.alloc(1024 * 1024, 0xa5));
  const j = await rump(['ls', junk]);
  assert.equal(j.stderr, `rump: ls: ${junk}: no recognised file system\n`);
  const wrongType = await rump(['ls', '-t', 'msdosfs', ext4]);
  assert.equal(wrongType.code, 1);
  assert.match(wrongType.stderr, new RegExp(`^rump: ls: ${ext4}: cannot mount as msdosfs: `));
});

test('trusted, worker and process isolation give the same answers', async () => {
  const hash = await sha256(ext4);
  const outs = [];
  for (const isolation of ['trusted', 'worker', 'process']) {
    // One command per isolation (a server start each): data, a name that is not a prototype, an error.
    const cat = await rump(['cat', `${ext4}:/home/user/big.bin`, `${ext4}:/__proto__`, `${ext4}:/missing`], { isolation });
    assert.equal(cat.code, 1, `${isolation}: ${cat.stderr}`);
    outs.push({ cat: cat.stdout.toString('base64'), err: cat.stderr });
  }
  assert.deepEqual(outs[1], outs[0]);
  assert.deepEqual(outs[2], outs[0]);
  assert.equal(outs[0]!.err, `rump: cat: ${ext4}:/missing: No such file or directory\n`);
  assert.equal(Buffer.from(outs[0]!.cat, 'base64').length, 300_000 + 'not a prototype\n'.length);
  assert.equal(await sha256(ext4), hash);
});

test('a driver stuck in a loop: the watchdog kills the server, the CLI says so and exits 1', async () => {
  const img = join(dir, 'spin.img');
  const b = Buffer.alloc(64 * 1024);
  b.write('SPINFS');
  await writeFile(img, b);
  for (const isolation of ['worker', 'process']) {
    const t0 = Date.now();
    const r = await rump(['ls', '--timeout', '1', '--component', SPINFS, img], { isolation });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`^rump: ls: ${img}(:/)?: .*kernel server died: .+\\n`));
    assert.doesNotMatch(r.stderr, /internal error/);
    // Bounded by the watchdog (1 s) plus start-up, far from forever.
    assert.ok(Date.now() - t0 < 20_000);
  }
});

test('a progress bar on stderr only when it is a terminal', async () => {
  const { main } = await import('../../src/cli/main.js');
  const { PassThrough, Readable } = await import('node:stream');
  const { COMPONENTS } = await import('./helpers.js');
  for (const tty of [true, false]) {
    const err = Object.assign(new PassThrough(), { isTTY: tty, columns: 80 });
    let text = '';
    err.on('data', (b: Buffer) => (text += b.toString()));
    const out = new PassThrough();
    out.resume();
    const code = await main(['cp', `${ext4}:/home/user/big.bin`, join(dir, `big-${tty}`), '--trusted', '--component', COMPONENTS], { stdin: Readable.from([]), stdout: out, stderr: err, env: {} });
    assert.equal(code, 0, text);
    if (tty) assert.match(text, /100% \| 293K of 293K/);
    else assert.equal(text, '');
  }
});
