/**
 * Running the real tools that serve as oracles (mke2fs, e2fsck, mkfs.fat,
 * fsck.fat, mtools, xorriso, makefs, sleuthkit). A missing tool is an error
 * that names the Debian package, never a skipped test.
 */

import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { existsSync } from 'node:fs';
import { spawnCollect } from './spawner.js';

const PACKAGE_OF: Record<string, string> = {
  mke2fs: 'e2fsprogs', e2fsck: 'e2fsprogs', debugfs: 'e2fsprogs', tune2fs: 'e2fsprogs', dumpe2fs: 'e2fsprogs',
  'mkfs.fat': 'dosfstools', 'fsck.fat': 'dosfstools', mcopy: 'mtools', mdir: 'mtools', mmd: 'mtools',
  xorriso: 'xorriso', makefs: 'makefs', fls: 'sleuthkit', icat: 'sleuthkit', istat: 'sleuthkit',
  sfdisk: 'fdisk', isoinfo: 'genisoimage', genisoimage: 'genisoimage', fuse2fs: 'fuse2fs', '7z': 'p7zip-full',
};

const SEARCH = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

/** The absolute path of a tool; throws naming its Debian package when it is missing. */
export function requireTool(name: string): string {
  for (const dir of SEARCH) {
    const p = join(dir, name);
    if (existsSync(p)) return p;
  }
  const pkg = PACKAGE_OF[name];
  throw new Error(`required tool '${name}' is not installed${pkg ? ` (Debian package ${pkg})` : ''}`);
}

export interface RunResult {
  code: number;
  stdout: Buffer;
  stderr: string;
}

/** Runs a tool to completion. Rejects on a non-zero exit unless `allowFail` (or the code is in `okCodes`). */
export function run(
  tool: string,
  args: readonly string[],
  opts: { input?: Uint8Array | string; cwd?: string; env?: NodeJS.ProcessEnv; allowFail?: boolean; okCodes?: number[] } = {},
): Promise<RunResult> {
  const bin = tool.includes('/') ? tool : requireTool(tool);
  const env = { ...process.env, LC_ALL: 'C.UTF-8', ...opts.env };
  const spawnOpts: { cwd?: string; env: NodeJS.ProcessEnv; input?: Uint8Array | string } = { env };
  if (opts.cwd !== undefined) spawnOpts.cwd = opts.cwd;
  if (opts.input !== undefined) spawnOpts.input = opts.input;
  return spawnCollect(bin, args, spawnOpts).then((c) => {
    const r = { code: c.code, stdout: c.stdout, stderr: c.stderr.toString('utf8') };
    if (r.code !== 0 && !opts.allowFail && !(opts.okCodes ?? []).includes(r.code)) {
      throw new Error(`${tool} ${args.join(' ')} exited ${r.code}: ${r.stderr.trim() || r.stdout.toString('utf8').trim()}`);
    }
    return r;
  });
}

/** A fresh temporary directory, removed by the returned cleanup. */
export async function tempDir(prefix = 'anykernel-'): Promise<{ path: string; cleanup: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  return { path, cleanup: () => rm(path, { recursive: true, force: true }) };
}

/** A whole image file as a Uint8Array of its own (the bytes read are not copied again). */
export async function readImage(path: string): Promise<Uint8Array> {
  const b = await readFile(path);
  if (b.byteOffset === 0 && b.buffer.byteLength === b.byteLength) return new Uint8Array(b.buffer);
  return new Uint8Array(b);
}
