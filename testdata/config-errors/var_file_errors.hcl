# -var-file: varfiles/undeclared.hcl
# -var-file: varfiles/missing.hcl
# ERROR ELSEWHERE: Value for undeclared variable
# ERROR ELSEWHERE: Failed to read file

variable "admin_cidrs" {
  type = list(string)
}

variable "region" {
  type    = string
  default = "RegionOne"
}

bastion {
  allow_from = var.admin_cidrs
}
