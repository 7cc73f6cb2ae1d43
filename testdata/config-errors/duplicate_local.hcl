locals {
  net = "10.0.0.0/8"
}

locals {
  net = "10.1.0.0/16" # ERROR: Duplicate local value
}

zone "app" {
  ingress {
    from  = local.nett # ERROR: Reference to undeclared local value
    ports = [443]
  }
}
