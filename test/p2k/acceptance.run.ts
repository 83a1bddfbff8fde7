/**
 * The acceptance run, as root, on ext4, ext2 and FAT32 images: cp, tar, rsync, find, du, git clone of
 * this repository, and npm ci plus a build of a small project (a local tarball dependency, offline), all
 * through rump mount; after umount the image must pass e2fsck -fn / fsck.fat -n. A separate run (a minute or
 * more): node --import tsx --test test/p2k/acceptance.run.ts
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { run, tempDir, requireTool } from '../../src/testing/tools.js';
import { withMount, mustSh, modulePath } from './helpers.js';

const MODULES = [modulePath('../../src/fs/ext2fs/index'), modulePath('../../src/fs/msdosfs/index')];

for (const variant of ['ext4', 'ext2', 'fat32'] as const) {
  test(`${variant}: cp, tar, rsync, find, du, git clone, npm ci through rump mount; the checker is clean`, async () => {
    const fat = variant === 'fat32';
    const dir = await tempDir('p2k-accept-');
    try {
      const repo = (await mustSh('git', ['rev-parse', '--show-toplevel'], { cwd: dirname(fileURLToPath(import.meta.url)) })).trim();
      const src = join(repo, 'src');
      const img = join(dir.path, 'disk.img');
      if (fat) await run('mkfs.fat', ['-C', '-F', '32', img, String(256 * 1024)]);
      else await run('mke2fs', ['-q', '-F', '-t', variant, img, '256M']);
      // A project with one dependency, packed locally so npm needs no network.
      const dep = join(dir.path, 'dep');
      const proj = join(dir.path, 'proj');
      await fs.mkdir(dep);
      await fs.mkdir(proj);
      await fs.writeFile(join(dep, 'package.json'), JSON.stringify({ name: 'dep', version: '1.0.0', main: 'index.js' }));
      await fs.writeFile(join(dep, 'index.js'), 'module.exports = () => "dep works";\n');
      await mustSh('npm', ['pack', '--silent'], { cwd: dep });
      await fs.writeFile(join(proj, 'package.json'), JSON.stringify({
        name: 'proj', version: '1.0.0', dependencies: { dep: 'file:../dep/dep-1.0.0.tgz' },
        scripts: { build: 'node -e "require(\'fs\').writeFileSync(\'out.txt\', require(\'dep\')())"' },
      }));
      await mustSh('npm', ['install', '--offline', '--silent', '--no-audit', '--no-fund'], { cwd: proj });
      await fs.rm(join(proj, 'node_modules'), { recursive: true });

      await withMount({ image: img, type: fat ? 'msdosfs' : variant, options: { rw: true, componentModules: MODULES } }, async (mnt) => {
        await mustSh('cp', [fat ? '-r' : '-a', src, join(mnt, 'cp')]);
        await mustSh('diff', ['-r', src, join(mnt, 'cp')]);
        await fs.mkdir(join(mnt, 'tar'));
        await mustSh('sh', ['-c', `tar -C "${repo}" -cf - src | tar -C "${join(mnt, 'tar')}" ${fat ? '--no-same-owner --no-same-permissions' : ''} -xf -`]);
        await mustSh('diff', ['-r', src, join(mnt, 'tar', 'src')]);
        await mustSh('rsync', [...(fat ? ['-rt', '--modify-window=2'] : ['-a']), src + '/', join(mnt, 'rsync') + '/']);
        await mustSh('diff', ['-r', src, join(mnt, 'rsync')]);
        const count = async (d: string): Promise<string> => (await mustSh('find', [d, '-type', 'f'])).trim().split('\n').length.toString();
        assert.equal(await count(join(mnt, 'cp')), await count(src));
        assert.match(await mustSh('du', ['-s', mnt]), /^\d+\t/);
        await mustSh('git', ['clone', '-q', repo, join(mnt, 'repo')]);
        await mustSh('git', ['fsck'], { cwd: join(mnt, 'repo') });
        assert.equal((await mustSh('git', ['status', '--porcelain'], { cwd: join(mnt, 'repo') })).trim(), '');
        await mustSh('cp', ['-r', dep, proj, mnt]);
        await mustSh('npm', ['ci', '--offline', '--silent', '--no-audit', '--no-fund'], { cwd: join(mnt, 'proj') });
        await mustSh('npm', ['run', '-s', 'build'], { cwd: join(mnt, 'proj') });
        assert.equal(await fs.readFile(join(mnt, 'proj', 'out.txt'), 'utf8'), 'dep works');
      });
      const check = fat ? await run(requireTool('fsck.fat'), ['-n', img], { allowFail: true }) : await run(requireTool('e2fsck'), ['-fn', img], { allowFail: true });
      assert.equal(check.code, 0, `${check.stdout.toString()}${check.stderr}`);
    } finally {
      await dir.cleanup();
    }
  });
}
