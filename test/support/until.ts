/**
 * Waits for a state, not for luck: polls `ok` every `everyMs` until it holds or `ms` pass, then
 * checks once more and throws "timed out waiting for <what>". A bounded wait for a condition the
 * test then asserts on, never a retry of an assertion that failed.
 */
export async function until(what: string, ok: () => boolean | Promise<boolean>, ms = 20_000, everyMs = 25): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await ok()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, everyMs));
  if (!(await ok())) throw new Error(`timed out waiting for ${what}`);
}
