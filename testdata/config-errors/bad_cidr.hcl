bastion {
  allow_from = ["198.51.100.7/24"] # ERROR: Bad CIDR
}

zone "dmz" {
  ingress {
    from  = "not-a-cidr" # ERROR: Bad CIDR
    ports = [443]
  }
  ingress {
    from  = ["10.0.0.0/8", "10.1.2.3/8"] # ERROR: Bad CIDR
    ports = [443]
  }
  ingress {
    from  = "192.0.2.1" # ERROR: Bad CIDR
    ports = [80]
  }
  egress {
    to    = "2001:db8::1/32" # ERROR: Bad CIDR
    ports = [443]
  }
  egress {
    to    = "10.0.0.0/33" # ERROR: Bad CIDR
    ports = [443]
  }
}
