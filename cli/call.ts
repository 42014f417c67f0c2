/**
 * `gantry call [-n NS] PROVIDER OP [--data STRING|@FILE]` — one request to a provider over
 * NATS, load-balanced over its Ready instances (or to one `--instance`). Prints the reply
 * (raw bytes) or, with `--json`, `{instance, reply}` where reply is parsed JSON when it is
 * JSON and a string otherwise. A failed call prints its code and message and exits 1; a call
 * the membrane refuses (no grant for it, expired, revoked) fails FORBIDDEN. Credentials: a
 * NATS .creds file (--creds, $GANTRY_NATS_CREDS, or the local sandbox's admin creds).
 * `--nats` takes several comma-separated URLs (a NATS cluster); `--retries N` retries what is
 * safe to retry (NO_RESPONDERS, OVERLOADED, NOT_READY, CONNECTION_LOST) within --timeout.
 * A Provider with no Ready instance is activated from zero within --timeout unless
 * `--no-activate` (docs/protocol.md "Activation"); `--json` then names the activation's answer.
 * With OTEL_* asking for traces the call is exported as a `gantry.call` span (service
 * gantry-cli) before the command exits; a bad OTEL_* value is a usage error naming it.
 */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { dirname } from 'node:path';
import { CallError, callProvider, connectError, connectNats } from '../client/index.js';
import { defaultStateDir, StateDir } from '../sandbox/index.js';

function payload(data: string | undefined): Uint8Array | undefined {
  if (data === undefined) return undefined;
  if (data.startsWith('@')) {
    try {
      return readFileSync(data.slice(1));
    } catch (err) {
      throw Object.assign(new Error(`call: cannot read --data file ${data.slice(1)}: ${(err as Error).message}`), { exitCode: 2 });
    }
  }
  return new TextEncoder().encode(data);
}

function replyValue(reply: Uint8Array): unknown {
  const text = new TextDecoder().decode(reply);
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** A failed call's exit status 1 (and, with --json, its code, message and the activation's answer on stdout). */
function failure(err: unknown, json: boolean | undefined): unknown {
  if (!(err instanceof CallError)) return err;
  const activation = err.activation ? { activation: err.activation } : {};
  if (json)
    process.stdout.write(JSON.stringify({ error: err.code, message: err.message, instance: err.instance ?? null, ...activation }) + '\n');
  return Object.assign(new Error(`call: ${err.code}: ${err.message}`), { exitCode: 1 });
}

export function registerCall(program: Command): void {
  program
    .command('call')
    .description('call an operation of a provider over NATS')
    .argument('<provider>', 'the Provider name')
    .argument('<op>', 'the operation, e.g. Get')
    .option('-n, --namespace <ns>', 'namespace of the Provider', 'default')
    .option('--data <data>', 'request payload, or @FILE to read it from a file')
    .option('--instance <name>', 'call this one ProviderInstance instead of any Ready one')
    .option('--timeout <ms>', 'how long to wait for the reply, retries included', '5000')
    .option(
      '--retries <n>',
      'retry NO_RESPONDERS, OVERLOADED, NOT_READY and CONNECTION_LOST up to N times, with jittered backoff, within --timeout (never PROVIDER_ERROR, FORBIDDEN or TIMEOUT)',
      '0',
    )
    .option(
      '--nats <urls>',
      "NATS server URL(s), comma-separated (default: $GANTRY_NATS_URL, else the running local sandbox's, else nats://127.0.0.1:4222)",
    )
    .option('--creds <file>', "NATS .creds file to call with (default: $GANTRY_NATS_CREDS, else the running local sandbox's admin creds)")
    .option(
      '--nats-ca <file>',
      "the bus CA's certificate: NATS over TLS, the servers verified against it (default: $GANTRY_NATS_CA, else the local sandbox's)",
    )
    .option(
      '--no-activate',
      'fail NO_RESPONDERS at once when no instance is Ready, instead of asking the controller to activate the Provider from zero and waiting within --timeout',
    )
    .option('--json', 'print {instance, reply} as JSON')
    .action(async (provider: string, op: string, o) => {
      const timeoutMs = Number(o.timeout);
      if (!Number.isInteger(timeoutMs) || timeoutMs <= 0)
        throw Object.assign(new Error(`call: --timeout must be a positive number of ms, got "${o.timeout}"`), { exitCode: 2 });
      const retries = Number(o.retries);
      if (!Number.isInteger(retries) || retries < 0)
        throw Object.assign(new Error(`call: --retries must be a whole number ≥ 0, got "${o.retries}"`), { exitCode: 2 });
      const data = payload(o.data);
      const sandbox = sandboxNats();
      const servers = o.nats || process.env.GANTRY_NATS_URL || sandbox?.url || 'nats://127.0.0.1:4222';
      // The sandbox's admin creds go only to the sandbox's own NATS.
      const credsFile = o.creds || process.env.GANTRY_NATS_CREDS || (sandbox && servers === sandbox.url ? sandbox.creds : undefined);
      const caFile = o.natsCa || process.env.GANTRY_NATS_CA || (sandbox && servers === sandbox.url ? sandbox.ca : undefined);
      let nc: Awaited<ReturnType<typeof connectNats>>;
      try {
        const tls = caFile ? { caFile } : undefined;
        nc = await connectNats({ servers, name: 'gantry-call', token: process.env.GANTRY_NATS_TOKEN, credsFile, tls });
      } catch (err) {
        const e = connectError(err, { servers, tls: caFile ? { caFile } : undefined });
        // Credentials the membrane no longer accepts (expired, revoked, unknown) are a refusal, not an outage.
        const code = e.code === 'NATS_AUTH_FAILED' ? 'FORBIDDEN' : e.code;
        if (o.json) process.stdout.write(JSON.stringify({ error: code, message: e.message, instance: null }) + '\n');
        throw Object.assign(new Error(`call: ${code}: cannot connect to NATS at ${servers}: ${e.message}`), { exitCode: 1 });
      }
      try {
        const target = o.instance ? { provider, instance: o.instance } : { provider };
        const { instance, reply } = await callProvider(nc, {
          namespace: o.namespace,
          ...target,
          op,
          data,
          timeoutMs,
          retry: { retries },
          activate: o.activate !== false,
        });
        if (o.json) process.stdout.write(JSON.stringify({ instance, reply: replyValue(reply) }) + '\n');
        else {
          process.stdout.write(reply);
          if (reply.length && reply[reply.length - 1] !== 10) process.stdout.write('\n');
        }
      } catch (err) {
        throw failure(err, o.json);
      } finally {
        await nc.close().catch(() => {});
      }
    });
}

/**
 * The NATS URL and admin creds of a running local sandbox (its default state dir, or the one
 * $KUBECONFIG points into), so `gantry call` just works after `sandbox up`.
 */
function sandboxNats(): { url: string; creds?: string; ca?: string } | undefined {
  // the sandbox's kubeconfig sits in its state dir, so `export KUBECONFIG=DIR/kubeconfig` names it too
  const dirs = [defaultStateDir(), ...(process.env.KUBECONFIG ? [dirname(process.env.KUBECONFIG)] : [])];
  for (const dir of dirs) {
    try {
      const run = new StateDir(dir).readRun();
      if (run?.natsUrl) return { url: run.natsUrl, creds: run.natsCreds, ca: run.natsCa };
    } catch {
      // not a sandbox state dir
    }
  }
  return undefined;
}
