# A bastion host key is an authorized_keys line.

bastion {
  allow_from = ["198.51.100.0/24"]
  host_keys  = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBpWtDsDf+mzCzHXZ1Au5Hp84mXzvX2M9WKCwqKf0c5n ok", "ssh-rsa notbase64"] # ERROR: Invalid host key
}
