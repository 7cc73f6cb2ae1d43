variable "admin_cidrs" {
  type        = list(string)
  description = "Networks the administrators come from; only they reach the bastion."
  default     = ["198.51.100.0/24", "2001:db8:100::/48"]

  validation {
    condition     = length(var.admin_cidrs) > 0
    error_message = "At least one admin network is needed, or nobody can reach the bastion."
  }
}

variable "metrics_port" {
  type    = number
  default = 9100
}
