/**
 * Measures the hand-written framing (header + JSON + raw payload) against a
 * serialisation library (msgpackr) on the two workloads that matter: a
 * stat-heavy one (small call, small structured reply) and a read-heavy one
 * (1 MiB replies). Each message is encoded to the bytes a transport writes
 * and decoded back. Not part of the test suite; msgpackr is not a dependency:
 *
 *   npm install --no-save --prefix "$DIR" msgpackr
 *   node --import tsx test/sysproxy/bench/codec.ts "$DIR/node_modules/msgpackr/index.js"
 */

import { pathToFileURL } from 'node:url';
import { decodeFrame, encodeFrame, FrameReader, Kind, lengthPrefix, type Message } from '../../../src/sysproxy/protocol.js';

interface Codec {
  name: string;
  /** The bytes written to the stream for one message (as written: possibly several parts). */
  encode(m: Message): Uint8Array[];
  /** Feeds stream bytes, calls back with each decoded message. */
  reader(cb: (m: Message) => void): (chunk: Uint8Array) => void;
}

const handWritten: Codec = {
  name: 'hand-written (header + JSON + raw)',
  encode(m) {
    const parts = encodeFrame(m);
    let n = 0;
    for (const p of parts) n += p.length;
    return [lengthPrefix(n), ...parts];
  },
  reader(cb) {
    const r = new FrameReader((f) => cb(decodeFrame(f)));
    return (c) => r.push(c);
  },
};

async function msgpackrCodec(path: string): Promise<Codec> {
  const mod = (await import(pathToFileURL(path).href)) as { Packr: new (o: object) => { pack(v: unknown): Uint8Array; unpack(b: Uint8Array): unknown } };
  const packr = new mod.Packr({ useRecords: false });
  return {
    name: 'msgpackr (whole message packed, length-prefixed)',
    encode(m) {
      const b = packr.pack({ k: m.kind, i: m.id, j: m.json, d: m.data });
      return [lengthPrefix(b.length), b];
    },
    reader(cb) {
      // The same length-prefixed stream framing and reassembly (FrameReader); only the body differs.
      const r = new FrameReader((body) => {
        const o = packr.unpack(body) as { k: number; i: number; j: unknown; d?: Uint8Array };
        cb({ kind: o.k as Message['kind'], id: o.i, json: o.j, ...(o.d ? { data: o.d } : {}) });
      });
      return (c) => r.push(c);
    },
  };
}

/** How much one socket read delivers in Node (a stream's default high-water mark). */
const WIRE_CHUNK = 64 * 1024;

function wire(part: Uint8Array, feed: (c: Uint8Array) => void): void {
  for (let at = 0; at < part.length; at += WIRE_CHUNK) feed(part.subarray(at, Math.min(part.length, at + WIRE_CHUNK)));
}

const statReply = {
  r: { dev: 2049, ino: 131077, mode: 0o100644, nlink: 1, uid: 1000, gid: 1000, rdev: 0, size: 48213, blksize: 4096, blocks: 96, atime: { sec: 1732700000, nsec: 123456789 }, mtime: { sec: 1732600000, nsec: 987654321 }, ctime: { sec: 1732600000, nsec: 987654321 } },
};

function bench(codec: Codec, msgs: Message[], rounds: number): { us: number; mbps: number } {
  let got = 0;
  let bytes = 0;
  const feed = codec.reader((m) => {
    got++;
    if (m.data) bytes += m.data.length;
  });
  // Warm up, then measure.
  for (let i = 0; i < Math.min(rounds, 200); i++) for (const m of msgs) for (const p of codec.encode(m)) wire(p, feed);
  got = 0;
  bytes = 0;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < rounds; i++) {
    for (const m of msgs) {
      // What a stream transport does: the parts go to the socket as they are (writev, no copy here),
      // and the reader receives the bytes in socket-sized chunks (64 KiB) it must reassemble.
      for (const part of codec.encode(m)) wire(part, feed);
    }
  }
  const ns = Number(process.hrtime.bigint() - t0);
  if (got !== rounds * msgs.length) throw new Error(`${codec.name}: decoded ${got} of ${rounds * msgs.length}`);
  return { us: ns / 1000 / (rounds * msgs.length), mbps: bytes / (ns / 1e9) / (1024 * 1024) };
}

const path = process.argv[2];
const codecs = [handWritten];
if (path) codecs.push(await msgpackrCodec(path));
else console.error('(pass the path of msgpackr/index.js to compare against it)');

const statMsgs: Message[] = [
  { kind: Kind.Call, id: 7, json: { op: 'stat', p: 1, a: ['/mnt/usr/src/linux/drivers/net/ethernet/intel/e1000e/netdev.c'] } },
  { kind: Kind.Result, id: 7, json: statReply },
];
const mib = new Uint8Array(1024 * 1024).map((_, i) => i * 7);
const readMsgs: Message[] = [
  { kind: Kind.Call, id: 9, json: { op: 'pread', p: 1, a: [3, 1048576, 0] } },
  { kind: Kind.Result, id: 9, json: { r: mib.length }, data: mib },
];

// Interleaved rounds, best of each: the machine's other load only ever makes a run slower.
const best = new Map<string, { stat: number; read: number; mbps: number }>();
for (let round = 0; round < 3; round++) {
  for (const c of round % 2 ? [...codecs].reverse() : codecs) {
    const s = bench(c, statMsgs, 100_000);
    const r = bench(c, readMsgs, 1_000);
    const b = best.get(c.name);
    best.set(c.name, {
      stat: Math.min(b?.stat ?? Infinity, s.us * 2),
      read: Math.min(b?.read ?? Infinity, r.us * 2),
      mbps: Math.max(b?.mbps ?? 0, r.mbps),
    });
  }
}
for (const [name, b] of best) {
  console.log(`${name}\n  stat call+reply: ${b.stat.toFixed(2)} us (encode+decode of both messages)\n  1 MiB pread call+reply: ${b.read.toFixed(0)} us, ${b.mbps.toFixed(0)} MiB/s`);
}
