# A bastion open to every address needs allow_from_anywhere = true.

bastion {
  allow_from = ["198.51.100.0/24", "0.0.0.0/0"] # ERROR: Bastion open to any address
}
