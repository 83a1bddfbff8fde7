/**
 * The server process's own sandbox layers, applied inside it before any
 * untrusted input is parsed: network modules blocked at the module level, and
 * root's privileges dropped once the images are open. The layers applied
 * from outside (the permission model, the network namespace, the heap limit)
 * are in launch.ts; docs/sysproxy.md says what each one guarantees.
 */

import { createRequire, syncBuiltinESMExports } from 'node:module';

const require = createRequire(import.meta.url);

/** The error every blocked network entry point throws (shaped like the permission model's). */
function denied(what: string): Error {
  const e = new Error(`Access to this API has been restricted: ${what} (the sandboxed kernel server has no network)`) as Error & { code: string };
  e.code = 'ERR_ACCESS_DENIED';
  return e;
}

function block(obj: Record<string, unknown> | undefined, names: readonly string[], label: string): void {
  if (!obj) return;
  for (const n of names) {
    if (!(n in obj)) continue;
    const what = `${label}.${n}`;
    Object.defineProperty(obj, n, {
      value: function blocked(): never {
        throw denied(what);
      },
      writable: false,
      configurable: false,
    });
  }
}

/**
 * Replaces every way of opening a network connection or listening socket that
 * Node's public modules offer (net, tls, dgram, dns, http, https, http2, fetch,
 * WebSocket) with a function that throws ERR_ACCESS_DENIED, and updates the
 * ESM named exports to match. Sockets that already exist (the protocol
 * channel) keep working. process.binding is already denied by the permission
 * model, so the native bindings cannot be reached around this.
 */
export function blockNetwork(): void {
  const net = require('node:net') as Record<string, unknown> & { Socket: { prototype: Record<string, unknown> }; Server: { prototype: Record<string, unknown> } };
  block(net, ['connect', 'createConnection', 'createServer'], 'net');
  block(net.Socket.prototype, ['connect'], 'net.Socket');
  block(net.Server.prototype, ['listen'], 'net.Server');
  const tls = require('node:tls') as Record<string, unknown>;
  block(tls, ['connect', 'createServer'], 'tls');
  const dgram = require('node:dgram') as Record<string, unknown> & { Socket: { prototype: Record<string, unknown> } };
  block(dgram, ['createSocket'], 'dgram');
  block(dgram.Socket.prototype, ['bind', 'connect', 'send'], 'dgram.Socket');
  const dnsNames = ['lookup', 'lookupService', 'resolve', 'resolve4', 'resolve6', 'resolveAny', 'resolveCname', 'resolveCaa', 'resolveMx', 'resolveNaptr', 'resolveNs', 'resolvePtr', 'resolveSoa', 'resolveSrv', 'resolveTxt', 'reverse'];
  const dns = require('node:dns') as Record<string, unknown> & { Resolver: { prototype: Record<string, unknown> }; promises: Record<string, unknown> & { Resolver: { prototype: Record<string, unknown> } } };
  block(dns, dnsNames, 'dns');
  block(dns.Resolver.prototype, dnsNames, 'dns.Resolver');
  block(dns.promises, dnsNames, 'dns.promises');
  block(dns.promises.Resolver.prototype, dnsNames, 'dns.promises.Resolver');
  for (const m of ['node:http', 'node:https']) {
    block(require(m) as Record<string, unknown>, ['request', 'get', 'createServer'], m.slice(5));
  }
  block(require('node:http2') as Record<string, unknown>, ['connect', 'createServer', 'createSecureServer'], 'http2');
  const g = globalThis as Record<string, unknown>;
  for (const n of ['fetch', 'WebSocket', 'EventSource']) {
    if (n in g) {
      Object.defineProperty(g, n, {
        value: function blocked(): never {
          throw denied(n);
        },
        writable: false,
        configurable: false,
      });
    }
  }
  syncBuiltinESMExports();
}

/** The unprivileged user the server becomes when started as root. */
export const NOBODY = 65534;

/**
 * As root: give up root for good (supplementary groups, gid, then uid), after
 * the images are open and every module is loaded. Returns the uid now in force.
 */
export function dropPrivileges(uid = NOBODY, gid = NOBODY): number {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return process.getuid?.() ?? -1;
  process.setgroups?.([gid]);
  process.setgid!(gid);
  process.setuid!(uid);
  if (process.getuid() === 0 || process.geteuid?.() === 0) throw new Error('sysproxy: could not drop root privileges');
  return process.getuid();
}
