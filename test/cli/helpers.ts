// Shared by the CLI tests: run `rump` in-process with captured streams, and build images with the
// real tools (mke2fs -d, mkfs.fat + mcopy, sfdisk) from a small host tree.

import { PassThrough, Readable } from 'node:stream';
import { createHash } from 'node:crypto';
import { mkdir, writeFile, readFile, symlink, link, chmod, utimes, truncate, open } from '../../src/testing/hostfs.js';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { main } from '../../src/cli/main.js';
import { run } from '../../src/testing/tools.js';

/** A module next to this one, as it exists in this run: .ts from the sources, .js when compiled. */
export function sibling(rel: string): string {
  const ext = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
  return fileURLToPath(new URL(`${rel}${ext}`, import.meta.url));
}

/** The components not yet in src/fs/all.ts, loaded into every kernel these tests boot. */
export const COMPONENTS = sibling('../ukfs/fixtures/components');

export interface RumpResult { code: number; stdout: Buffer; stderr: string; out: string }

/** `rump ARGS` in this process; `--trusted` unless the args choose an isolation. */
export async function rump(args: string[], opts: { stdin?: string | Uint8Array; env?: NodeJS.ProcessEnv; isolation?: string; stdoutLimit?: number } = {}): Promise<RumpResult> {
  // Standard output as a pipe whose reader goes away after `stdoutLimit` bytes (like `| head -c`).
  let seen = 0;
  const limit = opts.stdoutLimit ?? 256 * 1024 * 1024;
  const stdout = new PassThrough({
    transform(chunk: Buffer, _enc, cb) {
      seen += chunk.length;
      if (seen > limit) cb(Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }));
      else cb(null, chunk);
    },
  });
  stdout.on('error', () => undefined);
  const stderr = new PassThrough();
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  stdout.on('data', (b: Buffer) => out.push(b));
  stderr.on('data', (b: Buffer) => err.push(b));
  const stdin = Readable.from(opts.stdin === undefined ? [] : [Buffer.from(opts.stdin)]);
  const [cmd, ...rest] = args as [string, ...string[]];
  const iso = opts.isolation ?? 'trusted';
  const full = cmd === 'halt' ? args : [cmd, ...rest, '--isolation', iso, '--component', COMPONENTS];
  const code = await main(full, { stdin, stdout, stderr, env: { ...opts.env } });
  if (!stdout.destroyed) stdout.end();
  stderr.end();
  const o = Buffer.concat(out);
  return { code, stdout: o, out: o.toString('utf8'), stderr: Buffer.concat(err).toString('utf8') };
}

export async function sha256(path: string): Promise<string> {
  return createHash('sha256').update(await readFile(path)).digest('hex');
}

/** The host tree the images are made from: files, a 300 KB file, a symlink, a hard link, modes, owners, times. */
export async function makeTree(dir: string): Promise<void> {
  await mkdir(join(dir, 'etc'), { recursive: true });
  await mkdir(join(dir, 'home/user/docs'), { recursive: true });
  await writeFile(join(dir, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
  await writeFile(join(dir, 'etc/hostname'), 'anykernel\n');
  const big = Buffer.alloc(300_000);
  for (let i = 0; i < big.length; i++) big[i] = (i * 7 + (i >> 9)) & 0xff;
  await writeFile(join(dir, 'home/user/big.bin'), big);
  await writeFile(join(dir, 'home/user/docs/readme.txt'), 'read me\n');
  await writeFile(join(dir, '__proto__'), 'not a prototype\n');
  await symlink('../etc/passwd', join(dir, 'home/passwd-link'));
  await link(join(dir, 'etc/passwd'), join(dir, 'etc/passwd.hard'));
  await chmod(join(dir, 'home/user/docs'), 0o750);
  await chmod(join(dir, 'etc/hostname'), 0o600);
  await utimes(join(dir, 'etc/hostname'), new Date('2021-03-04T05:06:07Z'), new Date('2021-03-04T05:06:07Z'));
}

/** Files of the tree as path -> contents (for FAT, which keeps no links: symlinks left out). */
export const TREE_FILES = new Map<string, string | null>([
  ['/etc/passwd', 'root:x:0:0:root:/root:/bin/sh\n'],
  ['/etc/hostname', 'anykernel\n'],
  ['/home/user/docs/readme.txt', 'read me\n'],
  ['/__proto__', 'not a prototype\n'],
  ['/home/user/big.bin', null],
]);

export async function makeExt(dir: string, tree: string, type: 'ext2' | 'ext4', size = '16M'): Promise<string> {
  const img = join(dir, `${type}.img`);
  await run('mke2fs', ['-q', '-F', '-t', type, '-d', tree, '-L', `T${type}`, img, size]);
  return img;
}

/** A FAT image made by mkfs.fat and filled by mcopy (no symlinks: FAT has none). */
export async function makeFat(dir: string, tree: string, name = 'fat.img', sizeMiB = 16): Promise<string> {
  const img = join(dir, name);
  await writeFile(img, '');
  await truncate(img, sizeMiB * 1024 * 1024);
  await run('mkfs.fat', ['-n', 'TFAT', img]);
  const env = { MTOOLS_SKIP_CHECK: '1' };
  await run('mmd', ['-i', img, '::/etc', '::/home', '::/home/user', '::/home/user/docs'], { env });
  for (const f of ['/etc/passwd', '/etc/hostname', '/home/user/big.bin', '/home/user/docs/readme.txt', '/__proto__']) {
    await run('mcopy', ['-i', img, join(tree, f), `::${f}`], { env });
  }
  return img;
}

/** A disk with a partition table made by sfdisk and `fs` written into partition `index` (others empty). */
export async function makeDisk(dir: string, name: string, label: 'dos' | 'gpt', fsImages: string[]): Promise<string> {
  const img = join(dir, name);
  const sizes: number[] = [];
  for (const f of fsImages) sizes.push((await readFile(f)).length);
  const total = 1024 * 1024 + sizes.reduce((a, b) => a + b + 1024 * 1024, 0) + 1024 * 1024;
  await writeFile(img, '');
  await truncate(img, total);
  const lines = [`label: ${label}`];
  for (const s of sizes) lines.push(`size=${s / 512}, type=${label === 'dos' ? '83' : '0FC63DAF-8483-4772-8E79-3D69D8477DE4'}`);
  await run('sfdisk', ['--no-reread', '--no-tell-kernel', img], { input: lines.join('\n') + '\n' });
  const parts = JSON.parse((await run('sfdisk', ['--json', img])).stdout.toString('utf8')) as { partitiontable: { partitions: { start: number }[] } };
  const fh = await open(img, 'r+');
  try {
    for (const [i, f] of fsImages.entries()) await fh.write(await readFile(f), 0, undefined, parts.partitiontable.partitions[i]!.start * 512);
  } finally {
    await fh.close();
  }
  return img;
}
