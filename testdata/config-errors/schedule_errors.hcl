# Mistakes in schedule blocks.

zone "app" {}

image "node" {
  source { name = "debian-12-base" }
  flavor = "m1.small"
}

image "other" {
  source { name = "debian-12-base" }
  flavor = "m1.small"
}

fleet "app" {
  image  = image.node
  zone   = zone.app
  flavor = "m1.small"
  count  = 2
}

fleet "db" {
  image  = "debian-12-base"
  zone   = zone.app
  flavor = "m1.small"
  count  = 1
}

schedule "rebuild" {
  every        = "3w"           # ERROR: Invalid every
  at           = "Sun 25:00 UTC" # ERROR: Invalid time of day in at
  start        = "2026-13-01"   # ERROR: Invalid start
  images       = [image.node, image.node] # ERROR: Duplicate image in images
  fleets       = [fleet.ap]     # ERROR: Reference to undeclared fleet
  keep_history = 0              # ERROR: Invalid keep_history
}

schedule "weekly" {
  every  = "2w"
  at     = "02:00 UTC" # ERROR: Missing weekday in at
  on     = 15          # ERROR: Day of the month in a weekly schedule
  images = [image.other]
  fleets = [fleet.app, fleet.db] # ERROR: Fleet not rolled onto a built image # ERROR: Fleet not rolled onto a built image
}

schedule "zones" {
  every = "1w"
  at    = "Sun 02:00 Mars/Olympus" # ERROR: Unknown time zone in at
  scan  = [fleet.db]
}

schedule "local" {
  every = "1w"
  at    = "Sun 02:00 Local" # ERROR: Local time zone in at
  scan  = [fleet.db]
}

schedule "nozone" {
  every = "4w"
  at    = "Funday 02:00" # ERROR: Invalid weekday in at
  scan  = [fleet.db]
}

schedule "monthly" { # ERROR: Missing day of a monthly schedule
  every  = "monthly"
  at     = "Sun 02:00 Europe/Berlin" # ERROR: Weekday in the at of a monthly schedule
  images = [image.node]
  fleets = [fleet.app]
  scan   = [fleet.app] # ERROR: Fleet both rolled and scanned
}

schedule "monthly2" {
  every             = "monthly"
  at                = "02:00 UTC"
  on                = "fifth Sunday" # ERROR: Invalid on
  scan              = [fleet.db]
  history_container = "runs/rebuild" # ERROR: Invalid history_container
}

schedule "empty" { # ERROR: Empty schedule
  every = "1w"
  at    = "Mon 04:00" # ERROR: Missing time zone in at
}

schedule "Bad" { # ERROR: Invalid schedule name
  every = "monthly"
  at    = "02:00 UTC"
  on    = 32 # ERROR: Invalid on
  scan  = [fleet.db]
}
