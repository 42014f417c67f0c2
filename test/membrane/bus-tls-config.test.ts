/**
 * membrane/bus-tls.ts on its own (unit tests, no servers: the mutation set's): the names a
 * NATS server certificate carries, its extensions, and the nats-server tls blocks — TLS for
 * clients without client certificates, `verify: true` on routes — each bad input refused
 * with its own message. bus-tls.test.ts runs the same blocks on real servers.
 */
import { describe, expect, it } from 'vitest';
import {
  busTlsFiles,
  natsClientTlsConfig,
  natsRouteTlsConfig,
  natsServerNames,
  serverCertExtensions,
  subjectAltName,
  TLS_SECRET_FILES,
} from '../../membrane/bus-tls.js';

const files = busTlsFiles('/etc/nats-tls');

describe('the certificate', () => {
  it('names every StatefulSet pod, the client Service and loopback', () => {
    expect(natsServerNames('gantry-system', 3)).toEqual([
      'gantry-nats-0.gantry-nats-headless.gantry-system.svc',
      'gantry-nats-1.gantry-nats-headless.gantry-system.svc',
      'gantry-nats-2.gantry-nats-headless.gantry-system.svc',
      'gantry-nats.gantry-system.svc',
      'localhost',
      '127.0.0.1',
    ]);
    expect(natsServerNames('ns-1', 1)[0]).toBe('gantry-nats-0.gantry-nats-headless.ns-1.svc');
    expect(natsServerNames('a', 1)[0]).toBe('gantry-nats-0.gantry-nats-headless.a.svc'); // one character is a name
  });

  it('refuses a namespace that is not a name and a cluster of no server', () => {
    for (const ns of ['', 'Gantry', '-x', 'x-', 'a.b', 'a b'])
      expect(() => natsServerNames(ns, 3), ns).toThrow(`${ns} is not a namespace name`);
    for (const n of [0, -1, 1.5, Number.NaN])
      expect(() => natsServerNames('gantry-system', n)).toThrow(`a NATS cluster has at least one server, not ${n}`);
  });

  it('puts IP addresses as IP: and every other name as DNS:', () => {
    // digits at either end do not make an address
    expect(subjectAltName(['node1', '1node.svc', 'n.10'])).toBe('DNS:node1,DNS:1node.svc,DNS:n.10');
    expect(subjectAltName(['localhost', '127.0.0.1', '::1', 'a-b.svc', '10.0.0.12'])).toBe(
      'DNS:localhost,IP:127.0.0.1,IP:::1,DNS:a-b.svc,IP:10.0.0.12',
    );
  });

  it('refuses no names, and a name that would smuggle another extension into the openssl file', () => {
    expect(() => subjectAltName([])).toThrow('a server certificate names at least one host');
    for (const bad of ['a,DNS:evil', 'a\nbasicConstraints=CA:TRUE', 'a b', 'a/b', ''])
      expect(() => subjectAltName(['ok', bad]), bad).toThrow(`${JSON.stringify(bad)} is not a host name or IP address`);
  });

  it('is a TLS server and a TLS client (routes dial with it), and no CA', () => {
    expect(serverCertExtensions(['localhost']).split('\n')).toEqual([
      'subjectAltName=DNS:localhost',
      'extendedKeyUsage=serverAuth,clientAuth',
      'keyUsage=critical,digitalSignature,keyEncipherment',
      'basicConstraints=critical,CA:FALSE',
      '',
    ]);
  });
});

describe('the files and the nats-server blocks', () => {
  it("lays the files out as a cert-manager Certificate's Secret", () => {
    expect(TLS_SECRET_FILES).toEqual({ cert: 'tls.crt', key: 'tls.key', ca: 'ca.crt' });
    expect(busTlsFiles('/etc/nats-tls/')).toEqual({
      certFile: '/etc/nats-tls/tls.crt',
      keyFile: '/etc/nats-tls/tls.key',
      caFile: '/etc/nats-tls/ca.crt',
    });
    expect(busTlsFiles('d')).toEqual({ certFile: 'd/tls.crt', keyFile: 'd/tls.key', caFile: 'd/ca.crt' });
  });

  it('clients: TLS required with the files and a handshake timeout, no client certificate asked for', () => {
    expect(natsClientTlsConfig(files)).toBe(
      [
        'tls {',
        '  cert_file: "/etc/nats-tls/tls.crt"',
        '  key_file: "/etc/nats-tls/tls.key"',
        '  ca_file: "/etc/nats-tls/ca.crt"',
        '  timeout: 2',
        '}',
        '',
      ].join('\n'),
    );
    expect(natsClientTlsConfig(files, 5)).toContain('  timeout: 5\n');
  });

  it('routes: mutual TLS (verify: true), indented inside cluster {}', () => {
    expect(natsRouteTlsConfig(files, 3)).toBe(
      [
        '  tls {',
        '    cert_file: "/etc/nats-tls/tls.crt"',
        '    key_file: "/etc/nats-tls/tls.key"',
        '    ca_file: "/etc/nats-tls/ca.crt"',
        '    timeout: 3',
        '    verify: true',
        '  }',
        '',
      ].join('\n'),
    );
    expect(natsRouteTlsConfig(files)).toContain('    timeout: 2\n');
  });

  it('quotes paths, so a path with spaces or a brace stays one value', () => {
    expect(natsClientTlsConfig(busTlsFiles('/a b/{x}'))).toContain('cert_file: "/a b/{x}/tls.crt"');
  });

  it('refuses a handshake timeout that is not positive', () => {
    for (const t of [0, -1, Number.NaN]) {
      expect(() => natsClientTlsConfig(files, t)).toThrow(`the TLS handshake timeout must be positive, not ${t}`);
      expect(() => natsRouteTlsConfig(files, t)).toThrow(`the TLS handshake timeout must be positive, not ${t}`);
    }
  });
});
