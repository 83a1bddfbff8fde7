/**
 * node:fs/promises' calls for test helpers that make and compare host trees, done synchronously behind
 * the same promise signatures. On local scratch files a synchronous call takes microseconds; the promise
 * API pays a thread-pool round trip per call, about ten times the CPU time, and trees of thousands of
 * files are made and compared in many tests. Not for paths served by this process itself (a FUSE mount
 * whose daemon runs here would deadlock); `open` stays the real asynchronous one.
 */

import * as fs from 'node:fs';
import type * as fsp from 'node:fs/promises';

function wrap<T>(f: (...a: never[]) => unknown): T {
  const g = f as (...a: unknown[]) => unknown;
  return (async (...a: unknown[]) => g(...a)) as T;
}

export const readFile = wrap<typeof fsp.readFile>(fs.readFileSync);
export const writeFile = wrap<typeof fsp.writeFile>(fs.writeFileSync);
export const appendFile = wrap<typeof fsp.appendFile>(fs.appendFileSync);
export const copyFile = wrap<typeof fsp.copyFile>(fs.copyFileSync);
export const truncate = wrap<typeof fsp.truncate>(fs.truncateSync);
export const mkdir = wrap<typeof fsp.mkdir>(fs.mkdirSync);
export const readdir = wrap<typeof fsp.readdir>(fs.readdirSync);
export const lstat = wrap<typeof fsp.lstat>(fs.lstatSync);
export const stat = wrap<typeof fsp.stat>(fs.statSync);
export const chmod = wrap<typeof fsp.chmod>(fs.chmodSync);
export const chown = wrap<typeof fsp.chown>(fs.chownSync);
export const lchown = wrap<typeof fsp.lchown>(fs.lchownSync);
export const utimes = wrap<typeof fsp.utimes>(fs.utimesSync);
export const lutimes = wrap<typeof fsp.lutimes>(fs.lutimesSync);
export const symlink = wrap<typeof fsp.symlink>(fs.symlinkSync);
export const link = wrap<typeof fsp.link>(fs.linkSync);
export const readlink = wrap<typeof fsp.readlink>(fs.readlinkSync);
export const unlink = wrap<typeof fsp.unlink>(fs.unlinkSync);
export const rename = wrap<typeof fsp.rename>(fs.renameSync);
export const rmdir = wrap<typeof fsp.rmdir>(fs.rmdirSync);
export const rm = wrap<typeof fsp.rm>(fs.rmSync);
export const mkdtemp = wrap<typeof fsp.mkdtemp>(fs.mkdtempSync);
export const realpath = wrap<typeof fsp.realpath>(fs.realpathSync);
export const access = wrap<typeof fsp.access>(fs.accessSync);
export { open } from 'node:fs/promises';
