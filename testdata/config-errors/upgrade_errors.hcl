# Mistakes in upgrade blocks: amounts, failure policy, durations, gates that need SSH.

zone "app" {}

fleet "app" {
  image  = "debian-12-base"
  zone   = zone.app
  flavor = "m1.large"
  count  = 4

  upgrade {
    max_unavailable = "110%"     # ERROR: Invalid max_unavailable
    canary          = -1         # ERROR: Invalid canary
    max_failures    = "a few"    # ERROR: Invalid max_failures
    on_failure      = "rolback"  # ERROR: Invalid on_failure
    deadline        = "soon"     # ERROR: Invalid duration
    batch_size      = 2          # ERROR: Unsupported argument
    health {
      ssh     = false
      tcp     = [8443]           # ERROR: Health check without SSH
      warmup  = "0s"             # ERROR: Invalid duration
      bake    = 30               # ERROR: Invalid duration
      timeout = "-5m"            # ERROR: Invalid duration
    }
  }
}

fleet "web" {
  image  = "debian-12-base"
  zone   = zone.app
  flavor = "m1.large"
  count  = 4

  upgrade {
    max_unavailable = "0%"      # ERROR: Invalid max_unavailable
    max_failures    = -1        # ERROR: Invalid max_failures
    deadline        = "5m"      # ERROR: Deadline shorter than the gate timeout
    health {
      min_score = 80
      warmup    = "20m"          # ERROR: Warmup not shorter than the timeout
    }
  }
}

fleet "db" {
  image  = "debian-12-base"
  zone   = zone.app
  flavor = "m1.large"
  count  = 2

  upgrade {
    health {
      ssh       = false
      min_score = 80 # ERROR: Health check without SSH
    }
    health { # ERROR: Duplicate health block
    }
  }
}
