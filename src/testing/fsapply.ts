/**
 * fsApply (NetBSD's ATF_TC_FSAPPLY): one test body, run once per registered
 * file-system profile, each time on a freshly booted kernel with a fresh file
 * system mounted at /mnt. After the body the harness unmounts and runs the
 * profile's checker (the real fsck where one exists), so a body that leaves
 * the file system inconsistent fails even when every call it made succeeded.
 *
 * Bodies that need a capability a profile lacks are reported as skipped with
 * the reason "not applicable: <profile> lacks <capability>" — never passed.
 * By default the fast profiles run (tmpfs, toyfs); RUMP_FS=name1,name2 picks
 * profiles or components by name, RUMP_FS=all runs every profile.
 */

import { test } from 'node:test';
import { Kernel } from '../kern/kernel.js';
import { MemoryHypercalls } from '../rumpuser/memory.js';
import type { Proc } from '../vfs/proc.js';
import type { FsCapabilities } from '../vfs/types.js';
import { chdirAsRoot, type FsTestProfile } from './profile.js';
import { allProfiles, fastProfiles } from '../fs/profiles.js';

export type Requirement = keyof FsCapabilities | 'write';

export interface FsTestContext {
  kernel: Kernel;
  profile: FsTestProfile;
  caps: FsCapabilities;
  /** Root (uid 0, gid 0), cwd '/mnt'. */
  proc: Proc;
  mnt: string;
  /** A process with these credentials, cwd '/mnt'. */
  user(uid: number, gid: number, groups?: number[]): Proc;
  /** Unmounts and mounts the same image again (processes keep their cwd by path). */
  remount(opts?: { readonly?: boolean }): Promise<void>;
  /** The image bytes (null for components without a device). */
  image(): Uint8Array | null;
}

export interface FsApplyOptions {
  requires?: Requirement[];
  /** Image size in bytes for components with a device (default 32 MiB). */
  size?: number;
  /** Mount read-only from the start. */
  readonly?: boolean;
}

const registered: FsTestProfile[] = [];

/** Adds profiles to the set fsApply runs over. */
export function registerProfiles(profiles: readonly FsTestProfile[]): void {
  for (const p of profiles) if (!registered.some((r) => r.name === p.name)) registered.push(p);
}

export function registeredProfiles(): FsTestProfile[] {
  const only = process.env['RUMP_FS'];
  if (!only) return registered.length > 0 ? [...registered] : [...fastProfiles];
  const all = registered.length > 0 ? registered : allProfiles;
  if (only === 'all') return [...all];
  const names = new Set(only.split(',').map((s) => s.trim()));
  return all.filter((p) => names.has(p.name) || names.has(p.component.name));
}

/** Whether a profile lacks a requirement; returns the missing ones. */
export function missingRequirements(profile: FsTestProfile, requires: readonly Requirement[]): string[] {
  const caps = profile.capabilities;
  return requires.filter((r) => (r === 'write' ? caps.readonly === true : r === 'readonly' ? false : caps[r] === false));
}

const DEFAULT_SIZE = 32 * 1024 * 1024;
const templates = new Map<string, Promise<Uint8Array>>();

/** A fresh image for a profile: made once per (profile, size) and copied for each body. */
export async function freshImage(profile: FsTestProfile, size: number): Promise<Uint8Array> {
  const key = `${profile.name}:${size}`;
  let t = templates.get(key);
  if (!t) {
    t = profile.makeImage!(size);
    templates.set(key, t);
  }
  return (await t).slice();
}

/** Boots a kernel with a fresh file system of `profile` mounted at /mnt. */
export async function setupFs(profile: FsTestProfile, opts: FsApplyOptions = {}): Promise<FsTestContext> {
  const host = new MemoryHypercalls();
  const kernel = await Kernel.boot({ components: [profile.component, ...(profile.extraComponents ?? [])], host });
  const needsDevice = profile.component.needsDevice;
  let bytes: Uint8Array | null = null;
  const readonlyFs = profile.capabilities.readonly === true;
  if (needsDevice) {
    bytes = await freshImage(profile, opts.size ?? DEFAULT_SIZE);
    host.addFile('image', bytes);
    await kernel.etfs.register('/dev/img0', 'image', { readonly: readonlyFs });
  }
  const mnt = '/mnt';
  const mountArgs = (ro: boolean) => {
    const a: { source?: string; readonly: boolean; options?: string } = { readonly: ro };
    if (needsDevice) a.source = '/dev/img0';
    if (profile.mountOptions) a.options = profile.mountOptions;
    return a;
  };
  const admin = kernel.newProc();
  await admin.mount(profile.component.name, mnt, mountArgs(readonlyFs || (opts.readonly ?? false)));
  const procs: Proc[] = [];
  const proc = kernel.newProc();
  await proc.chdir(mnt);
  procs.push(proc);
  const ctx: FsTestContext = {
    kernel,
    profile,
    caps: profile.capabilities,
    proc,
    mnt,
    user(uid, gid, groups) {
      const p = kernel.newProc({ uid, gid, groups: groups ?? [gid] });
      procs.push(p);
      // cwd '/mnt': the root of the mount is searchable by everyone after mkfs (0755) or the test made it so.
      p.cwd = proc.cwd;
      p.cwd.usecount++;
      return p;
    },
    async remount(ropts = {}) {
      const saved: Proc[] = [];
      for (const p of procs) {
        if (p.cwd.mount !== kernel.rootVnode.mount) {
          saved.push(p);
          await p.chdir('/');
        }
      }
      await admin.unmount(mnt);
      await admin.mount(profile.component.name, mnt, mountArgs(readonlyFs || (ropts.readonly ?? false)));
      await chdirAsRoot(saved, mnt);
    },
    image: () => (needsDevice ? host.fileBytes('image')! : null),
  };
  return ctx;
}

/** Unmounts (via halt), then runs the profile's checker on the image. */
export async function teardownFs(ctx: FsTestContext): Promise<void> {
  await ctx.kernel.halt();
  const img = ctx.image();
  if (img && ctx.profile.check && !ctx.profile.capabilities.readonly) await ctx.profile.check(img);
}

/**
 * Registers one node:test test per profile, named `${name} [${profile}]`.
 * Profiles come from registerProfiles(), or are every component's this package ships when none were registered.
 */
export function fsApply(name: string, body: (ctx: FsTestContext) => Promise<void>, opts: FsApplyOptions = {}): void {
  for (const profile of registeredProfiles()) {
    const missing = missingRequirements(profile, opts.requires ?? []);
    const title = `${name} [${profile.name}]`;
    if (missing.length > 0) {
      test(title, { skip: `not applicable: ${profile.name} lacks ${missing.join(', ')}` }, () => undefined);
      continue;
    }
    test(title, async () => {
      await runBody(profile, body, opts);
    });
  }
}

/** Runs one body on one profile: set up, run, tear down and check. Exported for harness self-tests. */
export async function runBody(profile: FsTestProfile, body: (ctx: FsTestContext) => Promise<void>, opts: FsApplyOptions = {}): Promise<void> {
  const ctx = await setupFs(profile, opts);
  let failed = true;
  try {
    await body(ctx);
    failed = false;
  } finally {
    if (failed) await ctx.kernel.halt().catch(() => undefined);
  }
  await teardownFs(ctx);
}
