# Port 22 opened by egress: a flow to a zone or the bastion is an ingress rule on the
# receiver too, so the SSH guard judges it as such.

bastion {
  allow_from = ["198.51.100.0/24"]
}

zone "app" {
  egress { # ERROR: SSH open to something other than the bastion
    to    = zone.data
    ports = [22]
  }
  egress { # ERROR: SSH open to something other than the bastion
    to       = zone.data
    protocol = "any"
  }
  egress { # ERROR: SSH open to something other than the bastion
    to    = [zone.data, "203.0.113.0/24"]
    ports = ["20-30", 5432]
  }
  egress { # ERROR: SSH open to something other than the bastion
    to = zone.data
  }
  egress { # ERROR: SSH open to something other than the bastion
    to    = bastion
    ports = [22]
  }
  egress { # ERROR: SSH open to something other than the bastion
    to    = zone.app
    ports = [22]
  }

  # To a network: opens nothing into our zones, no error.
  egress {
    to    = "203.0.113.0/24"
    ports = [22]
  }
  # Not SSH: no error.
  egress {
    to       = zone.data
    protocol = "udp"
    ports    = [22]
  }
  egress {
    to    = zone.data
    ports = [5432]
  }
  # Deliberate: no error.
  egress {
    to        = zone.data
    ports     = [22]
    allow_ssh = true
  }
}

zone "data" {}
