/**
 * Which parts of a provider table the host may read: the one extension mechanism of ABI v1
 * (providers/gantry_provider.h, docs/abi.md#extensions). A table with GANTRY_FLAG_EXTENSIONS
 * continues after `stop` with `ext_size` (bytes from ext_size to the table's end) and optional
 * function pointers; the host reads a field only when it lies wholly inside ext_size. Kept free
 * of koffi so it can be tested (and mutated) on plain numbers: native.ts does the reading.
 *
 * Fail closed: a flag bit this host does not know may change how the table is laid out, so
 * it is refused rather than ignored; so is an ext_size that cannot be a real table's.
 */
import { HostError } from './errors.js';

/** flags bit: the table continues with ext_size and extension fields. */
export const FLAG_EXTENSIONS = 0x1;
/** Every flag bit this host understands. */
export const KNOWN_FLAGS = FLAG_EXTENSIONS;
/** Largest ext_size accepted (GANTRY_EXT_SIZE_MAX): more is a garbage table, not a newer one. */
export const MAX_EXT_SIZE = 4096;
/** Byte offset of ext_size in the table on a 64-bit target: 2×uint32, ctx, 7 function pointers. */
export const EXT_OFFSET = 72;
/** Width of size_t and of a pointer on the targets the host runs on (64-bit). */
export const WORD = 8;

/** The extension fields in table order after ext_size; only ever appended to. */
export const EXTENSION_FIELDS = ['health', 'handle_call_traced'] as const;
export type ExtensionField = (typeof EXTENSION_FIELDS)[number];

/** What the host may read: each known field's offset in the table, when the library's ext_size covers it. */
export interface ExtensionLayout {
  /** ext_size as the library declared it (0 without GANTRY_FLAG_EXTENSIONS). */
  extSize: number;
  /** Byte offset in the table of each field the host may read (absent: not implemented). */
  fields: Partial<Record<ExtensionField, number>>;
}

/**
 * Decide from `flags` (and, only when it announces extensions, ext_size as `readExtSize`
 * reads it) which extension fields exist. Throws HostError ABI_FLAGS_UNKNOWN or
 * ABI_EXTENSIONS_INVALID with what is wrong.
 */
export function extensionLayout(flags: number, readExtSize: () => number | bigint, where: string): ExtensionLayout {
  const unknown = (flags & ~KNOWN_FLAGS) >>> 0;
  if (unknown !== 0) {
    throw new HostError(
      'ABI_FLAGS_UNKNOWN',
      `${where}: provider table sets flag bits 0x${unknown.toString(16)} this host does not know (it knows 0x${KNOWN_FLAGS.toString(16)}); they may change how the table is read, so it is refused`,
    );
  }
  if ((flags & FLAG_EXTENSIONS) === 0) return { extSize: 0, fields: {} };
  const raw = readExtSize();
  // a huge 64-bit size loses precision as a number but stays far over MAX_EXT_SIZE: refused below
  const extSize = Number(raw);
  if (extSize < WORD || extSize > MAX_EXT_SIZE || extSize % WORD !== 0) {
    throw new HostError(
      'ABI_EXTENSIONS_INVALID',
      `${where}: provider table announces extensions with ext_size ${String(raw)}; it must be a multiple of ${WORD} from ${WORD} (the size field itself) to ${MAX_EXT_SIZE} — build it with GANTRY_EXT_SIZE`,
    );
  }
  const fields: ExtensionLayout['fields'] = {};
  EXTENSION_FIELDS.forEach((name, i) => {
    const within = WORD * (i + 1); // the field's offset inside the extension block
    if (within + WORD <= extSize) fields[name] = EXT_OFFSET + within;
  });
  return { extSize, fields };
}
