# A fleet's upgrade strategy "replace" is not implemented: refused, not silently rebuilt.

zone "app" {}

fleet "app" {
  image  = "debian-12-base"
  zone   = zone.app
  flavor = "m1.small"
  count  = 2

  upgrade {
    strategy = "replace" # ERROR: Unsupported strategy
  }
}
