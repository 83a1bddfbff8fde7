/**
 * Path lookup (NetBSD's namei): walks a path one component at a time from
 * the process's root or cwd, through the name cache or the driver's lookup,
 * across mount points in both directions, following symbolic links (ELOOP
 * after 32), checking search permission on every directory it passes.
 * Returns held vnodes; the caller releases them.
 */

import { KernelError } from '../kern/error.js';
import { ACC_EXEC, canAccess, type Cred } from '../kern/cred.js';
import { vref, vrele } from './mount.js';
import type { Vnode } from './vnode.js';

export const PATH_MAX = 1024;
export const NAME_MAX = 255;
export const MAXSYMLINKS = 32;

export interface NameiContext {
  root: Vnode;
  cwd: Vnode;
  cred: Cred;
}

export interface NameiResult {
  /** The directory holding the last component (held), when `parent` was asked and there is one. */
  dvp: Vnode | null;
  /** The file (held), or null when it does not exist (only with `parent`). */
  vp: Vnode | null;
  /** The last component as given ('' for '/', '.' or '..' when the path ends so). */
  name: string;
  /** The path ended with '/'. */
  trailingSlash: boolean;
}

const encoder = new TextEncoder();

export function byteLength(s: string): number {
  // Fast path: ASCII strings are their own UTF-8.
  let ascii = true;
  for (let i = 0; i < s.length; i++) {
    if (s.charCodeAt(i) > 0x7f) {
      ascii = false;
      break;
    }
  }
  return ascii ? s.length : encoder.encode(s).length;
}

export function checkPath(path: string): void {
  if (typeof path !== 'string') throw new KernelError('EINVAL', 'path is not a string');
  if (path.length === 0) throw new KernelError('ENOENT');
  if (path.includes('\0')) throw new KernelError('EINVAL', 'path contains NUL');
  if (path.length >= PATH_MAX || byteLength(path) >= PATH_MAX) throw new KernelError('ENAMETOOLONG');
}

/** Looks `name` up in the directory `dvp` (held): a held vnode, or null. No permission check. */
export async function lookupName(dvp: Vnode, name: string): Promise<Vnode | null> {
  const cached = dvp.cachedName(name);
  if (cached !== undefined) {
    vref(cached);
    return cached;
  }
  const mp = dvp.mount;
  await mp.lock.enterRead();
  try {
    const key = await mp.call('lookup', () => dvp.impl.lookup(name));
    if (key === null) return null;
    if (!Number.isSafeInteger(key)) throw new KernelError('EIO', `${mp.type.name}: lookup of '${name}' returned a bad key`);
    const vp = key === dvp.key ? (vref(dvp), dvp) : await mp.vget(key);
    if (name !== '..') dvp.cacheName(name, vp);
    return vp;
  } finally {
    mp.lock.exitRead();
  }
}

/** Releases a NameiResult's vnodes. */
export async function releaseResult(r: NameiResult): Promise<void> {
  if (r.vp) await vrele(r.vp);
  if (r.dvp) await vrele(r.dvp);
}

export async function namei(ctx: NameiContext, path: string, opts: { follow: boolean; parent?: boolean }): Promise<NameiResult> {
  checkPath(path);
  const wantParent = opts.parent ?? false;
  const stack: string[] = [];
  let trailingSlash = false;

  const pushPath = (p: string): void => {
    const comps = p.split('/');
    for (let i = comps.length - 1; i >= 0; i--) if (comps[i] !== '') stack.push(comps[i]!);
  };
  pushPath(path);
  trailingSlash = path.length > 1 && path.endsWith('/') && stack.length > 0;

  let dvp = path.startsWith('/') ? ctx.root : ctx.cwd;
  vref(dvp);
  let links = 0;

  try {
    if (stack.length === 0) {
      // "/" (or "///"): the root itself.
      const vp = dvp;
      dvp = null as unknown as Vnode;
      return { dvp: null, vp, name: '', trailingSlash: false };
    }
    for (;;) {
      const name = stack.pop()!;
      const isLast = stack.length === 0;
      if (byteLength(name) > NAME_MAX) throw new KernelError('ENAMETOOLONG');
      const dattr = dvp.getattr();
      if (dattr.type !== 'dir') throw new KernelError('ENOTDIR');
      if (!canAccess(ctx.cred, dattr, ACC_EXEC)) throw new KernelError('EACCES');
      // A removed directory has no entries, not even '..' (only '.' still names it).
      if (dattr.nlink === 0 && name !== '.') throw new KernelError('ENOENT');

      let found: Vnode | null;
      if (name === '.') {
        vref(dvp);
        found = dvp;
      } else if (name === '..') {
        if (dvp === ctx.root) {
          vref(dvp);
          found = dvp;
        } else {
          // Leaving a mount through its root: continue from the directory it covers.
          while (dvp.isRoot && dvp.mount.covered !== null && dvp !== ctx.root) {
            const covered = dvp.mount.covered;
            vref(covered);
            await vrele(dvp);
            dvp = covered;
          }
          found = await lookupName(dvp, '..');
          if (found === null) throw new KernelError('ENOENT');
        }
      } else {
        found = dvp.cachedName(name) ?? null;
        if (found !== null) vref(found);
        else found = await lookupName(dvp, name);
      }

      if (found === null) {
        if (isLast && wantParent) {
          const r = { dvp, vp: null, name, trailingSlash };
          dvp = null as unknown as Vnode;
          return r;
        }
        throw new KernelError('ENOENT');
      }

      // Entering a mount: the root of what is mounted here (possibly several stacked).
      let vp: Vnode = found;
      let depth = 0;
      while (vp.mountedHere !== null && name !== '..') {
        const root: Vnode = vp.mountedHere.rootVnode;
        vref(root);
        await vrele(vp);
        vp = root;
        if (++depth > 64) throw new KernelError('ELOOP');
      }

      if (vp.type === 'lnk' && (!isLast || opts.follow || trailingSlash)) {
        if (++links > MAXSYMLINKS) {
          await vrele(vp);
          throw new KernelError('ELOOP');
        }
        let target: string;
        const lmp = vp.mount;
        try {
          await lmp.lock.enterRead();
          try {
            const lvp = vp;
            target = await lmp.call('readlink', () => lvp.impl.readlink());
          } finally {
            lmp.lock.exitRead();
          }
        } finally {
          await vrele(vp);
        }
        if (target.length === 0) throw new KernelError('ENOENT');
        if (byteLength(target) >= PATH_MAX) throw new KernelError('ENAMETOOLONG');
        const before = stack.length;
        pushPath(target);
        if (target.startsWith('/')) {
          vref(ctx.root);
          await vrele(dvp);
          dvp = ctx.root;
        }
        if (stack.length === before) {
          // The link points at a directory itself ("/" or "."): resolve to dvp.
          stack.push('.');
        }
        continue;
      }

      if (isLast) {
        if (trailingSlash && vp.type !== 'dir') {
          await vrele(vp);
          throw new KernelError('ENOTDIR');
        }
        if (wantParent) {
          const r = { dvp, vp, name, trailingSlash };
          dvp = null as unknown as Vnode;
          return r;
        }
        return { dvp: null, vp, name, trailingSlash };
      }
      await vrele(dvp);
      dvp = vp;
    }
  } finally {
    if (dvp) await vrele(dvp);
  }
}
