/**
 * Writing answers: JSON with credentials scrubbed, text, static assets, errors. Every answer
 * carries `X-Me: <hostname>` (as the HLS origin's do) and never a `Server` header (Node sends
 * none unless told).
 */
import type { ServerResponse } from 'node:http';
import { isSecretKey, MASK, maskString } from '../log';
import { ControlPlaneError } from './errors';

export interface ResponseContext {
  hostname: string;
  /** Exact strings that must never leave the server (admin secret, tokens). */
  secrets: readonly string[];
  /** HEAD: headers only. */
  head: boolean;
}

const COMMON_HEADERS = {
  'X-Content-Type-Options': 'nosniff',
  // Tokens may sit in the page URL (`?token=`): never send them on as a Referer.
  'Referrer-Policy': 'no-referrer',
};

export function sendJson(res: ServerResponse, ctx: ResponseContext, status: number, body: unknown, extra: Record<string, string> = {}): void {
  // Credential-named fields and `t=`/`token=` in URLs are masked; scrub is the last guard.
  const text = scrub(JSON.stringify(body, redactValue), ctx.secrets);
  send(res, ctx, status, 'application/json; charset=utf-8', text, { 'Cache-Control': 'no-store', ...extra });
}

export function sendText(res: ServerResponse, ctx: ResponseContext, status: number, contentType: string, text: string | Buffer, extra: Record<string, string> = {}): void {
  send(res, ctx, status, contentType, typeof text === 'string' ? scrub(text, ctx.secrets) : text, extra);
}

export function sendError(res: ServerResponse, ctx: ResponseContext, error: ControlPlaneError): void {
  const extra: Record<string, string> = error.code === 'UNAUTHORIZED' ? { 'WWW-Authenticate': 'Bearer realm="klive-server"' } : {};
  sendJson(res, ctx, error.status, error.toJSON(), extra);
}

export function redirect(res: ServerResponse, ctx: ResponseContext, location: string): void {
  send(res, ctx, 302, 'text/plain; charset=utf-8', '', { Location: location });
}

function redactValue(key: string, value: unknown): unknown {
  if (key !== '' && isSecretKey(key) && value !== undefined && value !== null && value !== '') return MASK;
  return typeof value === 'string' ? maskString(value) : value;
}

/** Replace every occurrence of the given secrets (exact strings) with ***. */
export function scrub(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of secrets) if (secret.length >= 4 && out.includes(secret)) out = out.split(secret).join(MASK);
  return out;
}

function send(res: ServerResponse, ctx: ResponseContext, status: number, contentType: string, body: string | Buffer, extra: Record<string, string>): void {
  const buffer = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  res.writeHead(status, {
    ...COMMON_HEADERS,
    'X-Me': ctx.hostname,
    'Content-Type': contentType,
    'Content-Length': String(buffer.length),
    ...extra,
  });
  res.end(ctx.head ? undefined : buffer);
}
