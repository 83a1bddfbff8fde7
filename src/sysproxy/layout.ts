/**
 * Layouts: file data that the client reads from the image itself. A client
 * that started the server knows the image files it handed over; for a
 * read-only image, the server may answer a read with where the bytes lie
 * (image, offset, length; Proc.preadLayout) instead of the bytes, and the
 * client reads them from its own descriptor of that image. The metadata
 * that says where — inodes, extent trees — is still parsed only in the
 * server; the client trusts a layout no more than it would trust the bytes:
 * it reads only the images it named itself, read-only, within their size.
 * This saves the copy of every data byte through the transport.
 *
 * On the wire a layout is a flat list of numbers, three per piece:
 * [image, offset, length, ...], image an index into the server's image list
 * (ServerImage order) or -1 for a hole of zeros.
 */

import { KernelError } from '../kern/error.js';
import type { FileLayout } from '../vfs/types.js';
import { NodeHypercalls } from '../rumpuser/node.js';
import type { HostFile } from '../rumpuser/types.js';

/** Reads shorter than this take the bytes over the transport (a layout saves little on them). */
export const LAYOUT_MIN = 32 * 1024;

/** A Proc that can answer layouts (src/vfs/proc.ts's Proc). */
export interface LayoutProc {
  preadLayout(fd: number, len: number, position: number): Promise<FileLayout | null>;
}

/**
 * The image paths a server may name in layouts and a client reads them from, in the order the images were
 * handed over (the wire names an image by its index): null for an image that is not read-only.
 */
export function layoutPaths(images: readonly { path: string; readonly: boolean }[]): (string | null)[] {
  return images.map((i) => (i.readonly ? i.path : null));
}

/**
 * The wire form of a layout, naming images by their index in `images` (the
 * server's list, null for one that is not read-only): null when a piece
 * lies in a file the client was not handed.
 */
export function encodeLayout(lay: FileLayout, images: readonly (string | null)[]): number[] | null {
  const out: number[] = [];
  for (const s of lay.segs) {
    const i = s.path === null ? -1 : images.indexOf(s.path);
    if (i < 0 && s.path !== null) return null;
    out.push(i, s.path === null ? 0 : s.offset, s.len);
  }
  return out;
}

/** The client's side: its own read-only opens of the images it handed to the server (through rumpuser, as the kernel reads them). */
export class ImageReader {
  private readonly files = new Map<number, Promise<{ file: HostFile; size: number }>>();
  private closed = false;
  private readonly host = new NodeHypercalls();

  /** `paths` in the server's image order; null for an image the server may not answer with layouts. */
  constructor(readonly paths: readonly (string | null)[]) {}

  private file(i: number): Promise<{ file: HostFile; size: number }> {
    let f = this.files.get(i);
    if (f !== undefined) return f;
    const path = this.paths[i];
    if (this.closed || path === undefined || path === null) {
      return Promise.reject(new KernelError('EIO', `sysproxy: a layout names image ${i}, which was not handed over read-only`));
    }
    f = (async () => {
      try {
        const file = await this.host.open(path, { readonly: true });
        return { file, size: await file.size() };
      } catch (e) {
        throw new KernelError('EIO', `sysproxy: ${path}: ${(e as Error).message}`);
      }
    })();
    this.files.set(i, f);
    return f;
  }

  /** Reads a wire layout (checked by ops.ts's isWireLayout) into `dst`, which has its length. */
  async read(l: number[], dst: Uint8Array): Promise<void> {
    // Every piece checked before any read starts.
    const files: (HostFile | null)[] = [];
    for (let i = 0; i < l.length; i += 3) {
      const img = l[i]!;
      if (img === -1) {
        files.push(null);
        continue;
      }
      const f = await this.file(img);
      if (l[i + 1]! + l[i + 2]! > f.size) throw new KernelError('EIO', `sysproxy: a layout reaches past the end of ${this.paths[img]}`);
      files.push(f.file);
    }
    const reads: Promise<void>[] = [];
    let at = 0;
    for (let i = 0; i < l.length; i += 3) {
      const piece = dst.subarray(at, at + l[i + 2]!);
      at += piece.length;
      const file = files[i / 3]!;
      if (file === null) piece.fill(0);
      else reads.push(readPiece(file, piece, l[i + 1]!));
    }
    await Promise.all(reads);
  }

  close(): void {
    this.closed = true;
    const files = [...this.files.values()];
    this.files.clear();
    for (const f of files) void f.then((x) => x.file.close()).catch(() => undefined);
  }
}

async function readPiece(file: HostFile, piece: Uint8Array, off: number): Promise<void> {
  let n: number;
  try {
    n = await file.read(piece, off);
  } catch (e) {
    throw new KernelError('EIO', `sysproxy: reading ${file.path}: ${(e as Error).message}`);
  }
  if (n !== piece.length) throw new KernelError('EIO', `sysproxy: a layout reaches past the end of ${file.path}`);
}
