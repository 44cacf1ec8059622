# An AMI with kiln baked in, from an official Amazon Linux 2023, Debian 12 or
# Ubuntu 24.04 AMI: the package is installed, the image made generic (no
# instance state, no machine-id, no SSH host keys, DHCP on any interface),
# and `kiln clean` is the last step before the snapshot.
#
#   make deb   (on Debian 12 / Ubuntu 24.04)  or  make rpm  (on AL2023 / RHEL 9)
#   packer init packaging/packer          # Packer >= 1.7: fetches the amazon plugin
#   packer build -only='amazon-ebs.debian12' -var package=build/pkg/kiln_0.1.0_amd64.deb packaging/packer
#   packer build -only='amazon-ebs.al2023' -var package=build/pkg/RPMS/x86_64/kiln-0.1.0-1.x86_64.rpm packaging/packer
#
# Graviton (arm64) AMIs: the *-arm64 sources, on a Graviton instance type
# (instance_type_arm64, t4g.micro by default), with the arm64 package that
# `make deb` / `make rpm` cross-build next to the native one:
#   packer build -only='amazon-ebs.debian12-arm64' -var package=build/pkg/kiln_0.1.0_arm64.deb packaging/packer
#   packer build -only='amazon-ebs.al2023-arm64' -var package=build/pkg/RPMS/aarch64/kiln-0.1.0-1.aarch64.rpm packaging/packer
#
# The package must be built on the release the AMI runs (its libraries).
# AWS credentials and region come from the usual AWS variables or profile.

variable "package" {
  type        = string
  description = "The kiln .deb (Debian, Ubuntu) or .rpm (Amazon Linux) to install."
}

variable "region" {
  type    = string
  default = "us-east-1"
}

variable "instance_type" {
  type    = string
  default = "t3.micro"
}

variable "instance_type_arm64" {
  type        = string
  default     = "t4g.micro"
  description = "A Graviton instance type for the arm64 builds (t4g, m7g, c7g, ...)."
}

variable "ami_prefix" {
  type    = string
  default = "kiln"
}

variable "subnet_id" {
  type        = string
  default     = ""
  description = "Build in this subnet (it needs a route to the internet); the default VPC otherwise."
}

variable "kiln_config" {
  type        = string
  default     = ""
  description = "A file to bake in as /etc/kiln/kiln.yaml (config shared by every instance); none keeps the package's."
}

locals {
  stamp = formatdate("YYYYMMDD-hhmmss", timestamp())
  tags = {
    Name      = "${var.ami_prefix}-${local.stamp}"
    BakedWith = "kiln packaging/packer"
  }
  # The last steps on every distribution.
  finish = [
    # cloud-init would run the same user-data a second time.
    "if [ -d /etc/cloud ]; then sudo touch /etc/cloud/cloud-init.disabled; fi",
    # Per-instance SSH host keys: made at boot when missing (cloud-init did this).
    "sudo mkdir -p /etc/systemd/system/ssh.service.d /etc/systemd/system/sshd.service.d",
    # (keys first, then sshd's own config check, which fails without them)
    "printf '[Service]\\nExecStartPre=\\nExecStartPre=/usr/bin/ssh-keygen -A\\nExecStartPre=/usr/sbin/sshd -t\\n' | sudo tee /etc/systemd/system/ssh.service.d/kiln-host-keys.conf /etc/systemd/system/sshd.service.d/kiln-host-keys.conf >/dev/null",
    "sudo rm -f /etc/ssh/ssh_host_*",
    "sudo systemctl is-enabled kiln.service",
    "sudo kiln version",
    # Last: no instance state, no logs, an empty machine-id.
    "sudo kiln clean --logs --machine-id",
  ]
}

source "amazon-ebs" "debian12" {
  region        = var.region
  instance_type = var.instance_type
  subnet_id     = var.subnet_id
  ssh_username  = "admin"
  ami_name      = "${var.ami_prefix}-debian12-${local.stamp}"
  source_ami_filter {
    owners      = ["136693071363"] # Debian
    most_recent = true
    filters = {
      name                = "debian-12-amd64-*"
      architecture        = "x86_64"
      virtualization-type = "hvm"
      root-device-type    = "ebs"
    }
  }
  tags = local.tags
}

source "amazon-ebs" "debian12-arm64" {
  region        = var.region
  instance_type = var.instance_type_arm64
  subnet_id     = var.subnet_id
  ssh_username  = "admin"
  ami_name      = "${var.ami_prefix}-debian12-arm64-${local.stamp}"
  source_ami_filter {
    owners      = ["136693071363"] # Debian
    most_recent = true
    filters = {
      name                = "debian-12-arm64-*"
      architecture        = "arm64"
      virtualization-type = "hvm"
      root-device-type    = "ebs"
    }
  }
  tags = local.tags
}

source "amazon-ebs" "ubuntu2404" {
  region        = var.region
  instance_type = var.instance_type
  subnet_id     = var.subnet_id
  ssh_username  = "ubuntu"
  ami_name      = "${var.ami_prefix}-ubuntu2404-${local.stamp}"
  source_ami_filter {
    owners      = ["099720109477"] # Canonical
    most_recent = true
    filters = {
      name                = "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-*"
      architecture        = "x86_64"
      virtualization-type = "hvm"
      root-device-type    = "ebs"
    }
  }
  tags = local.tags
}

source "amazon-ebs" "ubuntu2404-arm64" {
  region        = var.region
  instance_type = var.instance_type_arm64
  subnet_id     = var.subnet_id
  ssh_username  = "ubuntu"
  ami_name      = "${var.ami_prefix}-ubuntu2404-arm64-${local.stamp}"
  source_ami_filter {
    owners      = ["099720109477"] # Canonical
    most_recent = true
    filters = {
      name                = "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-arm64-server-*"
      architecture        = "arm64"
      virtualization-type = "hvm"
      root-device-type    = "ebs"
    }
  }
  tags = local.tags
}

source "amazon-ebs" "al2023" {
  region        = var.region
  instance_type = var.instance_type
  subnet_id     = var.subnet_id
  ssh_username  = "ec2-user"
  ami_name      = "${var.ami_prefix}-al2023-${local.stamp}"
  source_ami_filter {
    owners      = ["amazon"]
    most_recent = true
    filters = {
      name                = "al2023-ami-2023.*-x86_64"
      architecture        = "x86_64"
      virtualization-type = "hvm"
      root-device-type    = "ebs"
    }
  }
  tags = local.tags
}

source "amazon-ebs" "al2023-arm64" {
  region        = var.region
  instance_type = var.instance_type_arm64
  subnet_id     = var.subnet_id
  ssh_username  = "ec2-user"
  ami_name      = "${var.ami_prefix}-al2023-arm64-${local.stamp}"
  source_ami_filter {
    owners      = ["amazon"]
    most_recent = true
    filters = {
      name                = "al2023-ami-2023.*-arm64"
      architecture        = "arm64"
      virtualization-type = "hvm"
      root-device-type    = "ebs"
    }
  }
  tags = local.tags
}

build {
  sources = [
    "source.amazon-ebs.debian12", "source.amazon-ebs.ubuntu2404", "source.amazon-ebs.al2023",
    "source.amazon-ebs.debian12-arm64", "source.amazon-ebs.ubuntu2404-arm64", "source.amazon-ebs.al2023-arm64",
  ]

  provisioner "file" {
    source      = var.package
    destination = "/tmp/kiln-package"
  }

  provisioner "file" {
    # An empty file when no config is given: the package's stays.
    source      = var.kiln_config != "" ? var.kiln_config : "${path.root}/empty.yaml"
    destination = "/tmp/kiln.yaml"
  }

  # Debian and Ubuntu: the .deb and nginx from the archive.
  provisioner "shell" {
    only = ["amazon-ebs.debian12", "amazon-ebs.ubuntu2404", "amazon-ebs.debian12-arm64", "amazon-ebs.ubuntu2404-arm64"]
    environment_vars = ["DEBIAN_FRONTEND=noninteractive"]
    inline = [
      "cloud-init status --wait >/dev/null 2>&1 || true",
      "sudo mv /tmp/kiln-package /tmp/kiln.deb",
      "sudo -E apt-get update -q",
      "sudo -E apt-get install -y -q /tmp/kiln.deb nginx",
      "rm -f /tmp/kiln.deb",
      # Networking without cloud-init: DHCP on whatever the interface is called
      # (the build instance's netplan file names its MAC address).
      "if [ -d /etc/netplan ]; then printf 'network:\\n  version: 2\\n  ethernets:\\n    ens:\\n      match: {name: \"en*\"}\\n      dhcp4: true\\n      dhcp6: true\\n' | sudo tee /etc/netplan/90-kiln-dhcp.yaml >/dev/null; sudo chmod 600 /etc/netplan/90-kiln-dhcp.yaml; sudo rm -f /etc/netplan/50-cloud-init.yaml; fi",
    ]
  }

  # Amazon Linux 2023: the .rpm and nginx with dnf (networking is
  # amazon-ec2-net-utils', independent of cloud-init).
  provisioner "shell" {
    only = ["amazon-ebs.al2023", "amazon-ebs.al2023-arm64"]
    inline = [
      "cloud-init status --wait >/dev/null 2>&1 || true",
      "sudo mv /tmp/kiln-package /tmp/kiln.rpm",
      "sudo dnf install -y -q /tmp/kiln.rpm nginx",
      "rm -f /tmp/kiln.rpm",
    ]
  }

  provisioner "shell" {
    inline = concat([
      "if [ -s /tmp/kiln.yaml ]; then sudo install -m 0644 /tmp/kiln.yaml /etc/kiln/kiln.yaml; fi",
      "rm -f /tmp/kiln.yaml",
    ], local.finish)
  }
}
