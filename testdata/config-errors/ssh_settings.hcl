# Mistakes in the ssh block and in the bastion's new attributes.

ssh {
  user            = ""       # ERROR: Empty user
  connect_timeout = "20"     # ERROR: Invalid duration
  concurrency     = 0        # ERROR: Invalid concurrency
  use_agent       = "maybe"  # ERROR: Incorrect value type
  identity_files  = ["~bob/.ssh/id_rsa", ""] # ERROR: Cannot expand ~ # ERROR: Empty string in identity_files
  port            = 22       # ERROR: Unsupported argument
}

ssh { # ERROR: Duplicate ssh block
  user = "root"
}

bastion {
  allow_from = ["198.51.100.0/24"]
  address    = "bastion:ssh" # ERROR: Invalid address
  image      = zone.app      # ERROR: Invalid image
}

zone "app" {}
