# Mistakes in mirror, registry and image blocks.

mirror "debian" {
  kind       = "deb"                  # ERROR: Invalid kind
  url        = "ftp://mirror/debian"  # ERROR: Invalid URL
  gpg_key    = "keys/missing.asc"     # ERROR: File not found
}

mirror "rhel9" {
  kind   = "yum"
  url    = "mirror.internal/rhel9"  # ERROR: Invalid URL
  suites = ["baseos"]               # ERROR: Attribute of apt mirrors
}

registry "internal" {
  url = "https://registry.internal:5000" # ERROR: Invalid registry URL
}

registry "internal" { # ERROR: Duplicate registry "internal"
  url = "registry.internal:5000"
}

image "node" {
  source {
    name        = "debian-12-base"
    most_recent = true
  }
  source { # ERROR: Duplicate source block
    name = "debian-12"
  }
  flavor     = "m1.small"
  mirrors    = [mirror.debain, mirror.rhel9, mirror.rhel9] # ERROR: Reference to undeclared mirror # ERROR: Duplicate mirror in mirrors
  registries = [registry.internal, "docker.io"]            # ERROR: Invalid registry
  profile    = profile.node                                # ERROR: Reference to undeclared profile
  keep       = 0                                           # ERROR: Invalid keep
  retire     = "Delete"                                    # ERROR: Invalid retire
}

image "plain" { # ERROR: Missing source block
  flavor = "m1.small"
}

image "any" { # ERROR: Missing required argument
  source { # ERROR: Source selects every image
    most_recent = true
  }
}
