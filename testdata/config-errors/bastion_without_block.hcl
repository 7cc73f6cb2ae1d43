zone "app" {
  ingress {
    from  = bastion # ERROR: Reference to bastion without a bastion block
    ports = [22]
  }
  ingress {
    from  = ["10.0.0.0/8", bastion] # ERROR: Reference to bastion without a bastion block
    ports = [8443]
  }
}
