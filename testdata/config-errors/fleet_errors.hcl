# Mistakes in fleet blocks.

zone "app" {}

image "node" {
  source { name = "debian-12-base" }
  flavor = "m1.small"
}

fleet "app" {
  image  = image.nod # ERROR: Reference to undeclared image
  zone   = "app"     # ERROR: Invalid zone
  flavor = "m1.large"
  count  = -1        # ERROR: Invalid count

  upgrade {
    strategy        = "recreate" # ERROR: Invalid strategy
    max_unavailable = 0          # ERROR: Invalid max_unavailable
    health {
      tcp       = ["8000-8100"] # ERROR: Port range in health check
      min_score = "high"        # ERROR: Invalid min_score
    }
  }
  upgrade { # ERROR: Duplicate upgrade block
  }
}

fleet "web" {
  image  = image.node
  zone   = zone.dmz # ERROR: Reference to undeclared zone
  flavor = "m1.large"
  count  = 2.5      # ERROR: Invalid count
}

fleet "db" { # ERROR: Missing required argument
  image = "debian-12-base"
  zone  = zone.app
  count = 1
}
