/** `gantry rollout`'s usage errors, as a user meets them: exit 2 and what is wrong, before any API server is asked. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { durationFlag, parseTarget } from '../../cli/rollout.js';
import { gantryIn } from '../support/gantry-cli.js';

const home = mkdtempSync(join(tmpdir(), 'gantry-rollout-usage-'));
// a kubeconfig that does not exist: reaching it would be exit 2 with another message
const run = (...args: string[]) => gantryIn(home, home, ['rollout', ...args, '--kubeconfig', join(home, 'none')]);

describe('gantry rollout usage errors', () => {
  afterAll(() => rmSync(home, { recursive: true, force: true }));

  it('takes provider/NAME in kubectl spellings and refuses any other kind or shape', () => {
    for (const ok of ['provider/kv', 'providers/kv', 'provider.gantry.dev/kv', 'Provider/kv']) expect(parseTarget(ok)).toBe('kv');
    expect(() => parseTarget('deployment/kv')).toThrow('only Providers roll out here (provider/NAME), not "deployment"');
    expect(() => parseTarget('kv')).toThrow('expected provider/NAME, not "kv"');
    expect(() => parseTarget('provider/a/b')).toThrow('expected provider/NAME');
    expect(() => parseTarget('provider/Not_A_Name')).toThrow('"Not_A_Name" is not a Provider name');
  });

  it('reads durations as kubectl does', () => {
    expect(durationFlag('0')).toBe(0);
    expect(durationFlag('90s')).toBe(90_000);
    expect(durationFlag('1h30m')).toBe(5_400_000);
    expect(durationFlag('500ms')).toBe(500);
    for (const bad of ['', '10', '5 m', '1d', '-1s']) expect(() => durationFlag(bad), bad).toThrow('--timeout must be a duration');
  });

  it('exits 2 naming the bad argument or flag', async () => {
    const cases: [string[], string][] = [
      [['undo', 'deployment/kv'], 'gantry: rollout: only Providers roll out here (provider/NAME), not "deployment"\n'],
      [['history', 'kv'], 'gantry: rollout: expected provider/NAME, not "kv"\n'],
      [
        ['undo', 'provider/kv', '--to-revision', 'two'],
        'gantry: rollout: --to-revision must be a revision number (0 or more), not "two"\n',
      ],
      [['undo', 'provider/kv', '--to-revision', '-1'], 'gantry: rollout: --to-revision must be a revision number (0 or more), not "-1"\n'],
      [['history', 'provider/kv', '--revision', '1.5'], 'gantry: rollout: --revision must be a revision number (0 or more), not "1.5"\n'],
      [['status', 'provider/kv', '--timeout', 'soon'], 'gantry: rollout: --timeout must be a duration like 90s, 5m or 1h, not "soon"\n'],
      [['status', 'provider/kv', '--watch=maybe'], 'gantry: rollout: --watch must be true or false, not "maybe"\n'],
    ];
    for (const [args, stderr] of cases) expect(await run(...args), args.join(' ')).toMatchObject({ code: 2, stdout: '', stderr });
  });
});
