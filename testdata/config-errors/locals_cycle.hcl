locals {
  a = "${local.b}-a" # ERROR: Cycle in local values: local.a → local.b → local.a
  b = upper(local.a)
  c = local.c # ERROR: Cycle in local values: local.c → local.c
}

locals {
  # Refers to a local on a cycle: no error of its own.
  d = local.a
  # Fine.
  e = "10.0.0.0/8"
}

zone "app" {
  ingress {
    from  = local.e
    ports = [443]
  }
}
