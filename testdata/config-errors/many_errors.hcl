# Every problem in one file is reported, not only the first.

name = "Sample Platform" # ERROR: Invalid configuration name

bastion {
  allow_from = [zone.dmz] # ERROR: Invalid bastion source
}

bastion { # ERROR: Duplicate bastion block
  allow_from = ["198.51.100.0/24"]
}

zone "dmz" {
  ip_versions = [4, 5] # ERROR: Invalid IP versions
  ingress {
    from  = "0.0.0.0/0"
    ports = [443, 99999] # ERROR: Port out of range
  }
  egress {
    to    = zone.ap # ERROR: Reference to undeclared zone
    ports = [8443]
  }
}

zone "app" {
  ingress { # ERROR: SSH open to something other than the bastion
    from  = zone.dmz
    ports = [22]
  }
  egress {
    to    = var.mirror # ERROR: Reference to undeclared input variable
    ports = [5000]
  }
}

zone "bastion" {} # ERROR: Reserved zone name

zone "Data" {} # ERROR: Invalid zone name

zone "data" {
  ingress {
    from  = cidrsubnet("10.0.0.0/16", 20, 1) # ERROR: Invalid function argument
    ports = [5432]
  }
  ingress {
    from  = 42 # ERROR: Invalid peer
    ports = [5432]
  }
  ingress { # ERROR: Missing required argument
    ports = [5432]
  }
}
