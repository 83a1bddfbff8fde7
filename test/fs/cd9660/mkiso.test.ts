/**
 * mkiso: images this project makes must be read the same by the real readers
 * — xorriso (-find and -extract), isoinfo (Rock Ridge and Joliet), sleuthkit
 * (fls, icat) — and by our own driver, as the source tree they came from.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { linkSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir, run } from '../../../src/testing/tools.js';
import { hostTree, makeIsoFile, makeSourceTree, mountIso, project, readAll, walkHost, walkKernel, type Info } from './util.js';
import { makeIsoImage, memoryTree } from '../../../src/fs/cd9660/mkiso.js';
import { cd9660 } from '../../../src/fs/cd9660/index.js';
import { MemoryDevice } from '../../../src/dev/blockdev.js';

/** A path as the Joliet tree holds it: components cut at 64 UCS-2 characters. */
function jolietPath(p: string): string {
  return p.split('/').map((c) => c.slice(0, 64)).join('/');
}

const FULL: (keyof Info)[] = ['type', 'mode', 'uid', 'gid', 'size', 'mtime', 'target', 'sha', 'rdev'];

async function withImage(body: (iso: string, src: string, dir: string) => Promise<void>, opts: { extentSize?: number; special?: boolean } = {}): Promise<void> {
  const t = await tempDir('cd9660-mkiso-');
  try {
    const src = join(t.path, 'src');
    mkdirSync(src);
    makeSourceTree(src, { deep: 10 });
    if (opts.special) {
      await run('mknod', [join(src, 'null-dev'), 'c', '1', '3']);
      await run('mkfifo', [join(src, 'fifo')]);
    }
    const iso = join(t.path, 'out.iso');
    await makeIsoFile(hostTree(src), iso, { volumeId: 'TestVol', ...(opts.extentSize ? { extentSize: opts.extentSize } : {}) });
    await body(iso, src, t.path);
  } finally {
    await t.cleanup();
  }
}

/** `xorriso -find / -exec lsdl` lines as a map of path → Info (no contents). */
async function xorrisoFind(iso: string): Promise<Map<string, Info>> {
  const { stdout } = await run('xorriso', ['-indev', `stdio:${iso}`, '-find', '/', '-exec', 'lsdl']);
  const out = new Map<string, Info>();
  for (const line of stdout.toString().split('\n')) {
    const m = /^(\S)(\S{9})\s+\d+\s+(\d+)\s+(\d+)\s+([\d,]+)\s+.*? '\/(.+?)'(?: -> '(.*)')?$/.exec(line);
    if (!m) continue;
    const type = { '-': 'reg', d: 'dir', l: 'lnk', c: 'chr', b: 'blk', p: 'fifo', s: 'sock' }[m[1]!] ?? '?';
    const perm = m[2]!;
    let mode = 0;
    for (let i = 0; i < 9; i++) if (!'-ST'.includes(perm[i]!)) mode |= 1 << (8 - i);
    if ('sS'.includes(perm[2]!)) mode |= 0o4000;
    if ('sS'.includes(perm[5]!)) mode |= 0o2000;
    if ('tT'.includes(perm[8]!)) mode |= 0o1000;
    const i: Info = { type, mode, uid: Number(m[3]), gid: Number(m[4]), size: type === 'reg' ? Number(m[5]) : 0, mtime: 0 };
    if (m[7] !== undefined) i.target = m[7];
    out.set(m[6]!, i);
  }
  return out;
}

test('mkiso: xorriso -find sees the source tree (names, modes, owners, sizes, link targets)', async () => {
  await withImage(async (iso, src) => {
    const keys: (keyof Info)[] = ['type', 'mode', 'uid', 'gid', 'target'];
    const host = walkHost(src);
    assert.deepEqual(project(await xorrisoFind(iso), keys), project(host, keys));
    // Symlink sizes differ by reader; regular files must agree.
    const reg = (m: Map<string, Info>) => new Map([...m].filter(([, i]) => i.type === 'reg'));
    assert.deepEqual(project(reg(await xorrisoFind(iso)), ['size']), project(reg(host), ['size']));
  }, { special: true });
});

test('mkiso: xorriso -extract gives back the source tree, contents and times included', async () => {
  await withImage(async (iso, src, dir) => {
    const out = join(dir, 'extracted');
    await run('xorriso', ['-osirrox', 'on', '-indev', `stdio:${iso}`, '-extract', '/', out]);
    const keys: (keyof Info)[] = ['type', 'mode', 'uid', 'gid', 'size', 'mtime', 'target', 'sha'];
    // xorriso does not set the times or owners of the symbolic links it extracts (-find checks the owners).
    const noLinkTimes = (m: Map<string, Info>) => new Map([...m].map(([p, i]) => [p, i.type === 'lnk' ? { ...i, mtime: 0, uid: 0, gid: 0 } : i]));
    assert.deepEqual(project(noLinkTimes(walkHost(out)), keys), project(noLinkTimes(walkHost(src)), keys));
  });
});

test('mkiso: isoinfo lists the same names in the Rock Ridge and Joliet trees', async () => {
  await withImage(async (iso, src) => {
    const host = [...walkHost(src).keys()].map((p) => '/' + p).sort();
    const rr = (await run('isoinfo', ['-R', '-f', '-i', iso])).stdout.toString().trim().split('\n').sort();
    assert.deepEqual(rr, host);
    // Joliet: names up to 64 UCS-2 characters, no symbolic links; isoinfo prints Latin-1 bytes and '_' beyond.
    const j = (await run('isoinfo', ['-J', '-f', '-i', iso])).stdout.toString().trim().split('\n').sort();
    const latin1 = (s: string) => [...s].map((c) => (c.charCodeAt(0) > 0xff ? '_' : c.charCodeAt(0) > 0x7f ? '\ufffd' : c)).join('');
    const jhost = [...walkHost(src)].filter(([, i]) => i.type !== 'lnk').map(([p]) => latin1('/' + jolietPath(p))).sort();
    assert.deepEqual(j, jhost);
    const d = (await run('isoinfo', ['-d', '-i', iso])).stdout.toString();
    assert.match(d, /Volume id: TESTVOL/);
    assert.match(d, /Joliet with UCS level 3 found/);
    assert.match(d, /Rock Ridge signatures version 1 found/);
  });
});

test('mkiso: sleuthkit fls lists every file and icat returns its contents', async () => {
  await withImage(async (iso, src) => {
    const { stdout } = await run('fls', ['-r', '-p', iso]);
    const byPath = new Map<string, { type: string; inode: string }>();
    for (const line of stdout.toString().trim().split('\n')) {
      if (line.includes('$OrphanFiles')) continue; // the primary tree's files, which sleuthkit lists as orphans
      const m = /^(\S)\/\S+\s+(\d+):\t(.*)$/.exec(line);
      assert.ok(m, line);
      assert.ok(!byPath.has(m[3]!), `listed twice: ${m[3]}`);
      byPath.set(m[3]!, { type: m[1]!, inode: m[2]! });
    }
    // sleuthkit reads the Joliet tree, which has no symbolic links.
    const host = walkHost(src);
    assert.deepEqual([...byPath.keys()].sort(), [...host].filter(([, i]) => i.type !== 'lnk').map(([p]) => jolietPath(p)).sort());
    for (const [p, info] of host) {
      if (info.type !== 'reg') continue;
      const e = byPath.get(jolietPath(p))!;
      assert.equal(e.type, 'r', p);
      const data = (await run('icat', [iso, e.inode])).stdout;
      assert.deepEqual(new Uint8Array(data), new Uint8Array(readFileSync(join(src, p))), p);
    }
  });
});

test('mkiso: the driver reads back the source tree', async () => {
  await withImage(async (iso, src) => {
    const { kernel, proc } = await mountIso(iso);
    try {
      assert.deepEqual(project(await walkKernel(proc, '/mnt'), FULL), project(walkHost(src), FULL));
    } finally {
      await kernel.halt();
    }
    const p = await cd9660.probe!(new MemoryDevice(readFileSync(iso)));
    assert.deepEqual([p?.variant, p?.label], ['ISO 9660 + Rock Ridge + Joliet', 'TestVol']);
  }, { special: true });
});

test('mkiso: multi-extent files (small extents) read identically by xorriso, isoinfo and the driver', async () => {
  await withImage(async (iso, src, dir) => {
    // docs/sub/data.bin (300,000 bytes) becomes three extents of 64 blocks and one of the rest.
    const listing = (await run('isoinfo', ['-l', '-i', iso])).stdout.toString();
    assert.equal((listing.match(/DATA\.BIN;1/g) ?? []).length, 3);
    const out = join(dir, 'x');
    await run('xorriso', ['-osirrox', 'on', '-indev', `stdio:${iso}`, '-extract', '/docs/sub/data.bin', out]);
    const want = readFileSync(join(src, 'docs/sub/data.bin'));
    assert.deepEqual(new Uint8Array(readFileSync(out)), new Uint8Array(want));
    const { kernel, proc } = await mountIso(iso);
    try {
      const got = await walkKernel(proc, '/mnt');
      assert.deepEqual(project(got, FULL), project(walkHost(src), FULL));
      assert.deepEqual((await proc.readdir('/mnt/docs/sub')).map((d) => d.name), ['data.bin']);
    } finally {
      await kernel.halt();
    }
  }, { extentSize: 50 * 2048 });
});

test('mkiso: hard links are stored once, with their link count and one serial number', async () => {
  const t = await tempDir('cd9660-mkiso-');
  try {
    const src = join(t.path, 'src');
    mkdirSync(join(src, 'd'), { recursive: true });
    writeFileSync(join(src, 'a.bin'), new Uint8Array(10_000).fill(1));
    linkSync(join(src, 'a.bin'), join(src, 'd', 'b.bin'));
    writeFileSync(join(src, 'c.bin'), new Uint8Array(10_000).fill(1));
    const iso = join(t.path, 'h.iso');
    await makeIsoFile(hostTree(src), iso);
    // isoinfo: both names at one extent with link count 2; the unlinked twin elsewhere.
    const ls = (await run('isoinfo', ['-R', '-l', '-i', iso])).stdout.toString();
    const entry = (name: string) => {
      const m = new RegExp(`^\\S+\\s+(\\d+)\\s+.*\\[\\s*(\\d+) 00\\]\\s+${name.replace('.', '\\.')}\\s*$`, 'm').exec(ls);
      assert.ok(m, `${name} in\n${ls}`);
      return { nlink: Number(m[1]), extent: Number(m[2]) };
    };
    assert.deepEqual(entry('a.bin'), { nlink: 2, extent: entry('b.bin').extent });
    assert.equal(entry('b.bin').nlink, 2);
    assert.notEqual(entry('c.bin').extent, entry('a.bin').extent);
    const { kernel, proc } = await mountIso(iso);
    try {
      const [a, b, c] = await Promise.all(['/mnt/a.bin', '/mnt/d/b.bin', '/mnt/c.bin'].map((p) => proc.stat(p)));
      assert.equal(a!.ino, b!.ino);
      assert.notEqual(a!.ino, c!.ino);
      assert.deepEqual([a!.nlink, b!.nlink, c!.nlink], [2, 2, 1]);
      assert.deepEqual(await readAll(proc, '/mnt/d/b.bin', 10_000), new Uint8Array(10_000).fill(1));
    } finally {
      await kernel.halt();
    }
  } finally {
    await t.cleanup();
  }
});

test('mkiso from memory: deterministic, and names the format cannot hold are still read back', async () => {
  const tree = memoryTree([
    { path: 'a/b/c.txt', type: 'file', content: 'abc', mode: 0o600, uid: 5, gid: 6 },
    { path: 'same name.TXT', type: 'file', content: '1' },
    { path: 'same_name.txt', type: 'file', content: '2' },
    { path: 'x'.repeat(255), type: 'file', content: 'long' },
    { path: 'l', type: 'symlink', target: '/' },
  ]);
  const a = await makeIsoImage(tree, { time: { sec: 1_700_000_000, nsec: 0 } });
  const b = await makeIsoImage(tree, { time: { sec: 1_700_000_000, nsec: 0 } });
  assert.deepEqual(a, b);
  await assert.rejects(makeIsoImage(memoryTree([{ path: 'y'.repeat(256), type: 'file' }])), { code: 'ENAMETOOLONG' });
  const t = await tempDir('cd9660-mkiso-');
  try {
    const iso = join(t.path, 'm.iso');
    writeFileSync(iso, a);
    const names = (await xorrisoFind(iso));
    assert.deepEqual([...names.keys()].sort(), ['a', 'a/b', 'a/b/c.txt', 'l', 'same name.TXT', 'same_name.txt', 'x'.repeat(255)].sort());
    assert.equal(names.get('l')!.target, '/');
    assert.deepEqual([names.get('a/b/c.txt')!.mode, names.get('a/b/c.txt')!.uid, names.get('a/b/c.txt')!.gid], [0o600, 5, 6]);
    const { kernel, proc } = await mountIso(a);
    try {
      assert.equal(await proc.readlink('/mnt/l'), '/');
      assert.equal(new TextDecoder().decode(await readAll(proc, '/mnt/' + 'x'.repeat(255), 4)), 'long');
    } finally {
      await kernel.halt();
    }
  } finally {
    await t.cleanup();
  }
});
