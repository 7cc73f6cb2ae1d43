zone "app" {
  description = "The first one"
}

zone "data" {}

zone "app" { # ERROR: Duplicate zone "app"
  description = "The second one"
}
