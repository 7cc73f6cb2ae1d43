"""hardenctl_virt: a Nova compute driver whose servers are real namespace hosts.

COMPUTE_DRIVER=hardenctl_virt.HardenctlDriver (the test bed's default, see up.sh).

A server booted from an image whose data is a root filesystem archive (tar or tar.gz, e.g.
`debian-12-base` from scripts/devcloud/images.sh) becomes a host like scripts/testhosts'
(the work is done by ../servers/server.sh): the archive is extracted once per image id
(the read-only overlay lower dir), the server gets its own upper dir, namespaces, hostname
(the server name), sshd, an ed25519 host key made at first boot and printed to the console
log the way cloud-init does, authorized_keys for root and `hardenctl` from its key pair, and
a veth on the testhosts private bridge with the fixed IPv4 address of its Neutron port (when
that address lies in the bridge's 10.252.0.0/16).

Servers whose image is not an archive (cirros-fake-*: 1 MiB of zeros) stay fake servers
exactly as with nova's FakeDriver, so the older tests keep their speed.

State: $OSDEV/servers/<uuid>/ (one dir per host), $OSDEV/servers/images/<image id>/ (cache).
Hosts survive a nova-compute restart (their state is on disk); down.sh stops them all.
"""
import ipaddress
import os
import re
import shutil
import time

from oslo_concurrency import lockutils
from oslo_concurrency import processutils
from oslo_log import log as logging

import nova.conf
from nova import exception
from nova.compute import power_state
from nova.compute import task_states
from nova.image import glance
from nova.virt import fake
from nova.virt import hardware

LOG = logging.getLogger(__name__)
CONF = nova.conf.CONF

HERE = os.path.dirname(os.path.abspath(__file__))
SERVER_SH = os.path.normpath(os.path.join(HERE, '..', 'servers', 'server.sh'))
BRIDGE_NET = ipaddress.ip_network('10.252.0.0/16')   # scripts/testhosts/hosts.sh's private bridge
CONSOLE_MAX = 256 * 1024

# Fail at import, loudly, rather than let nova-compute run without real hosts.
for _tool in (SERVER_SH, '/usr/bin/tar', '/usr/bin/unshare', '/usr/bin/nsenter', '/usr/bin/ss',
              '/usr/bin/setpriv'):
    if not os.access(_tool, os.X_OK) and not os.path.isfile(_tool):
        raise ImportError('hardenctl_virt: %s is missing' % _tool)
for _tool in ('/usr/sbin/ip', '/sbin/ip', '/usr/bin/ip', '/bin/ip'):
    if os.access(_tool, os.X_OK):
        break
else:
    raise ImportError('hardenctl_virt: iproute2 (ip) is missing')


def _running(pid):
    try:
        with open('/proc/%d/stat' % pid) as f:
            st = f.read().rsplit(')', 1)[1].split()[0]
        return st != 'Z'
    except (OSError, IndexError, ValueError):
        return False


class HardenctlDriver(fake.FakeDriver):
    """FakeDriver whose servers booted from root filesystem archives are real hosts."""

    def __init__(self, virtapi, read_only=False):
        super().__init__(virtapi, read_only)
        osdev = os.environ.get('OSDEV') or os.path.dirname(os.path.normpath(CONF.state_path))
        self.state = os.environ.get('HCVIRT_STATE') or os.path.join(osdev, 'servers')
        self.images = os.path.join(self.state, 'images')
        os.makedirs(self.images, exist_ok=True)
        self.env = {'OSDEV': osdev, 'HCVIRT_STATE': self.state,
                    'PATH': '/usr/sbin:/usr/bin:/sbin:/bin'}

    # ------------------------------------------------------------------ helpers
    def _sh(self, *args):
        t0 = time.monotonic()
        out, err = processutils.execute('/bin/bash', SERVER_SH, *args, env_variables=self.env)
        LOG.info('server.sh %s: %.1f s %s', ' '.join(args), time.monotonic() - t0,
                 err.strip()[-500:] if err else '')
        return out

    def _dir(self, instance):
        return os.path.join(self.state, instance.uuid)

    def _is_host(self, instance):
        return os.path.isfile(os.path.join(self._dir(instance), 'name'))

    def _host_up(self, instance):
        try:
            with open(os.path.join(self._dir(instance), 'pid')) as f:
                return _running(int(f.read().strip()))
        except (OSError, ValueError):
            return False

    def _image_root(self, context, image_id):
        """Extracted root of the image (cached), or None if its data is not an archive."""
        if not image_id:
            return None
        root = os.path.join(self.images, image_id)
        notarch = root + '.not-an-archive'
        with lockutils.lock('hcvirt-image-' + image_id):
            if os.path.isdir(root):
                return root
            if os.path.exists(notarch):
                return None
            dl = root + '.download'
            t0 = time.monotonic()
            glance.API().download(context, image_id, dest_path=dl)
            with open(dl, 'rb') as f:
                head = f.read(512)
            if head[:2] == b'\x1f\x8b':
                comp = ['--use-compress-program=pigz'] if shutil.which('pigz') else ['-z']
            elif head[257:262] == b'ustar':
                comp = []
            else:
                os.unlink(dl)
                open(notarch, 'w').close()
                LOG.info('image %s is not a root filesystem archive: fake servers', image_id)
                return None
            tmp = root + '.tmp'
            shutil.rmtree(tmp, ignore_errors=True)
            os.makedirs(tmp)
            processutils.execute('tar', '-C', tmp, '-xpf', dl, '--numeric-owner', *comp)
            os.unlink(dl)
            os.rename(tmp, root)
            LOG.info('image %s extracted in %.1f s', image_id, time.monotonic() - t0)
            return root

    @staticmethod
    def _address(network_info):
        """('10.252.x.y/nn', port MAC) of the first fixed IPv4 address on the bridge's
        network, or ('', '')."""
        for vif in network_info or []:
            for subnet in (vif.get('network') or {}).get('subnets', []):
                try:
                    net = ipaddress.ip_network(subnet['cidr'])
                except (KeyError, ValueError, TypeError):
                    continue
                for ip in subnet.get('ips', []):
                    a = ipaddress.ip_address(ip['address'])
                    if a.version == 4 and a in BRIDGE_NET and net.subnet_of(BRIDGE_NET):
                        mac = vif.get('address') or ''
                        if not re.match(r'^([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}$', mac):
                            mac = ''
                        return '%s/%d' % (a, net.prefixlen), mac
        return '', ''

    @staticmethod
    def _hostname(instance):
        name = instance.display_name or ''
        if re.match(r'^[A-Za-z0-9]([A-Za-z0-9.-]{0,62})$', name):
            return name
        return (instance.hostname or 'server')[:63]

    def _seed(self, instance, d, lower, addr, mac):
        """State dir and the per-server files in the upper dir, before the first boot."""
        shutil.rmtree(d, ignore_errors=True)
        up = os.path.join(d, 'upper')
        name = self._hostname(instance)
        os.makedirs(os.path.join(up, 'etc'))
        with open(os.path.join(up, 'etc', 'hostname'), 'w') as f:
            f.write(name + '\n')
        with open(os.path.join(up, 'etc', 'hosts'), 'w') as f:
            f.write('127.0.0.1 localhost\n127.0.1.1 %s\n::1 localhost ip6-localhost '
                    'ip6-loopback\n' % name)
        key = (instance.key_data or '').strip()
        if key:
            users = [('root', 0, 0, '/root')]
            try:
                with open(os.path.join(lower, 'etc', 'passwd')) as f:
                    for line in f:
                        p = line.split(':')
                        if len(p) > 5 and p[0] == 'hardenctl':
                            users.append(('hardenctl', int(p[2]), int(p[3]), p[5]))
            except OSError:
                pass
            for _user, uid, gid, home in users:
                h = os.path.join(up, home.lstrip('/'))
                if not os.path.isdir(h):
                    os.makedirs(h)
                    src = os.path.join(lower, home.lstrip('/'))
                    st = os.stat(src) if os.path.isdir(src) else None
                    os.chown(h, st.st_uid if st else uid, st.st_gid if st else gid)
                    os.chmod(h, st.st_mode & 0o7777 if st else 0o755)
                s = os.path.join(h, '.ssh')
                os.makedirs(s, mode=0o700, exist_ok=True)
                os.chmod(s, 0o700)
                ak = os.path.join(s, 'authorized_keys')
                with open(ak, 'w') as f:
                    f.write(key + '\n')
                os.chmod(ak, 0o600)
                os.chown(s, uid, gid)
                os.chown(ak, uid, gid)
        for fn, val in (('name', name), ('addr', addr), ('mac', mac), ('lower', lower),
                        ('image', instance.image_ref or '')):
            with open(os.path.join(d, fn), 'w') as f:
                f.write(val + '\n' if fn != 'name' else val)

    # ------------------------------------------------------------------ driver API
    def list_instances(self):
        names = set(super().list_instances())
        for u in self._host_uuids():
            try:
                with open(os.path.join(self.state, u, 'name')) as f:
                    names.add(f.read().strip())
            except OSError:
                pass
        return list(names)

    def list_instance_uuids(self):
        return list(set(super().list_instance_uuids()) | set(self._host_uuids()))

    def _host_uuids(self):
        try:
            return [u for u in os.listdir(self.state)
                    if os.path.isfile(os.path.join(self.state, u, 'name'))]
        except OSError:
            return []

    def spawn(self, context, instance, image_meta, injected_files, admin_password,
              allocations, network_info=None, block_device_info=None, power_on=True,
              accel_info=None):
        image_id = image_meta.id if image_meta.obj_attr_is_set('id') else instance.image_ref
        lower = self._image_root(context, image_id)
        super().spawn(context, instance, image_meta, injected_files, admin_password,
                      allocations, network_info, block_device_info, power_on, accel_info)
        if lower is None:
            return
        d = self._dir(instance)
        try:
            self._seed(instance, d, lower, *self._address(network_info))
            if power_on:
                self._sh('start', instance.uuid)
        except Exception:
            LOG.exception('spawn of host %s failed', instance.uuid, instance=instance)
            try:
                self._sh('destroy', instance.uuid)
            except Exception:
                LOG.exception('cleanup of host %s failed', instance.uuid)
            super().destroy(context, instance, network_info)
            raise

    def destroy(self, context, instance, network_info, block_device_info=None,
                destroy_disks=True, destroy_secrets=True):
        if self._is_host(instance) or os.path.isdir(self._dir(instance)):
            self._sh('destroy' if destroy_disks else 'stop', instance.uuid)
        super().destroy(context, instance, network_info, block_device_info,
                        destroy_disks, destroy_secrets)

    def power_off(self, instance, timeout=0, retry_interval=0):
        if not self._is_host(instance):
            return super().power_off(instance, timeout, retry_interval)
        self._sh('stop', instance.uuid)
        if instance.uuid in self.instances:
            self.instances[instance.uuid].state = power_state.SHUTDOWN

    def power_on(self, context, instance, network_info, block_device_info=None,
                 accel_info=None):
        if not self._is_host(instance):
            return super().power_on(context, instance, network_info, block_device_info,
                                    accel_info)
        self._sh('start', instance.uuid)
        if instance.uuid in self.instances:
            self.instances[instance.uuid].state = power_state.RUNNING

    def reboot(self, context, instance, network_info, reboot_type, block_device_info=None,
               bad_volumes_callback=None, accel_info=None):
        if not self._is_host(instance):
            return super().reboot(context, instance, network_info, reboot_type,
                                  block_device_info, bad_volumes_callback, accel_info)
        self._sh('stop', instance.uuid)
        self._sh('start', instance.uuid)
        if instance.uuid in self.instances:
            self.instances[instance.uuid].state = power_state.RUNNING

    def resume_state_on_host_boot(self, context, instance, network_info,
                                  block_device_info=None):
        if self._is_host(instance) and not self._host_up(instance):
            self._sh('start', instance.uuid)

    def get_info(self, instance, use_cache=True):
        if self._is_host(instance):
            st = power_state.RUNNING if self._host_up(instance) else power_state.SHUTDOWN
            return hardware.InstanceInfo(state=st)
        return super().get_info(instance, use_cache)

    def instance_exists(self, instance):
        return self._is_host(instance) or instance.uuid in self.instances

    def get_console_output(self, context, instance):
        if not self._is_host(instance):
            return super().get_console_output(context, instance)
        path = os.path.join(self._dir(instance), 'console.log')
        try:
            with open(path, 'rb') as f:
                f.seek(0, os.SEEK_END)
                f.seek(max(0, f.tell() - CONSOLE_MAX))
                return f.read().decode('utf-8', 'replace')
        except OSError:
            return ''

    def snapshot(self, context, instance, image_id, update_task_state):
        if not self._is_host(instance):
            return super().snapshot(context, instance, image_id, update_task_state)
        update_task_state(task_state=task_states.IMAGE_PENDING_UPLOAD)
        out = os.path.join(self.state, 'snapshot-%s.tar.gz' % image_id)
        t0 = time.monotonic()
        try:
            self._sh('snapshot', instance.uuid, out)
            update_task_state(task_state=task_states.IMAGE_UPLOADING,
                              expected_state=task_states.IMAGE_PENDING_UPLOAD)
            im = instance.image_meta
            meta = {'disk_format': im.disk_format if im.obj_attr_is_set('disk_format') else 'raw',
                    'container_format': (im.container_format
                                         if im.obj_attr_is_set('container_format') else 'bare'),
                    'properties': {'image_location': 'snapshot', 'image_state': 'available',
                                   'owner_id': instance.project_id}}
            with open(out, 'rb') as data:
                glance.API().update(context, image_id, meta, data, purge_props=False)
            LOG.info('snapshot %s of %s: %d bytes in %.1f s', image_id, instance.uuid,
                     os.path.getsize(out), time.monotonic() - t0)
        finally:
            try:
                os.unlink(out)
            except OSError:
                pass
