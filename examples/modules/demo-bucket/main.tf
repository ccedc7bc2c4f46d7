# Example module for the Stack Jobs demo. Built-in resources only, so it runs with real Terraform or OpenTofu
# without any provider download; the demo falls back to the stand-in CLI in test/ when neither is installed.
terraform {
  # Partial backend configuration: the runner passes the path (or, for "s3", bucket/key/region) with -backend-config.
  backend "local" {}
}

variable "metadata" {
  description = "The resource's metadata, as the runner writes it into terraform.tfvars.json"
  type        = any
}

variable "spec" {
  description = "The resource's spec"
  type        = any
}

resource "terraform_data" "bucket" {
  input = {
    name       = var.metadata.name
    versioning = try(var.spec.versioning, false)
    tier       = try(var.spec.tier, "standard")
  }
}

output "bucket_name" {
  value = terraform_data.bucket.output.name
}

output "tier" {
  value = terraform_data.bucket.output.tier
}

output "access_token" {
  value     = "demo-${var.metadata.id}"
  sensitive = true
}
