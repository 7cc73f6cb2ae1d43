# Mistakes in profile and compliance blocks.

compliance {
  timeout   = "15 minutes" # ERROR: Invalid duration
  min_score = 120          # ERROR: Invalid min_score
  profile   = profile.nod  # ERROR: Reference to undeclared profile
}

compliance { # ERROR: Duplicate compliance block
  concurrency = 5
}

profile "node" {
  datastream   = "ssg-debian12-ds.xml"                     # ERROR: File not found
  tailoring    = "profile_files/tailoring"                 # ERROR: Not a file
  scap_profile = { debian12 = "content profile standard" } # ERROR: Invalid SCAP profile id
  audit {
    rules = ["watch /etc/shadow"] # ERROR: Invalid audit rule
  }
  audit { # ERROR: Duplicate audit block
    watch_etcd = true
  }
}

profile "node" { # ERROR: Duplicate profile "node"
  tailoring = "profile_files/tailoring/node.xml"
}

profile "Master" { # ERROR: Invalid profile name
  scap_profile = ["a", "b"] # ERROR: Incorrect value type
  min_scor     = 80         # ERROR: Unsupported argument
}
