/** The dashboard server's guards (dashboard/guards.ts), each attacked directly. */
import { describe, expect, it } from 'vitest';
import { hostAllowed, hostName, isLoopbackAddress, methodAllowed, SECURITY_HEADERS } from '../../dashboard/guards.js';

describe('dashboard guards', () => {
  it('Host: loopback names and IP literals pass, with or without a port, in any case', () => {
    for (const h of [
      'localhost',
      'localhost:7070',
      'LocalHost:1',
      '127.0.0.1',
      '127.0.0.1:7070',
      '[::1]:7070',
      '[::1]',
      '10.0.0.5:7070',
      '[fd00::1]:80',
    ]) {
      expect(hostAllowed(h, []), h).toBe(true);
    }
  });

  it('Host: a DNS name is refused (a rebinding page), unless it is one of the allowed names', () => {
    for (const h of ['evil.example', 'evil.example:7070', 'localhost.evil.example', '127.0.0.1.nip.io', 'localhostx', 'x.localhost']) {
      expect(hostAllowed(h, []), h).toBe(false);
    }
    expect(hostAllowed('gantry-dashboard.gantry-system.svc:7070', ['gantry-dashboard.gantry-system.svc'])).toBe(true);
    expect(hostAllowed('Gantry-Dashboard:7070', ['gantry-dashboard'])).toBe(true);
    expect(hostAllowed('other.svc:7070', ['gantry-dashboard.gantry-system.svc'])).toBe(false);
  });

  it('Host: missing or malformed headers are refused', () => {
    for (const h of [
      undefined,
      '',
      ' ',
      'a b',
      'host:port',
      'host:123456',
      '[::1',
      '[::1]x',
      '[::1]:x',
      '[::1]x:80',
      '[::1]:80x',
      '[::1]:123456',
      'user@localhost',
      'localhost/x',
    ]) {
      expect(hostAllowed(h, []), String(h)).toBe(false);
    }
    expect(hostName('[::1]:70')).toBe('::1');
    expect(hostName('Example.COM:1')).toBe('example.com');
  });

  it('methods: GET and HEAD only', () => {
    expect(methodAllowed('GET')).toBe(true);
    expect(methodAllowed('HEAD')).toBe(true);
    for (const m of ['undefined', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'TRACE', 'CONNECT', 'get', '', undefined])
      expect(methodAllowed(m), String(m)).toBe(false);
  });

  it('headers: CSP without inline script or other origins, nosniff, no referrer, no framing, no CORS', () => {
    const csp = SECURITY_HEADERS['Content-Security-Policy']!;
    expect(csp.split(';').map((d) => d.trim())).toEqual([
      "default-src 'self'",
      "base-uri 'none'",
      "form-action 'none'",
      "frame-ancestors 'none'",
    ]);
    expect(SECURITY_HEADERS['X-Content-Type-Options']).toBe('nosniff');
    expect(SECURITY_HEADERS['Referrer-Policy']).toBe('no-referrer');
    expect(SECURITY_HEADERS['X-Frame-Options']).toBe('DENY');
    expect(SECURITY_HEADERS['Cache-Control']).toBe('no-store');
    expect(Object.keys(SECURITY_HEADERS).filter((h) => h.toLowerCase().startsWith('access-control'))).toEqual([]);
  });

  it('loopback addresses: 127/8, ::1 and localhost; anything else is not', () => {
    for (const a of ['127.0.0.1', '127.1.2.3', '127.10.20.30', '127.255.255.254', '::1', 'localhost'])
      expect(isLoopbackAddress(a), a).toBe(true);
    for (const a of ['0.0.0.0', '::', '10.0.0.1', '128.0.0.1', '127.0.0.1.evil', 'x127.0.0.1', ''])
      expect(isLoopbackAddress(a), a).toBe(false);
  });
});
