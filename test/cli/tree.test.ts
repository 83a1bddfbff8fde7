// A moderate tree (2,000 files in 40 directories, made into ext4 by mke2fs -d): rump cp -rp makes an
// exact copy (diff -r is the oracle) and rump tar a stream GNU tar lists completely.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, writeFile } from '../../src/testing/hostfs.js';
import { join } from 'node:path';
import { run, tempDir } from '../../src/testing/tools.js';
import { rump, sha256 } from './helpers.js';

const DIRS = 40;
const FILES_PER_DIR = 50;
let dir: string;
let cleanup: () => Promise<void>;
let img: string;

before(async () => {
  ({ path: dir, cleanup } = await tempDir('rump-tree-'));
  const tree = join(dir, 'tree');
  for (let d = 0; d < DIRS; d++) {
    const sub = join(tree, `d${d}`, `sub${d % 7}`);
    await mkdir(sub, { recursive: true });
    for (let f = 0; f < FILES_PER_DIR; f++) await writeFile(join(sub, `f${f}.txt`), `${d}/${f} `.repeat(1 + ((d * 31 + f * 17) % 300)));
  }
  img = join(dir, 'tree.img');
  await run('mke2fs', ['-q', '-F', '-t', 'ext4', '-N', '4096', '-d', tree, img, '32M']);
});
after(() => cleanup());

test('cp -rp of 2,000 files: diff -r finds no difference; tar lists every entry; image unchanged', async () => {
  const hash = await sha256(img);
  const out = join(dir, 'out');
  const cp = await rump(['cp', '-rp', `${img}:/`, out]);
  assert.equal(cp.code, 0, cp.stderr);
  // lost+found is the only entry mke2fs adds.
  await run('diff', ['-r', '-x', 'lost+found', join(dir, 'tree'), out]);
  const tar = await rump(['tar', img]);
  assert.equal(tar.code, 0, tar.stderr);
  const names = (await run('tar', ['-t', '-f', '-'], { input: tar.stdout })).stdout.toString().trim().split('\n');
  assert.equal(names.filter((n) => n.endsWith('.txt')).length, DIRS * FILES_PER_DIR);
  const find = await rump(['find', img, '-type', 'f', '-name', 'f4?.txt']);
  assert.equal(find.out.trim().split('\n').length, DIRS * 10);
  assert.equal(await sha256(img), hash);
});
