/**
 * Control operations of a remote kernel, against the real tools: the
 * partition table sfdisk wrote comes back from partitions(); a partition
 * registered with addWedge() holds exactly the FAT file system mkfs.fat and
 * mcopy put there (probed and mounted through the wedge); the image is not
 * changed by any of it.
 */

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile, writeFile, open } from '../../src/testing/hostfs.js';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { existsSync } from 'node:fs';
import { startKernel } from '../../src/sysproxy/index.js';
import { KernelError } from '../../src/kern/error.js';
import { O_RDONLY } from '../../src/vfs/fcntl.js';
import { run, tempDir } from '../../src/testing/tools.js';

const SECTOR = 512;
let dir: { path: string; cleanup: () => Promise<void> };
let image: string;
const content = 'partition two, written by mcopy\n'.repeat(300);

/** The msdosfs component, as a module path (loaded as an extra component until the package ships it). */
function msdosfsModule(): string {
  const js = fileURLToPath(new URL('../../src/fs/msdosfs/index.js', import.meta.url));
  return existsSync(js) ? js : fileURLToPath(new URL('../../src/fs/msdosfs/index.ts', import.meta.url));
}

before(async () => {
  dir = await tempDir('sysproxy-control-');
  image = join(dir.path, 'disk.img');
  await writeFile(image, new Uint8Array(24 * 1024 * 1024));
  await run('sfdisk', ['--no-reread', '--no-tell-kernel', image], {
    input: 'label: dos\nstart=2048, size=8192, type=83\nstart=10240, size=30720, type=c\n',
  });
  const part = join(dir.path, 'p2.img');
  await run('mkfs.fat', ['-C', '-F', '16', '-n', 'PARTTWO', part, String((30720 * SECTOR) / 1024)]);
  const src = join(dir.path, 'hello.txt');
  await writeFile(src, content);
  await run('mcopy', ['-i', part, src, '::HELLO.TXT']);
  const bytes = await readFile(part);
  const fh = await open(image, 'r+');
  await fh.write(bytes, 0, bytes.length, 10240 * SECTOR);
  await fh.close();
});

after(async () => {
  await dir.cleanup();
});

async function sha(path: string): Promise<string> {
  return createHash('sha256').update(await readFile(path)).digest('hex');
}

for (const isolation of ['process', 'trusted'] as const) {
  test(`partitions and wedges match what sfdisk, mkfs.fat and mcopy wrote (${isolation})`, async () => {
    const before = await sha(image);
    const oracle = JSON.parse((await run('sfdisk', ['--json', image])).stdout.toString('utf8')) as {
      partitiontable: { partitions: { start: number; size: number; type: string }[] };
    };
    const rk = await startKernel({ images: [{ node: '/dev/img0', path: image, readonly: true }], isolation, extraComponentModules: [msdosfsModule()] });
    try {
      const parts = await rk.control.partitions('/dev/img0');
      assert.deepEqual(
        parts.map((p) => [p.index, p.start, p.size, parseInt(p.type, 16), p.scheme]),
        oracle.partitiontable.partitions.map((p, i) => [i + 1, p.start * SECTOR, p.size * SECTOR, parseInt(p.type, 16), 'mbr']),
      );
      await rk.control.addWedge('/dev/img0', 2, '/dev/img0p2');
      const probed = await rk.control.probe('/dev/img0p2');
      assert.equal(probed?.type, 'msdosfs');
      assert.equal(probed?.label?.trim(), 'PARTTWO');
      const p = await rk.newProc();
      await p.mount('msdosfs', '/mnt', { source: '/dev/img0p2', readonly: true });
      const names = (await p.readdir('/mnt')).map((d) => d.name.toLowerCase());
      assert.deepEqual(names, ['hello.txt']);
      const st = await p.stat('/mnt/HELLO.TXT');
      const buf = new Uint8Array(st.size);
      const fd = await p.open('/mnt/HELLO.TXT', O_RDONLY);
      assert.equal(await p.read(fd, buf), st.size);
      await p.close(fd);
      assert.equal(new TextDecoder().decode(buf), content);
      await assert.rejects(rk.control.addWedge('/dev/img0', 7, '/dev/img0p7'), (e: unknown) => e instanceof KernelError && e.code === 'ENXIO');
      await assert.rejects(rk.control.partitions('/dev/nothing'), (e: unknown) => e instanceof KernelError && e.code === 'ENXIO');
      assert.ok(Array.isArray(await rk.control.consoleLines()));
    } finally {
      await rk.halt();
    }
    assert.equal(await sha(image), before, 'a read-only session changed the image');
  });
}
