# The vault's token: Transit only, and only the vault's three keys (the key-encryption
# key and the audit MAC and signing keys, made by bao-init). It may use them and rotate
# them (`archive-vault keys rotate`, `audit rotate-keys`); it cannot create, delete,
# export or reconfigure a key, read another secret, mount an engine or read sys/.
path "transit/encrypt/archive-vault" { capabilities = ["update"] }
path "transit/decrypt/archive-vault" { capabilities = ["update"] }
path "transit/rewrap/archive-vault"  { capabilities = ["update"] }
path "transit/keys/archive-vault"    { capabilities = ["read"] }
path "transit/keys/archive-vault/rotate" { capabilities = ["update"] }

path "transit/hmac/archive-vault-audit-mac/*" { capabilities = ["update"] }
path "transit/keys/archive-vault-audit-mac"   { capabilities = ["read"] }
path "transit/keys/archive-vault-audit-mac/rotate" { capabilities = ["update"] }

path "transit/sign/archive-vault-audit-sign"   { capabilities = ["update"] }
path "transit/sign/archive-vault-audit-sign/*" { capabilities = ["update"] }
path "transit/keys/archive-vault-audit-sign"   { capabilities = ["read"] }
path "transit/keys/archive-vault-audit-sign/rotate" { capabilities = ["update"] }
