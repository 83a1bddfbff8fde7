/**
 * The suite's self-test: deliberately broken variants of tmpfs, each with
 * one classic file-system bug, run through chosen suite cases. Each case
 * must pass on the real tmpfs and fail on the broken one — so the suite is
 * shown to catch the bug, not merely to run.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runBody } from '../../src/testing/fsapply.js';
import type { FsTestProfile } from '../../src/testing/profile.js';
import { tmpfs, TmpNode, TmpfsMount } from '../../src/fs/tmpfs/index.js';
import type { FileSystemType, SetAttr, Timespec, VnodeImpl } from '../../src/vfs/types.js';
import type { Case } from './suite/util.js';
import { cases as renameCases } from './suite/rename.js';
import { cases as attrCases } from './suite/attrs.js';
import { cases as readdirCases } from './suite/readdir.js';
import { cases as ioCases } from './suite/io.js';
import { cases as spaceCases } from './suite/space.js';
import { cases as linkCases } from './suite/links.js';
import { cases as dirCases } from './suite/dirs.js';
import { cases as lookupCases } from './suite/lookup.js';

const allCases = [...lookupCases, ...renameCases, ...attrCases, ...readdirCases, ...ioCases, ...spaceCases, ...linkCases, ...dirCases];

function byName(prefix: string): Case {
  const c = allCases.find((x) => x.name.startsWith(prefix));
  assert.ok(c, `no suite case named '${prefix}...'`);
  return c;
}

/** tmpfs whose nodes get `patch` applied as the kernel loads them (every node the kernel sees comes through vget). */
function brokenTmpfs(patch: (node: TmpNode, fs: TmpfsMount) => void): FileSystemType {
  return {
    ...tmpfs,
    async mount(dev, opts, k) {
      const fs = (await tmpfs.mount(dev, opts, k)) as TmpfsMount;
      const vget = fs.vget.bind(fs);
      const patched = new WeakSet<object>();
      fs.vget = async (key) => {
        const node = (await vget(key)) as TmpNode;
        if (!patched.has(node)) {
          patched.add(node);
          patch(node, fs);
        }
        return node;
      };
      return fs;
    },
  };
}

function profileOf(component: FileSystemType, name: string): FsTestProfile {
  return { name, component, capabilities: { ...tmpfs.capabilities }, mountOptions: 'size=64m' };
}

const good = profileOf(tmpfs, 'tmpfs');

interface Flaw {
  what: string;
  component: FileSystemType;
  /** Suite cases (by name prefix) that must catch it. */
  caughtBy: string[];
}

const flaws: Flaw[] = [
  {
    what: "rename forgets to update a moved directory's '..'",
    component: brokenTmpfs((node) => {
      node.rename = async function (this: TmpNode, fromName: string, from: VnodeImpl, toDir: VnodeImpl, toName: string, to: VnodeImpl | null, time: Timespec) {
        const f = from as TmpNode;
        const oldParent = f.parent;
        await TmpNode.prototype.rename.call(this, fromName, from, toDir, toName, to, time);
        f.parent = oldParent;
      };
    }),
    caughtBy: ["rename: a directory to another parent updates '..'", 'rename: a directory over an empty directory replaces it'],
  },
  {
    what: 'rename forgets to move the link count of a moved directory',
    component: brokenTmpfs((node) => {
      node.rename = async function (this: TmpNode, fromName: string, from: VnodeImpl, toDir: VnodeImpl, toName: string, to: VnodeImpl | null, time: Timespec) {
        const src = this;
        const dst = toDir as TmpNode;
        const [a, b] = [src.nlink, dst.nlink];
        await TmpNode.prototype.rename.call(this, fromName, from, toDir, toName, to, time);
        if (src !== dst && to === null) [src.nlink, dst.nlink] = [a, b];
      };
    }),
    caughtBy: ["rename: a directory to another parent updates '..'"],
  },
  {
    what: 'write forgets to set mtime',
    component: brokenTmpfs((node) => {
      node.write = async function (this: TmpNode, buf: Uint8Array, offset: number, time: Timespec) {
        const m = this.mtime;
        const n = await TmpNode.prototype.write.call(this, buf, offset, time);
        this.mtime = m;
        return n;
      };
    }),
    caughtBy: ['times: write changes mtime and ctime', 'times: write changes mtime (every format)'],
  },
  {
    what: 'create forgets to update the directory mtime',
    component: brokenTmpfs((node) => {
      node.create = async function (this: TmpNode, name, n) {
        const m = this.mtime;
        const key = await TmpNode.prototype.create.call(this, name, n);
        this.mtime = m;
        return key;
      };
    }),
    caughtBy: ['times: create and unlink change the directory mtime', 'attrs: a new node takes one time'],
  },
  {
    what: 'readdir skips the entry at each batch boundary',
    component: brokenTmpfs((node) => {
      node.readdir = async function (this: TmpNode, cookie: number, max: number) {
        const ents = await TmpNode.prototype.readdir.call(this, cookie, max);
        return cookie > 2 ? ents.slice(1) : ents;
      };
    }),
    caughtBy: ['readdir: batches of one entry list everything', 'readdir: entries untouched during a walk'],
  },
  {
    what: 'truncate leaves stale bytes past the new end of a kept page',
    component: brokenTmpfs((node) => {
      node.setattr = async function (this: TmpNode, a: SetAttr) {
        const pages = this.pages;
        const saved = pages === null ? null : new Map([...pages].map(([i, p]) => [i, p.slice()]));
        await TmpNode.prototype.setattr.call(this, a);
        if (saved && pages) for (const [i, p] of pages) p.set(saved.get(i) ?? p);
      };
    }),
    caughtBy: ['io: shrinking then growing reads zeros'],
  },
  {
    what: 'unlink never frees the blocks of a removed file',
    component: brokenTmpfs((node, fs) => {
      node.inactive = async function (this: TmpNode) {
        if (this.nlink === 0) {
          const used = fs.usedPages;
          fs.freeNode(this);
          fs.usedPages = used;
        }
      };
    }),
    caughtBy: ['statvfs: free space goes down as data is written and comes back', 'full: writing until ENOSPC'],
  },
  {
    what: 'link forgets to count the new link',
    component: brokenTmpfs((node) => {
      node.link = async function (this: TmpNode, name: string, target: VnodeImpl, time: Timespec) {
        await TmpNode.prototype.link.call(this, name, target, time);
        (target as TmpNode).nlink--;
      };
    }),
    caughtBy: ['link: hard links share the inode and count links', 'rename: over a hard link of another file drops one link'],
  },
  {
    what: "lookup of '..' answers the directory itself",
    component: brokenTmpfs((node) => {
      node.lookup = async function (this: TmpNode, name: string) {
        return name === '..' ? this.key : TmpNode.prototype.lookup.call(this, name);
      };
    }),
    caughtBy: ['lookup: complex paths with . and ..', "lookup: '..' of the mount root leaves the mount"],
  },
  {
    what: 'rmdir removes non-empty directories',
    component: brokenTmpfs((node) => {
      node.rmdir = async function (this: TmpNode, name: string, victim: VnodeImpl, time: Timespec) {
        const v = victim as TmpNode;
        v.dir?.clear();
        await TmpNode.prototype.rmdir.call(this, name, victim, time);
      };
    }),
    caughtBy: ['dirs: rmdir of a non-empty directory is ENOTEMPTY'],
  },
];

for (const flaw of flaws) {
  const broken = profileOf(flaw.component, 'tmpfs-broken');
  for (const prefix of flaw.caughtBy) {
    const c = byName(prefix);
    test(`harness: '${c.name}' catches: ${flaw.what}`, async () => {
      await runBody(good, c.body, c.opts ?? {});
      await assert.rejects(runBody(broken, c.body, c.opts ?? {}), (e: unknown) => {
        // A failed assertion or an errno the body did not expect: either way the suite noticed.
        assert.ok(e instanceof Error, String(e));
        return true;
      });
    });
  }
}
