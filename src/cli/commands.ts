/**
 * The `rump` commands that look at or change files inside images: info, ls,
 * cat, stat, df, find, cp, mkdir, rm, mv, ln, chmod, chown, touch, tar. Each
 * takes a Context (flags, images, output) and its own arguments; errors on one
 * argument are reported and the command goes on, ending with status 1.
 */

import { posix } from 'node:path';
import type { Writable } from 'node:stream';
import type tar from 'tar-stream';
import { KernelError, isKernelError } from '../kern/error.js';
import { inspectImage, joinPath, normalize, type Volume, type VolumeStats, type WalkEntry } from '../ukfs/index.js';
import { partitionTypeName } from '../dev/disklabel.js';
import { CliError, parseMemlimit, parseTimeout, splitImageArg, type Context, type Target } from './context.js';
import { columns, dfJson, humanSize, modeString, octal, shortTime, statJson, statText } from './format.js';
import { copyTree, HostFs, isENOENT, measure, VolumeFs, type CopyFs } from './copy.js';
import { Progress } from './progress.js';

/** Writes to a stream, waiting when it asks us to (a pipe to `head` must not fill memory). */
export async function writeOut(out: Writable, chunk: Uint8Array | string): Promise<void> {
  const data = typeof chunk === 'string' ? chunk : Buffer.from(chunk);
  if (!out.write(data)) {
    await new Promise<void>((resolve, reject) => {
      const done = () => {
        out.off('drain', done);
        out.off('error', fail);
        out.off('close', done);
        resolve();
      };
      const fail = (e: unknown) => {
        out.off('drain', done);
        out.off('close', done);
        reject(e);
      };
      out.once('drain', done);
      out.once('error', fail);
      out.once('close', done);
    });
  }
}

/** Runs `f` on each image/remote argument, reporting failures under the path the kernel names. */
async function each(ctx: Context, args: string[], write: boolean, f: (vol: Volume, path: string, t: Target) => Promise<void>): Promise<void> {
  for (const a of args) {
    let t: Target;
    try {
      t = ctx.target(a, false);
    } catch (e) {
      await ctx.report('', e);
      continue;
    }
    try {
      const { vol, path } = await ctx.open(t, write);
      await f(vol, path, t);
    } catch (e) {
      if (e instanceof CliError) await ctx.report('', e);
      else await ctx.report(ctx.labelFor(t, e), e);
    }
  }
}

// --- info -------------------------------------------------------------------------------------

export async function cmdInfo(ctx: Context, images: string[], o: { json?: boolean }): Promise<void> {
  const reports = [];
  for (const image of images) {
    try {
      reports.push(
        await inspectImage(image, {
          isolation: ctx.isolation,
          ...(ctx.opts.memlimit ? { memlimitMiB: parseMemlimit(ctx.opts.memlimit) } : {}),
          ...(ctx.opts.timeout ? { timeoutMs: parseTimeout(ctx.opts.timeout) } : {}),
          ...(ctx.opts.component?.length ? { extraComponentModules: ctx.opts.component } : {}),
        }),
      );
    } catch (e) {
      await ctx.report(image, e);
    }
  }
  if (o.json) {
    await writeOut(ctx.io.stdout, JSON.stringify(reports.length === 1 && images.length === 1 ? reports[0] : reports, null, 2) + '\n');
    return;
  }
  for (const r of reports) {
    let text = `${r.image}: ${humanSize(r.size)} (${r.size} bytes), ${r.scheme ? `${r.scheme.toUpperCase()} partition table` : 'no partition table'}\n`;
    const rows: string[][] = [['#', 'start', 'size', 'partition type', 'file system', 'label', 'uuid', 'used', 'avail']];
    for (const e of r.entries) {
      const p = e.partition;
      const fs = e.fs ? e.fs.variant ?? e.fs.type : e.foreign ? `${e.foreign} (not supported)` : p && e.typeName === 'Extended' ? '' : '-';
      const u = e.usage;
      rows.push([
        p ? String(p.index) : '-',
        p ? String(p.start) : '0',
        humanSize(p ? p.size : r.size),
        p ? `${e.typeName ?? partitionTypeName(p.type)}${p.name ? ` "${p.name}"` : ''}` : '-',
        fs + (e.error ? ` (error: ${e.error})` : ''),
        e.fs?.label ?? '',
        e.fs?.uuid ?? '',
        u ? humanSize((u.blocks - u.bfree) * u.frsize) : '',
        u ? humanSize(u.bavail * u.frsize) : '',
      ]);
    }
    text += columns(rows, [true, true, true, false, false, false, false, true, true]);
    await writeOut(ctx.io.stdout, text);
  }
}

// --- ls ---------------------------------------------------------------------------------------

export interface LsOpts { long?: boolean; all?: boolean; recursive?: boolean; directory?: boolean; json?: boolean }

interface LsRow { name: string; st: VolumeStats; target?: string; path: string }

/** Names only (a plain listing needs no per-entry call), or names with their status for -l and --json. */
async function lsNames(vol: Volume, dir: string, all: boolean): Promise<string[]> {
  const names = (await vol.readdir(dir)).sort();
  return all ? ['.', '..', ...names] : names.filter((n) => !n.startsWith('.'));
}

async function lsRows(vol: Volume, dir: string, all: boolean): Promise<LsRow[]> {
  const rows: LsRow[] = [];
  for (const n of await lsNames(vol, dir, all)) {
    const p = n === '.' ? dir : n === '..' ? normalize(dir + '/..') : joinPath(dir, n);
    const st = await vol.lstat(p);
    const row: LsRow = { name: n, st, path: p };
    if (st.isSymbolicLink()) row.target = await vol.readlink(p).catch(() => '?');
    rows.push(row);
  }
  return rows;
}

function lsFormat(rows: LsRow[], long: boolean): string {
  if (!long) return rows.map((r) => r.name + '\n').join('');
  return columns(
    rows.map((r) => [
      modeString(r.st), String(r.st.nlink), String(r.st.uid), String(r.st.gid),
      r.st.isBlockDevice() || r.st.isCharacterDevice() ? `${(r.st.rdev >> 8) & 0xfff}, ${r.st.rdev & 0xff}` : String(r.st.size),
      shortTime(r.st.mtimeMs), r.target !== undefined ? `${r.name} -> ${r.target}` : r.name,
    ]),
    [false, true, true, true, true, false, false],
  );
}

export async function cmdLs(ctx: Context, args: string[], o: LsOpts): Promise<void> {
  const json: Record<string, unknown>[] = [];
  const many = args.length > 1 || !!o.recursive;
  let first = true;
  await each(ctx, args, false, async (vol, path, t) => {
    const st = await vol.stat(path).catch(() => vol.lstat(path));
    if (!st.isDirectory() || o.directory) {
      const lst = await vol.lstat(path);
      const row: LsRow = { name: t.kind === 'image' ? path : t.label, st: lst, path };
      if (lst.isSymbolicLink()) row.target = await vol.readlink(path);
      if (o.json) json.push(statJson(path, lst, row.target));
      else await writeOut(ctx.io.stdout, lsFormat([row], !!o.long));
      return;
    }
    const dirs: string[] = [normalize(path)];
    if (o.recursive) {
      dirs.length = 0;
      for await (const e of vol.walk(path, { onProblem: (p) => void ctx.report(`${t.kind === 'image' ? `${t.image}:` : ''}${p.path}`, p.error) })) {
        if (e.stat.isDirectory()) dirs.push(e.path);
      }
    }
    for (const d of dirs) {
      let rows: LsRow[];
      try {
        if (!o.long && !o.json) {
          const names = await lsNames(vol, d, !!o.all);
          let text = many ? `${first ? '' : '\n'}${t.kind === 'image' ? `${t.image}:` : ''}${d}:\n` : '';
          first = false;
          text += names.map((n) => n + '\n').join('');
          await writeOut(ctx.io.stdout, text);
          continue;
        }
        rows = await lsRows(vol, d, !!o.all);
      } catch (e) {
        await ctx.report(ctx.labelFor(t, e), e);
        continue;
      }
      if (o.json) {
        for (const r of rows) json.push({ ...statJson(r.path, r.st, r.target), name: r.name });
        continue;
      }
      let text = '';
      if (many) text += `${first ? '' : '\n'}${t.kind === 'image' ? `${t.image}:` : ''}${d}:\n`;
      first = false;
      text += lsFormat(rows, !!o.long);
      await writeOut(ctx.io.stdout, text);
    }
  });
  if (o.json) await writeOut(ctx.io.stdout, JSON.stringify(json, null, 2) + '\n');
}

// --- cat, stat, df, find ----------------------------------------------------------------------

export async function cmdCat(ctx: Context, args: string[]): Promise<void> {
  await each(ctx, args, false, async (vol, path) => {
    for await (const chunk of vol.readChunks(path)) await writeOut(ctx.io.stdout, chunk);
  });
}

export async function cmdStat(ctx: Context, args: string[], o: { json?: boolean; dereference?: boolean }): Promise<void> {
  const out: Record<string, unknown>[] = [];
  await each(ctx, args, false, async (vol, path, t) => {
    const st = o.dereference ? await vol.stat(path) : await vol.lstat(path);
    const target = st.isSymbolicLink() ? await vol.readlink(path) : undefined;
    if (o.json) out.push(statJson(path, st, target));
    else await writeOut(ctx.io.stdout, statText(t.kind === 'image' ? `${t.image}:${path}` : path, st, target));
  });
  if (o.json) await writeOut(ctx.io.stdout, JSON.stringify(args.length === 1 ? out[0] ?? null : out, null, 2) + '\n');
}

export async function cmdDf(ctx: Context, args: string[], o: { json?: boolean; human?: boolean }): Promise<void> {
  const rows: string[][] = [['Filesystem', 'Type', o.human ? 'Size' : '1K-blocks', 'Used', o.human ? 'Avail' : 'Available', 'Use%', 'Inodes', 'IFree']];
  const json: Record<string, unknown>[] = [];
  await each(ctx, args, false, async (vol, path, t) => {
    const s = await vol.statfs(path);
    const type = 'info' in vol ? (vol as unknown as { info(): { type: string } }).info().type : '-';
    const name = t.kind === 'image' ? t.image : t.label;
    const d = dfJson(name, type, s);
    json.push(d);
    const size = d['size'] as number;
    const used = d['used'] as number;
    const avail = d['available'] as number;
    const pct = used + avail > 0 ? `${Math.ceil((used * 100) / (used + avail))}%` : '-';
    const f = (n: number) => (o.human ? humanSize(n) : String(Math.floor(n / 1024)));
    rows.push([name, type, f(size), f(used), f(avail), pct, String(s.files), String(s.ffree)]);
  });
  if (o.json) await writeOut(ctx.io.stdout, JSON.stringify(args.length === 1 ? json[0] ?? null : json, null, 2) + '\n');
  else if (rows.length > 1) await writeOut(ctx.io.stdout, columns(rows, [false, false, true, true, true, true, true, true]));
}

/** fnmatch(3) for -name: * ? and [...] classes. */
export function globToRegExp(glob: string, caseInsensitive = false): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*') re += '.*';
    else if (c === '?') re += '.';
    else if (c === '[') {
      const end = glob.indexOf(']', i + 2);
      if (end < 0) re += '\\[';
      else {
        let cls = glob.slice(i + 1, end).replace(/\\/g, '\\\\');
        if (cls.startsWith('!')) cls = '^' + cls.slice(1);
        re += `[${cls}]`;
        i = end;
      }
    } else re += c.replace(/[.+^${}()|\\/]/g, '\\$&');
  }
  return new RegExp(`^${re}$`, caseInsensitive ? 'is' : 's');
}

const FIND_TYPES = new Map([['f', 'reg'], ['d', 'dir'], ['l', 'lnk'], ['b', 'blk'], ['c', 'chr'], ['p', 'fifo'], ['s', 'sock']]);

export async function cmdFind(ctx: Context, args: string[], o: { name?: string; iname?: string; type?: string; maxdepth?: string; print0?: boolean }): Promise<void> {
  const nameRe = o.name !== undefined ? globToRegExp(o.name) : o.iname !== undefined ? globToRegExp(o.iname, true) : null;
  let type: string | undefined;
  if (o.type !== undefined) {
    type = FIND_TYPES.get(o.type);
    if (!type) throw new CliError(`unknown type '${o.type}' (f, d, l, b, c, p, s)`);
  }
  const maxdepth = o.maxdepth !== undefined ? Number(o.maxdepth) : Infinity;
  if (!(maxdepth >= 0)) throw new CliError(`bad -maxdepth '${o.maxdepth}'`);
  await each(ctx, args.length ? args : ['.'], false, async (vol, path, t) => {
    const prefix = t.kind === 'image' ? `${t.image}:` : '';
    for await (const e of vol.walk(path, { onProblem: (p) => void ctx.report(`${prefix}${p.path}`, p.error) })) {
      if (e.depth > maxdepth) continue;
      if (matches(e, nameRe, type)) await writeOut(ctx.io.stdout, `${prefix}${e.path}${o.print0 ? '\0' : '\n'}`);
    }
  });
}

function matches(e: WalkEntry, nameRe: RegExp | null, type: string | undefined): boolean {
  if (type !== undefined && e.stat.type !== type) return false;
  if (nameRe && !nameRe.test(posix.basename(e.path) || '/')) return false;
  return true;
}

// --- cp ---------------------------------------------------------------------------------------

interface Side { fs: CopyFs; path: string; label: (p: string) => string; stdio?: true }

async function side(ctx: Context, arg: string, write: boolean): Promise<Side> {
  if (arg === '-') return { fs: new HostFs(), path: '-', label: () => '-', stdio: true };
  const t = ctx.target(arg, true);
  if (t.kind === 'host') return { fs: new HostFs(), path: t.path, label: (p) => p };
  const { vol, path } = await ctx.open(t, write);
  const prefix = t.kind === 'image' ? `${t.image}:` : '';
  return { fs: new VolumeFs(vol, prefix), path: normalize(path), label: (p) => `${prefix}${p}` };
}

async function dirExists(fs: CopyFs, p: string): Promise<boolean> {
  try {
    return (await fs.stat(p)).type === 'dir';
  } catch (e) {
    if (isENOENT(e) || (e as { code?: string }).code === 'ENOTDIR') return false;
    throw e;
  }
}

async function* stdinChunks(ctx: Context): AsyncGenerator<Uint8Array> {
  for await (const b of ctx.io.stdin) yield typeof b === 'string' ? Buffer.from(b) : (b as Uint8Array);
}

export async function cmdCp(ctx: Context, args: string[], o: { recursive?: boolean; preserve?: boolean; archive?: boolean }): Promise<void> {
  if (args.length < 2) throw new CliError('usage: rump cp [-r] [-p] SRC... DST');
  const recursive = !!(o.recursive || o.archive);
  const preserve = !!(o.preserve || o.archive);
  const dstArg = args[args.length - 1]!;
  const srcArgs = args.slice(0, -1);
  const dst = await side(ctx, dstArg, true);
  const dstIsDir = !dst.stdio && (await dirExists(dst.fs, dst.path));
  if (srcArgs.length > 1 && !dstIsDir && !dst.stdio) throw new CliError(`target '${dstArg}' is not a directory`);
  const progress = new Progress(ctx.io.stderr);
  for (const a of srcArgs) {
    let src: Side;
    try {
      src = await side(ctx, a, false);
    } catch (e) {
      await ctx.report(e instanceof CliError ? '' : a, e);
      continue;
    }
    try {
      if (src.stdio) {
        if (dst.stdio) throw new CliError('cannot copy standard input to standard output');
        const into = dstIsDir ? posix.join(dst.path, 'stdin') : dst.path;
        await dst.fs.write(into, stdinChunks(ctx), 0o666);
        continue;
      }
      if (dst.stdio) {
        const st = await src.fs.stat(src.path);
        if (st.type === 'dir') throw new KernelError('EISDIR');
        progress.start(st.size);
        for await (const c of src.fs.read(src.path)) {
          await writeOut(ctx.io.stdout, c);
          progress.add(c.length);
        }
        continue;
      }
      const isRoot = src.path === '/' || posix.basename(src.path) === '';
      const into = dstIsDir && !isRoot ? posix.join(dst.path, posix.basename(src.path)) : dst.path;
      if (progress.enabled) progress.start(await measure(src.fs, src.path, !recursive));
      await copyTree(src.fs, src.path, dst.fs, into, {
        recursive,
        preserve,
        hardlinks: preserve,
        onBytes: (n) => progress.add(n),
        onError: (p, e) => ctx.report(src.label(p), e),
      }, isRoot && dstIsDir);
    } catch (e) {
      await ctx.report(isKernelError(e) && e.path ? src.label(e.path) : a, e);
    }
  }
  progress.stop();
}

// --- mkdir, rm, mv, ln, chmod, chown, touch ----------------------------------------------------

export async function cmdMkdir(ctx: Context, args: string[], o: { parents?: boolean; mode?: string }): Promise<void> {
  const mode = o.mode !== undefined ? parseOctal(o.mode) : 0o777;
  await each(ctx, args, true, async (vol, path) => {
    if (o.parents) await vol.mkdir(path, { recursive: true, mode });
    else await vol.mkdir(path, { mode });
  });
}

export async function cmdRm(ctx: Context, args: string[], o: { recursive?: boolean; force?: boolean; dir?: boolean }): Promise<void> {
  await each(ctx, args, true, async (vol, path) => {
    if (normalize(path) === '/') throw new CliError(`refusing to remove the root directory`);
    if (o.dir && !o.recursive) {
      const st = await vol.lstat(path);
      if (st.isDirectory()) return vol.rmdir(path);
    }
    await vol.rm(path, { recursive: !!o.recursive, force: !!o.force });
  });
}

async function sameVolume(ctx: Context, a: string, b: string): Promise<{ vol: Volume; from: string; to: string; tb: Target }> {
  const ta = ctx.target(a, false);
  const tb = ctx.target(b, false);
  if (ta.kind !== tb.kind || (ta.kind === 'image' && tb.kind === 'image' && ta.image !== tb.image)) {
    throw new CliError(`${a} and ${b} are on different file systems (use rump cp and rm)`);
  }
  const { vol, path: from } = await ctx.open(ta, true);
  const { path: to } = await ctx.open(tb, true);
  return { vol, from, to, tb };
}

export async function cmdMv(ctx: Context, args: string[]): Promise<void> {
  if (args.length < 2) throw new CliError('usage: rump mv IMAGE:SRC... IMAGE:DST');
  const dstArg = args[args.length - 1]!;
  for (const a of args.slice(0, -1)) {
    try {
      const { vol, from, to } = await sameVolume(ctx, a, dstArg);
      const toDir = await vol.stat(to).then((s) => s.isDirectory(), () => false);
      await vol.rename(from, toDir ? joinPath(normalize(to), posix.basename(normalize(from))) : to);
    } catch (e) {
      await ctx.report(e instanceof CliError ? '' : ctx.labelFor(ctx.target(a, false), e), e);
    }
  }
}

export async function cmdLn(ctx: Context, args: string[], o: { symbolic?: boolean; force?: boolean }): Promise<void> {
  if (args.length !== 2) throw new CliError('usage: rump ln [-s] TARGET IMAGE:LINK');
  const [targetArg, linkArg] = args as [string, string];
  const lt = ctx.target(linkArg, false);
  try {
    const { vol, path: link } = await ctx.open(lt, true);
    let where = link;
    const base = posix.basename(o.symbolic ? targetArg : (splitPath(targetArg) ?? targetArg)) || 'link';
    if (await vol.stat(link).then((s) => s.isDirectory(), () => false)) where = joinPath(normalize(link), base);
    if (o.force) await vol.unlink(where).catch(() => undefined);
    if (o.symbolic) await vol.symlink(targetArg, where);
    else {
      // TARGET is IMAGE:PATH, or a path in the link's own image.
      const split = splitImageArg(targetArg);
      if (split && lt.kind === 'image' && split.image !== lt.image) throw new CliError(`${targetArg} and ${linkArg} are on different file systems`);
      await vol.link(split ? split.path : targetArg, where);
    }
  } catch (e) {
    await ctx.report(e instanceof CliError ? '' : ctx.labelFor(lt, e), e);
  }
}

function splitPath(arg: string): string | null {
  const i = arg.indexOf(':');
  return i > 0 ? arg.slice(i + 1) : null;
}

export function parseOctal(s: string): number {
  if (!/^[0-7]{1,4}$/.test(s)) throw new CliError(`invalid mode '${s}'`);
  return Number.parseInt(s, 8);
}

/** chmod(1) modes: octal, or symbolic clauses like u+x,go-w,a=rX. */
export function applyMode(spec: string, old: number, isDir: boolean): number {
  if (/^[0-7]{1,4}$/.test(spec)) return Number.parseInt(spec, 8);
  let mode = old & 0o7777;
  for (const clause of spec.split(',')) {
    const m = /^([ugoa]*)([-+=])([rwxXst]*)$/.exec(clause);
    if (!m) throw new CliError(`invalid mode '${spec}'`);
    const who = m[1] || 'a';
    let bits = 0;
    for (const p of m[3]!) {
      if (p === 'r') bits |= 0o444;
      if (p === 'w') bits |= 0o222;
      if (p === 'x') bits |= 0o111;
      if (p === 'X' && (isDir || old & 0o111)) bits |= 0o111;
      if (p === 's') bits |= 0o6000;
      if (p === 't') bits |= 0o1000;
    }
    let mask = 0;
    if (who.includes('u') || who.includes('a')) mask |= 0o4700;
    if (who.includes('g') || who.includes('a')) mask |= 0o2070;
    if (who.includes('o') || who.includes('a')) mask |= 0o1007;
    const b = bits & mask;
    if (m[2] === '+') mode |= b;
    else if (m[2] === '-') mode &= ~b;
    else mode = (mode & ~(mask & 0o777)) | b;
  }
  return mode;
}

async function forTree(vol: Volume, path: string, recursive: boolean, onProblem: (p: string, e: unknown) => void, f: (p: string, st: VolumeStats) => Promise<void>): Promise<void> {
  if (!recursive) return f(path, await vol.stat(path));
  for await (const e of vol.walk(path, { onProblem: (p) => onProblem(p.path, p.error) })) {
    if (e.stat.isSymbolicLink()) continue;
    await f(e.path, e.stat);
  }
}

export async function cmdChmod(ctx: Context, modeSpec: string, args: string[], o: { recursive?: boolean }): Promise<void> {
  applyMode(modeSpec, 0, false);
  await each(ctx, args, true, async (vol, path, t) => {
    await forTree(vol, path, !!o.recursive, (p, e) => void ctx.report(ctx.labelFor(t, e) || p, e), (p, st) => vol.chmod(p, applyMode(modeSpec, st.mode, st.isDirectory())));
  });
}

/** OWNER[:GROUP], OWNER: or :GROUP; ids or names. */
export function parseOwner(spec: string): { user: string | null; group: string | null } {
  const m = /^([^:]*)(?::([^:]*))?$/.exec(spec);
  if (!m || (m[1] === '' && (m[2] ?? '') === '')) throw new CliError(`invalid owner '${spec}'`);
  return { user: m[1] || null, group: m[2] || null };
}

/** Largest passwd or group file we read to look a name up. */
const NAME_DB_MAX = 4 * 1024 * 1024;

/**
 * A user or group name as the image's own /etc/passwd or /etc/group says (the ids that matter are
 * the image's, not the host's); a number stands for itself; -1 leaves it unchanged.
 */
async function lookupId(vol: Volume, db: '/etc/passwd' | '/etc/group', name: string | null): Promise<number> {
  if (name === null) return -1;
  if (/^\d+$/.test(name)) return Number(name);
  let text = '';
  try {
    const st = await vol.stat(db);
    if (st.size <= NAME_DB_MAX) text = await vol.readFile(db, 'utf8');
  } catch {
    // No such file in this image: only numbers and root.
  }
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f[0] === name && f.length >= 3 && /^\d+$/.test(f[2]!)) return Number(f[2]);
  }
  if (name === 'root') return 0;
  throw new CliError(`invalid ${db === '/etc/passwd' ? 'user' : 'group'}: '${name}' (not in the image's ${db})`);
}

export async function cmdChown(ctx: Context, ownerSpec: string, args: string[], o: { recursive?: boolean; noDereference?: boolean }): Promise<void> {
  const spec = parseOwner(ownerSpec);
  await each(ctx, args, true, async (vol, path, t) => {
    const uid = await lookupId(vol, '/etc/passwd', spec.user);
    const gid = await lookupId(vol, '/etc/group', spec.group);
    if (!o.recursive) {
      if (o.noDereference) await vol.lchown(path, uid, gid);
      else await vol.chown(path, uid, gid);
      return;
    }
    for await (const e of vol.walk(path, { onProblem: (p) => void ctx.report(`${t.kind === 'image' ? `${t.image}:` : ''}${p.path}`, p.error) })) {
      await vol.lchown(e.path, uid, gid);
    }
  });
}

export async function cmdTouch(ctx: Context, args: string[], o: { noCreate?: boolean; date?: string; reference?: string; access?: boolean; modify?: boolean }): Promise<void> {
  let when: Date | 'now' = 'now';
  if (o.date !== undefined) {
    const d = /^@\d+$/.test(o.date) ? new Date(Number(o.date.slice(1)) * 1000) : new Date(o.date);
    if (Number.isNaN(d.getTime())) throw new CliError(`invalid date '${o.date}'`);
    when = d;
  }
  const onlyA = o.access && !o.modify;
  const onlyM = o.modify && !o.access;
  await each(ctx, args, true, async (vol, path) => {
    if (!(await vol.exists(path))) {
      if (o.noCreate) return;
      await vol.writeFile(path, new Uint8Array(0), { flag: 'a', mode: 0o666 });
      if (when === 'now') return;
    }
    const t = when === 'now' ? 'now' : when;
    await vol.utimes(path, onlyM ? 'omit' : t, onlyA ? 'omit' : t);
  });
}

// --- tar --------------------------------------------------------------------------------------

type TarHeader = Partial<tar.Header> & { name: string };

const TAR_TYPE = new Map<string, 'file' | 'directory' | 'symlink' | 'block-device' | 'character-device' | 'fifo'>([
  ['reg', 'file'], ['dir', 'directory'], ['lnk', 'symlink'], ['blk', 'block-device'], ['chr', 'character-device'], ['fifo', 'fifo'],
]);

export async function cmdTar(ctx: Context, args: string[]): Promise<void> {
  if (ctx.io.stdout.isTTY) throw new CliError('refusing to write a tar stream to a terminal (redirect it to a file or a pipe)');
  // Loaded here, not at start: the other commands' cold start does not pay for it.
  const { default: tarStream } = await import('tar-stream');
  const pack = tarStream.pack();
  // The reader of stdout may go away (| head): then the archive is abandoned, not buffered forever.
  const sink: TarSink = { broken: null };
  const out = ctx.io.stdout;
  const onBroken = (e: unknown) => {
    sink.broken ??= e ?? new KernelError('EPIPE');
    pack.resume();
  };
  out.once('error', onBroken);
  out.once('close', () => onBroken(new KernelError('EPIPE')));
  const piping = new Promise<void>((resolve, reject) => {
    pack.on('error', reject);
    pack.on('end', resolve);
    pack.on('data', (b: unknown) => {
      if (sink.broken) return;
      if (!out.write(b as Buffer)) {
        pack.pause();
        out.once('drain', () => pack.resume());
      }
    });
  });
  const progress = new Progress(ctx.io.stderr);
  try {
    await each(ctx, args, false, async (vol, path, t) => {
      const prefix = t.kind === 'image' ? `${t.image}:` : '';
      if (progress.enabled) progress.start(await measure(new VolumeFs(vol, prefix), path, false));
      const links = new Map<string, string>();
      for await (const e of vol.walk(path, { onProblem: (p) => void ctx.report(`${prefix}${p.path}`, p.error) })) {
        if (sink.broken) throw sink.broken;
        const name = e.rel === '' ? '.' : `./${e.rel}`;
        const st = e.stat;
        const type = TAR_TYPE.get(st.type);
        if (!type) {
          await ctx.report(`${prefix}${e.path}`, new CliError('socket ignored'));
          continue;
        }
        const header: TarHeader = { name: type === 'directory' ? `${name}/` : name, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: st.mtime, type, size: 0 };
        if (type === 'block-device' || type === 'character-device') {
          header.devmajor = (st.rdev >> 8) & 0xfff;
          header.devminor = st.rdev & 0xff;
        }
        try {
          if (type === 'symlink') header.linkname = await vol.readlink(e.path);
          if (type === 'file') {
            const id = `${st.dev}:${st.ino}`;
            const first = st.nlink > 1 ? links.get(id) : undefined;
            if (first !== undefined) {
              await entryDone(pack, { ...header, type: 'link', linkname: first });
              continue;
            }
            await tarFile(pack, header, vol, e.path, st.size, sink, (n) => progress.add(n));
            if (st.nlink > 1) links.set(id, name);
            continue;
          }
          await entryDone(pack, header);
        } catch (err) {
          if (sink.broken) throw sink.broken;
          await ctx.report(ctx.labelFor(t, err) || `${prefix}${e.path}`, err);
        }
      }
    });
  } finally {
    progress.stop();
  }
  if (sink.broken) {
    await ctx.report('', sink.broken);
    pack.destroy();
    return;
  }
  pack.finalize();
  await piping;
}

interface TarSink { broken: unknown }

function entryDone(pack: tar.Pack, header: TarHeader): Promise<void> {
  return new Promise((resolve, reject) => pack.entry(header, (err) => (err ? reject(err) : resolve())));
}

/**
 * One file into the archive. The first chunk is read before the header is written, so a file that
 * cannot be read at all is left out (and reported). The header's size is the inode's; the data
 * stops there, and a file that turns out shorter is padded with zeros and reported, as GNU tar does.
 */
async function tarFile(pack: tar.Pack, header: TarHeader, vol: Volume, path: string, size: number, sink: TarSink, onBytes: (n: number) => void): Promise<void> {
  const it = vol.readChunks(path)[Symbol.asyncIterator]();
  let next = await it.next().catch(async (e: unknown) => {
    await it.return?.(undefined);
    throw e;
  });
  let failEntry: (e: unknown) => void = () => undefined;
  const entry = pack.entry({ ...header, size }, (err) => {
    if (err) failEntry(err);
  });
  const done = new Promise<void>((resolve, reject) => {
    failEntry = reject;
    entry.on('finish', () => resolve());
    entry.on('error', reject);
  });
  const put = async (b: Uint8Array) => {
    if (sink.broken) throw sink.broken;
    if (!entry.write(Buffer.from(b))) await new Promise<void>((r) => entry.once('drain', () => r()));
  };
  let written = 0;
  let problem: unknown;
  try {
    while (!next.done && written < size) {
      const c = next.value;
      const take = Math.min(c.length, size - written);
      await put(c.subarray(0, take));
      written += take;
      onBytes(take);
      if (written >= size) break;
      next = await it.next();
    }
  } catch (e) {
    if (sink.broken) throw sink.broken;
    problem = e;
  } finally {
    await it.return?.(undefined);
  }
  if (written < size) {
    const zero = new Uint8Array(Math.min(1 << 20, size - written));
    while (written < size) {
      const n = Math.min(zero.length, size - written);
      await put(zero.subarray(0, n));
      written += n;
    }
    problem ??= new KernelError('EIO', `file shorter than its size ${size}; padded with zeros`);
  }
  (entry as unknown as { end(): void }).end();
  await done;
  if (problem) throw problem;
}
