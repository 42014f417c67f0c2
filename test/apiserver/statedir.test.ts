/**
 * The state directory holds Secret data (snapshot and journal), the bearer token, the
 * kubeconfig and the CA key: it is 0700 with 0600 files whatever the umask, an existing one
 * with looser modes is tightened, and what cannot be made private is refused with its code.
 */
import {
  chownSync,
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startTestApiServer } from '../support/apiserver.js';
import { raw } from './http.js';

const roots: string[] = [];
afterAll(() => {
  for (const d of roots) rmSync(d, { recursive: true, force: true });
});
function scratch(): string {
  const d = mkdtempSync(join(tmpdir(), 'gantry-statedir-'));
  roots.push(d);
  return d;
}

const mode = (p: string) => statSync(p).mode & 0o777;
const SECRET = 'hunter2-in-the-journal';
const b64 = Buffer.from(SECRET).toString('base64');

function expectPrivate(dir: string): void {
  expect(mode(dir).toString(8)).toBe('700');
  const files = readdirSync(dir);
  expect(files).toEqual(expect.arrayContaining(['store.json', 'journal.ndjson', 'token', 'kubeconfig', 'ca.key', 'server.key']));
  for (const f of files) expect(`${f} ${mode(join(dir, f)).toString(8)}`).toBe(`${f} 600`);
}

async function until(pred: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`${what} not seen in ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('state dir privacy', () => {
  it('a new state dir is 0700 and every file in it 0600 — the journal and snapshot holding Secret data too — even with umask 0', async () => {
    const dir = join(scratch(), 'nested', 'state');
    const oldMask = process.umask(0); // openssl and our own writes would make 0666/0777 files here
    try {
      const api = await startTestApiServer({ stateDir: dir });
      try {
        const r = await raw(api, 'POST', '/api/v1/namespaces/default/secrets', {
          metadata: { name: 's1' },
          stringData: { password: SECRET },
        });
        expect(r.status, r.text).toBe(201);
        const journal = join(dir, 'journal.ndjson');
        await until(() => readFileSync(journal, 'utf8').includes(b64), 5000, 'the Secret in the journal');
        expectPrivate(dir);
      } finally {
        await api.stop();
      }
      expect(readFileSync(join(dir, 'store.json'), 'utf8')).toContain(b64);
      expectPrivate(dir);
    } finally {
      process.umask(oldMask);
    }
  });

  it('an existing state dir with loose modes (an older emulator, a plain mkdir) is tightened and keeps its objects', async () => {
    const dir = join(scratch(), 'state');
    const first = await startTestApiServer({ stateDir: dir });
    expect(
      (await raw(first, 'POST', '/api/v1/namespaces/default/secrets', { metadata: { name: 'kept' }, stringData: { password: SECRET } }))
        .status,
    ).toBe(201);
    await first.stop();
    chmodSync(dir, 0o755);
    for (const f of readdirSync(dir)) chmodSync(join(dir, f), 0o644);
    writeFileSync(join(dir, 'store.json.tmp'), 'left over by a crash', { mode: 0o666 });
    chmodSync(join(dir, 'store.json.tmp'), 0o666);

    const second = await startTestApiServer({ stateDir: dir });
    try {
      expectPrivate(dir);
      const got = await raw(second, 'GET', '/api/v1/namespaces/default/secrets/kept');
      expect(got.status).toBe(200);
      expect(got.json.data.password).toBe(b64);
    } finally {
      await second.stop();
    }
  });

  it('refuses a state dir that belongs to another user (APISERVER_STATE_DIR_NOT_OWNED), writing nothing into it', async () => {
    let foreign = '/';
    if (process.getuid?.() === 0) {
      foreign = join(scratch(), 'theirs');
      mkdirSync(foreign, { mode: 0o755 });
      chownSync(foreign, 65534, 65534);
    }
    const before = readdirSync(foreign);
    await expect(startTestApiServer({ stateDir: foreign })).rejects.toMatchObject({
      name: 'StateDirError',
      code: 'APISERVER_STATE_DIR_NOT_OWNED',
      exitCode: 2,
    });
    expect(readdirSync(foreign)).toEqual(before);
    if (foreign !== '/') expect(mode(foreign).toString(8)).toBe('755'); // not ours to change
  });

  it('refuses a state file that is a symlink (APISERVER_STATE_FILE_NOT_REGULAR), so Secret data cannot be sent where it points', async () => {
    const root = scratch();
    const dir = join(root, 'state');
    mkdirSync(dir);
    const outside = join(root, 'world-readable.ndjson');
    writeFileSync(outside, '', { mode: 0o644 });
    symlinkSync(outside, join(dir, 'journal.ndjson'));
    await expect(startTestApiServer({ stateDir: dir })).rejects.toMatchObject({ code: 'APISERVER_STATE_FILE_NOT_REGULAR' });
    expect(readFileSync(outside, 'utf8')).toBe('');
    expect(existsSync(join(dir, 'token'))).toBe(false);
  });

  it('refuses a state dir path that is a file (APISERVER_STATE_DIR_NOT_A_DIRECTORY)', async () => {
    const file = join(scratch(), 'not-a-dir');
    writeFileSync(file, 'x');
    await expect(startTestApiServer({ stateDir: file })).rejects.toMatchObject({ code: 'APISERVER_STATE_DIR_NOT_A_DIRECTORY' });
  });
});
