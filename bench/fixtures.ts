/**
 * Large benchmark fixtures, made once and kept under .bench-cache/ (or
 * $BENCH_CACHE): the Linux source tree from Debian's linux-source-6.1 and
 * images of it made by the real tools.
 */

import { existsSync, mkdirSync, readdirSync, renameSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { run, requireTool } from '../src/testing/tools.js';

export const CACHE = resolve(process.env['BENCH_CACHE'] ?? '.bench-cache');
const LINUX_TARBALL_DIR = '/usr/src';

function log(msg: string): void {
  process.stderr.write(`bench: ${msg}\n`);
}

/** The extracted Linux source tree (78,579 files, about 1.3 GB). */
export async function linuxTree(): Promise<string> {
  const dir = join(CACHE, 'linux-source-6.1');
  if (existsSync(join(dir, 'Makefile'))) return dir;
  const tarball = existsSync(LINUX_TARBALL_DIR)
    ? readdirSync(LINUX_TARBALL_DIR).find((f) => /^linux-source-6\.1\.tar\.(xz|bz2)$/.test(f))
    : undefined;
  if (!tarball) throw new Error('the Linux source tarball is missing: apt-get install linux-source-6.1');
  mkdirSync(CACHE, { recursive: true });
  log(`extracting ${tarball} into ${CACHE} ...`);
  await run('tar', ['-xf', join(LINUX_TARBALL_DIR, tarball), '-C', CACHE]);
  return dir;
}

/** An ext4 image of the Linux tree made by mke2fs -d. */
export async function linuxExt4(): Promise<string> {
  const img = join(CACHE, 'linux.ext4');
  if (existsSync(img) && statSync(img).size > 0) return img;
  const tree = await linuxTree();
  requireTool('mke2fs');
  log('making the ext4 image with mke2fs -d ...');
  await run('mke2fs', ['-q', '-F', '-t', 'ext4', '-d', tree, img, '3G']);
  return img;
}

/** A UFS2 image of the Linux tree made by makefs. */
export async function linuxUfs2(): Promise<string> {
  const img = join(CACHE, 'linux.ufs2');
  if (existsSync(img) && statSync(img).size > 0) return img;
  const tree = await linuxTree();
  log('making the UFS2 image with makefs ...');
  // Under 2 GiB: Debian's makefs computes device offsets in 32 bits and fails part-way on larger images
  // (lseek: Invalid argument). 32 KiB blocks with 4 KiB fragments (ext4's allocation unit): with its default
  // 8 KiB/1 KiB, makefs's lazy initialisation of UFS2 inode blocks zeroes a few inodes it wrote earlier
  // (drivers/Kconfig is lost). Made under another name first so that a failed run leaves no image behind.
  await run('makefs', ['-t', 'ffs', '-o', 'version=2,bsize=32768,fsize=4096', '-s', '2047m', `${img}.part`, tree]);
  renameSync(`${img}.part`, img);
  return img;
}

/** An ISO 9660 image (Rock Ridge + Joliet) of the Linux tree made by xorriso. */
export async function linuxIso(): Promise<string> {
  const img = join(CACHE, 'linux.iso');
  if (existsSync(img) && statSync(img).size > 0) return img;
  const tree = await linuxTree();
  log('making the ISO with xorriso ...');
  await run('xorriso', ['-as', 'mkisofs', '-R', '-J', '-joliet-long', '-quiet', '-o', img, tree]);
  return img;
}

/** A FAT32 image of the Linux tree (mkfs.fat + mcopy -s, slow: done once). */
export async function linuxFat32(): Promise<string> {
  const img = join(CACHE, 'linux.fat32');
  if (existsSync(img) && statSync(img).size > 0) return img;
  const tree = await linuxTree();
  log('making the FAT32 image with mkfs.fat + mcopy -s (takes minutes) ...');
  await run('mkfs.fat', ['-F', '32', '-C', img, String(3 * 1024 * 1024)]);
  // The tree has names that differ only in case (xt_DSCP.c and xt_dscp.c): the later one replaces the
  // earlier (-D o), as the fill benchmark's mcopy does; -Q would stop at the first clash.
  await run('mcopy', ['-s', '-D', 'o', '-i', img, ...readdirSync(tree).map((n) => join(tree, n)), '::/'], { env: { MTOOLS_SKIP_CHECK: '1' } });
  return img;
}
