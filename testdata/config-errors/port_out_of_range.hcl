zone "app" {
  ingress {
    from  = "10.0.0.0/8"
    ports = [443, 70000] # ERROR: Port out of range
  }
  ingress {
    from  = "10.0.0.0/8"
    ports = [0] # ERROR: Port out of range
  }
  ingress {
    from  = "10.0.0.0/8"
    ports = ["8000-65536"] # ERROR: Port out of range
  }
  ingress {
    from  = "10.0.0.0/8"
    ports = ["9000-8000"] # ERROR: Invalid port range
  }
  ingress {
    from  = "10.0.0.0/8"
    ports = ["https", 44.5] # ERROR: Invalid port # ERROR: Port out of range
  }
  ingress {
    from  = "10.0.0.0/8"
    ports = [] # ERROR: Empty ports list
  }
}
