/**
 * The dashboard's static files: one HTML page, its script and style (src/http/dashboard/),
 * and hls.js from node_modules for the live previews. Read once at start; nothing is loaded
 * from the internet. The files hold no data: the page asks the diagnostics API for it with the
 * token the operator gives it.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface Asset {
  contentType: string;
  body: Buffer;
  /** Cache-Control value. */
  cache: string;
}

/**
 * The page may reach the HLS origin (another port) for previews; everything else is its own.
 * hls.js runs its transmuxer in a blob: worker and feeds the video through blob: URLs.
 */
export const DASHBOARD_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  'connect-src *',
  "media-src 'self' blob:",
  "worker-src 'self' blob:",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'self'",
].join('; ');

export function loadDashboardAssets(): Map<string, Asset> {
  const dir = join(__dirname, 'dashboard');
  const file = (name: string) => readFileSync(join(dir, name));
  const assets = new Map<string, Asset>();
  assets.set('/dashboard', { contentType: 'text/html; charset=utf-8', body: file('index.html'), cache: 'no-cache' });
  assets.set('/dashboard/app.js', { contentType: 'text/javascript; charset=utf-8', body: file('app.js'), cache: 'no-cache' });
  assets.set('/dashboard/app.css', { contentType: 'text/css; charset=utf-8', body: file('app.css'), cache: 'no-cache' });
  assets.set('/dashboard/hls.min.js', { contentType: 'text/javascript; charset=utf-8', body: readFileSync(require.resolve('hls.js/dist/hls.min.js')), cache: 'max-age=3600' });
  return assets;
}
