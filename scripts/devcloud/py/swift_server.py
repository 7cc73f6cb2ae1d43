#!/usr/bin/python3
"""Swift launcher for the devcloud test bed. Debian's python3-swift is the library only; the
swift-proxy/-account/-container/-object packages add little more than these entry points, plus
init scripts, systemd units, rsyslog and logrotate set-ups and /etc/swift files the bed must not
use (the same rule as the other services: library packages, 4-line launchers).

  swift_server.py proxy-server|account-server|container-server|object-server CONF
  swift_server.py ring-builder BUILDER ARGS...

Two things Swift takes from fixed places are moved into $OSDEV here:
* swift.conf (hash path suffix, storage policies): swift.common.utils.SWIFT_CONF_FILE is
  /etc/swift/swift.conf, read when storage_policy and constraints are imported, before any
  configuration file is parsed; it is set to $SWIFT_DIR/swift.conf before they are.
* logging: without log_udp_host Swift logs to /dev/log (or UDP localhost:514 without it);
  its syslog handler is replaced by a file handler writing to $SWIFT_LOG.
"""
import logging
import os
import sys

from swift.common import utils

utils.SWIFT_CONF_FILE = os.path.join(os.environ['SWIFT_DIR'], 'swift.conf')


class _FileHandler(logging.FileHandler):
    def __init__(self, *args, **kwargs):  # syslog's address and facility: not used
        super().__init__(os.environ['SWIFT_LOG'])


utils.ThreadSafeSysLogHandler = _FileHandler


def main():
    what = sys.argv[1]
    if what == 'ring-builder':
        from swift.cli.ringbuilder import main as ringbuilder
        return ringbuilder([sys.argv[0]] + sys.argv[2:])
    from swift.common.wsgi import run_wsgi
    return run_wsgi(sys.argv[2], what)


if __name__ == '__main__':
    sys.exit(main())
