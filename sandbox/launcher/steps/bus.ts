/**
 * Step 2, the bus: the membrane's keys and NATS (one server, or a cluster with --nats-servers
 * N), in operator mode so nothing moves on it without a grant. The sandbox's membrane keeps
 * its keys in DIR/membrane (made on first start, kept across resumes), and writes an admin
 * user's .creds there that `gantry call` and the demo use — fresh at every start, since they
 * expire with the membrane's JWT lifetime (24 h; `gantry membrane admin-creds` renews them). The admin may call anything, as any
 * caller: it is the sandbox operator's tool, not a service's.
 *
 * The bus is encrypted as deploy/ runs it (membrane/bus-tls.ts): the sandbox's own CA in
 * DIR/bus-ca/ (made once, kept across resumes: clients trust it) signs the servers'
 * certificate in DIR/nats/tls/ (re-issued each start); clients are given DIR/bus-ca/ca.crt.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { KEY_FILES, MembraneAuthority } from '../../../membrane/authority.js';
import { ensureBusCa, issueNatsServerCert } from '../../../membrane/bus-pki.js';
import { adminPermissions } from '../../../membrane/permissions.js';
import type { Launch } from '../launch.js';
import { startNatsCluster } from '../nats-server.js';
import type { StateDir } from '../state-dir.js';

export async function startBus(l: Launch, natsPorts: number[]): Promise<void> {
  const authority = sandboxMembrane(l.sd);
  const ca = await ensureBusCa(l.sd.busCaDir);
  const tls = await issueNatsServerCert(ca, join(l.sd.natsDir, 'tls'), ['localhost', '127.0.0.1']);
  await startNatsCluster({
    tls,
    dir: l.sd.natsDir,
    ports: natsPorts,
    routePorts: l.st.natsRoutePorts,
    logFile: (i) => l.sd.log(i === 1 ? 'nats' : `nats-${i}`),
    serverConfig: (resolverDir) => authority.serverConfig(resolverDir),
    onUnexpectedExit: l.unexpected,
    group: l.group,
  });
  l.checkInterrupted();
  const cluster = natsPorts.length > 1 ? `a cluster of ${natsPorts.length} servers, ` : '';
  l.say(`  NATS           ${l.natsUrl} (${cluster}operator mode, TLS; admin creds ${l.sd.adminCreds}, CA ${l.sd.natsCa})`);
}

function sandboxMembrane(sd: StateDir): MembraneAuthority {
  let authority: MembraneAuthority;
  if (existsSync(join(sd.membraneDir, KEY_FILES.account))) {
    authority = MembraneAuthority.load(sd.membraneDir);
    // A sandbox made before JWT lifetimes: refuse its older JWTs (some never expire) now, before
    // the admin creds below, rather than when the controller first syncs and after them.
    if (authority.revocations.revokeAllOnce()) authority.saveRevocations(sd.membraneDir);
  } else {
    authority = MembraneAuthority.generate();
    authority.save(sd.membraneDir);
  }
  writeFileSync(sd.adminCreds, authority.mintUser('sandbox-admin', adminPermissions).creds!, { mode: 0o600 });
  return authority;
}
