// Hostile images, made from real images by the real tools (debugfs, mkfs.fat + mcopy) and patched:
// a directory that contains itself, an extent-tree cycle, a FAT cluster-chain loop, sizes and
// counts at their format's maximum, prototype names. Every command must end (within the watchdog
// bound) with output or a clear "rump: ..." error, exit 0 or 1, and only KernelErrors reach a client.

import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile, mkdir, copyFile } from '../../src/testing/hostfs.js';
import { join } from 'node:path';
import { run, tempDir } from '../../src/testing/tools.js';
import { isKernelError } from '../../src/kern/error.js';
import { openImage } from '../../src/ukfs/index.js';
import { COMPONENTS, rump, sha256 } from './helpers.js';

let dir: string;
let cleanup: () => Promise<void>;
const hostile = new Map<string, string>();
/** Files worth reading in each hostile image. */
const READ = new Map<string, string[]>([
  ['directory containing itself', ['/a/b/self/b/file', '/a/b/self/b/self/b/file']],
  ['extent tree cycle', ['/cycle', '/ok.txt']],
  ['sizes and counts at their maximum', ['/huge', '/links', '/__proto__', '/__proto__.d/__proto__', '/constructor']],
  ['FAT cluster chain loop', ['/loop.bin', '/big.bin']],
  ['superblock block size at maximum', ['/f']],
]);

const debugfsW = (img: string, req: string) => run('debugfs', ['-w', '-R', req, img]);

async function extImage(name: string, type: 'ext2' | 'ext4', fill: (tree: string) => Promise<void>, features: string[] = []): Promise<string> {
  const tree = join(dir, `tree-${name}`);
  await mkdir(tree, { recursive: true });
  await fill(tree);
  const img = join(dir, `${name}.img`);
  await run('mke2fs', ['-q', '-F', '-t', type, '-b', '1024', ...features, '-d', tree, img, '8M']);
  return img;
}

async function blockOf(img: string, path: string): Promise<number> {
  return Number((await run('debugfs', ['-R', `bmap ${path} 0`, img])).stdout.toString().trim());
}

/** FAT16 geometry from the boot sector (Microsoft FAT specification, section 3.1). */
function fatGeometry(b: Buffer) {
  const bps = b.readUInt16LE(11);
  const spc = b[13]!;
  const rsvd = b.readUInt16LE(14);
  const nfats = b[16]!;
  const rootEnts = b.readUInt16LE(17);
  const fatSz = b.readUInt16LE(22);
  const rootStart = (rsvd + nfats * fatSz) * bps;
  return { bps, spc, rsvd, nfats, fatSz, rootStart, dataStart: rootStart + rootEnts * 32 };
}

/** The root-directory entry offset of an 8.3 name ("LOOP    BIN"). */
function rootEntry(b: Buffer, g: ReturnType<typeof fatGeometry>, name83: string): number {
  for (let o = g.rootStart; o < g.dataStart; o += 32) if (b.toString('latin1', o, o + 11) === name83) return o;
  throw new Error(`no ${name83} in the root directory`);
}

before(async () => {
  ({ path: dir, cleanup } = await tempDir('rump-hostile-'));

  // 1. A directory that contains itself: /a/self is a second name for /a (debugfs ln links directories).
  const selfDir = await extImage('selfdir', 'ext2', async (t) => {
    await mkdir(join(t, 'a/b'), { recursive: true });
    await writeFile(join(t, 'a/b/file'), 'x\n');
  });
  await debugfsW(selfDir, 'ln /a /a/b/self');
  hostile.set('directory containing itself', selfDir);

  // 2. An extent-tree cycle: /cycle's root says depth 2 with one index to block B; block B says
  //    depth 1 with one index pointing to B itself (ext4 disk layout, "Extent Tree").
  const cyc = await extImage('extcycle', 'ext4', async (t) => {
    await writeFile(join(t, 'cycle'), Buffer.alloc(1024, 1));
    await writeFile(join(t, 'donor'), Buffer.alloc(1024, 2));
    await writeFile(join(t, 'ok.txt'), 'fine\n');
    // Without metadata checksums, so only the driver's own depth and loop checks stand in the way.
  }, ['-O', '^metadata_csum']);
  const B = await blockOf(cyc, '/donor');
  const node = Buffer.alloc(1024);
  node.writeUInt16LE(0xf30a, 0); // eh_magic
  node.writeUInt16LE(1, 2); // eh_entries
  node.writeUInt16LE(84, 4); // eh_max
  node.writeUInt16LE(1, 6); // eh_depth
  node.writeUInt32LE(0, 12); // ei_block
  node.writeUInt32LE(B, 16); // ei_leaf_lo -> itself
  const bytes = await readFile(cyc);
  node.copy(bytes, B * 1024);
  await writeFile(cyc, bytes);
  const words = [0xf30a | (1 << 16), 4 | (2 << 16), 0, 0, B, 0];
  for (const [i, w] of words.entries()) await debugfsW(cyc, `sif /cycle block[${i}] ${w}`);
  await debugfsW(cyc, 'sif /cycle size 1048576');
  hostile.set('extent tree cycle', cyc);

  // 3. Sizes and counts at their maximum: a 2^64-1 byte file, 65000 links claimed, a directory
  //    claiming 2^32-1 bytes, and a prototype-named tree.
  const max = await extImage('maxsizes', 'ext4', async (t) => {
    await writeFile(join(t, 'huge'), 'small really\n');
    await writeFile(join(t, 'links'), 'l\n');
    await mkdir(join(t, 'bigdir'));
    await writeFile(join(t, 'bigdir/x'), 'x\n');
    for (const n of ['__proto__', 'constructor', 'hasOwnProperty', 'toString']) await writeFile(join(t, n), `${n}\n`);
    await mkdir(join(t, '__proto__.d'));
    await writeFile(join(t, '__proto__.d/__proto__'), 'inner\n');
  });
  await debugfsW(max, 'sif /huge size 0xffffffffffffffff');
  await debugfsW(max, 'sif /links links_count 65000');
  await debugfsW(max, 'sif /bigdir size 0xffffffff');
  hostile.set('sizes and counts at their maximum', max);

  // 4. A FAT cluster-chain loop (the last cluster of LOOP.BIN points back to its first) and a file
  //    whose directory entry claims 0xffffffff bytes.
  const fat = join(dir, 'fatloop.img');
  await writeFile(fat, Buffer.alloc(16 * 1024 * 1024));
  await run('mkfs.fat', ['-F', '16', '-s', '1', fat]);
  await writeFile(join(dir, 'loop.bin'), Buffer.alloc(8 * 512, 7));
  await writeFile(join(dir, 'big.bin'), Buffer.alloc(3 * 512, 8));
  for (const f of ['loop.bin', 'big.bin']) await run('mcopy', ['-i', fat, join(dir, f), `::/${f}`], { env: { MTOOLS_SKIP_CHECK: '1' } });
  const fb = await readFile(fat);
  const g = fatGeometry(fb);
  const loopEnt = rootEntry(fb, g, 'LOOP    BIN');
  const first = fb.readUInt16LE(loopEnt + 26);
  let c = first;
  for (let guard = 0; guard < 100; guard++) {
    const next = fb.readUInt16LE(g.rsvd * g.bps + c * 2);
    if (next >= 0xfff8) break;
    c = next;
  }
  for (let f = 0; f < g.nfats; f++) fb.writeUInt16LE(first, (g.rsvd + f * g.fatSz) * g.bps + c * 2);
  fb.writeUInt32LE(0xffffffff, rootEntry(fb, g, 'BIG     BIN') + 28);
  await writeFile(fat, fb);
  hostile.set('FAT cluster chain loop', fat);

  // 5. A superblock claiming 2^40-byte blocks: refused at mount with a clear error.
  const badsb = await extImage('badsb', 'ext2', async (t) => writeFile(join(t, 'f'), 'f\n'));
  await debugfsW(badsb, 'ssv log_block_size 30');
  hostile.set('superblock block size at maximum', badsb);
});
after(() => cleanup());

/** Every read-only command, plus cp -r and rm -r on a copy; each must end with 0 or 1 and a clean message. */
async function allCommands(img: string, files: string[], isolation: string): Promise<string> {
  const out = join(dir, `out-${Math.random().toString(36).slice(2)}`);
  const rw = `${img}.rw`;
  await copyFile(img, rw);
  // ls -R, find and tar walk every tree; cat reads the crafted files; cp copies out; rm changes a copy.
  const cmds: string[][] = [
    ['info', img], ['ls', '-laR', img], ['tar', img],
    ['cat', ...files.map((f) => `${img}:${f}`)],
    ['cp', '-rp', `${img}:/`, out],
    ['rm', '-r', ...files.map((f) => `${rw}:${f}`)],
  ];
  let log = '';
  for (const args of cmds) {
    const r = await rump([...args, '--timeout', '3'], { isolation, stdoutLimit: 64 * 1024 * 1024 });
    log += `$ ${args[0]} -> ${r.code}\n${r.stderr}`;
    assert.ok(r.code === 0 || r.code === 1, `${args.join(' ')} exited ${r.code}: ${r.stderr}`);
    for (const line of r.stderr.split('\n').filter(Boolean)) {
      assert.match(line, new RegExp(`^rump: ${args[0]}: `), `${args[0]}: unexpected stderr line: ${line}`);
      assert.doesNotMatch(line, /internal error|TypeError|RangeError|at .*\.ts:\d+/, line);
    }
  }
  return log;
}

// Independent images side by side: the watchdog waits of one overlap the work of the others.
describe('hostile images, every command', { concurrency: true }, () => {
for (const name of ['directory containing itself', 'extent tree cycle', 'sizes and counts at their maximum', 'FAT cluster chain loop', 'superblock block size at maximum']) {
  test(`hostile image: ${name}`, async () => {
    const img = hostile.get(name)!;
    const hash = await sha256(img);
    const log = await allCommands(img, READ.get(name)!, 'worker');
    assert.equal(await sha256(img), hash, 'a read-only command changed the image');
    if (name === 'superblock block size at maximum') assert.match(log, /\$ ls -> 1\nrump: ls: .*badsb\.img: no recognised file system\n/);
    if (name === 'directory containing itself') assert.match(log, /rump: ls: .*selfdir\.img:\/a\/b\/self: File system loop detected/);
    // The crafted structure is named in the error, not a generic failure.
    if (name === 'extent tree cycle') assert.match(log, /rump: cat: .*extcycle\.img:\/cycle: Input\/output error \(ext2fs: inode \d+: extent/);
    if (name === 'FAT cluster chain loop') assert.match(log, /rump: cat: .*fatloop\.img:\/loop\.bin: Input\/output error \(msdosfs: .*chain/);
    if (name === 'sizes and counts at their maximum') assert.match(log, /rump: cat: .*maxsizes\.img:\/huge: (Value too large for defined data type|Input\/output error|File too large)/);
  });
}
});

test('hostile images through the library: only KernelErrors reach the client, every walk ends, memory stays bounded', async () => {
  const heapBefore = process.memoryUsage().heapUsed;
  for (const [name, img] of hostile) {
    let vol;
    try {
      vol = await openImage(img, { isolation: 'worker', timeoutMs: 3000, extraComponentModules: [COMPONENTS] });
    } catch (e) {
      assert.ok(isKernelError(e), `${name}: open threw ${String(e)}`);
      continue;
    }
    try {
      const problems: unknown[] = [];
      for await (const e of vol.walk('/', { onProblem: (p) => problems.push(p.error) })) {
        if (!e.stat.isFile()) continue;
        try {
          let n = 0;
          for await (const c of vol.readChunks(e.path)) {
            n += c.length;
            if (n > 64 * 1024 * 1024) break; // a lying size must not make us read forever
          }
        } catch (err) {
          problems.push(err);
        }
      }
      for (const p of problems) assert.ok(isKernelError(p), `${name}: ${String(p)}`);
    } finally {
      await vol.close().catch((e: unknown) => assert.ok(isKernelError(e), `${name}: close threw ${String(e)}`));
    }
  }
  // Sizes of 2^64 and 4 GiB were claimed: the client read in bounded chunks and kept none of it.
  assert.ok(process.memoryUsage().heapUsed - heapBefore < 256 * 1024 * 1024, 'client heap grew by more than 256 MiB');
});

test('the directory cycle under the sandboxed server process, too', async () => {
  const img = hostile.get('directory containing itself')!;
  const r = await rump(['ls', '-R', img, '--timeout', '3'], { isolation: 'process' });
  assert.ok(r.code === 0 || r.code === 1, r.stderr);
  assert.match(r.out, /\/a\/b:\nfile\nself\n/);
  assert.match(r.stderr, /^rump: ls: .*selfdir\.img:\/a\/b\/self: File system loop detected \(directory cycle\)\n$/);
});
