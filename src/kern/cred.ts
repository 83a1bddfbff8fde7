/**
 * Credentials and the access decisions made from them (NetBSD's kauth(9)
 * and genfs_can_access()): owner/group/other with supplementary groups,
 * root's rights, sticky directories, who may chown and chmod.
 */

import { KernelError } from './error.js';

export interface Cred {
  readonly uid: number;
  readonly gid: number;
  readonly groups: readonly number[];
}

export const ROOT_CRED: Cred = Object.freeze({ uid: 0, gid: 0, groups: Object.freeze([0]) });

export function makeCred(c: { uid?: number; gid?: number; groups?: readonly number[] } = {}): Cred {
  const uid = c.uid ?? 0;
  const gid = c.gid ?? 0;
  for (const id of [uid, gid, ...(c.groups ?? [])]) {
    if (!Number.isInteger(id) || id < 0 || id > 0xfffffffe) throw new KernelError('EINVAL', `bad credential id ${id}`);
  }
  return Object.freeze({ uid, gid, groups: Object.freeze([...(c.groups ?? [gid])]) });
}

export function isRoot(cred: Cred): boolean {
  return cred.uid === 0;
}

export function groupMember(cred: Cred, gid: number): boolean {
  return cred.gid === gid || cred.groups.includes(gid);
}

export const ACC_READ = 4;
export const ACC_WRITE = 2;
export const ACC_EXEC = 1;

/**
 * May `cred` access a file with these attributes in `want` (ACC_* bits)?
 * Root may do anything except execute a non-directory with no execute bit.
 */
export function canAccess(cred: Cred, attr: { mode: number; uid: number; gid: number; type: string }, want: number): boolean {
  if (cred.uid === 0) {
    if (want & ACC_EXEC && attr.type !== 'dir' && (attr.mode & 0o111) === 0) return false;
    return true;
  }
  let bits: number;
  if (cred.uid === attr.uid) bits = (attr.mode >> 6) & 7;
  else if (groupMember(cred, attr.gid)) bits = (attr.mode >> 3) & 7;
  else bits = attr.mode & 7;
  return (bits & want) === want;
}

export function checkAccess(cred: Cred, attr: { mode: number; uid: number; gid: number; type: string }, want: number): void {
  if (!canAccess(cred, attr, want)) throw new KernelError('EACCES');
}
