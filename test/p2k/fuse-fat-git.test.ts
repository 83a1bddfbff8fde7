/**
 * Real programs through the mount: git clones a local repository into it and verifies it (pack files are
 * mmap'ed, lock files renamed); and a FAT image from mkfs.fat takes a tree by cp and tar, after which
 * fsck.fat -n finds it clean and mtools (mdir/mcopy) read back what the host wrote.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import { join } from 'node:path';
import { run, tempDir, requireTool } from '../../src/testing/tools.js';
import { withMount, mustSh, modulePath } from './helpers.js';

const MSDOSFS = modulePath('../../src/fs/msdosfs/index');

test('git clone into the mount, then fsck, log and a commit', async () => {
  requireTool('git');
  const dir = await tempDir('p2k-git-');
  try {
    const repo = join(dir.path, 'repo');
    await fs.mkdir(repo);
    const git = (args: string[], cwd: string): Promise<string> =>
      mustSh('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.org', '-c', 'init.defaultBranch=main', ...args], { cwd });
    await git(['init', '-q'], repo);
    for (let i = 0; i < 5; i++) {
      await fs.mkdir(join(repo, `m${i}`), { recursive: true });
      for (let j = 0; j < 20; j++) await fs.writeFile(join(repo, `m${i}`, `f${j}.txt`), `line ${i} ${j}\n`.repeat(j + 1));
      await git(['add', '-A'], repo);
      await git(['commit', '-q', '-m', `commit ${i}`], repo);
    }
    await git(['gc', '-q'], repo);
    const head = (await git(['rev-parse', 'HEAD'], repo)).trim();
    await withMount({ type: 'tmpfs', options: { rw: true } }, async (mnt) => {
      await git(['clone', '-q', repo, join(mnt, 'clone')], mnt);
      const clone = join(mnt, 'clone');
      await git(['fsck', '--full', '--strict'], clone);
      assert.equal((await git(['rev-parse', 'HEAD'], clone)).trim(), head);
      assert.equal((await git(['status', '--porcelain'], clone)).trim(), '');
      assert.equal((await git(['log', '--oneline'], clone)).trim().split('\n').length, 5);
      await fs.writeFile(join(clone, 'm0', 'f0.txt'), 'changed\n');
      await git(['commit', '-q', '-am', 'change'], clone);
      await git(['gc', '-q'], clone);
      await git(['fsck', '--full'], clone);
      await mustSh('diff', ['-r', '-x', '.git', repo, clone]).then(
        () => assert.fail('the change should show'),
        (e: Error) => assert.match(e.message, /f0\.txt/),
      );
    });
  } finally {
    await dir.cleanup();
  }
});

test('FAT: cp and tar into a mkfs.fat image; fsck.fat -n is clean and mtools read it back', async () => {
  requireTool('mkfs.fat');
  requireTool('fsck.fat');
  requireTool('mcopy');
  const dir = await tempDir('p2k-fat-');
  try {
    const img = join(dir.path, 'fat.img');
    await run('mkfs.fat', ['-C', '-F', '16', img, String(32 * 1024)]);
    const tree = join(dir.path, 'tree');
    for (let i = 0; i < 60; i++) {
      await fs.mkdir(join(tree, `Dir${i % 4}`), { recursive: true });
      await fs.writeFile(join(tree, `Dir${i % 4}`, `long file name ${i}.txt`), `fat ${i}\n`.repeat(i * 30));
    }
    await fs.writeFile(join(tree, 'SHORT.TXT'), 'short');
    await withMount({ image: img, type: 'msdosfs', options: { rw: true, componentModules: [MSDOSFS] } }, async (mnt) => {
      await mustSh('cp', ['-r', tree, join(mnt, 'copied')]);
      await mustSh('diff', ['-r', tree, join(mnt, 'copied')]);
      await mustSh('tar', ['-C', tree, '-cf', join(dir.path, 't.tar'), '.']);
      await fs.mkdir(join(mnt, 'untarred'));
      await mustSh('tar', ['-C', join(mnt, 'untarred'), '--no-same-owner', '--no-same-permissions', '-xf', join(dir.path, 't.tar')]);
      await mustSh('diff', ['-r', tree, join(mnt, 'untarred')]);
      await fs.rename(join(mnt, 'untarred', 'Dir1'), join(mnt, 'Moved'));
      await mustSh('rm', ['-r', join(mnt, 'untarred', 'Dir2')]);
    });
    const fsck = await run('fsck.fat', ['-n', img], { allowFail: true });
    assert.equal(fsck.code, 0, `fsck.fat -n:\n${fsck.stdout.toString()}${fsck.stderr}`);
    const out = join(dir.path, 'out');
    await fs.mkdir(out);
    await run('mcopy', ['-s', '-n', '-i', img, '::copied', '::Moved', out]);
    await mustSh('diff', ['-r', tree, join(out, 'copied')]);
    await mustSh('diff', ['-r', join(tree, 'Dir1'), join(out, 'Moved')]);
    const mdir = (await run('mdir', ['-b', '-i', img, '::untarred'])).stdout.toString();
    assert.doesNotMatch(mdir, /Dir2/);
    assert.match(mdir, /Dir0/);
  } finally {
    await dir.cleanup();
  }
});
