"""ML2 mechanism driver `hardenctl_noop` for the devcloud test bed.

The test bed runs neutron-server without any L2 agent, so no real mechanism driver
could bind a port (vif_type binding_failed -> Nova PortBindingFailed). This driver
binds every port on any host to its first segment with vif_type `other`, status ACTIVE.
Registered as an entry point through hardenctl_devcloud-1.0.dist-info on PYTHONPATH.
"""
from neutron_lib import constants
from neutron_lib.api.definitions import portbindings
from neutron_lib.plugins.ml2 import api


class NoopBindDriver(api.MechanismDriver):
    """Binds every port on any host to the first segment, status ACTIVE."""

    def initialize(self):
        pass

    def bind_port(self, context):
        for segment in context.segments_to_bind:
            context.set_binding(segment[api.ID], portbindings.VIF_TYPE_OTHER,
                                {portbindings.CAP_PORT_FILTER: False},
                                status=constants.PORT_STATUS_ACTIVE)
            return
