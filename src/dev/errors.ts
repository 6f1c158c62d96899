/**
 * Errors of the Kaltura API emulator.
 *
 * Two kinds: `EmulatorError` for the embedding program (bad fixtures, unknown entry in a
 * mutator, listen failure), and `KalturaApiError` for what goes on the wire as a
 * KalturaAPIException. The latter is built from Kaltura's own error templates so codes,
 * messages and argument names match the real server byte for byte.
 */

export type EmulatorErrorCode =
  | 'FIXTURES_UNREADABLE'
  | 'FIXTURES_INVALID'
  | 'ENTRY_NOT_FOUND'
  | 'ENTRY_EXISTS'
  | 'LISTEN_FAILED';

export class EmulatorError extends Error {
  readonly code: EmulatorErrorCode;

  constructor(code: EmulatorErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'EmulatorError';
    this.code = code;
  }
}

/**
 * Kaltura error templates, `CODE;ARG1,ARG2;message with @ARG1@`, copied in form (not code)
 * from kaltura/server api_v3/lib/KalturaErrors.php, alpha/apps/kaltura/lib/webservices/
 * APIErrors.class.php and plugins/media/wowza/lib/WowzaErrors.php. Note the typo'd
 * INTERNAL_SERVERL_ERROR and "does not exists": they are the real codes/messages.
 */
export const ApiErrors = {
  INTERNAL_SERVERL_ERROR: 'INTERNAL_SERVERL_ERROR;;Internal server error occurred',
  MISSING_KS: 'MISSING_KS;;Missing KS, session not established',
  INVALID_KS: 'INVALID_KS;KSID,ERR_CODE,ERR_DESC;Invalid KS "@KSID@", Error "@ERR_CODE@,@ERR_DESC@"',
  SERVICE_NOT_SPECIFIED: 'SERVICE_NOT_SPECIFIED;;Service name was not specified, please specify one',
  SERVICE_DOES_NOT_EXISTS: 'SERVICE_DOES_NOT_EXISTS;SRV_NAME;Service "@SRV_NAME@" does not exists',
  ACTION_NOT_SPECIFIED: 'ACTION_NOT_SPECIFIED;;Action name was not specified, please specify one',
  ACTION_DOES_NOT_EXISTS:
    'ACTION_DOES_NOT_EXISTS;ACTION_NAME,SERVICE_NAME;Action "@ACTION_NAME@" does not exists for service "@SERVICE_NAME@"',
  MISSING_MANDATORY_PARAMETER: 'MISSING_MANDATORY_PARAMETER;PARAM_NAME;Missing parameter "@PARAM_NAME@"',
  INVALID_OBJECT_TYPE: 'INVALID_OBJECT_TYPE;INVALID_OBJ_TYPE;Invalid object type "@INVALID_OBJ_TYPE@"',
  INVALID_OBJECT_ID: 'INVALID_OBJECT_ID;ID;Invalid object id [@ID@]',
  INVALID_ENUM_VALUE:
    'INVALID_ENUM_VALUE;ENUM_VAL,PARAM_NAME,ENUM_TYPE;Invalid enumeration value "@ENUM_VAL@" for parameter "@PARAM_NAME@", expecting enumeration type "@ENUM_TYPE@"',
  PROPERTY_VALIDATION_CANNOT_BE_NULL: 'PROPERTY_VALIDATION_CANNOT_BE_NULL;PROP_NAME;The property "@PROP_NAME@" cannot be null',
  SERVICE_FORBIDDEN: 'SERVICE_FORBIDDEN;SERVICE;The access to service [@SERVICE@] is forbidden',
  SERVICE_FORBIDDEN_CONTENT_BLOCKED:
    'SERVICE_FORBIDDEN_CONTENT_BLOCKED;;The access to this service is forbidden since the specified partner is blocked',
  START_SESSION_ERROR: 'START_SESSION_ERROR;PID;Error while starting session for partner [@PID@]',
  UNKNOWN_RESPONSE_FORMAT:
    'UNKNOWN_RESPONSE_FORMAT;FORMAT;Response format provided [@FORMAT@] is not recognized by server',
  ENTRY_ID_NOT_FOUND: 'ENTRY_ID_NOT_FOUND;ENTRY_ID;Entry id "@ENTRY_ID@" not found',
  ASSET_ID_NOT_FOUND: 'ASSET_ID_NOT_FOUND;ID;Asset id "@ID@" not found',
  LIVE_STREAM_INVALID_TOKEN: 'LIVE_STREAM_INVALID_TOKEN;ENTRY_ID;Invalid token supplied for live entry [@ENTRY_ID@]',
  MEDIA_SERVER_NOT_FOUND: 'MEDIA_SERVER_NOT_FOUND;MEDIA_SERVER_ID;Media server [@MEDIA_SERVER_ID@] not found',
  // Entry-server-node lifecycle (KalturaErrors.php; ENTRY_SERVER_NODE_NOT_FOUND's code is the real one).
  ENTRY_SERVER_NODE_NOT_FOUND:
    'ENTRY_SERVER_NODE_NOT_FOUND;ENTRY_ID,SERVER_TYPE;Entry server node with entry id [@ENTRY_ID@] and server type [@SERVER_TYPE@] not found',
  LIVE_STREAM_EXCEEDED_MAX_PASSTHRU:
    'LIVE_STREAM_EXCEEDED_MAX_PASSTHRU;ENTRY_ID;Partner exceeded max pass-through live streams in entry[@ENTRY_ID@]',
  LIVE_STREAM_EXCEEDED_MAX_TRANSCODED:
    'LIVE_STREAM_EXCEEDED_MAX_TRANSCODED;ENTRY_ID;Partner exceeded max concurrent transcoded live streams in entry[@ENTRY_ID@]',
  LIVE_STREAM_ALREADY_BROADCASTING:
    'LIVE_STREAM_ALREADY_BROADCASTING;ENTRY_ID,MEDIA_SERVER;Entry [@ENTRY_ID@] already broadcasting to server [@MEDIA_SERVER@]',
  INVALID_ENTRY_ID: 'INVALID_ENTRY_ID;ID;Invalid entry id ["@ID@"]',
  SERVER_NODE_NOT_FOUND: 'SERVER_NODE_NOT_FOUND;HOST_NAME;server node with host name [@HOST_NAME@] not found',
  KALTURA_RECORDING_ENABLED:
    'KALTURA_RECORDING_ENABLED;PARTNER_ID;Kaltura recording is enabled for partner [@PARTNER_ID@] use liveStream->setRecordedContent to set the live recorded content',
  INGEST_NOT_FOUND_IN_CONVERSION_PROFILE:
    'INGEST_NOT_FOUND_IN_CONVERSION_PROFILE;STREAM_NAME;Ingest "@STREAM_NAME@" is not in conversion profile',
  INVALID_STREAM_NAME: 'INVALID_STREAM_NAME;STREAM_NAME;Invalid stream name [@STREAM_NAME@]',
  UPLOAD_TOKEN_NOT_FOUND: 'UPLOAD_TOKEN_NOT_FOUND;;Upload token not found',
  UPLOAD_TOKEN_INVALID_STATUS_FOR_UPLOAD:
    'UPLOAD_TOKEN_INVALID_STATUS_FOR_UPLOAD;;Upload token is in an invalid status for uploading a file, maybe the file was already uploaded',
  UPLOAD_TOKEN_CANNOT_RESUME: 'UPLOAD_TOKEN_CANNOT_RESUME;;Cannot resume the upload, original file was not found',
  UPLOAD_TOKEN_CANNOT_MATCH_EXPECTED_SIZE:
    'UPLOAD_TOKEN_CANNOT_MATCH_EXPECTED_SIZE;;Failed to match expected file size',
  UPLOAD_ERROR: 'UPLOAD_ERROR;;Upload failed',
  UPLOAD_TOKEN_INVALID_STATUS_FOR_ADD_ENTRY:
    'UPLOAD_TOKEN_INVALID_STATUS_FOR_ADD_ENTRY;;Upload token is in an invalid status for adding entry, maybe the a file was not uploaded or the token was used',
  FILE_DOESNT_EXIST: 'FILE_DOESNT_EXIST;;File doesnt exist',
  LOCAL_FILE_NOT_FOUND: 'LOCAL_FILE_NOT_FOUND;FILE;Local file was not found "@FILE@"',
  LIVE_STREAM_EXCEEDED_MAX_RECORDED_DURATION:
    'LIVE_STREAM_EXCEEDED_MAX_RECORDED_DURATION;ENTRY_ID;Entry exceeded max recorded live stream duration in entry[@ENTRY_ID@]',
} as const;

export type ApiErrorName = keyof typeof ApiErrors;

/** A KalturaAPIException: `code`, formatted `message`, named string `args`. */
export class KalturaApiError extends Error {
  readonly code: string;
  readonly args: Record<string, string>;

  constructor(code: string, message: string, args: Record<string, string>) {
    super(message);
    this.name = 'KalturaApiError';
    this.code = code;
    this.args = args;
  }
}

/**
 * Builds the exception the way APIErrors::getErrorData does: positional values fill the named
 * arguments in order (missing ones become "N/A"), each substituted into the template.
 */
export function apiError(name: ApiErrorName, ...values: Array<string | number>): KalturaApiError {
  const [code, argNames, template] = splitTemplate(ApiErrors[name]);
  const args: Record<string, string> = {};
  let message = template;
  argNames.forEach((argName, i) => {
    const value = i < values.length ? String(values[i]) : 'N/A';
    args[argName] = value;
    message = message.split(`@${argName}@`).join(value);
  });
  return new KalturaApiError(code, message, args);
}

function splitTemplate(template: string): [string, string[], string] {
  const first = template.indexOf(';');
  const second = template.indexOf(';', first + 1);
  const code = template.slice(0, first);
  const names = template.slice(first + 1, second);
  return [code, names === '' ? [] : names.split(','), template.slice(second + 1)];
}
