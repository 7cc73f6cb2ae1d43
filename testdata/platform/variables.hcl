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

# Where this site's SSH keys, bastion and SCAP content are. The defaults are an operator's
# laptop; scripts/testbed.env points them at the local test bed (make demo).
variable "ssh_user" {
  type    = string
  default = "hardenctl"
}

variable "ssh_identity" {
  type    = string
  default = "~/.ssh/id_ed25519"
}

variable "known_hosts" {
  type    = string
  default = "~/.ssh/known_hosts"
}

variable "bastion_address" {
  type        = string
  description = "How hardenctl reaches the bastion over SSH (scan, harden, image build); null: not from here."
  default     = null
}

variable "content_dir" {
  type        = string
  description = "The operator's SCAP datastreams (ssg-debian12-ds.xml, ...)."
  default     = "content"
}

variable "report_dir" {
  type    = string
  default = "reports"
}

variable "node_min_score" {
  type        = number
  description = "The node image's gate: below it, nothing is published."
  default     = 80
}

variable "app_health_ports" {
  type        = list(number)
  description = "The ports an app server must accept connections on before a rollout counts it available again."
  default     = [8443]
}
