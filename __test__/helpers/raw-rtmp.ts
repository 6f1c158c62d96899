/**
 * A deliberately minimal RTMP client for misbehaving on purpose: raw handshake bytes, raw
 * chunks, hand-encoded AMF0. Real encoders (ffmpeg) cover the well-behaved paths.
 */
import { connect, type Socket } from 'node:net';
import { randomBytes } from 'node:crypto';

export function open(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => resolve(socket));
    socket.on('error', reject);
  });
}

/** Resolves once `n` bytes have arrived (or with what arrived when the socket closed). */
export function readBytes(socket: Socket, n: number): Promise<Buffer> {
  return new Promise((resolve) => {
    let got = Buffer.alloc(0);
    const onData = (d: Buffer) => {
      got = Buffer.concat([got, d]);
      if (got.length >= n) done();
    };
    const done = () => {
      socket.off('data', onData);
      socket.off('close', done);
      resolve(got);
    };
    socket.on('data', onData);
    socket.on('close', done);
  });
}

/** Plain handshake: C0+C1, wait for S0+S1+S2, send C2. */
export async function handshake(socket: Socket): Promise<void> {
  const c1 = Buffer.concat([Buffer.alloc(8), randomBytes(1528)]);
  const reply = readBytes(socket, 1 + 1536 * 2);
  socket.write(Buffer.concat([Buffer.from([3]), c1]));
  const s = await reply;
  socket.write(s.subarray(1, 1537));
}

type Amf = string | number | null | boolean | { [key: string]: Amf };

export function amf0(...values: Amf[]): Buffer {
  const parts: Buffer[] = [];
  const str = (s: string) => {
    const b = Buffer.from(s, 'utf8');
    const len = Buffer.alloc(2);
    len.writeUInt16BE(b.length);
    return Buffer.concat([len, b]);
  };
  const encode = (v: Amf) => {
    if (v === null) parts.push(Buffer.from([5]));
    else if (typeof v === 'number') {
      const b = Buffer.alloc(9);
      b[0] = 0;
      b.writeDoubleBE(v, 1);
      parts.push(b);
    } else if (typeof v === 'boolean') parts.push(Buffer.from([1, v ? 1 : 0]));
    else if (typeof v === 'string') parts.push(Buffer.from([2]), str(v));
    else {
      parts.push(Buffer.from([3]));
      for (const [k, inner] of Object.entries(v)) {
        parts.push(str(k));
        encode(inner);
      }
      parts.push(Buffer.from([0, 0, 9]));
    }
  };
  values.forEach(encode);
  return Buffer.concat(parts);
}

/** One message as chunks (fmt 0 then fmt 3), csid < 64. */
export function chunk(csid: number, typeId: number, streamId: number, payload: Buffer, chunkSize = 128, declaredLength = payload.length): Buffer {
  const header = Buffer.alloc(12);
  header[0] = csid;
  header.writeUIntBE(0, 1, 3);
  header.writeUIntBE(declaredLength, 4, 3);
  header[7] = typeId;
  header.writeUInt32LE(streamId, 8);
  const parts: Buffer[] = [header];
  for (let i = 0; i < payload.length; i += chunkSize) {
    if (i > 0) parts.push(Buffer.from([0xc0 | csid]));
    parts.push(payload.subarray(i, i + chunkSize));
  }
  return Buffer.concat(parts);
}

export function connectCommand(app: string, tcUrl: string): Buffer {
  return chunk(3, 20, 0, amf0('connect', 1, { app, tcUrl, flashVer: 'raw-test/1.0', objectEncoding: 0 }));
}

/**
 * Resolves when the server closes the socket. The socket is drained (`resume`): with unread
 * bytes buffered, Node never reaches the end of the stream and so never emits `close`.
 */
export function closed(socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    if (socket.destroyed) resolve();
    socket.on('close', () => resolve());
    socket.on('end', () => resolve());
    socket.on('error', () => resolve());
    socket.resume();
  });
}
