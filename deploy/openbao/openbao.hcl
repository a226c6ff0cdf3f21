# OpenBao of the compose file: a server (not -dev), one node, its data in raft storage
# on the `openbao-data` volume, initialised and unsealed by the `bao-init` step.
#
# TLS is off on this listener, and only there: OpenBao is reachable inside the compose
# network alone (no published port), where the vault's containers call it. Production
# gives the listener a certificate (tls_cert_file / tls_key_file) or runs OpenBao as
# its own cluster, and sets VAULT_TRANSIT_URL to https://.
ui            = false
disable_mlock = true  # raft storage: mlock is not needed, and would need IPC_LOCK

storage "raft" {
  path    = "/openbao/file"
  node_id = "openbao-1"
}

listener "tcp" {
  address     = "0.0.0.0:8200"
  tls_disable = true
}

api_addr     = "http://openbao:8200"
cluster_addr = "https://openbao:8201"

# The vault's token is issued for a year (bao-init issues a new one when less than 30
# days are left); the default would end it after 32 days.
max_lease_ttl = "8760h"
