/**
 * Which failures mean "Kaltura could not be asked" rather than "Kaltura said no". Only the
 * former may be bridged with an earlier answer (auth.staleAdmitSeconds): a definite refusal
 * (wrong token, unknown entry, no permission…) never is.
 */
import { KalturaApiError, KalturaNetworkError } from './errors';

/** Kaltura's code for its own internal failures (sic: the typo is Kaltura's). */
const KALTURA_INTERNAL_ERRORS = new Set(['INTERNAL_SERVERL_ERROR', 'INTERNAL_SERVER_ERROR', 'SERVICE_UNAVAILABLE']);

/**
 * True for: no answer (network error, timeout), HTTP 5xx / 408 / 429 from the front end, a
 * 200 that is not a Kaltura answer (a proxy's error page), and Kaltura's internal-error
 * exception. False for every other Kaltura exception and for other HTTP statuses (a wrong
 * service URL is a configuration error, not an outage).
 */
export function isKalturaUnreachable(error: unknown): boolean {
  if (error instanceof KalturaNetworkError) {
    if (error.code !== 'HTTP_STATUS') return true;
    const status = error.status ?? 0;
    return status >= 500 || status === 408 || status === 429;
  }
  if (error instanceof KalturaApiError) return KALTURA_INTERNAL_ERRORS.has(error.code);
  return false;
}
