/** A host directory as mkiso's source tree, for `rump mkfs -t cd9660 --from DIR` (hard links kept once). */

import { closeSync, lstatSync, openSync, readSync, readdirSync, readlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { makeIso, type IsoSourceStat, type IsoSourceTree } from '../fs/cd9660/mkiso.js';
import { ifmtToVType } from '../vfs/types.js';

export function hostIsoTree(root: string): IsoSourceTree {
  const full = (p: string): string => (p ? join(root, p) : root);
  const ts = (ns: bigint) => ({ sec: Number(ns / 1_000_000_000n), nsec: Number(ns % 1_000_000_000n) });
  return {
    async list(p) {
      return readdirSync(full(p));
    },
    async stat(p): Promise<IsoSourceStat> {
      const st = lstatSync(full(p), { bigint: true });
      const type = ifmtToVType(Number(st.mode))!;
      return {
        type, mode: Number(st.mode) & 0o7777, uid: Number(st.uid), gid: Number(st.gid), size: type === 'reg' ? Number(st.size) : 0,
        mtime: ts(st.mtimeNs), atime: ts(st.atimeNs), ctime: ts(st.ctimeNs), rdev: Number(st.rdev),
        ...(st.nlink > 1n && type === 'reg' ? { linkId: `${st.dev}:${st.ino}` } : {}),
      };
    },
    async readlink(p) {
      return readlinkSync(full(p));
    },
    async read(p, buf, offset) {
      const fd = openSync(full(p), 'r');
      try {
        return readSync(fd, buf, 0, buf.length, offset);
      } finally {
        closeSync(fd);
      }
    },
  };
}

/** Writes an ISO 9660 image (Rock Ridge + Joliet) of `from` to the host file `out`; returns its size. */
export async function writeIso(from: string, out: string): Promise<number> {
  const fd = openSync(out, 'w', 0o644);
  try {
    const { size } = await makeIso(hostIsoTree(from), { write: async (b, off) => void writeSync(fd, b, 0, b.length, off) });
    return size;
  } finally {
    closeSync(fd);
  }
}
