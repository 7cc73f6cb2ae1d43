bastion {
  allow_from = ["198.51.100.0/24"]
}

zone "app" {}

zone "data" {
  ingress { # ERROR: SSH open to something other than the bastion
    from  = zone.app
    ports = [22, 5432]
  }
  ingress { # ERROR: SSH open to something other than the bastion
    from  = [bastion, zone.app]
    ports = [22]
  }

  # From the bastion: no error.
  ingress {
    from  = bastion
    ports = [22]
  }
}
