nme = "sample" # ERROR: Unsupported argument

cloud {
  cloud  = "prod"
  regoin = "RegionOne" # ERROR: Unsupported argument
}

zone "app" {
  descripton = "Application servers" # ERROR: Unsupported argument
  ingress {
    from = "10.0.0.0/8"
    port = 443 # ERROR: Unsupported argument
  }
  egress {
    to        = "10.0.0.0/8"
    ports     = [443]
    allow_sh  = true # ERROR: Unsupported argument
  }
}
