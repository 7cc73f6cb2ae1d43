#!/usr/bin/python3
"""Idempotent cloud-side set-up for real servers on the test bed (called by platform.sh).

  hardenctl_platform.py network           shared network `platform` on the testhosts bridge
  hardenctl_platform.py image NAME FILE   public image NAME from FILE (tar.gz root), if absent
                                          or made of another FILE (size and mtime differ)
  hardenctl_platform.py keypair NAME PUB  the demo user's key pair NAME with the public key PUB

`platform`: 10.252.0.0/16 (scripts/testhosts/hosts.sh's private bridge, behind the bastion
10.251.0.2), no gateway, no DHCP; the allocation pool 10.252.1.1-10.252.254.254 avoids the
addresses hosts.sh and the mirror use (10.252.0.0/24: bastion .1, mirror .2, h01.. .11-.250).
Passwords from the environment (ADMIN_PW); same conventions as devcloud_data.py.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from devcloud_data import API, find, sess  # noqa: E402

ADMIN = sess('admin', os.environ.get('ADMIN_PW', 'admin'), 'admin')


def network():
    net_api = API(ADMIN, 'network')
    net = find(net_api, '/v2.0/networks', 'networks', name='platform') or \
        net_api.post('/v2.0/networks', {'network': {'name': 'platform', 'shared': True}})['network']
    if not find(net_api, '/v2.0/subnets', 'subnets', name='platform-subnet', network_id=net['id']):
        net_api.post('/v2.0/subnets', {'subnet': {
            'name': 'platform-subnet', 'network_id': net['id'], 'ip_version': 4,
            'cidr': '10.252.0.0/16', 'gateway_ip': None, 'enable_dhcp': False,
            'allocation_pools': [{'start': '10.252.1.1', 'end': '10.252.254.254'}]}})
    print('platform: network %s (10.252.0.0/16, pool 10.252.1.1-10.252.254.254)' % net['id'])


def image(name, path):
    g = API(ADMIN, 'image')
    st = os.stat(path)
    archive = '%d-%d' % (st.st_size, int(st.st_mtime))   # which archive an image was made of
    for im in g.get('/v2/images?name=%s' % name).json()['images']:
        if im['status'] == 'active' and im.get('testbed_archive') != archive:
            print('platform: image %s (%s) is of another archive: replacing it' % (name, im['id']))
            g.req('DELETE', '/v2/images/' + im['id'])
            continue
        if im['status'] == 'active':
            if 'base' not in im.get('tags', []):   # image blocks select their source by it
                g.req('PUT', '/v2/images/%s/tags/base' % im['id'])
            print('platform: image %s already present (%s)' % (name, im['id']))
            return
        g.req('DELETE', '/v2/images/' + im['id'])   # a failed earlier upload
    im = g.post('/v2/images', {'name': name, 'visibility': 'public', 'disk_format': 'raw',
                               'container_format': 'bare', 'os_distro': 'debian', 'tags': ['base'],
                               'os_version': '12', 'hw_architecture': 'x86_64',
                               'testbed_archive': archive})
    with open(path, 'rb') as f:
        g.req('PUT', '/v2/images/%s/file' % im['id'], data=f,
              headers={'Content-Type': 'application/octet-stream'})
    st = g.get('/v2/images/' + im['id']).json()
    if st['status'] != 'active':
        sys.exit('image %s is %s after upload' % (im['id'], st['status']))
    print('platform: image %s published (%s, %d bytes)' % (name, im['id'], st['size']))


def keypair(name, path):
    """Key pair NAME of the demo user (the sample platform's fleets name "ops") from the
    public key in PATH, the test hosts' operator key; replaced if it holds another key."""
    nova = API(sess('demo', os.environ.get('DEMO_PW', 'demo'), 'demo'), 'compute')
    with open(path) as f:
        pub = f.read().strip()
    r = nova.get('/os-keypairs/' + name, ok=(200, 404))
    if r.status_code == 200:
        if r.json()['keypair']['public_key'].strip() == pub:
            print('platform: key pair %s already present' % name)
            return
        nova.req('DELETE', '/os-keypairs/' + name)
    nova.post('/os-keypairs', {'keypair': {'name': name, 'public_key': pub}})
    print('platform: key pair %s (%s)' % (name, path))


if __name__ == '__main__':
    if sys.argv[1:2] == ['network']:
        network()
    elif sys.argv[1:2] == ['keypair'] and len(sys.argv) == 4:
        keypair(sys.argv[2], sys.argv[3])
    elif sys.argv[1:2] == ['image'] and len(sys.argv) == 4:
        image(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)
