/** The TlogError code a call throws, or 'ok': vectors and encodings are checked by code. */
import { isTlogError, type TlogErrorCode } from '../../tlog/index.js';

export function codeOf(fn: () => unknown): TlogErrorCode | 'ok' {
  try {
    fn();
    return 'ok';
  } catch (err) {
    if (isTlogError(err)) return err.code;
    throw err;
  }
}
