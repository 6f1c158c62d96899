/**
 * The default media-server hostname: the fully qualified name, as `hostname -f` prints it
 * (getaddrinfo's canonical name for the system hostname, from /etc/hosts or DNS). Kaltura
 * knows a media server by this name: it is the serverNode `hostName` that
 * liveStream.authenticate and registerMediaServer look nodes up by, the `hostname` of
 * wowza_liveConversionProfile.serve, and in the API clientTag (`MediaServer-<hostname>`, as
 * the Wowza module sent it), so Kaltura's logs name the server that called.
 *
 * Node has no canonical-name lookup, so this asks the `hostname` program; when it is missing,
 * fails, or answers a name for another host (a misconfigured /etc/hosts that maps the
 * hostname to `localhost`), os.hostname() it is.
 */
import { execFileSync } from 'node:child_process';
import { hostname as osHostname } from 'node:os';

const HOST_NAME = /^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.?$/;
const LOOKUP_TIMEOUT_MS = 3000;

/** `program`: the `hostname` program to ask (tests give a stand-in). */
export function fullyQualifiedHostname(program = 'hostname'): string {
  const short = osHostname();
  let fqdn: string;
  try {
    fqdn = execFileSync(program, ['-f'], { encoding: 'utf8', timeout: LOOKUP_TIMEOUT_MS, stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return short;
  }
  fqdn = fqdn.replace(/\.$/, '');
  const label = (name: string) => name.split('.')[0].toLowerCase();
  return HOST_NAME.test(fqdn) && label(fqdn) === label(short) ? fqdn : short;
}

/** The clientTag of every Kaltura API call (the Wowza module's `MediaServer-<hostname>`). */
export function mediaServerClientTag(hostname: string): string {
  return `MediaServer-${hostname}`;
}
