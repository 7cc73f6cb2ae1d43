variable "admin_cidrs" {
  type    = list(string)
  default = []

  validation {
    condition     = length(var.admin_cidrs) > 0 # ERROR: Invalid value for variable
    error_message = "At least one admin network is needed, or nobody can reach the bastion."
  }
}

variable "region" {
  default = "RegionOne"

  validation {
    condition     = contains(["RegionOne", "RegionTwo"], var.region)
    error_message = "The region must be RegionOne or RegionTwo."
  }
}

variable "ports" {
  type    = list(number)
  default = ["https"] # ERROR: Invalid default value for variable
}

variable "count" {
  type    = number
  default = 1
}

cloud {
  region = var.region
}
