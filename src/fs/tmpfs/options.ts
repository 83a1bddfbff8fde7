/**
 * tmpfs mount options (as NetBSD's mount_tmpfs and Linux's tmpfs spell them):
 * `size=` total data bytes (k/m/g/t suffixes, powers of 1024) or Linux's
 * `nr_blocks=` in pages, `nodes=` (Linux: `nr_inodes=`) the most files,
 * `mode=`/`uid=`/`gid=` for the root directory. Options the VFS itself
 * understands (ro, noatime ...) pass through untouched.
 */

import { KernelError } from '../../kern/error.js';
import type { OptionMap } from '../../vfs/types.js';

/** tmpfs pages: the unit of space accounting and of file data storage. */
export const PAGE_SIZE = 4096;
export const DEFAULT_SIZE = 256 * 1024 * 1024;
/** Largest accepted size= (1 PiB): keeps every byte offset an exact JavaScript number. */
export const MAX_SIZE = 2 ** 50;
/** NetBSD's default: one node per KiB of size, plus the root's few. */
const BYTES_PER_DEFAULT_NODE = 1024;
/** Cap on nodes= so the count stays a small integer. */
export const MAX_NODES = 2 ** 31;

export interface TmpfsOptions {
  /** Pages of file data (size= rounded down to whole pages). */
  pages: number;
  nodes: number;
  rootMode: number;
  rootUid: number;
  rootGid: number;
}

const SUFFIX = new Map<string, number>([
  ['', 1],
  ['k', 1024],
  ['m', 1024 ** 2],
  ['g', 1024 ** 3],
  ['t', 1024 ** 4],
]);

function bad(what: string): KernelError {
  return new KernelError('EINVAL', `tmpfs: bad mount option ${what}`);
}

/** Parses "64m", "4096", "1G" into bytes. */
export function parseSize(value: string): number {
  const m = /^([0-9]{1,16})([kKmMgGtT]?)$/.exec(value);
  if (!m) throw bad(`size=${value}`);
  const bytes = Number(m[1]) * SUFFIX.get(m[2]!.toLowerCase())!;
  if (!Number.isSafeInteger(bytes) || bytes < PAGE_SIZE || bytes > MAX_SIZE) throw bad(`size=${value} (${PAGE_SIZE} bytes to 1 PiB)`);
  return bytes;
}

function parseId(name: string, value: string): number {
  if (!/^[0-9]{1,10}$/.test(value) || Number(value) > 0xfffffffe) throw bad(`${name}=${value}`);
  return Number(value);
}

export function parseTmpfsOptions(opts: OptionMap): TmpfsOptions {
  const sizeOpt = opts.get('size');
  const blocksOpt = opts.get('nr_blocks');
  if (sizeOpt !== undefined && blocksOpt !== undefined) throw bad('size= together with nr_blocks=');
  let bytes = sizeOpt === undefined ? DEFAULT_SIZE : parseSize(sizeOpt);
  if (blocksOpt !== undefined) {
    if (!/^[0-9]{1,12}$/.test(blocksOpt)) throw bad(`nr_blocks=${blocksOpt}`);
    bytes = parseSize(String(Number(blocksOpt) * PAGE_SIZE));
  }
  const pages = Math.floor(bytes / PAGE_SIZE);
  let nodes = Math.min(MAX_NODES, Math.max(16, Math.floor(bytes / BYTES_PER_DEFAULT_NODE)));
  if (opts.has('nodes') && opts.has('nr_inodes')) throw bad('nodes= together with nr_inodes=');
  const nodesOpt = opts.get('nodes') ?? opts.get('nr_inodes');
  if (nodesOpt !== undefined) {
    if (!/^[0-9]{1,10}$/.test(nodesOpt)) throw bad(`nodes=${nodesOpt}`);
    nodes = Number(nodesOpt);
    if (nodes < 1 || nodes > MAX_NODES) throw bad(`nodes=${nodesOpt} (1 to ${MAX_NODES})`);
  }
  let rootMode = 0o755;
  const modeOpt = opts.get('mode');
  if (modeOpt !== undefined) {
    if (!/^[0-7]{1,4}$/.test(modeOpt)) throw bad(`mode=${modeOpt}`);
    rootMode = parseInt(modeOpt, 8);
  }
  const uidOpt = opts.get('uid');
  const gidOpt = opts.get('gid');
  return {
    pages,
    nodes,
    rootMode,
    rootUid: uidOpt === undefined ? 0 : parseId('uid', uidOpt),
    rootGid: gidOpt === undefined ? 0 : parseId('gid', gidOpt),
  };
}
