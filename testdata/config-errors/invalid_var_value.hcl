# -var: admin_cidrs=["10.0.0.0/8", ["nested"]]
# env: HARDENCTL_VAR_count="three"
# ERROR ELSEWHERE: Invalid value for variable
# ERROR ELSEWHERE: Invalid value for variable

variable "admin_cidrs" {
  type = list(string)
}

variable "count" {
  type    = number
  default = 1
}

bastion {
  allow_from = var.admin_cidrs
}
