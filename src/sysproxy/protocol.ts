/**
 * The sysproxy wire protocol (docs/sysproxy.md): message kinds, the frame
 * layout declared once as a table, its encoder and decoder, and the limits
 * both sides enforce. Neither side trusts the other's frames: every length is
 * checked before anything is allocated, and a frame that does not decode is a
 * protocol violation that ends the connection.
 */

/** Bumped on any incompatible change; the handshake refuses other versions. */
export const PROTOCOL_VERSION = 1;
export const PROTOCOL_MAGIC = 'anykernel-sysproxy';

/** Largest data payload one request or reply carries; larger reads and writes are split by the client. */
export const MAX_IO = 16 * 1024 * 1024;
/** Largest JSON part of a frame (a readdir of a very large directory is the biggest legitimate one). */
export const MAX_JSON = 64 * 1024 * 1024;
/** Bytes of the frame header (FRAME_HEADER below). */
export const HEADER_SIZE = 12;
/** Largest frame either side accepts. */
export const MAX_FRAME = HEADER_SIZE + MAX_JSON + MAX_IO;

export const Kind = {
  /** client → server: {magic, version, client} */
  Hello: 1,
  /** server → client: {version, isolation, pid, maxIo} */
  Welcome: 2,
  /** client → server: {op, p?, a} (+ data for write-like calls) */
  Call: 3,
  /** server → client: {r} (+ data for read-like calls) */
  Result: 4,
  /** server → client: {code, detail?, syscall?, path?, dest?} */
  Error: 5,
} as const;
export type Kind = (typeof Kind)[keyof typeof Kind];

const KINDS = new Set<number>([Kind.Hello, Kind.Welcome, Kind.Call, Kind.Result, Kind.Error]);

/** One protocol message. `json` is the message's structured part; `data` the raw binary payload, never JSON-encoded. */
export interface Message {
  kind: Kind;
  id: number;
  json: unknown;
  data?: Uint8Array;
}

/**
 * The frame header, little-endian (docs/sysproxy.md, "Frames"). Stream
 * transports put a u32 frame length in front of it; a message port carries
 * the frame as one transferred buffer.
 */
export const FRAME_HEADER = [
  { offset: 0, width: 1, name: 'kind', meaning: 'message kind (Kind)' },
  { offset: 1, width: 1, name: 'flags', meaning: 'bit 0: a data payload follows the JSON' },
  { offset: 2, width: 2, name: 'reserved', meaning: 'zero' },
  { offset: 4, width: 4, name: 'id', meaning: 'request id; a reply carries its request\'s id' },
  { offset: 8, width: 4, name: 'jsonLength', meaning: 'bytes of UTF-8 JSON after the header' },
] as const;

const FLAG_DATA = 1;

type HeaderField = (typeof FRAME_HEADER)[number]['name'];
type Header = Record<HeaderField, number>;

function readHeader(view: DataView): Header {
  const h = {} as Header;
  for (const f of FRAME_HEADER) {
    h[f.name] = f.width === 1 ? view.getUint8(f.offset) : f.width === 2 ? view.getUint16(f.offset, true) : view.getUint32(f.offset, true);
  }
  return h;
}

function writeHeader(view: DataView, at: number, h: Header): void {
  for (const f of FRAME_HEADER) {
    const v = h[f.name];
    if (f.width === 1) view.setUint8(at + f.offset, v);
    else if (f.width === 2) view.setUint16(at + f.offset, v, true);
    else view.setUint32(at + f.offset, v, true);
  }
}

/** A violation of the protocol by the peer: the connection cannot be trusted any further. */
export class ProtocolError extends Error {
  override readonly name = 'ProtocolError';
}

const utf8d = new TextDecoder('utf-8', { fatal: true });

/**
 * Encodes a message as [header+JSON, data?]: two parts so a large payload is
 * written to a stream without being copied. `joined` gives one buffer (for
 * transfer over a message port).
 */
export function encodeFrame(m: Message): Uint8Array[] {
  return encode(m, false);
}

/**
 * Encodes a message for a byte stream: [length prefix+header+JSON, data?]. The
 * prefix shares the header's buffer, so a small message is one allocation and
 * one buffer to write.
 */
export function encodeStreamFrame(m: Message): Uint8Array[] {
  return encode(m, true);
}

function encode(m: Message, prefixed: boolean): Uint8Array[] {
  const text = m.json === undefined ? 'null' : JSON.stringify(m.json);
  // Buffer writes UTF-8 straight into the frame, several times faster than TextEncoder plus a copy.
  const jsonLength = Buffer.byteLength(text, 'utf8');
  if (jsonLength > MAX_JSON) throw new ProtocolError(`message of ${jsonLength} JSON bytes exceeds the protocol limit`);
  if (m.data !== undefined && m.data.length > MAX_IO) throw new ProtocolError(`payload of ${m.data.length} bytes exceeds the protocol limit`);
  const at = prefixed ? 4 : 0;
  const head = Buffer.allocUnsafe(at + HEADER_SIZE + jsonLength);
  const view = new DataView(head.buffer, head.byteOffset, at + HEADER_SIZE);
  if (prefixed) view.setUint32(0, HEADER_SIZE + jsonLength + (m.data?.length ?? 0), true);
  writeHeader(view, at, {
    kind: m.kind,
    flags: m.data !== undefined ? FLAG_DATA : 0,
    reserved: 0,
    id: m.id >>> 0,
    jsonLength,
  });
  head.write(text, at + HEADER_SIZE, 'utf8');
  return m.data !== undefined && m.data.length > 0 ? [head, m.data] : [head];
}

export function frameLength(parts: Uint8Array[]): number {
  let n = 0;
  for (const p of parts) n += p.length;
  return n;
}

/** The frame as one fresh buffer that owns its ArrayBuffer (safe to transfer). */
export function encodeJoined(m: Message): Uint8Array {
  const parts = encodeFrame(m);
  const out = new Uint8Array(frameLength(parts));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Decodes one whole frame (without the stream length prefix). The data payload is a view into `frame`. */
export function decodeFrame(frame: Uint8Array): Message {
  if (frame.length < HEADER_SIZE) throw new ProtocolError(`frame of ${frame.length} bytes is shorter than its header`);
  const h = checkHeader(frame.subarray(0, HEADER_SIZE), frame.length);
  const m = decodeJson(h, frame.subarray(HEADER_SIZE, HEADER_SIZE + h.jsonLength));
  const rest = frame.subarray(HEADER_SIZE + h.jsonLength);
  if (h.flags & FLAG_DATA) m.data = rest;
  return m;
}

/** Reads and checks a header, given the whole frame's length. */
function checkHeader(head: Uint8Array, frameLength: number): Header {
  const h = readHeader(new DataView(head.buffer, head.byteOffset, HEADER_SIZE));
  if (!KINDS.has(h.kind)) throw new ProtocolError(`unknown message kind ${h.kind}`);
  if (h.reserved !== 0 || (h.flags & ~FLAG_DATA) !== 0) throw new ProtocolError(`bad header flags ${h.flags}/${h.reserved}`);
  if (h.jsonLength > MAX_JSON || HEADER_SIZE + h.jsonLength > frameLength) {
    throw new ProtocolError(`JSON length ${h.jsonLength} does not fit the frame of ${frameLength} bytes`);
  }
  const dataLength = frameLength - HEADER_SIZE - h.jsonLength;
  if ((h.flags & FLAG_DATA) === 0 && dataLength !== 0) throw new ProtocolError('trailing bytes after a frame without data');
  if (dataLength > MAX_IO) throw new ProtocolError(`payload of ${dataLength} bytes exceeds the protocol limit`);
  return h;
}

function decodeJson(h: Header, bytes: Uint8Array): Message {
  let json: unknown;
  try {
    json = JSON.parse(utf8d.decode(bytes));
  } catch {
    throw new ProtocolError('frame JSON does not parse');
  }
  return { kind: h.kind as Kind, id: h.id, json };
}

/**
 * Reassembles length-prefixed frames from a byte stream. Chunks are kept as
 * they arrive and joined once per frame, so a large payload is copied once.
 */
export class FrameReader {
  private chunks: Uint8Array[] = [];
  private buffered = 0;
  private need = -1;

  constructor(private readonly onFrame: (frame: Uint8Array) => void) {}

  /** Feeds bytes from the stream; throws ProtocolError on an impossible frame length. */
  push(chunk: Uint8Array): void {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    for (;;) {
      if (this.need < 0) {
        if (this.buffered < 4) return;
        const lenBytes = this.take(4);
        const len = new DataView(lenBytes.buffer, lenBytes.byteOffset, 4).getUint32(0, true);
        if (len < HEADER_SIZE || len > MAX_FRAME) throw new ProtocolError(`frame length ${len} is outside the protocol's limits`);
        this.need = len;
      }
      if (this.buffered < this.need) return;
      const frame = this.take(this.need);
      this.need = -1;
      this.onFrame(frame);
    }
  }

  private take(n: number): Uint8Array {
    const out = takeBytes(this.chunks, n);
    this.buffered -= n;
    return out;
  }
}

/**
 * Where a payload should land: given a reply's id, kind and payload length,
 * a buffer at least that long (the caller's read buffer), or null to have
 * the payload reassembled into a fresh one.
 */
export type Placer = (id: number, kind: Kind, dataLength: number) => Uint8Array | null;

/**
 * Decodes length-prefixed frames from a byte stream into messages. Unlike
 * FrameReader it reads the header and JSON first, so a payload can be copied
 * from the stream's chunks straight into the buffer a Placer names (a
 * read's destination) instead of being joined into a fresh frame first.
 */
export class MessageReader {
  private chunks: Uint8Array[] = [];
  private buffered = 0;
  private frameLength = -1;
  private header: Header | null = null;
  private message: Message | null = null;
  private dataLength = 0;
  private target: Uint8Array | null = null;
  private filled = 0;
  placer: Placer | null = null;

  constructor(private readonly onMessage: (m: Message) => void) {}

  push(chunk: Uint8Array): void {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    for (;;) {
      if (this.frameLength < 0) {
        if (this.buffered < 4) return;
        const b = this.take(4);
        const len = new DataView(b.buffer, b.byteOffset, 4).getUint32(0, true);
        if (len < HEADER_SIZE || len > MAX_FRAME) throw new ProtocolError(`frame length ${len} is outside the protocol's limits`);
        this.frameLength = len;
      }
      if (this.header === null) {
        if (this.buffered < HEADER_SIZE) return;
        this.header = checkHeader(this.take(HEADER_SIZE), this.frameLength);
      }
      const h = this.header;
      if (this.message === null) {
        if (this.buffered < h.jsonLength) return;
        this.message = decodeJson(h, this.take(h.jsonLength));
        this.dataLength = this.frameLength - HEADER_SIZE - h.jsonLength;
        const t = h.flags & FLAG_DATA && this.dataLength > 0 && this.placer ? this.placer(h.id, h.kind as Kind, this.dataLength) : null;
        this.target = t !== null && t.length >= this.dataLength ? t.subarray(0, this.dataLength) : null;
        this.filled = 0;
      }
      const m = this.message;
      if (h.flags & FLAG_DATA) {
        if (this.target !== null) {
          // Copy what has arrived into place; wait for the rest.
          while (this.filled < this.dataLength && this.chunks.length > 0) {
            const c = this.chunks[0]!;
            const k = Math.min(c.length, this.dataLength - this.filled);
            this.target.set(c.subarray(0, k), this.filled);
            this.filled += k;
            this.buffered -= k;
            if (k === c.length) this.chunks.shift();
            else this.chunks[0] = c.subarray(k);
          }
          if (this.filled < this.dataLength) return;
          m.data = this.target;
        } else {
          if (this.buffered < this.dataLength) return;
          m.data = this.dataLength === 0 ? new Uint8Array(0) : this.take(this.dataLength);
        }
      }
      this.frameLength = -1;
      this.header = null;
      this.message = null;
      this.target = null;
      this.onMessage(m);
    }
  }

  private take(n: number): Uint8Array {
    const out = takeBytes(this.chunks, n);
    this.buffered -= n;
    return out;
  }
}

/** The 4-byte little-endian length prefix a stream transport writes before a frame. */
export function lengthPrefix(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n, true);
  return b;
}

/** Removes the first `n` bytes (n <= what is buffered) from a queue of chunks: a view when one chunk holds them, else a copy. */
function takeBytes(chunks: Uint8Array[], n: number): Uint8Array {
  const first = chunks[0]!;
  if (first.length >= n) {
    if (first.length === n) chunks.shift();
    else chunks[0] = first.subarray(n);
    return first.subarray(0, n);
  }
  // Not zeroed: every byte is copied in below.
  const out = Buffer.allocUnsafeSlow(n);
  let at = 0;
  while (at < n) {
    const c = chunks[0]!;
    const k = Math.min(c.length, n - at);
    out.set(c.subarray(0, k), at);
    at += k;
    if (k === c.length) chunks.shift();
    else chunks[0] = c.subarray(k);
  }
  return out;
}
