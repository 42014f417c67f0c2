/**
 * `npm run demo` runs to the end: every step's own checks passed (the demo exits non-zero
 * as soon as something it narrates did not happen), and the narrative has each step, its
 * duration, and the summary.
 */
import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { distEntry } from '../../runtime/paths.js';

describe('npm run demo', () => {
  it('completes, narrating each step with its duration', async () => {
    const proc = spawn(process.execPath, [distEntry('sandbox/demo')], {
      env: { ...process.env, GANTRY_LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    proc.stdout.on('data', (d) => (out += d));
    proc.stderr.on('data', (d) => (out += d));
    const code = await new Promise<number | null>((r) => proc.once('exit', r));
    expect(code, out).toBe(0);
    for (const n of [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]) expect(out).toMatch(new RegExp(`▶ ${n}\\. `));
    expect(out.match(/✓ done in \d+\.\d s/g)).toHaveLength(10);
    expect(out).toMatch(/30 calls answered by: (demo-echo-\w+ ×\d+, ){2}demo-echo-\w+ ×\d+/);
    expect(out).toMatch(/3\/3 on revision 2/);
    // a Secret's value reached the provider, an inline change rolled out, undo came back
    expect(out).toContain('= "[from a Secret] hello"');
    expect(out).toContain('= "[inline config] hello"');
    expect(out).toMatch(/rolled back[\s\S]*= "\[from a Secret\] hello"/);
    expect(out).toMatch(/placed a replacement within/);
    expect(out).toContain('NO_RESPONDERS');
    expect(out).toMatch(/Summary[\s\S]*total/);
  }, 240_000);
});
