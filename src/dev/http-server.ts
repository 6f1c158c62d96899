/**
 * The emulator's HTTP listener (node:http) with the knobs tests need to play a slow or dead
 * Kaltura: a per-request latency, and a "down" switch that either resets every connection
 * (clients see ECONNRESET at once) or hangs requests unanswered (clients hit their timeouts).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { EmulatorError } from './errors';
import type { HttpAnswer } from './api-handler';
import { isApiPath, type RawRequest } from './params';
import { isPlayManifestPath } from './play-manifest';

/** 'reset': connections closed at once; 'hang': requests never answered; 'unavailable': HTTP 503 (a front end whose API servers are gone). */
export type DownMode = 'reset' | 'hang' | 'unavailable';

export interface HttpServerOptions {
  host: string;
  port: number;
  latencyMs: number;
  /** Sent as X-Me on every answer, as Kaltura's servers do. */
  serverName: string;
  handle: (req: RawRequest) => Promise<HttpAnswer>;
  /** `/p/<pid>/…/playManifest/…` (GET): the playback front end (play-manifest.ts). */
  handlePlayManifest?: (url: string) => HttpAnswer;
}

/** Largest request body accepted (uploads are chunked by clients well below this). */
const MAX_BODY_BYTES = 256 * 1024 * 1024;

export class EmulatorHttpServer {
  private readonly sockets = new Set<Socket>();
  private readonly hung = new Set<Socket>();
  private down: DownMode | null = null;
  private latencyMs: number;

  private constructor(
    private readonly server: Server,
    private readonly options: HttpServerOptions,
  ) {
    this.latencyMs = options.latencyMs;
  }

  static async start(options: HttpServerOptions): Promise<EmulatorHttpServer> {
    const server = createServer();
    const self = new EmulatorHttpServer(server, options);
    server.on('connection', (socket: Socket) => self.onConnection(socket));
    server.on('request', (req: IncomingMessage, res: ServerResponse) => void self.onRequest(req, res));
    await new Promise<void>((resolve, reject) => {
      const onError = (error: Error) =>
        reject(new EmulatorError('LISTEN_FAILED', `cannot listen on ${options.host}:${options.port}: ${error.message}`, { cause: error }));
      server.once('error', onError);
      server.listen(options.port, options.host, () => {
        server.off('error', onError);
        resolve();
      });
    });
    return self;
  }

  get port(): number {
    const address = this.server.address();
    return typeof address === 'object' && address !== null ? address.port : 0;
  }

  setLatency(ms: number): void {
    this.latencyMs = Math.max(0, ms);
  }

  setDown(down: boolean, mode: DownMode = 'reset'): void {
    this.down = down ? mode : null;
    if (down && mode === 'reset') for (const socket of this.sockets) socket.destroy();
    if (!down) this.releaseHung();
  }

  async close(): Promise<void> {
    this.releaseHung();
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const socket of this.sockets) socket.destroy();
    await closed;
  }

  private onConnection(socket: Socket): void {
    if (this.down === 'reset') {
      socket.destroy();
      return;
    }
    this.sockets.add(socket);
    socket.on('close', () => {
      this.sockets.delete(socket);
      this.hung.delete(socket);
    });
  }

  private async onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (this.down === 'reset') {
      req.socket.destroy();
      return;
    }
    if (this.down === 'hang') {
      this.hung.add(req.socket);
      return;
    }
    if (this.down === 'unavailable') {
      req.resume();
      send(res, { status: 503, headers: { 'Content-Type': 'text/plain', 'Retry-After': '5' }, body: 'Service Unavailable\n' });
      return;
    }
    try {
      const body = await readBody(req);
      if (this.latencyMs > 0) await sleep(this.latencyMs);
      if (this.down !== null) {
        // Went down while this request waited: behave like the new mode.
        if (this.down === 'reset') req.socket.destroy();
        else if (this.down === 'hang') this.hung.add(req.socket);
        else send(res, { status: 503, headers: { 'Content-Type': 'text/plain' }, body: 'Service Unavailable\n' });
        return;
      }
      const url = req.url ?? '/';
      const common = { 'X-Me': this.options.serverName, 'Access-Control-Allow-Origin': '*' };
      if (req.method === 'OPTIONS') {
        send(res, { status: 204, headers: { ...common, 'Access-Control-Allow-Headers': '*' }, body: '' });
        return;
      }
      if (this.options.handlePlayManifest && isPlayManifestPath(url) && (req.method === 'GET' || req.method === 'HEAD')) {
        const answer = this.options.handlePlayManifest(url);
        send(res, { ...answer, headers: { ...common, ...answer.headers }, ...(req.method === 'HEAD' ? { body: '' } : {}) });
        return;
      }
      if (!isApiPath(url)) {
        send(res, { status: 404, headers: { ...common, 'Content-Type': 'text/plain' }, body: 'Not Found\n' });
        return;
      }
      const answer = await this.options.handle({ url, contentType: req.headers['content-type'], body });
      send(res, { ...answer, headers: { ...common, ...answer.headers } });
    } catch (error) {
      if (!res.headersSent && !res.destroyed) {
        send(res, { status: 500, headers: { 'Content-Type': 'text/plain' }, body: `${(error as Error).message}\n` });
      }
    }
  }

  private releaseHung(): void {
    for (const socket of this.hung) socket.destroy();
    this.hung.clear();
  }
}

function send(res: ServerResponse, answer: HttpAnswer): void {
  if (res.destroyed) return;
  const body = Buffer.from(answer.body, 'utf8');
  res.writeHead(answer.status, { ...answer.headers, 'Content-Length': String(body.length) });
  res.end(body);
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        reject(new Error(`request body over ${MAX_BODY_BYTES} bytes`));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
