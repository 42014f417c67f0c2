/** The TlogError code a call throws, or 'ok': vectors and encodings are checked by code. */
import { isTlogError, type TlogErrorCode } from '../../tlog/index.js';

export function codeOf(fn: () => unknown): TlogErrorCode | 'ok' {
  return refusalOf(fn).code;
}

/** The code and message a call is refused with ('ok' and '' when it is not). */
export function refusalOf(fn: () => unknown): { code: TlogErrorCode | 'ok'; message: string } {
  try {
    fn();
    return { code: 'ok', message: '' };
  } catch (err) {
    if (isTlogError(err)) return { code: err.code, message: err.message };
    throw err;
  }
}
