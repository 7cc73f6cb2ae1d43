# -var: admin_cidrs=[]
# env: HARDENCTL_VAR_token=s3cr3t-never-shown
# -var: secret=["s3cr3t-never-shown"]
# ERROR ELSEWHERE: Invalid value for variable

variable "admin_cidrs" {
  type = list(string)
}

variable "token" {
  type      = string
  sensitive = true
}

variable "secret" {
  type      = number
  sensitive = true
}

bastion {
  allow_from = var.admin_cidrs # ERROR: No peers
}

zone "app" {
  description = var.token # ERROR: Sensitive value not allowed here
  egress {
    to = [] # ERROR: No peers
  }
}
