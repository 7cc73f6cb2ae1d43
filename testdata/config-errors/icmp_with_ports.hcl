zone "app" {
  ingress {
    from     = "10.0.0.0/8"
    protocol = "icmp"
    ports    = [8] # ERROR: Ports with protocol icmp
  }
  ingress {
    from     = "10.0.0.0/8"
    protocol = "any"
    ports    = [443] # ERROR: Ports with protocol any
  }
  ingress {
    from     = "10.0.0.0/8"
    protocol = "sctp" # ERROR: Unsupported protocol
  }
}
