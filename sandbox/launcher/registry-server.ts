/**
 * The sandbox's archive registry: the Debian `docker-registry` (distribution 2.8) on a fixed
 * loopback port with storage in DIR/registry/, or — when it is not installed or
 * `--registry oci-layout` is asked for — an OCI image-layout directory, which needs no process.
 * Refs: `127.0.0.1:PORT/examples/echo` or `oci-layout:DIR/registry/layout/examples/echo`.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { findExecutable } from './host.js';
import { ManagedProcess, type ManagedProcessOptions } from './managed-process.js';
import type { RegistryKind } from './state-dir.js';
import { SandboxError } from './errors.js';

export interface SandboxRegistry {
  kind: RegistryKind;
  /** `127.0.0.1:PORT` or `oci-layout:DIR` */
  location: string;
  /** The ref for one repository, e.g. refFor('examples/echo'). */
  refFor(repository: string): string;
  /** Registries the controller and agents must reach over plain HTTP. */
  plainHttp: string[];
  process?: ManagedProcess;
}

export function chooseRegistryKind(asked: string | undefined): RegistryKind {
  if (asked === undefined) return findExecutable('docker-registry') ? 'docker' : 'oci-layout';
  if (asked !== 'docker' && asked !== 'oci-layout') {
    throw new SandboxError('SANDBOX_BAD_REGISTRY_KIND', `--registry "${asked}": expected docker or oci-layout`, 'usage');
  }
  if (asked === 'docker' && !findExecutable('docker-registry')) {
    throw new SandboxError(
      'SANDBOX_MISSING_BINARY',
      'docker-registry not found: install the Debian package docker-registry, or use --registry oci-layout',
    );
  }
  return asked;
}

export async function startRegistry(o: {
  kind: RegistryKind;
  dir: string;
  port?: number;
  logFile: string;
  onUnexpectedExit?: ManagedProcessOptions['onUnexpectedExit'];
  group?: ManagedProcessOptions['group'];
}): Promise<SandboxRegistry> {
  if (o.kind === 'oci-layout') {
    const layout = join(o.dir, 'layout');
    mkdirSync(layout, { recursive: true });
    return { kind: 'oci-layout', location: `oci-layout:${layout}`, refFor: (repo) => `oci-layout:${join(layout, repo)}`, plainHttp: [] };
  }
  if (o.port === undefined) throw new Error('a docker registry needs a port');
  const bin = findExecutable('docker-registry');
  if (!bin)
    throw new SandboxError(
      'SANDBOX_MISSING_BINARY',
      'docker-registry not found: install the Debian package docker-registry, or use --registry oci-layout',
    );
  const storage = join(o.dir, 'storage');
  mkdirSync(storage, { recursive: true });
  const config = join(o.dir, 'config.yml');
  writeFileSync(
    config,
    `version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: ${storage}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:${o.port}\n`,
  );
  const proc = new ManagedProcess({
    name: 'docker-registry',
    command: bin,
    args: ['serve', config],
    logFile: o.logFile,
    port: o.port,
    onUnexpectedExit: o.onUnexpectedExit,
    group: o.group,
  });
  await proc.start();
  const host = `127.0.0.1:${o.port}`;
  return { kind: 'docker', location: host, refFor: (repo) => `${host}/${repo}`, plainHttp: [host], process: proc };
}
