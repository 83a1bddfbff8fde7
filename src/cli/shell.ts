/**
 * `rump shell IMAGE`: an interactive shell inside one image (cd, ls, cat, get,
 * put, rm, mkdir, stat, df, help) with line editing and history, or a batch of
 * commands from `-c` or standard input. Each command reuses the ordinary
 * `rump` command on `IMAGE:PATH`, on one kernel opened once for the session.
 */

import { createInterface } from 'node:readline';
import { readFile, appendFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join, basename } from 'node:path';
import { posix } from 'node:path';
import { normalize } from '../ukfs/index.js';
import { isKernelError } from '../kern/error.js';
import { CliError, type Context } from './context.js';
import { cmdCat, cmdCp, cmdDf, cmdLs, cmdMkdir, cmdMv, cmdRm, cmdStat, cmdChmod, writeOut } from './commands.js';

const HELP = `commands:
  cd [DIR]            change directory          pwd              print it
  ls [-l] [-a] [-R] [PATH...]                   cat PATH...      print files
  stat PATH...        file status               df               usage
  get [-r] SRC [DST]  copy out to the host      put [-r] SRC [DST]  copy in from the host
  mkdir [-p] DIR...   make directories          rm [-r] PATH...  remove
  mv SRC DST          rename                    chmod MODE PATH...
  help                this text                 exit, quit       leave
`;

/** Splits a command line into words: '...' and "..." quote, backslash escapes. */
export function splitWords(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let inWord = false;
  let q: string | null = null;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (q) {
      if (c === q) q = null;
      else if (c === '\\' && q === '"' && i + 1 < line.length) cur += line[++i];
      else cur += c;
    } else if (c === "'" || c === '"') {
      q = c;
      inWord = true;
    } else if (c === '\\' && i + 1 < line.length) {
      cur += line[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) out.push(cur);
      cur = '';
      inWord = false;
    } else {
      cur += c;
      inWord = true;
    }
  }
  if (q) throw new CliError('unterminated quote');
  if (inWord) out.push(cur);
  return out;
}

/** Splits `-c` text into command lines at ';' and newlines outside quotes. */
export function splitCommands(text: string): string[] {
  const out: string[] = [];
  let cur = '';
  let q: string | null = null;
  for (const c of text) {
    if (q) {
      if (c === q) q = null;
      cur += c;
    } else if (c === "'" || c === '"') {
      q = c;
      cur += c;
    } else if (c === ';' || c === '\n') {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  out.push(cur);
  return out.map((s) => s.trim()).filter((s) => s !== '' && !s.startsWith('#'));
}

function flags(words: string[], allowed: string): { f: Set<string>; rest: string[] } {
  const f = new Set<string>();
  const rest: string[] = [];
  for (const w of words) {
    if (/^-[a-zA-Z]+$/.test(w) && rest.length === 0) {
      for (const ch of w.slice(1)) {
        if (!allowed.includes(ch)) throw new CliError(`unknown option -${ch}`);
        f.add(ch);
      }
    } else rest.push(w);
  }
  return { f, rest };
}

export async function cmdShell(parent: Context, image: string, o: { write?: boolean; command?: string }): Promise<void> {
  // Open now, so a bad image fails before the prompt, and read-write only with -w.
  await parent.volume(image, !!o.write);
  let cwd = '/';
  const abs = (p: string) => normalize(p.startsWith('/') ? p : posix.join(cwd, p));
  const spec = (p: string) => `${image}:${abs(p)}`;
  const io = parent.io;

  /** Runs one line; returns false to leave. */
  const runLine = async (line: string): Promise<boolean> => {
    const words = splitWords(line);
    if (words.length === 0) return true;
    const [name, ...args] = words as [string, ...string[]];
    // The session's volume is shared; errors read "rump: ls: disk.img:/x: ...".
    const ctx = parent.child(name);
    try {
      switch (name) {
        case 'exit': case 'quit': return false;
        case 'help': case '?': await writeOut(io.stdout, HELP); break;
        case 'pwd': await writeOut(io.stdout, cwd + '\n'); break;
        case 'cd': {
          const to = abs(args[0] ?? '/');
          const vol = await parent.volume(image, !!o.write);
          const st = await vol.stat(to);
          if (!st.isDirectory()) throw new CliError(`${to}: Not a directory`);
          cwd = to;
          break;
        }
        case 'ls': {
          const { f, rest } = flags(args, 'laRd');
          await cmdLs(ctx, (rest.length ? rest : ['.']).map(spec), { long: f.has('l'), all: f.has('a'), recursive: f.has('R'), directory: f.has('d') });
          break;
        }
        case 'cat': await cmdCat(ctx, args.map(spec)); break;
        case 'stat': await cmdStat(ctx, args.map(spec), {}); break;
        case 'df': await cmdDf(ctx, [spec('/')], { human: true }); break;
        case 'mkdir': {
          const { f, rest } = flags(args, 'p');
          await cmdMkdir(ctx, rest.map(spec), { parents: f.has('p') });
          break;
        }
        case 'rm': {
          const { f, rest } = flags(args, 'rf');
          await cmdRm(ctx, rest.map(spec), { recursive: f.has('r'), force: f.has('f') });
          break;
        }
        case 'mv': await cmdMv(ctx, args.map(spec)); break;
        case 'chmod': {
          const [mode, ...paths] = args;
          if (mode === undefined) throw new CliError('usage: chmod MODE PATH...');
          await cmdChmod(ctx, mode, paths.map(spec), {});
          break;
        }
        case 'get': {
          const { f, rest } = flags(args, 'rp');
          if (rest.length < 1 || rest.length > 2) throw new CliError('usage: get [-r] SRC [DST]');
          const src = rest[0]!;
          await cmdCp(ctx, [spec(src), rest[1] ?? (basename(abs(src)) || '.')], { recursive: f.has('r'), preserve: f.has('p') });
          break;
        }
        case 'put': {
          const { f, rest } = flags(args, 'rp');
          if (rest.length < 1 || rest.length > 2) throw new CliError('usage: put [-r] SRC [DST]');
          await cmdCp(ctx, [rest[0]!, spec(rest[1] ?? '.')], { recursive: f.has('r'), preserve: f.has('p') });
          break;
        }
        default:
          throw new CliError(`unknown command '${name}' (try help)`);
      }
    } catch (e) {
      await ctx.report(isKernelError(e) && e.path !== undefined ? `${image}:${e.path}` : '', e);
    }
    parent.failures += ctx.failures;
    return true;
  };

  if (o.command !== undefined) {
    for (const line of splitCommands(o.command)) if (!(await runLine(line))) break;
    return;
  }
  const interactive = io.stdin.isTTY === true && io.stdout.isTTY === true;
  const histFile = join(homedir(), '.rump_history');
  const history = interactive ? (await readFile(histFile, 'utf8').catch(() => '')).split('\n').filter(Boolean).reverse().slice(0, 500) : [];
  const rl = createInterface({ input: io.stdin, output: interactive ? io.stdout : undefined, terminal: interactive, history, historySize: 500 });
  const prompt = () => {
    if (interactive) {
      rl.setPrompt(`${basename(image)}:${cwd}> `);
      rl.prompt();
    }
  };
  prompt();
  for await (const line of rl) {
    if (interactive && line.trim()) await appendFile(histFile, line + '\n').catch(() => undefined);
    if (!(await runLine(line))) break;
    prompt();
  }
  rl.close();
}
