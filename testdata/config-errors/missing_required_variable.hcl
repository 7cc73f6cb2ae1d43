variable "admin_cidrs" { # ERROR: No value for required variable
  type = list(string)
}

bastion {
  allow_from = var.admin_cidrs
}
