zones "app" {} # ERROR: Unsupported block type

server "web" { # ERROR: Unsupported block type
  flavor = "m1.small"
}

zone "app" {
  rule { # ERROR: Unsupported block type
    from = "10.0.0.0/8"
  }
}
