/**
 * session.start / session.end (kaltura/server api_v3/services/SessionService.php,
 * kSessionUtils::startKSession): an admin session needs the admin secret, a user session
 * takes either secret; a wrong secret or unknown partner answers START_SESSION_ERROR.
 * session.end kills the KS: later calls with it answer INVALID_KS ... LOGOUT.
 */
import { apiError } from '../errors';
import { signKsV1, signKsV2 } from '../ks-sign';
import { nowSeconds } from '../state';
import type { ActionSpec } from './context';

const start: ActionSpec = {
  service: 'session',
  action: 'start',
  ks: 'none',
  params: [
    { name: 'secret', type: 'string' },
    { name: 'userId', type: 'string', optional: true, default: '' },
    { name: 'type', type: 'int', optional: true, default: 0 },
    { name: 'partnerId', type: 'int', optional: true },
    { name: 'expiry', type: 'int', optional: true, default: 86400 },
    { name: 'privileges', type: 'string', optional: true },
  ],
  handler(ctx, args) {
    const partnerId = args.intOrNull('partnerId');
    const partner = partnerId === null ? undefined : ctx.state.partners.get(partnerId);
    const secret = args.str('secret');
    const type = args.int('type');
    const admins = partnerId === null ? undefined : ctx.state.adminSecretsOf(partnerId);
    const isAdminSecret = admins?.includes(secret) ?? false;
    if (!partner || partnerId === null || !(isAdminSecret || (type === 0 && secret === partner.secret))) {
      throw apiError('START_SESSION_ERROR', partnerId ?? '');
    }
    const fields = {
      partnerId,
      adminSecret: admins?.[0] ?? '',
      expiry: nowSeconds() + args.int('expiry'),
      type,
      user: args.str('userId'),
      privileges: args.strOrNull('privileges') ?? '',
    };
    return partner.ksVersion === 1 ? signKsV1(fields) : signKsV2(fields);
  },
};

const end: ActionSpec = {
  service: 'session',
  action: 'end',
  ks: 'required',
  params: [],
  handler(ctx) {
    if (ctx.session) ctx.state.loggedOut.add(ctx.session.hash);
    return null;
  },
};

export const sessionActions: ActionSpec[] = [start, end];
