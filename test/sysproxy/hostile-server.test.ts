/**
 * The client does not trust the server either (it parses hostile images): a
 * server that answers with garbage bytes, a malformed result, a reply to a
 * request never made, or an unknown errno is cut off; the caller sees only
 * KernelErrors (EIO, or the errno checked against the known list), and
 * onDeath says it was a protocol violation.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough, Duplex } from 'node:stream';
import { SysproxyClient, RemoteProc, type Backend } from '../../src/sysproxy/client.js';
import { Kind, PROTOCOL_VERSION, type Message } from '../../src/sysproxy/protocol.js';
import { localPair, StreamChannel, type Channel } from '../../src/sysproxy/transport.js';
import { KernelError } from '../../src/kern/error.js';

function backendOf(channel: Channel): Backend & { killed: boolean } {
  const b = {
    channel,
    killed: false,
    kill() {
      b.killed = true;
    },
    explain: async (r: string) => r,
    waitGone: async () => undefined,
  };
  return b;
}

/** A fake server on the other end of an in-memory pair, answering each call with `answer`. */
async function against(answer: (m: Message, ch: Channel) => void): Promise<{ proc: RemoteProc; client: SysproxyClient; backend: Backend & { killed: boolean }; deaths: string[] }> {
  const [c, s] = localPair();
  s.onMessage((m) => {
    if (m.kind === Kind.Hello) s.send({ kind: Kind.Welcome, id: m.id, json: { version: PROTOCOL_VERSION, isolation: 'process', pid: 1 } });
    else answer(m, s);
  });
  const backend = backendOf(c);
  const client = new SysproxyClient(backend, 5000);
  const deaths: string[] = [];
  client.onDeath((r) => deaths.push(r));
  await client.hello();
  return { proc: new RemoteProc(client, 1), client, backend, deaths };
}

const isEio = (e: unknown) => e instanceof KernelError && e.code === 'EIO';

test('a malformed result kills the connection: EIO now and later', async () => {
  const { proc, backend, deaths } = await against((m, s) => s.send({ kind: Kind.Result, id: m.id, json: { r: { size: 'big' } } }));
  await assert.rejects(proc.stat('/x'), (e: unknown) => isEio(e) && (e as KernelError).syscall === 'stat' && (e as KernelError).path === '/x');
  assert.equal(backend.killed, true);
  assert.match(deaths[0]!, /protocol violation: malformed result for stat/);
  await assert.rejects(proc.getcwd(), isEio);
});

test('a read that claims more bytes than it carries is a protocol violation', async () => {
  const { proc, deaths } = await against((m, s) => s.send({ kind: Kind.Result, id: m.id, json: { r: 100 }, data: new Uint8Array(10) }));
  await assert.rejects(proc.read(3, new Uint8Array(100)), isEio);
  assert.match(deaths[0]!, /protocol violation/);
});

test('a reply to a request never made is a protocol violation', async () => {
  const { proc, deaths } = await against((m, s) => s.send({ kind: Kind.Result, id: m.id + 1000, json: { r: null } }));
  await assert.rejects(proc.sync(), isEio);
  assert.match(deaths[0]!, /unknown request/);
});

test('an unknown errno from the server becomes EIO; a known one keeps its code', async () => {
  let n = 0;
  const { proc, deaths } = await against((m, s) => {
    n++;
    s.send({ kind: Kind.Error, id: m.id, json: n === 1 ? { code: 'EWHATEVER', syscall: 'stat', path: '/x' } : { code: 'ENOENT', syscall: 'stat', path: '/y' } });
  });
  await assert.rejects(proc.stat('/x'), (e: unknown) => isEio(e) && /unknown errno EWHATEVER/.test((e as KernelError).detail ?? ''));
  await assert.rejects(proc.stat('/y'), (e: unknown) => e instanceof KernelError && e.code === 'ENOENT' && e.message === "ENOENT: no such file or directory, stat '/y'");
  assert.deepEqual(deaths, []);
});

test('garbage bytes on a stream transport end the connection with EIO', async () => {
  const toClient = new PassThrough();
  const fromClient = new PassThrough();
  const duplex = Duplex.from({ readable: toClient, writable: fromClient });
  const backend = backendOf(new StreamChannel(duplex));
  const client = new SysproxyClient(backend, 5000);
  const deaths: string[] = [];
  client.onDeath((r) => deaths.push(r));
  const hello = client.hello();
  // A length prefix far beyond the protocol's frame limit.
  toClient.write(Uint8Array.from([0xff, 0xff, 0xff, 0x7f, 1, 2, 3]));
  await assert.rejects(hello, isEio);
  assert.match(deaths[0]!, /protocol violation: frame length/);
  assert.equal(backend.killed, true);
});
