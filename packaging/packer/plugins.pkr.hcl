# Packer >= 1.7 installs builders as plugins: `packer init packaging/packer`.
# (Packer 1.6, as in Debian 12, has the amazon builder built in and does not
# know this block: validate kiln.pkr.hcl alone there.)
packer {
  required_version = ">= 1.6.6"
  required_plugins {
    amazon = {
      version = ">= 1.2.0"
      source  = "github.com/hashicorp/amazon"
    }
  }
}
