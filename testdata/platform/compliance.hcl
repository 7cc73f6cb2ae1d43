# How hardenctl reaches the servers and judges them: SSH through the bastion, and OpenSCAP
# scans with the operator's own content.

ssh {
  user            = var.ssh_user
  identity_files  = [var.ssh_identity]
  known_hosts     = var.known_hosts
  connect_timeout = "20s"
  concurrency     = 20
}

compliance {
  content_dir = var.content_dir
  report_dir  = var.report_dir
  concurrency = 20
  timeout     = "15m"
  min_score   = 70
  profile     = profile.node
}

# Worker nodes: the standard profile, with the secret mounts watched.
profile "node" {
  extends = "standard"
  scap_profile = {
    debian12 = "xccdf_org.ssgproject.content_profile_standard"
    rhel9    = "xccdf_org.ssgproject.content_profile_cis_server_l1"
  }
  min_score = var.node_min_score

  audit {
    watch_secrets = "secret~"
    rules         = ["-w /etc/shadow -p wa -k shadow"]
  }
}

# Control plane: etcd's data directory watched too.
profile "master" {
  extends      = "standard"
  scap_profile = "xccdf_org.ssgproject.content_profile_standard"
  min_score    = 80.5

  audit {
    watch_etcd    = true
    watch_secrets = "secret~"
  }
}
