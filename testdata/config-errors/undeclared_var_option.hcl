# -var: admin_cidr=["10.0.0.0/8"]
# -var: count=three
# -var: nope
# ERROR ELSEWHERE: Value for undeclared variable
# ERROR ELSEWHERE: Invalid value for variable
# ERROR ELSEWHERE: Invalid -var option

variable "admin_cidrs" {
  type    = list(string)
  default = ["198.51.100.0/24"]
}

variable "count" {
  type    = number
  default = 1
}

bastion {
  allow_from = var.admin_cidrs
}
