# Port 22 open to the internet, in every way a rule can say it.

zone "dmz" {
  ingress { # ERROR: SSH open to something other than the bastion
    from  = "0.0.0.0/0"
    ports = [22]
  }
  ingress { # ERROR: SSH open to something other than the bastion
    from  = ["::/0"]
    ports = [443, "20-30"]
  }
  ingress { # ERROR: SSH open to something other than the bastion
    from = "0.0.0.0/0"
  }
  ingress { # ERROR: SSH open to something other than the bastion
    from     = "0.0.0.0/0"
    protocol = "any"
  }

  # Not SSH: no error.
  ingress {
    from     = "0.0.0.0/0"
    protocol = "udp"
    ports    = [22]
  }
  # Deliberate: no error.
  ingress {
    from      = "203.0.113.0/24"
    ports     = [22]
    allow_ssh = true
  }
}
