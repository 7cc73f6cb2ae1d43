name="sample"
cloud {
    cloud = "demo"
  region="RegionOne"
}
zone "dmz" {
description = "Load balancers"
ingress {
  from = ["0.0.0.0/0","::/0"]
      ports = [443,80]
  protocol    =     "tcp"
}
}
