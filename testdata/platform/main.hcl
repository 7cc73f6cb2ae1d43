# The sample platform: four zones behind a bastion, used by the tests of every package.

name = "sample"

cloud {
  cloud  = "demo" # the test bed's project (scripts/devcloud writes clouds.yaml)
  region = "RegionOne"
}

locals {
  # The platform's address plan: each zone gets a /20 of the internal network.
  internal   = "10.20.0.0/16"
  app_subnet = cidrsubnet(local.internal, 4, 1)

  # Services outside the platform that zones talk to.
  registry_mirror = "203.0.113.0/24"
  syslog          = "192.0.2.10/32"
  web             = ["0.0.0.0/0", "::/0"]
}

bastion {
  allow_from = var.admin_cidrs
  address    = var.bastion_address
}
