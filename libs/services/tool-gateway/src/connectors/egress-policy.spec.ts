import { EgressAllowList, redactUrl } from './egress-policy';
import { classifyAddress } from './ip-address';

describe('EgressAllowList', () => {
  const list = new EgressAllowList({
    allow: [
      { host: 'api.example.com', paths: ['/v1/'] },
      { host: '*.billing.example.com', paths: ['/v1/invoices/*', '/v1/status'], methods: ['GET'] },
      { host: 'files.example.com', port: 8443, paths: ['/upload/**/done'] },
      { host: 'localhost', scheme: 'http', port: 8080, paths: ['/'], allowPrivateNetwork: true },
      { host: '[::1]', scheme: 'http', port: 9000, paths: ['/'] },
    ],
  });
  const code = (method: string, url: string) => {
    const d = list.check(method, url);
    return d.allowed ? 'allowed' : d.reason.code;
  };

  it.each([
    ['GET', 'https://api.example.com/v1/'],
    ['POST', 'https://api.example.com/v1/a/b/c?x=1'],
    ['GET', 'https://API.Example.com./v1/x'],
    ['GET', 'https://eu.billing.example.com/v1/invoices/inv-1'],
    ['GET', 'https://a.b.billing.example.com/v1/status'],
    ['PUT', 'https://files.example.com:8443/upload/a/b/done'],
    ['GET', 'http://localhost:8080/anything'],
    ['GET', 'http://[0:0:0:0:0:0:0:1]:9000/'],
    ['GET', 'https://api.example.com/v1/../v1/x'],
  ])('allows %s %s', (method, url) => {
    expect(code(method, url)).toBe('allowed');
  });

  it.each([
    ['GET', 'https://evil.com/v1/', 'egress_host_not_allowed'],
    ['GET', 'https://api.example.com.evil.com/v1/', 'egress_host_not_allowed'],
    ['GET', 'https://billing.example.com/v1/status', 'egress_host_not_allowed'],
    ['GET', 'https://xbilling.example.com/v1/status', 'egress_host_not_allowed'],
    ['GET', 'https://api.example.com:444/v1/', 'egress_host_not_allowed'],
    ['GET', 'https://files.example.com/upload/a/done', 'egress_host_not_allowed'],
    ['GET', 'http://api.example.com/v1/', 'egress_scheme_not_allowed'],
    ['GET', 'https://localhost:8080/', 'egress_scheme_not_allowed'],
    ['GET', 'ftp://api.example.com/v1/', 'egress_scheme_not_allowed'],
    ['GET', 'file:///etc/passwd', 'egress_scheme_not_allowed'],
    ['GET', 'https://api.example.com/v2/', 'egress_path_not_allowed'],
    ['GET', 'https://api.example.com/v1', 'egress_path_not_allowed'],
    ['GET', 'https://api.example.com/v1/../admin', 'egress_path_not_allowed'],
    ['GET', 'https://api.example.com/v1/%2e%2e/admin', 'egress_path_not_allowed'],
    ['GET', 'https://api.example.com/v1/a%2F..%2F..%2Fadmin', 'egress_path_not_allowed'],
    ['GET', 'https://eu.billing.example.com/v1/invoices/', 'egress_path_not_allowed'],
    ['GET', 'https://eu.billing.example.com/v1/invoices/inv-1/lines', 'egress_path_not_allowed'],
    ['GET', 'https://eu.billing.example.com/v1/status/x', 'egress_path_not_allowed'],
    ['POST', 'https://eu.billing.example.com/v1/status', 'egress_method_not_allowed'],
    ['TRACE', 'https://api.example.com/v1/', 'egress_method_not_allowed'],
    ['GET', 'https://user:pw@api.example.com/v1/', 'egress_url_invalid'],
    ['GET', 'not a url', 'egress_url_invalid'],
  ])('refuses %s %s with %s', (method, url, expected) => {
    expect(code(method, url)).toBe(expected);
  });

  it('says whether the matching entry allows private addresses', () => {
    const d = list.check('GET', 'http://localhost:8080/');
    expect(d.allowed && d.allowPrivateNetwork).toBe(true);
    const e = list.check('GET', 'https://api.example.com/v1/');
    expect(e.allowed && e.allowPrivateNetwork).toBe(false);
  });

  it('matches IP literals in any notation the URL parser accepts, never by a wildcard', () => {
    const ips = new EgressAllowList({ allow: [{ host: '127.0.0.1', scheme: 'http', paths: ['/'] }, { host: '*.example.com', paths: ['/'] }] });
    expect(ips.check('GET', 'http://0x7f.0.0.1/').allowed).toBe(true);
    expect(ips.check('GET', 'http://127.1/').allowed).toBe(true);
    expect(ips.check('GET', 'https://[::ffff:127.0.0.1]/').allowed).toBe(false);
  });

  it.each([
    [{ host: '*', paths: ['/'] }],
    [{ host: '*.com', paths: ['/'] }],
    [{ host: 'a.*.example.com', paths: ['/'] }],
    [{ host: 'api.example.com', paths: [] }],
    [{ host: 'api.example.com', paths: ['v1/'] }],
    [{ host: 'api.example.com', paths: ['/'], methods: ['CONNECT'] }],
    [{ host: 'api.example.com', paths: ['/'], port: 0 }],
    [{ host: 'api.example.com', paths: ['/'], scheme: 'ftp' as 'http' }],
  ])('refuses to build an entry it cannot enforce: %j', (rule) => {
    expect(() => new EgressAllowList({ allow: [rule] })).toThrow();
  });
});

describe('redactUrl', () => {
  it('keeps query keys, drops their values, user info and the fragment', () => {
    expect(redactUrl('https://u:p@api.example.com/v1/x?api_key=s3cr3t&q=a#frag')).toBe('https://api.example.com/v1/x?api_key=redacted&q=redacted');
  });
});

describe('classifyAddress', () => {
  it.each([
    ['8.8.8.8', 'public'],
    ['1.1.1.1', 'public'],
    ['2606:4700:4700::1111', 'public'],
    ['::ffff:8.8.8.8', 'public'],
    ['64:ff9b::808:808', 'public'],
    ['0.0.0.0', 'unspecified'],
    ['127.0.0.1', 'loopback'],
    ['127.255.0.9', 'loopback'],
    ['10.0.0.1', 'private'],
    ['172.16.5.4', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.1.1', 'private'],
    ['100.64.0.1', 'private'],
    ['169.254.169.254', 'link_local'],
    ['224.0.0.1', 'multicast'],
    ['255.255.255.255', 'reserved'],
    ['192.0.2.1', 'documentation'],
    ['::', 'unspecified'],
    ['::1', 'loopback'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['::ffff:169.254.169.254', 'link_local'],
    ['::ffff:10.0.0.1', 'private'],
    ['64:ff9b::a9fe:a9fe', 'link_local'],
    ['2002:a9fe:a9fe::1', 'link_local'],
    ['2001:0:4136:e378::1', 'reserved'],
    ['::127.0.0.1', 'reserved'],
    ['fc00::1', 'unique_local'],
    ['fd12:3456::1', 'unique_local'],
    ['fe80::1', 'link_local'],
    ['fe80::1%eth0', 'link_local'],
    ['ff02::1', 'multicast'],
    ['2001:db8::1', 'documentation'],
    ['4000::1', 'reserved'],
    ['172.32.0.1', 'public'],
    ['not-an-ip', 'invalid'],
  ])('%s is %s', (address, category) => {
    expect(classifyAddress(address)).toBe(category);
  });
});
