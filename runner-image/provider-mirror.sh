#!/bin/sh
# Builds the image's read-only Terraform provider mirror and the CLI configuration that uses it (runner-image/README.md).
#   provider-mirror.sh "<source>=<version> ..." <mirror dir> <CLI config file>
# e.g. provider-mirror.sh "hashicorp/aws=5.80.0 hashicorp/random=3.6.3" /opt/terraform/providers /etc/stackjobs/terraformrc
# Providers listed are installed from the mirror at init (no download, no writable shared cache for concurrent inits to
# corrupt); any other provider is still downloaded from its registry ("direct"). With no providers listed, only the
# configuration is written (direct installation, as without it).
set -eu
providers="$1"
mirror="$2"
config="$3"
mkdir -p "$mirror" "$(dirname "$config")"
if [ -n "$providers" ]; then
  work=$(mktemp -d)
  {
    echo 'terraform {'
    echo '  required_providers {'
    i=0
    for p in $providers; do
      case "$p" in
        */*=?*) ;;
        *) echo "provider-mirror.sh: '$p' is not <namespace>/<type>=<version>" >&2; exit 2 ;;
      esac
      source=${p%%=*}
      version=${p#*=}
      echo "    p$i = { source = \"$source\", version = \"$version\" }"
      i=$((i + 1))
    done
    echo '  }'
    echo '}'
  } > "$work/main.tf"
  terraform -chdir="$work" providers mirror -platform=linux_amd64 "$mirror"
  rm -rf "$work"
fi
# Read-only for everyone: the tool (its own uid) reads the mirror, nothing writes it.
chmod -R a-w,a+rX "$mirror"
cat > "$config" <<CONFIG
provider_installation {
  filesystem_mirror {
    path = "$mirror"
  }
  direct {}
}
CONFIG
chmod 0444 "$config"
