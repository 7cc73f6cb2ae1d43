# A reference to a zone that is not declared, close to one that is.

zone "app" {}

zone "dmz" {
  egress {
    to    = zone.appp # ERROR: Reference to undeclared zone
    ports = [8443]
  }
  egress {
    to    = [zone.app, zone.database] # ERROR: Reference to undeclared zone
    ports = [5432]
  }
}
