/**
 * The demo's config steps (sandbox/demo.ts): a Secret referenced by `spec.configFrom` reaches
 * the provider — the echo provider prepends its `prefix` config key to every reply, so a call
 * shows what its host was given — while the ProviderInstances carry only the key's name; an
 * inline config change rolls out like a Deployment's template change; `gantry rollout undo`
 * returns to the Secret's value. Each step checks what it narrates.
 */
import { callProvider } from '../client/index.js';
import { type Demo, instances, NAME, NS, provider, say, secs, showInstances, until } from './demo-support.js';

const SECRET = `${NAME}-config`;
const FROM_SECRET = '[from a Secret] ';
const INLINE = '[inline config] ';

/**
 * Echo calls until one is answered with `want` (instances are deleted at once, and the host of
 * one just replaced may still serve for the moment its agent takes to drain it), then shows it.
 */
async function echoes(d: Demo, data: string, want: string): Promise<void> {
  const { instance, text } = await until(
    `a reply "${want}" (the replaced hosts drained)`,
    async () => {
      const { instance, reply } = await callProvider(d.nc, { namespace: NS, provider: NAME, op: 'Echo', data, timeoutMs: 5000 });
      const text = new TextDecoder().decode(reply);
      return text === want ? { instance, text } : undefined;
    },
    15_000,
  );
  say(`  → Echo("${data}") = "${text}", answered by ${instance}`);
}

/** Until every instance runs the Provider's current template, Running, and the Provider counts them Ready. */
async function rolledOut(d: Demo, replicas: number): Promise<void> {
  const t = performance.now();
  let last = '';
  await until('the rollout to finish', async () => {
    const p = await provider(d.kube);
    const want = p.status?.templateHash;
    const list = await instances(d.kube);
    const current = list.filter((i) => i.template === want && i.phase === 'Running' && !i.deleting).length;
    const view = `${current}/${replicas} on template ${want} — ${list.length} instances`;
    if (view !== last) say(`  ${(last = view)}`);
    const observed = (p.status?.observedGeneration ?? 0) >= (p.metadata.generation ?? 0);
    return observed && want && current === replicas && list.length === replicas && p.status?.readyReplicas === replicas ? true : undefined;
  });
  say(`  rolled out in ${secs(performance.now() - t)}`);
  showInstances(await instances(d.kube));
}

async function changeCause(d: Demo, cause: string): Promise<void> {
  await d.kubectl(['annotate', `provider/${NAME}`, `kubernetes.io/change-cause=${cause}`, '--overwrite']);
}

export async function configFromSecret(d: Demo): Promise<void> {
  const secret = `apiVersion: v1
kind: Secret
metadata:
  name: ${SECRET}
  namespace: ${NS}
stringData:
  prefix: "${FROM_SECRET}"
`;
  for (const l of secret.trimEnd().split('\n')) say(`    | ${l}`);
  await d.kubectl(['apply', '-f', '-'], secret);
  await changeCause(d, `config from Secret ${SECRET}`);
  await d.kubectl(['patch', `provider/${NAME}`, '--type=merge', '-p', `{"spec":{"configFrom":[{"secretRef":{"name":"${SECRET}"}}]}}`]);
  await rolledOut(d, 3);
  await echoes(d, 'hello', `${FROM_SECRET}hello`);
  // the instances name the key; the value reached the node sealed to its key, and is nowhere in the API
  const name = (await instances(d.kube))[0]!.name;
  await d.kubectl(['get', 'providerinstance', name, '-o', 'jsonpath={.spec.secretConfig}{"\\n"}']);
  const all = await d.kubectl(['get', 'providerinstances', '-o', 'json']);
  if (all.includes(FROM_SECRET.trim())) throw new Error('demo: the Secret value is in a ProviderInstance');
  say(`  the value "${FROM_SECRET.trim()}" is in no ProviderInstance: only its key name is`);
}

export async function changeConfig(d: Demo): Promise<void> {
  await changeCause(d, 'inline prefix');
  await d.kubectl(['patch', `provider/${NAME}`, '--type=merge', '-p', `{"spec":{"config":{"prefix":"${INLINE}"}}}`]);
  await rolledOut(d, 3);
  await echoes(d, 'hello', `${INLINE}hello`);
}

export async function undoChange(d: Demo): Promise<void> {
  await d.gantry(['rollout', 'history', `provider/${NAME}`, '-n', NS]);
  await d.gantry(['rollout', 'undo', `provider/${NAME}`, '-n', NS]);
  await d.gantry(['rollout', 'status', `provider/${NAME}`, '-n', NS, '--timeout', '90s']);
  await rolledOut(d, 3);
  await echoes(d, 'hello', `${FROM_SECRET}hello`);
}
