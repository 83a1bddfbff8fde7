/**
 * The `-o` options of `rump mount` and `mount -t rump`: which ones the FUSE layer takes, which ones mount(8)
 * alone cares about (dropped), and the rest, which go to the file-system driver.
 */

import { KernelError } from '../kern/error.js';
import type { RumpMountOptions } from './mount.js';

/** Options mount(8) and fstab use for themselves; they mean nothing to the driver. */
const MOUNT8_ONLY = new Set([
  'defaults', 'auto', 'noauto', 'user', 'users', 'nouser', 'owner', 'group', 'nofail', '_netdev', 'exec', 'noexec',
  'suid', 'nosuid', 'dev', 'nodev', 'async', 'atime', 'noatime', 'relatime', 'norelatime', 'strictatime', 'lazytime',
  'nolazytime', 'loop', 'silent', 'loud', 'diratime', 'nodiratime',
]);

export interface ParsedRumpOptions {
  type?: string;
  partition?: number;
  options: NonNullable<RumpMountOptions['options']>;
}

function seconds(name: string, v: string): number {
  const n = Number(v);
  if (!/^\d+(\.\d+)?$/.test(v) || !Number.isFinite(n) || n > 86400) throw new KernelError('EINVAL', `rump mount: bad ${name}=${v}`);
  return n;
}

/** Parses "ro,type=ext4,allow_other,uid=1000": FUSE-level options are taken, the rest is for the driver. */
export function parseRumpOptions(s: string): ParsedRumpOptions {
  const out: ParsedRumpOptions = { options: {} };
  const fs: string[] = [];
  for (const part of s.split(',')) {
    if (!part) continue;
    const eq = part.indexOf('=');
    const k = eq < 0 ? part : part.slice(0, eq);
    const v = eq < 0 ? '' : part.slice(eq + 1);
    switch (k) {
      case 'ro': out.options.rw = false; break;
      case 'rw': out.options.rw = true; break;
      case 'type': case 'fstype':
        if (!/^[A-Za-z0-9_.-]{1,32}$/.test(v)) throw new KernelError('EINVAL', `rump mount: bad type=${v}`);
        out.type = v;
        break;
      case 'partition': case 'part': {
        const n = Number(v);
        if (!/^\d{1,3}$/.test(v) || n < 1) throw new KernelError('EINVAL', `rump mount: bad partition=${v}`);
        out.partition = n;
        break;
      }
      case 'allow_other': out.options.allow_other = true; break;
      case 'default_permissions': out.options.default_permissions = true; break;
      case 'entry_timeout': out.options.entry_timeout = seconds(k, v); break;
      case 'attr_timeout': out.options.attr_timeout = seconds(k, v); break;
      case 'negative_timeout': out.options.negative_timeout = seconds(k, v); break;
      case 'isolation':
        if (v !== 'process' && v !== 'worker' && v !== 'trusted') throw new KernelError('EINVAL', `rump mount: bad isolation=${v}`);
        out.options.isolation = v;
        break;
      case 'watchdog': {
        const n = Number(v);
        if (!/^\d{1,7}$/.test(v) || n < 100) throw new KernelError('EINVAL', `rump mount: bad watchdog=${v} (milliseconds)`);
        out.options.timeoutMs = n;
        break;
      }
      default:
        if (MOUNT8_ONLY.has(k) || k.startsWith('x-') || k === 'comment' || k === 'helper') break;
        fs.push(part);
    }
  }
  if (fs.length > 0) out.options.fsOptions = fs.join(',');
  return out;
}
