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
      // The same length-prefixed stream framing; only the message body differs.
      const r = new FrameReader(() => undefined);
      let pending: Uint8Array[] = [];
      void r;
      return (c) => {
        pending.push(c);
        let buf = pending.length === 1 ? pending[0]! : Buffer.concat(pending);
        pending = [];
        while (buf.length >= 4) {
          const len = buf[0]! | (buf[1]! << 8) | (buf[2]! << 16) | (buf[3]! << 24);
          if (buf.length < 4 + len) break;
          const o = packr.unpack(buf.subarray(4, 4 + len)) as { k: number; i: number; j: unknown; d?: Uint8Array };
          cb({ kind: o.k as Message['kind'], id: o.i, json: o.j, ...(o.d ? { data: o.d } : {}) });
          buf = buf.subarray(4 + len);
        }
        if (buf.length) pending.push(buf);
      };
    },
  };
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
  for (let i = 0; i < Math.min(rounds, 200); i++) for (const m of msgs) for (const p of codec.encode(m)) feed(p);
  got = 0;
  bytes = 0;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < rounds; i++) {
    for (const m of msgs) {
      // A transport writes the parts into one stream chunk or several; join them as a socket read would.
      const parts = codec.encode(m);
      const chunk = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
      feed(chunk);
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

for (const c of codecs) {
  const s = bench(c, statMsgs, 200_000);
  const r = bench(c, readMsgs, 2_000);
  console.log(`${c.name}\n  stat call+reply: ${(s.us * 2).toFixed(2)} us per round trip (encode+decode both)\n  1 MiB pread call+reply: ${(r.us * 2).toFixed(1)} us, ${r.mbps.toFixed(0)} MiB/s`);
}
