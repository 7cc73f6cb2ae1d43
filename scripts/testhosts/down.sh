#!/bin/bash
# down.sh - make testhosts-down: stop the namespace test hosts of instance $HC_INSTANCE (default 0).
# The prepared root, content and keys stay (prepare.sh); `FORCE=1 prepare.sh` rebuilds them.
exec bash "$(dirname "$(readlink -f "$0")")/hosts.sh" down
