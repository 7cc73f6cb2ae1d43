# Two halves make the whole IPv4 space.

variable "everyone" {
  default = ["0.0.0.0/1", "128.0.0.0/1", "2001:db8::/32"]
}

bastion {
  allow_from = var.everyone # ERROR: Bastion open to any address
}
