/**
 * Path lookup (NetBSD's namei): walks a path one component at a time from
 * the process's root or cwd, through the name cache or the driver's lookup,
 * across mount points in both directions, following symbolic links (ELOOP
 * after 32), checking search permission on every directory it passes.
 * Returns held vnodes; the caller releases them.
 */

import { KernelError } from '../kern/error.js';
import { ACC_EXEC, canAccess, type Cred } from '../kern/cred.js';
import { vref, vrele, type Mount } from './mount.js';
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

/**
 * lookupName() without waiting: the held vnode, null when absent, or undefined when the answer needs the
 * driver to read or the mount's lock is not free at once (lookupName then).
 */
export function lookupNow(dvp: Vnode, name: string): Vnode | null | undefined {
  const cached = dvp.cachedName(name);
  if (cached !== undefined) {
    vref(cached);
    return cached;
  }
  const impl = dvp.impl;
  if (impl.lookupNow === undefined) return undefined;
  const mp = dvp.mount;
  return mp.callNow('lookup', () => {
    const key = impl.lookupNow!(name);
    if (key === undefined || key === null) return key;
    const vp = key === dvp.key ? (vref(dvp), dvp) : mp.vgetNow(checkKey(mp, name, key));
    if (vp !== undefined && name !== '..') dvp.cacheName(name, vp);
    return vp;
  });
}

function checkKey(mp: Mount, name: string, key: number): number {
  if (!Number.isSafeInteger(key)) throw new KernelError('EIO', `${mp.type.name}: lookup of '${name}' returned a bad key`);
  return key;
}

/** Looks `name` up in the directory `dvp` (held): a held vnode, or null. No permission check. */
export async function lookupName(dvp: Vnode, name: string): Promise<Vnode | null> {
  const now = lookupNow(dvp, name);
  if (now !== undefined) return now;
  const mp = dvp.mount;
  await mp.lock.enterRead();
  try {
    const key = await mp.call('lookup', () => dvp.impl.lookup(name));
    if (key === null) return null;
    const vp = key === dvp.key ? (vref(dvp), dvp) : await mp.vget(checkKey(mp, name, key));
    if (name !== '..') dvp.cacheName(name, vp);
    return vp;
  } finally {
    mp.lock.exitRead();
  }
}

/** Releases a NameiResult's vnodes, without waiting when no release has to (the usual case). */
export function releaseResult(r: NameiResult): Promise<void> | void {
  const a = r.vp ? vrele(r.vp) : undefined;
  const b = r.dvp ? vrele(r.dvp) : undefined;
  if (a || b) return Promise.all([a, b]).then(() => undefined);
}

/**
 * Walks `path` (see the file's comment). Answers at once when every step is in memory (names cached or
 * answered by the driver's lookupNow, no symbolic link to read, no release that must wait); otherwise a
 * promise, the walk going on where it had to wait.
 */
export function namei(ctx: NameiContext, path: string, opts: { follow: boolean; parent?: boolean }): NameiResult | Promise<NameiResult> {
  const g = walk(ctx, path, opts);
  const s = g.next();
  return s.done ? s.value : finishWalk(g, s.value);
}

/** The walk's steps that wait: each yields a promise and is resumed with what it resolved to. */
type Walk = Generator<Promise<unknown>, NameiResult, unknown>;

async function finishWalk(g: Walk, wait: Promise<unknown>): Promise<NameiResult> {
  for (;;) {
    let s: IteratorResult<Promise<unknown>, NameiResult>;
    try {
      s = g.next(await wait);
    } catch (e) {
      s = g.throw(e);
    }
    if (s.done) return s.value;
    wait = s.value;
  }
}

async function readlinkOf(vp: Vnode): Promise<string> {
  const lmp = vp.mount;
  await lmp.lock.enterRead();
  try {
    return await lmp.call('readlink', () => vp.impl.readlink());
  } finally {
    lmp.lock.exitRead();
  }
}

/** Pushes the components of `p` on `stack`, last first (so they pop in order). */
function pushPath(stack: string[], p: string): void {
  // One name (the common case of a call relative to the working directory): nothing to split.
  if (!p.includes('/')) {
    if (p !== '') stack.push(p);
    return;
  }
  const comps = p.split('/');
  for (let i = comps.length - 1; i >= 0; i--) if (comps[i] !== '') stack.push(comps[i]!);
}

function* walk(ctx: NameiContext, path: string, opts: { follow: boolean; parent?: boolean }): Walk {
  checkPath(path);
  const wantParent = opts.parent ?? false;
  const stack: string[] = [];
  let trailingSlash = false;

  pushPath(stack, path);
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

      let found: Vnode | null | undefined;
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
            const w = vrele(dvp);
            dvp = covered;
            if (w) yield w;
          }
          found = lookupNow(dvp, '..');
          if (found === undefined) found = (yield lookupName(dvp, '..')) as Vnode | null;
          if (found === null) throw new KernelError('ENOENT');
        }
      } else {
        found = lookupNow(dvp, name);
        if (found === undefined) found = (yield lookupName(dvp, name)) as Vnode | null;
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
        const w = vrele(vp);
        vp = root;
        if (w) yield w;
        if (++depth > 64) throw new KernelError('ELOOP');
      }

      if (vp.type === 'lnk' && (!isLast || opts.follow || trailingSlash)) {
        if (++links > MAXSYMLINKS) {
          const w = vrele(vp);
          if (w) yield w;
          throw new KernelError('ELOOP');
        }
        let target: string;
        try {
          target = (yield readlinkOf(vp)) as string;
        } finally {
          const w = vrele(vp);
          if (w) yield w;
        }
        if (target.length === 0) throw new KernelError('ENOENT');
        if (byteLength(target) >= PATH_MAX) throw new KernelError('ENAMETOOLONG');
        const before = stack.length;
        pushPath(stack, target);
        if (target.startsWith('/')) {
          vref(ctx.root);
          const w = vrele(dvp);
          dvp = ctx.root;
          if (w) yield w;
        }
        if (stack.length === before) {
          // The link points at a directory itself ("/" or "."): resolve to dvp.
          stack.push('.');
        }
        continue;
      }

      if (isLast) {
        if (trailingSlash && vp.type !== 'dir') {
          const w = vrele(vp);
          if (w) yield w;
          throw new KernelError('ENOTDIR');
        }
        if (wantParent) {
          const r = { dvp, vp, name, trailingSlash };
          dvp = null as unknown as Vnode;
          return r;
        }
        return { dvp: null, vp, name, trailingSlash };
      }
      const w = vrele(dvp);
      dvp = vp;
      if (w) yield w;
    }
  } finally {
    if (dvp) {
      const w = vrele(dvp);
      if (w) yield w;
    }
  }
}
