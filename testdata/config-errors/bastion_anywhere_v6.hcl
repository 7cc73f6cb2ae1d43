# ::/0 is every IPv6 address.

bastion {
  allow_from = ["::/0"] # ERROR: Bastion open to any address
}
