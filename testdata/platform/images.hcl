# The images the platform's servers boot from, built on the internal mirrors, the
# fleets of servers that run them, and the schedule that rebuilds them.

mirror "debian" {
  kind       = "apt"
  url        = "http://10.252.0.2:8080/debian"
  suites     = ["bookworm", "bookworm-updates"]
  components = ["main"]
  trusted    = true
}

mirror "debian-security" {
  kind   = "apt"
  url    = "http://10.252.0.2:8080/debian-security"
  suites = ["bookworm-security"]
}

registry "internal" {
  url          = "registry.internal:5000"
  block_public = true
}

image "debian12-node" {
  source {
    name        = "debian-12-base"
    tags        = ["base"]
    properties  = { os_distro = "debian" }
    most_recent = true
  }

  flavor     = "m1.small"
  network    = "platform"
  mirrors    = [mirror.debian, mirror.debian-security]
  registries = [registry.internal]
  profile    = profile.node
  min_score  = var.node_min_score
  keep       = 3
  retire     = "delete"
}

image "debian12-plain" {
  source {
    name = "debian-12-base"
  }

  flavor  = "m1.small"
  network = "platform"
  mirrors = [mirror.debian]
  profile = "standard"
}

fleet "app" {
  image    = image.debian12-node
  zone     = zone.app
  flavor   = "m1.small"
  count    = 4
  network  = "platform"
  key_pair = "ops"

  upgrade {
    strategy        = "rebuild"
    max_unavailable = "50%" # of 4: 2 out of service at most
    canary          = 1

    health {
      ssh       = true
      tcp       = var.app_health_ports
      min_score = var.node_min_score # the node image's own gate
    }
  }
}

fleet "db" {
  image    = "debian-12-base"
  zone     = zone.data
  flavor   = "m1.small"
  count    = 2
  network  = "platform"
  key_pair = "ops" # the operator's key: scans reach the servers with it
}

# The scheduled rebuild: every other Sunday night, fresh images from the mirrors, hardened,
# scanned and gated, the app fleet rolled onto them, the db fleet scanned for the score trend.
# Each run leaves a record in the object store (hardenctl schedule history rebuild).
schedule "rebuild" {
  every        = "2w"
  at           = "Sun 02:00 Europe/Berlin"
  start        = "2026-01-04"
  images       = [image.debian12-node]
  fleets       = [fleet.app]
  scan         = [fleet.db]
  keep_history = 50
}
