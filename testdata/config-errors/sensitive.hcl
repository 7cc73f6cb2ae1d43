# A sensitive value never goes where it would be shown: not into descriptions, names or
# rules (they go to the cloud and into plans), nor into messages.
# env: HARDENCTL_VAR_token=s3cr3t-never-shown
# env: HARDENCTL_VAR_net=s3cr3t-not-a-cidr

variable "token" {
  type      = string
  sensitive = true
  validation {
    condition     = var.token == "admin" # ERROR: Invalid value for variable
    error_message = "The token ${var.token} is too short."
  }
}

variable "net" {
  type      = string
  sensitive = true
}

zone "app" {
  description = "app ${upper(var.token)}" # ERROR: Sensitive value not allowed here
  ingress {
    from        = cidrsubnet(var.net, 8, 1) # ERROR: Error in function call
    description = var.token # ERROR: Sensitive value not allowed here
  }
}

locals {
  hidden = var.token # ERROR: Sensitive value not allowed here
}

fleet "f" {
  image  = "base"
  zone   = zone.app
  flavor = local.hidden
  count  = 1
}
