#!/usr/bin/python3
"""nova-compute launcher for the devcloud test bed (Debian ships no nova-compute script
without libvirt/qemu, so up.sh runs this file with /usr/bin/python3).

* The default driver is nova's fake.FakeDriver. Its snapshot() uploads no data, so a
  createImage snapshot would stay `queued` in Glance forever: it is patched below to
  upload a few bytes like a real driver, so the image becomes `active`.
* Own compute drivers: nova only loads `compute_driver` from under `nova.virt`.
  Every module named in $HARDENCTL_COMPUTE_MODULES (comma separated, importable from
  PYTHONPATH, e.g. a file in scripts/devcloud/py/) is imported and registered as
  `nova.virt.<module>`, so `COMPUTE_DRIVER=<module>.<Class>` for up.sh just works.
"""
import importlib
import io
import os
import sys

from nova import exception
from nova.cmd.compute import main
from nova.compute import task_states
from nova.image import glance
import nova.virt
from nova.virt import fake


def _fake_snapshot(self, context, instance, image_id, update_task_state):
    if instance.uuid not in self.instances:
        raise exception.InstanceNotRunning(instance_id=instance.uuid)
    update_task_state(task_state=task_states.IMAGE_PENDING_UPLOAD)
    update_task_state(task_state=task_states.IMAGE_UPLOADING,
                      expected_state=task_states.IMAGE_PENDING_UPLOAD)
    im = instance.image_meta
    meta = {'disk_format': im.disk_format if im.obj_attr_is_set('disk_format') else 'raw',
            'container_format': (im.container_format
                                 if im.obj_attr_is_set('container_format') else 'bare'),
            'properties': {'image_location': 'snapshot', 'image_state': 'available',
                           'owner_id': instance.project_id}}
    glance.API().update(context, image_id, meta,
                        io.BytesIO(b'hardenctl devcloud fake snapshot\n'), purge_props=False)


fake.FakeDriver.snapshot = _fake_snapshot

for name in filter(None, os.environ.get('HARDENCTL_COMPUTE_MODULES', '').split(',')):
    mod = importlib.import_module(name.strip())
    sys.modules['nova.virt.' + name.strip()] = mod
    setattr(nova.virt, name.strip(), mod)

if __name__ == '__main__':
    sys.argv[0] = 'nova-compute'
    sys.exit(main())
