zone "dmz" {
  description = "Load balancers facing the internet"

  ingress {
    from        = local.web
    ports       = [443, 80]
    description = "HTTPS, and HTTP for redirects"
  }

  egress {
    to    = zone.app
    ports = [8443]
  }
}

zone "app" {
  description = "Application servers"

  ingress {
    from  = zone.dmz
    ports = [8443]
  }

  egress {
    to    = zone.data
    ports = [5432]
  }

  egress {
    to          = local.registry_mirror
    ports       = [5000]
    description = "Internal container registry mirror"
  }
}

zone "data" {
  description = "Databases"
  ip_versions = [4]

  ingress {
    from  = zone.app
    ports = [5432]
  }
}

zone "management" {
  description = "Monitoring and logging"

  ingress {
    from        = [local.internal, "2001:db8:200::/48"]
    ports       = [var.metrics_port]
    description = "Metrics scraping"
  }

  ingress {
    from     = zone.app
    protocol = "icmp"
  }

  ingress {
    from  = local.app_subnet
    ports = ["9000-9010"]
  }

  egress {
    to       = local.syslog
    protocol = "udp"
    ports    = [514]
  }
}
