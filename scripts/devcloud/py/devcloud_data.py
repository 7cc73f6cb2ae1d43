#!/usr/bin/python3
"""Idempotent data set-up for the devcloud test bed (one python process instead of many
slow openstack CLI calls). Every step looks first and creates only what is missing.

  devcloud_data.py identity   projects, users, roles, services, endpoints (needs keystone)
  devcloud_data.py sample     flavors, images, demo network/subnet, demo quotas (needs all)
  devcloud_data.py swift      the swift service user, the object-store service and endpoints

Passwords come from the environment: ADMIN_PW, DEMO_PW, SVC_PW; OSDEV for the image file.
"""
import os
import sys

from keystoneauth1 import session
from keystoneauth1.identity import v3

KS = 'http://127.0.0.1:5000/v3'
ENDPOINTS = [('glance', 'image', 'http://127.0.0.1:9292'),
             ('neutron', 'network', 'http://127.0.0.1:9696'),
             ('placement', 'placement', 'http://127.0.0.1:8778'),
             ('nova', 'compute', 'http://127.0.0.1:8774/v2.1')]
# registered by swift.sh once Swift runs (not by `identity`: a bed without Swift has no
# object-store in its catalog, which is what hardenctl falls back on)
SWIFT = ('swift', 'object-store', 'http://127.0.0.1:8090/v1/AUTH_%(project_id)s')


def sess(user, pw, project):
    auth = v3.Password(auth_url=KS, username=user, password=pw, project_name=project,
                       user_domain_id='default', project_domain_id='default')
    return session.Session(auth=auth)


class API:
    def __init__(self, s, service_type):
        self.s, self.f = s, {'service_type': service_type, 'interface': 'public',
                             'region_name': 'RegionOne'}

    def req(self, method, path, ok=(200, 201, 202, 204), **kw):
        r = self.s.request(path, method, endpoint_filter=self.f, raise_exc=False, **kw)
        if r.status_code not in ok:
            sys.exit('%s %s -> %s %s' % (method, path, r.status_code, r.text[:500]))
        return r

    def get(self, path, ok=(200,)):
        return self.req('GET', path, ok=ok)

    def post(self, path, body):
        return self.req('POST', path, json=body).json()

    def put(self, path, body):
        return self.req('PUT', path, json=body)


def find(api, path, key, **params):
    q = '&'.join('%s=%s' % kv for kv in params.items())
    items = api.get(path + ('?' + q if q else '')).json()[key]
    return items[0] if items else None


class Identity:
    """Idempotent keystone set-up: every ensure looks first (one GET per kind)."""

    def __init__(self):
        self.ks = API(sess('admin', os.environ['ADMIN_PW'], 'admin'), 'identity')
        self.roles = self.ensure_all('/roles', 'roles', 'role',
                                     [{'name': n} for n in ('admin', 'member', 'service')])
        # Zed bootstrap has no 'service' role
        self.proj = self.ensure_all('/projects?domain_id=default', 'projects', 'project',
                                    [{'name': n, 'domain_id': 'default', 'description': d}
                                     for n, d in (('service', 'service users'),
                                                  ('demo', 'regular project'))])
        self.users = self.listing('/users?domain_id=default', 'users')

    def listing(self, path, key):  # one GET per kind: keystone is slow to start answering under load
        return {i['name']: i for i in self.ks.get(path).json()[key]}

    def ensure_all(self, path, key, one, bodies):
        have = self.listing(path, key)
        for body in bodies:
            if body['name'] not in have:
                have[body['name']] = self.ks.post(path.split('?')[0], {one: body})[one]
        return {n: have[n]['id'] for n in (b['name'] for b in bodies)}

    def user(self, name, pw, project, role_names):
        if name not in self.users:
            self.users[name] = self.ks.post('/users', {'user': {
                'name': name, 'domain_id': 'default', 'password': pw,
                'default_project_id': self.proj[project]}})['user']
        uid = self.users[name]['id']
        for r in role_names:
            self.ks.put('/projects/%s/users/%s/roles/%s' % (self.proj[project], uid,
                                                           self.roles[r]), None)

    def services(self, endpoints):
        """A service user, the service and its three endpoints for each (name, type, url)."""
        services = {s['type']: s for s in self.ks.get('/services').json()['services']}
        have = {(e['service_id'], e['interface']): e
                for e in self.ks.get('/endpoints').json()['endpoints']}
        for name, typ, url in endpoints:
            self.user(name, os.environ['SVC_PW'], 'service', ['admin', 'service'])
            if typ not in services:
                services[typ] = self.ks.post('/services', {'service': {'name': name,
                                                                       'type': typ}})['service']
            sid = services[typ]['id']
            for iface in ('public', 'internal', 'admin'):
                e = have.get((sid, iface))
                if e is None:
                    self.ks.post('/endpoints', {'endpoint': {
                        'service_id': sid, 'url': url, 'interface': iface,
                        'region_id': 'RegionOne'}})
                elif e['url'] != url:
                    self.ks.req('PATCH', '/endpoints/%s' % e['id'], json={'endpoint': {'url': url}})


def identity():
    ident = Identity()
    ident.user('demo', os.environ['DEMO_PW'], 'demo', ['member'])
    ident.services(ENDPOINTS)
    print('identity: projects %s, service users %s' % (
        sorted(ident.proj), ' '.join(e[0] for e in ENDPOINTS)))


def swift():
    Identity().services([SWIFT])
    print('identity: service user swift, object-store %s' % SWIFT[2])


def sample():
    admin = sess('admin', os.environ['ADMIN_PW'], 'admin')
    demo = sess('demo', os.environ['DEMO_PW'], 'demo')
    nova, glance, neutron = API(admin, 'compute'), API(admin, 'image'), API(admin, 'network')
    dnet = API(demo, 'network')
    demo_id = demo.get_project_id()

    for fid, name, ram, disk in (('1', 'm1.tiny', 512, 1), ('2', 'm1.small', 2048, 20)):
        if nova.get('/flavors/%s' % fid, ok=(200, 404)).status_code == 404:
            nova.post('/flavors', {'flavor': {'id': fid, 'name': name, 'vcpus': 1,
                                              'ram': ram, 'disk': disk}})

    data = b'\0' * 1048576
    for name in ('cirros-fake-1', 'cirros-fake-2'):
        im = find(glance, '/v2/images', 'images', name=name)
        if im is None:
            im = glance.post('/v2/images', {'name': name, 'disk_format': 'raw',
                                            'container_format': 'bare', 'visibility': 'public'})
        if im['status'] == 'queued':
            glance.req('PUT', '/v2/images/%s/file' % im['id'], data=data,
                       headers={'Content-Type': 'application/octet-stream'})

    net = find(dnet, '/v2.0/networks', 'networks', name='private') or \
        dnet.post('/v2.0/networks', {'network': {'name': 'private'}})['network']
    if not find(dnet, '/v2.0/subnets', 'subnets', name='private-subnet', network_id=net['id']):
        dnet.post('/v2.0/subnets', {'subnet': {'name': 'private-subnet', 'network_id': net['id'],
                                               'ip_version': 4, 'cidr': '10.0.0.0/24'}})

    # raised quotas for the demo project, so tests can run in parallel
    neutron.put('/v2.0/quotas/%s' % demo_id, {'quota': {
        'network': 1000, 'subnet': 1000, 'port': 5000, 'router': 1000, 'floatingip': 1000,
        'security_group': 1000, 'security_group_rule': 10000}})
    nova.put('/os-quota-sets/%s' % demo_id, {'quota_set': {
        'instances': 1000, 'cores': 10000, 'ram': 10240000, 'key_pairs': 1000,
        'server_groups': 1000, 'server_group_members': 1000, 'metadata_items': 1000}})
    q = dnet.get('/v2.0/quotas/%s' % demo_id).json()['quota']
    print('sample: flavors m1.tiny m1.small, images cirros-fake-1/2, network private '
          '10.0.0.0/24 (demo %s); demo quotas sg=%s rules=%s ports=%s' % (
              demo_id, q['security_group'], q['security_group_rule'], q['port']))


if __name__ == '__main__':
    {'identity': identity, 'sample': sample, 'swift': swift}[sys.argv[1]]()
