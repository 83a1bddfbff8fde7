/**
 * Transports: how protocol messages move between a client and a server.
 * A byte stream (a child's pipe, a unix or tcp socket) carries
 * length-prefixed frames; a worker's MessagePort carries one transferred
 * buffer per frame; the in-process pair hands message objects over without
 * encoding them. Everything above this file sees only `Channel`.
 */

import type { Duplex } from 'node:stream';
import type { MessagePort } from 'node:worker_threads';
import { decodeFrame, encodeJoined, encodeStreamFrame, MessageReader, ProtocolError, type Message, type Placer } from './protocol.js';

export interface Channel {
  /**
   * Sends a message. `onSent`, when the transport can tell, is called once the
   * message's data payload is no longer referenced (written to the socket,
   * copied into the port's buffer), so the sender may reuse it.
   */
  send(m: Message, onSent?: () => void): void;
  /** Every message from the peer, in order. */
  onMessage(cb: (m: Message) => void): void;
  /** Called once, when the channel closes for any reason (peer gone, protocol violation, close()). */
  onClose(cb: (reason: string) => void): void;
  close(reason?: string): void;
  readonly closed: boolean;
  /** Where payloads of incoming replies should land, for transports that can place them (streams). */
  setPlacer?(placer: Placer): void;
}

abstract class BaseChannel implements Channel {
  private messageCb: ((m: Message) => void) | null = null;
  private closeCbs: ((reason: string) => void)[] = [];
  private early: Message[] = [];
  closed = false;
  closeReason = '';

  abstract send(m: Message, onSent?: () => void): void;
  protected abstract shutdown(): void;

  onMessage(cb: (m: Message) => void): void {
    this.messageCb = cb;
    const early = this.early;
    this.early = [];
    for (const m of early) cb(m);
  }

  onClose(cb: (reason: string) => void): void {
    if (this.closed) cb(this.closeReason);
    else this.closeCbs.push(cb);
  }

  protected deliver(m: Message): void {
    if (this.closed) return;
    if (this.messageCb) this.messageCb(m);
    else this.early.push(m);
  }

  close(reason = 'closed'): void {
    if (this.closed) return;
    this.closed = true;
    this.closeReason = reason;
    try {
      this.shutdown();
    } catch {
      // the transport is already gone
    }
    const cbs = this.closeCbs;
    this.closeCbs = [];
    for (const cb of cbs) cb(reason);
  }
}

/** Length-prefixed frames over a byte stream (pipe, unix socket, tcp socket). */
export class StreamChannel extends BaseChannel {
  private readonly reader: MessageReader;

  constructor(private readonly stream: Duplex) {
    super();
    this.reader = new MessageReader((m) => this.deliver(m));
    stream.on('data', (chunk: Buffer) => {
      if (this.closed) return;
      try {
        this.reader.push(chunk);
      } catch (e) {
        this.close(e instanceof ProtocolError ? `protocol violation: ${e.message}` : `transport error: ${String(e)}`);
      }
    });
    stream.on('end', () => this.close('peer closed the connection'));
    stream.on('close', () => this.close('peer closed the connection'));
    stream.on('error', (e: Error) => this.close(`transport error: ${e.message}`));
    // A socket accepted with pauseOnConnect (handed to us by `serve`) starts paused.
    stream.resume();
  }

  setPlacer(placer: Placer): void {
    this.reader.placer = placer;
  }

  send(m: Message, onSent?: () => void): void {
    if (this.closed) return;
    const parts = encodeStreamFrame(m);
    // Written at once (the stream tries the write there and then), not corked until the microtasks have
    // run: a server working through several requests runs them as one long chain of microtasks, and a
    // reply held back until the chain ends leaves the peer idle, then flooded.
    for (let i = 0; i < parts.length; i++) {
      if (i === parts.length - 1 && onSent) this.stream.write(parts[i], () => onSent());
      else this.stream.write(parts[i]);
    }
  }

  protected shutdown(): void {
    // Let what was written go out (a halt's reply), then make sure the stream is gone.
    this.stream.end();
    setTimeout(() => this.stream.destroy(), 1000).unref();
  }
}

/** One transferred buffer per frame over a worker's MessagePort. */
export class PortChannel extends BaseChannel {
  constructor(private readonly port: MessagePort) {
    super();
    port.on('message', (v: unknown) => {
      if (this.closed) return;
      if (!(v instanceof Uint8Array)) {
        this.close('protocol violation: a message-port message that is not a frame');
        return;
      }
      try {
        this.deliver(decodeFrame(v));
      } catch (e) {
        this.close(e instanceof ProtocolError ? `protocol violation: ${e.message}` : `transport error: ${String(e)}`);
      }
    });
    port.on('close', () => this.close('peer closed the port'));
  }

  send(m: Message, onSent?: () => void): void {
    if (this.closed) return;
    const frame = encodeJoined(m);
    this.port.postMessage(frame, [frame.buffer as ArrayBuffer]);
    // The payload was copied into the frame.
    onSent?.();
  }

  protected shutdown(): void {
    this.port.close();
  }
}

/**
 * Two channels joined in memory, for the in-process ('trusted') kernel: the
 * same messages and the same dispatch, but no encoding. Delivery is on a
 * later microtask, as it would be from a real transport.
 */
export function localPair(): [Channel, Channel] {
  const a = new LocalChannel();
  const b = new LocalChannel();
  a.peer = b;
  b.peer = a;
  return [a, b];
}

class LocalChannel extends BaseChannel {
  peer: LocalChannel | null = null;
  placer: Placer | null = null;

  setPlacer(placer: Placer): void {
    this.placer = placer;
  }

  send(m: Message, onSent?: () => void): void {
    if (this.closed) return;
    const peer = this.peer!;
    queueMicrotask(() => {
      // As a stream does: copy a payload into the buffer the receiver names (a read's destination),
      // after which the sender's buffer is free again. Otherwise the receiver keeps the sender's buffer.
      const data = m.data;
      if (data !== undefined && data.length > 0 && peer.placer) {
        const t = peer.placer(m.id, m.kind, data.length);
        if (t !== null && t.length >= data.length) {
          const placed = t.subarray(0, data.length);
          placed.set(data);
          m = { ...m, data: placed };
          onSent?.();
        }
      }
      peer.deliver(m);
    });
  }

  protected shutdown(): void {
    const peer = this.peer;
    if (peer) queueMicrotask(() => peer.close('peer closed the channel'));
  }
}
